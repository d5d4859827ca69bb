"""Runs on record read back: ``helpers.paths.read_on_record``, the one reader of
a committed table and its record (the reference runs' and the ablation's)."""

from __future__ import annotations

import pytest
from helpers.ablation import committed_ablation
from helpers.paths import read_on_record
from helpers.reference_run import read_reference


def write_run(folder, stem="runs"):
    (folder / f"{stem}.csv").write_text("epoch,val_accuracy\n1,0.5\n2,0.625\n")
    (folder / f"{stem}.json").write_text('{"profile": "full", "seeds": [1, 2]}\n')
    return folder / f"{stem}.csv"


def test_a_table_and_its_record_are_read_together(tmp_path):
    table, record = read_on_record(write_run(tmp_path), "python -m helpers.x", "seconds")
    assert table["val_accuracy"].tolist() == [0.5, 0.625]
    assert record == {"profile": "full", "seeds": [1, 2]}


@pytest.mark.parametrize("missing", ["runs.csv", "runs.json"])
def test_a_missing_file_names_itself_and_the_command_that_writes_it(tmp_path, missing):
    path = write_run(tmp_path)
    (tmp_path / missing).unlink()
    with pytest.raises(FileNotFoundError, match=rf"{missing} is missing: `python -m "
                                                r"helpers.x --out D` writes it \(a minute\)"):
        read_on_record(path, "python -m helpers.x --out D", "a minute")


def test_the_ablation_and_the_reference_runs_read_through_it(tmp_path):
    write_run(tmp_path, "full_profile_ablation")
    write_run(tmp_path, "quick_profile_modern")
    assert committed_ablation(folder=tmp_path)[1]["seeds"] == [1, 2]
    assert read_reference("modern", "quick", folder=tmp_path)[0]["epoch"].tolist() == [1, 2]
    with pytest.raises(FileNotFoundError, match="ALEXNET_PROFILE=quick python -m helpers.ablation"):
        committed_ablation("quick", folder=tmp_path)
    with pytest.raises(FileNotFoundError, match="reference_run --variant paper --profile quick"):
        read_reference("paper", "quick", folder=tmp_path)
