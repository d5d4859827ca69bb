"""The Imagenette installer: local archives, checksum sets, the CLI and ensure_imagenette, on a server on 127.0.0.1.

The archive machinery itself (resuming, safe extraction, atomic install) is tested in
tests/test_archives.py; here, what the Imagenette script adds on top of it.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from archive_fakes import Server, closed_port_url, make_tgz, md5

from data_scripts import download_imagenette as dl
from data_scripts.fetch import Checksum, DownloadError

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
_NOISE = random.Random(0)
GOOD = make_tgz(
    [
        (f"imagenette2-160/{split}/{wnid}/{i}.JPEG", _NOISE.randbytes(2_000), None)
        for split in ("train", "val")
        for wnid in ("n01440764", "n02102040")
        for i in range(3 if split == "train" else 2)
    ]
)


@pytest.fixture()
def server():
    with Server() as served:
        yield served


@pytest.fixture()
def local_archive(tmp_path) -> Path:
    archive = tmp_path / "mirror" / "imagenette2-160.tgz"
    archive.parent.mkdir()
    archive.write_bytes(GOOD)
    return archive


def test_published_checksums_are_the_sources_values():
    """Copied from torchvision/datasets/imagenette.py and fastai/data/checks.txt (see the module's comment)."""
    assert {str(c) for c in dl.CHECKSUMS["160"]} == {
        "e793b78cc4c9e9a4ccc0c1155377a412 (torchvision)",
        "c475f8f7617a200ba35b9facc48443c3 (99,003,388 bytes, fastai)",
    }
    for variant, checksums in dl.CHECKSUMS.items():
        assert len({c.md5 for c in checksums}) == 2 and [c.source for c in checksums] == ["torchvision", "fastai"]
        assert all(len(c.md5) == 32 and int(c.md5, 16) >= 0 for c in checksums), variant
    assert dl.official_url("full") == "https://s3.amazonaws.com/fast-ai-imageclas/imagenette2.tgz"


def test_local_archive_with_md5_installs_and_is_kept(local_archive, tmp_path, capsys):
    data = tmp_path / "data"
    code = dl.main(["--variant", "160", "--archive", str(local_archive), "--md5", md5(GOOD), "--data", str(data)])
    assert code == 0 and "6 train / 4 val images" in capsys.readouterr().out
    assert sorted(p.name for p in (data / "imagenette2-160" / "train").iterdir()) == ["n01440764", "n02102040"]
    assert local_archive.read_bytes() == GOOD  # the user's file: never moved or deleted
    assert sorted(p.name for p in data.iterdir()) == ["imagenette2-160"]


@pytest.mark.parametrize("which", ["torchvision", "fastai"])
def test_either_published_checksum_is_accepted(local_archive, tmp_path, monkeypatch, which):
    """The archive matches only one of the two lists (the other is stale): it is installed either way."""
    stale = Checksum("0" * 32, source="stale")
    good = Checksum(md5(GOOD), len(GOOD) if which == "fastai" else None, source=which)
    monkeypatch.setitem(dl.CHECKSUMS, "160", (good, stale) if which == "torchvision" else (stale, good))
    assert dl.main(["--archive", str(local_archive), "--data", str(tmp_path / "data")]) == 0
    assert local_archive.exists() and (tmp_path / "data" / "imagenette2-160" / ".complete").exists()


def test_md5_option_accepts_only_that_checksum(local_archive, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(dl.CHECKSUMS, "160", (Checksum(md5(GOOD)),))  # the defaults would accept it
    code = dl.main(["--archive", str(local_archive), "--md5", "f" * 32, "--data", str(tmp_path / "data")])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("error: ") and str(local_archive) in err and "left untouched" in err
    assert local_archive.read_bytes() == GOOD and not (tmp_path / "data" / "imagenette2-160").exists()


def test_an_archive_matching_no_published_checksum_is_refused(local_archive, tmp_path, capsys):
    assert dl.main(["--archive", str(local_archive), "--data", str(tmp_path / "data")]) == 1
    err = capsys.readouterr().err
    assert "e793b78cc4c9e9a4ccc0c1155377a412" in err and "--md5" in err and local_archive.exists()


def test_download_from_a_mirror_url_with_and_without_keep_archive(server, tmp_path, monkeypatch):
    server.files["/imagenette2-160.tgz"] = GOOD
    monkeypatch.setenv("ALEXNET_DATA", str(tmp_path / "data"))  # where the book looks
    url = f"{server.url}/imagenette2-160.tgz"
    assert dl.main(["--url", url, "--md5", md5(GOOD)]) == 0
    from helpers.paths import data_root

    assert (data_root() / "imagenette2-160" / "train" / "n01440764").is_dir()
    assert sorted(p.name for p in data_root().iterdir()) == ["imagenette2-160"]  # archive removed
    assert dl.main(["--url", url, "--md5", md5(GOOD), "--data", str(tmp_path / "kept"), "--keep-archive"]) == 0
    assert (tmp_path / "kept" / "downloads" / "imagenette2-160.tgz").read_bytes() == GOOD


def test_cli_errors_exit_1_or_2_with_a_message(server, tmp_path, capsys):
    assert dl.main(["--url", f"{server.url}/nothing.tgz", "--data", str(tmp_path)]) == 1
    assert "error: " in capsys.readouterr().err
    for bad in (["--md5", "xyz"], ["--variant", "999"], ["--archive", "a.tgz", "--url", "http://x"]):
        with pytest.raises(SystemExit) as exit_:
            dl.main(bad)
        assert exit_.value.code == 2
    with pytest.raises(SystemExit) as exit_:
        dl.main(["--help"])
    assert exit_.value.code == 0 and "--archive" in capsys.readouterr().out


def test_ensure_imagenette_downloads_once(server, tmp_path, monkeypatch, capsys):
    server.files["/imagenette2-160.tgz"] = GOOD
    monkeypatch.setattr(dl, "BASE_URL", server.url)
    monkeypatch.setitem(dl.CHECKSUMS, "160", (Checksum("0" * 32), Checksum(md5(GOOD))))
    folder = dl.ensure_imagenette(tmp_path, progress=False)
    assert folder == tmp_path / "imagenette2-160" and len(list(folder.glob("*/*/*.JPEG"))) == 10
    monkeypatch.setattr(dl, "BASE_URL", closed_port_url())  # a second call needs no network...
    capsys.readouterr()
    assert dl.ensure_imagenette(tmp_path, "160") == folder and len(server.requests) == 1
    assert capsys.readouterr() == ("", "")  # ...and prints nothing on the book's page


def test_ensure_imagenette_raises_download_error_without_network(tmp_path, monkeypatch):
    monkeypatch.setattr(dl, "BASE_URL", closed_port_url())
    with pytest.raises(DownloadError, match="could not download"):
        dl.ensure_imagenette(tmp_path, progress=False)
    with pytest.raises(ValueError, match="variants"):
        dl.ensure_imagenette(tmp_path, "640")


@pytest.mark.skipif(not (SHARED_DATA / "imagenette2-160.tgz").exists(), reason="no shared data beside the repository")
def test_the_shared_mirror_installs_with_its_own_md5(tmp_path, capsys):
    """CI's command. The shared archive was re-packed: the official checksums refuse it, its .md5 is required."""
    archive = SHARED_DATA / "imagenette2-160.tgz"
    assert dl.main(["--archive", str(archive), "--data", str(tmp_path)]) == 1
    assert "matches none of the accepted checksums" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == [] and archive.exists()
    md5_line = (SHARED_DATA / "imagenette2-160.tgz.md5").read_text().split()[0]
    assert dl.main(["--variant", "160", "--archive", str(archive), "--md5", md5_line, "--data", str(tmp_path)]) == 0
    assert "9,469 train / 3,925 val images" in capsys.readouterr().out
    assert len(list((tmp_path / "imagenette2-160" / "val").iterdir())) == 10
