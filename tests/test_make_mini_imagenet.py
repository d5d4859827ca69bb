"""The mini-ImageNet builder on small made-up ImageNet-style folders."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from data_scripts import make_mini_imagenet as mini

SIXTEEN = list(mini.MINI_IMAGENET_CLASSES)


def _touch(folder: Path, count: int, prefix: str = "img") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        (folder / f"{prefix}_{folder.name}_{i}.JPEG").write_bytes(f"{folder.name}-{i}".encode())


@pytest.fixture()
def kaggle(tmp_path):
    """imagenet-mini layout: train/<wnid>/ and val/<wnid>/ for the 16 classes and two others."""
    source = tmp_path / "imagenet-mini"
    for k, wnid in enumerate([*SIXTEEN, "n01560419", "n01580077"]):
        _touch(source / "train" / wnid, 3 + k % 2)
        _touch(source / "val" / wnid, 1)
    (source / "train" / SIXTEEN[0] / "notes.txt").write_text("not an image")
    return source


def test_default_is_imagenet_classes_0_to_15():
    assert SIXTEEN[0] == "n01440764" and SIXTEEN[-1] == "n01558993" and len(SIXTEEN) == 16
    assert (
        mini.MINI_IMAGENET_CLASSES["n01440764"] == "tench"
        and mini.MINI_IMAGENET_CLASSES["n01558993"] == "robin"
    )


def test_builds_the_sixteen_classes_and_prints_counts(kaggle, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ALEXNET_DATA", str(tmp_path / "data"))
    assert mini.main(["--source", str(kaggle)]) == 0
    out = tmp_path / "data" / "mini-imagenet"
    assert sorted(p.name for p in (out / "train").iterdir()) == sorted(SIXTEEN)  # the two others left out
    assert len(list((out / "train").glob("*/*"))) == sum(3 + k % 2 for k in range(16))
    assert len(list((out / "val").glob("*/*"))) == 16
    assert not (out / "train" / SIXTEEN[0] / "notes.txt").exists()
    printed = capsys.readouterr().out
    assert "tench" in printed and "robin" in printed and "total" in printed and " 56 " in printed
    assert mini.main(["--source", str(kaggle)]) == 0 and "nothing to do" in capsys.readouterr().out


def test_classes_by_name_or_id_and_hard_links(kaggle, tmp_path):
    wnids = mini.resolve_classes(["Goldfish", "n01560419"], mini.synset_names(kaggle))
    assert wnids == ["n01443537", "n01560419"]
    counts = mini.build(kaggle, tmp_path / "fish", wnids, link=True)
    assert counts == {"train": {"n01443537": 4, "n01560419": 3}, "val": {"n01443537": 1, "n01560419": 1}}
    copied = next((tmp_path / "fish" / "train" / "n01443537").iterdir())
    assert os.stat(copied).st_ino == os.stat(kaggle / "train" / "n01443537" / copied.name).st_ino
    with pytest.raises(ValueError, match="unknown class"):
        mini.resolve_classes(["unicorn"], mini.synset_names(kaggle))


def test_ilsvrc_layout_with_flat_val_and_synset_names(tmp_path):
    source = tmp_path / "ILSVRC"
    cls_loc = source / "Data" / "CLS-LOC"
    for wnid in ("n01440764", "n09999999"):
        _touch(cls_loc / "train" / wnid, 2)
    (cls_loc / "val").mkdir(parents=True)
    rows = ["ImageId,PredictionString"]
    for i, wnid in enumerate(["n01440764", "n09999999", "n01440764"]):
        (cls_loc / "val" / f"ILSVRC2012_val_{i:08d}.JPEG").write_bytes(b"x")
        rows.append(f"ILSVRC2012_val_{i:08d},{wnid} 1 2 3 4")
    (source / "LOC_val_solution.csv").write_text("\n".join(rows) + "\n")
    (source / "LOC_synset_mapping.txt").write_text(
        "n01440764 tench, Tinca tinca\nn09999999 made-up thing, other\n"
    )
    wnids = mini.resolve_classes(["made-up thing", "tench"], mini.synset_names(source))
    counts = mini.build(source, tmp_path / "out", wnids)
    assert counts == {"train": {"n09999999": 2, "n01440764": 2}, "val": {"n09999999": 1, "n01440764": 2}}


def test_without_val_a_seeded_fraction_is_held_out(tmp_path):
    source = tmp_path / "flat"
    _touch(source / "train" / "n01440764", 20)
    a = mini.collect(source, ["n01440764"], val_fraction=0.25, seed=1)
    b = mini.collect(source, ["n01440764"], val_fraction=0.25, seed=1)
    assert a == b and len(a["val"]["n01440764"]) == 5 and len(a["train"]["n01440764"]) == 15
    assert not set(a["val"]["n01440764"]) & set(a["train"]["n01440764"])


def test_missing_source_or_class_says_what_to_do(tmp_path, capsys):
    assert mini.main(["--source", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o")]) == 1
    assert "imagenet-mini" in capsys.readouterr().err
    _touch(tmp_path / "src" / "train" / "n01440764", 1)
    assert mini.main(["--source", str(tmp_path / "src"), "--out", str(tmp_path / "o")]) == 1
    assert "lacks the class folders" in capsys.readouterr().err and not (tmp_path / "o").exists()


def test_the_book_names_the_sixteen_classes_as_the_builder_does():
    """helpers.datasets keeps its own copy of the WordNet names (it must import without data_scripts)."""
    from helpers.datasets import WNID_NAMES

    assert {wnid: WNID_NAMES[wnid] for wnid in mini.MINI_IMAGENET_CLASSES} == mini.MINI_IMAGENET_CLASSES
