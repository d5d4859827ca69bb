"""The 17 flowers installer: arrangement into class folders, the seeded split, broken images, the CLI.

Archives are generated in the official flat layout (``jpg/image_NNNN.jpg`` + ``jpg/files.txt``)
with fewer images per class; each image is filled with a colour that encodes its class, so the
test can check by looking at the pixels, independently of the file names, that every image
landed in its class's folder. One test installs the real archive from the shared mirror.
"""

from __future__ import annotations

import io
import random
import warnings
from pathlib import Path

import pytest
from archive_fakes import Server, make_tgz, md5
from PIL import Image

from data_scripts import download_flowers17 as fl
from data_scripts.fetch import DownloadError

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
PER_CLASS = 5
# The folder names from the official class order (shared/data/README.md), written out by hand.
FOLDERS = [
    "daffodil", "snowdrop", "lily_of_the_valley", "bluebell", "crocus", "iris", "tigerlily", "tulip",
    "fritillary", "sunflower", "daisy", "colts_foot", "dandelion", "cowslip", "buttercup", "windflower", "pansy",
]  # fmt: skip


def jpeg(label: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 12), (label * 15, 255 - label * 15, 128)).save(buffer, "JPEG", quality=95)
    return buffer.getvalue()


def truncated_jpeg() -> bytes:
    """A JPEG whose header is whole (PIL opens it) but whose image data stops at 60 % (decoding fails)."""
    buffer = io.BytesIO()
    Image.frombytes("RGB", (64, 64), random.Random(0).randbytes(64 * 64 * 3)).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()[: buffer.tell() * 6 // 10]


def label_of(path: Path) -> int:
    """The class a test image was drawn for, read back from its colour."""
    with Image.open(path) as image:
        return round(image.convert("RGB").getpixel((8, 6))[0] / 15)


def make_members(per_class: int = PER_CLASS, *, broken=(), missing=()) -> list[tuple[str, bytes | None, None]]:
    """The official layout with ``per_class`` images per class; ``broken`` ones truncated, ``missing`` left out."""
    numbers = [n for n in range(1, 17 * per_class + 1) if n not in missing]
    members = [("jpg", None, None), ("jpg/files.txt", "".join(f"image_{n:04d}.jpg\n" for n in numbers).encode(), None)]
    for n in numbers:
        data = truncated_jpeg() if n in broken else jpeg((n - 1) // per_class)
        members.append((f"jpg/image_{n:04d}.jpg", data, None))
    return members


def flowers_tgz(per_class: int = PER_CLASS, *, broken: tuple[int, ...] = (), missing: tuple[int, ...] = ()) -> bytes:
    return make_tgz(make_members(per_class, broken=broken, missing=missing))


def install(tmp_path: Path, data: bytes, name: str = "data", **options) -> Path:
    archive = tmp_path / f"{name}.tgz"
    archive.write_bytes(data)
    options = {"val_per_class": 2, "seed": 2012, "images_per_class": PER_CLASS, "progress": False, **options}
    return fl.install_flowers17(tmp_path / name, archive=archive, md5=md5(data), **options)


def split_of(folder: Path) -> dict[str, set[str]]:
    return {split: {p.name for p in (folder / split).glob("*/*.jpg")} for split in ("train", "val")}


def test_classes_and_folder_names_follow_the_official_order():
    assert len(fl.FLOWERS17_CLASSES) == 17 and fl.FLOWERS17_CLASSES[11] == "colts' foot"
    assert list(fl.FLOWERS17_FOLDERS) == FOLDERS
    assert fl.CHECKSUMS[0].md5 == "b59a65d8d1a99cd66944d474e1289eab"  # google-deepmind/dm_nevis


def test_images_are_arranged_into_17_class_folders_by_their_number(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a whole archive: no warning
        folder = install(tmp_path, flowers_tgz())
    assert folder == tmp_path / "data" / "flowers17"
    for split, count in (("train", PER_CLASS - 2), ("val", 2)):
        assert sorted(p.name for p in (folder / split).iterdir()) == sorted(FOLDERS)
        for label, name in enumerate(FOLDERS):
            images = sorted((folder / split / name).iterdir())
            assert len(images) == count
            assert {label_of(image) for image in images} == {label}
            assert {(int(image.stem[-4:]) - 1) // PER_CLASS for image in images} == {label}
    assert sorted(p.name for p in folder.iterdir()) == [".complete", "train", "val"]


def test_the_split_is_stratified_and_depends_only_on_the_seed(tmp_path):
    data = flowers_tgz()
    first, again = install(tmp_path, data, "a"), install(tmp_path, data, "b")
    other = install(tmp_path, data, "c", seed=7)
    assert split_of(first) == split_of(again)
    assert split_of(first)["val"] != split_of(other)["val"]
    for folder in (first, other):
        split = split_of(folder)
        assert not split["train"] & split["val"] and len(split["train"] | split["val"]) == 17 * PER_CLASS


def test_stratified_split_holds_out_exactly_val_per_class():
    numbers = {label: list(range(label * 80 + 1, label * 80 + 81)) for label in range(17)}
    split = fl.stratified_split(numbers, val_per_class=16, seed=2012)
    assert [len(v) for v in split["val"].values()] == [16] * 17
    assert sum(len(v) for v in split["train"].values()) == 1_088
    assert split == fl.stratified_split({k: v[::-1] for k, v in numbers.items()}, val_per_class=16, seed=2012)
    with pytest.raises(DownloadError, match="too few.*--val-per-class"):
        fl.stratified_split(numbers, val_per_class=80, seed=0)


def test_a_broken_image_is_skipped_with_a_warning_naming_it(tmp_path):
    with pytest.warns(UserWarning, match="image_0007.jpg cannot be decoded.*truncated") as record:
        folder = install(tmp_path, flowers_tgz(broken=(7,)))
    assert len(record) == 1  # the count per class is right: no second warning
    installed = split_of(folder)
    assert "image_0007.jpg" not in installed["train"] | installed["val"]
    assert len(installed["train"] | installed["val"]) == 17 * PER_CLASS - 1
    # Skipping it moves no other image: the split is the one of the whole archive, less image 7.
    whole = split_of(install(tmp_path, flowers_tgz(), "whole"))
    assert {split: names - {"image_0007.jpg"} for split, names in whole.items()} == installed


def test_a_class_with_missing_images_is_warned_about_and_strangers_are_left_out(tmp_path):
    strangers = [(name, jpeg(0), None) for name in ("jpg/image_0000.jpg", f"jpg/image_{17 * PER_CLASS + 1:04d}.jpg")]
    data = make_tgz([*make_members(missing=(PER_CLASS + 1,)), *strangers, ("jpg/notes.txt", b"x", None)])
    with pytest.warns(UserWarning, match=f"not {PER_CLASS} per class.*'snowdrop': {PER_CLASS - 1}"):
        folder = install(tmp_path, data)
    assert len(list((folder / "train" / "snowdrop").iterdir())) == PER_CLASS - 3
    assert len(list(folder.glob("*/*/*"))) == 17 * PER_CLASS - 1


def test_an_archive_without_the_jpg_folder_is_refused(tmp_path):
    with pytest.raises(DownloadError, match="not the folder 'jpg'"):
        install(tmp_path, make_tgz([("images/image_0001.jpg", jpeg(0), None)]))
    assert list((tmp_path / "data").iterdir()) == []


def test_another_split_of_an_installed_set_is_an_error(tmp_path):
    data = flowers_tgz()
    install(tmp_path, data)
    install(tmp_path, data)  # the same split again: nothing to do
    with pytest.raises(DownloadError, match="delete .*flowers17"):
        install(tmp_path, data, seed=1)


def test_cli_from_a_local_archive_and_from_a_url(tmp_path, capsys, monkeypatch):
    data = flowers_tgz(80)  # the official shape, tiny images
    archive = tmp_path / "17flowers.tgz"
    archive.write_bytes(data)
    args = ["--archive", str(archive), "--md5", md5(data), "--data", str(tmp_path / "d")]
    assert fl.main(args) == 0 and "1,088 train / 272 val images" in capsys.readouterr().out
    assert archive.read_bytes() == data
    assert fl.main([*args, "--seed", "3"]) == 1 and "error: " in capsys.readouterr().err
    assert fl.main(["--archive", str(archive), "--data", str(tmp_path / "e")]) == 1  # not the official MD5
    assert "b59a65d8d1a99cd66944d474e1289eab" in capsys.readouterr().err and archive.exists()
    with Server({"/17flowers.tgz": data}) as server:
        code = fl.main(["--url", f"{server.url}/17flowers.tgz", "--md5", md5(data), "--data", str(tmp_path / "f")])
        assert code == 0 and "1,088 train / 272 val" in capsys.readouterr().out
        assert sorted(p.name for p in (tmp_path / "f").iterdir()) == ["flowers17"]
        assert fl.main(["--url", f"{server.url}/17flowers.tgz", "--data", str(tmp_path / "g")]) == 1
        assert "quarantined" in capsys.readouterr().err
        assert [p.name for p in (tmp_path / "g").rglob("*.tgz*")] == ["17flowers.tgz.bad-md5"]
        assert fl.main(["--url", f"{server.url}/17flowers.tgz", "--data", str(tmp_path / "g")]) == 1
        assert "not downloaded again" in capsys.readouterr().err and len(server.requests) == 2
        # --md5 naming the quarantined archive installs it without downloading it again
        code = fl.main(["--url", f"{server.url}/17flowers.tgz", "--md5", md5(data), "--data", str(tmp_path / "g")])
        assert code == 0 and len(server.requests) == 2 and not list((tmp_path / "g").rglob("*.tgz*"))
    with pytest.raises(SystemExit) as exit_:
        fl.main(["--val-per-class", "-1"])
    assert exit_.value.code == 2


@pytest.mark.skipif(not (SHARED_DATA / "17flowers.tgz").exists(), reason="no shared data beside the repository")
def test_the_shared_mirror_installs_1088_train_and_272_val_images(tmp_path, capsys):
    md5_line = (SHARED_DATA / "17flowers.tgz.md5").read_text().split()[0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the real archive: every image decodes, 80 per class
        code = fl.main(["--archive", str(SHARED_DATA / "17flowers.tgz"), "--md5", md5_line, "--data", str(tmp_path)])
    assert code == 0 and "1,088 train / 272 val images" in capsys.readouterr().out
    folder = tmp_path / "flowers17"
    for split, count in (("train", 64), ("val", 16)):
        assert sorted(p.name for p in (folder / split).iterdir()) == sorted(FOLDERS)
        assert {len(list((folder / split / name).glob("*.jpg"))) for name in FOLDERS} == {count}
    assert {p.name for p in (folder / "val" / "daffodil").iterdir()} <= {f"image_{n:04d}.jpg" for n in range(1, 81)}
