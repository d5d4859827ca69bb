"""``data_scripts.folders``: a data folder is replaced whole or not at all."""

from __future__ import annotations

import pytest

from data_scripts.folders import staging_folder, swap_in


def test_swap_in_replaces_the_old_folder_and_leaves_no_scratch(tmp_path):
    target = tmp_path / "set"
    (target / "old-class").mkdir(parents=True)
    (target / "old-class" / "a.txt").write_text("old")
    with staging_folder(target) as scratch:
        assert scratch.parent == tmp_path and scratch.name.startswith(".set-partial-")
        new = scratch / "set"
        (new / "new-class").mkdir(parents=True)
        (new / "new-class" / "b.txt").write_text("new")
        swap_in(new, target, scratch)
        assert (target / "new-class" / "b.txt").read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["set"]
    assert sorted(p.name for p in target.iterdir()) == ["new-class"]


def test_a_failed_build_keeps_the_old_folder_and_removes_the_scratch(tmp_path):
    target = tmp_path / "set"
    target.mkdir()
    (target / "keep.txt").write_text("whole")
    with pytest.raises(RuntimeError, match="interrupted"), staging_folder(target) as scratch:
        (scratch / "set").mkdir()
        (scratch / "set" / "half.txt").write_text("half")
        raise RuntimeError("interrupted")
    assert [p.name for p in tmp_path.iterdir()] == ["set"]
    assert (target / "keep.txt").read_text() == "whole"


def test_swap_in_creates_a_missing_target(tmp_path):
    target = tmp_path / "deeper" / "set"
    with staging_folder(target) as scratch:
        (scratch / "new").mkdir()
        swap_in(scratch / "new", target, scratch)
    assert target.is_dir() and [p.name for p in target.parent.iterdir()] == ["set"]
