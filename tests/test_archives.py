"""data_scripts.fetch and data_scripts.archives: fetch, check, extract safely, install atomically.

Downloads are tested against an HTTP server on 127.0.0.1.
"""

from __future__ import annotations

import os
import random
import time

import pytest
from archive_fakes import Server, closed_port_url, make_tgz, md5

from data_scripts import archives, cli, fetch
from data_scripts.fetch import Checksum, ChecksumError, DownloadError

_NOISE = random.Random(0)  # incompressible contents: the archive is about 300 kB, several download chunks
GOOD = make_tgz(
    [("pkg/", None, None)]
    + [(f"pkg/{split}/c/{i}.bin", _NOISE.randbytes(50_000), None) for split in ("train", "val") for i in range(3)]
)
STALE = Checksum("0" * 32, size=len(GOOD), source="a stale list")


@pytest.fixture()
def server():
    with Server() as served:
        yield served


def tree(folder) -> list[str]:
    """Every path under ``folder``, relative, sorted ("" when the folder is empty or missing)."""
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*")) if folder.exists() else []


# -- checking ---------------------------------------------------------------------------------


def test_md5sum_agrees_with_hashlib(tmp_path):
    (tmp_path / "a").write_bytes(GOOD)
    assert fetch.md5sum(tmp_path / "a") == md5(GOOD)


def test_any_one_checksum_of_the_set_is_enough(tmp_path):
    path = tmp_path / "a.tgz"
    path.write_bytes(GOOD)
    good = Checksum(md5(GOOD), source="the other list")
    assert fetch.verify(path, [STALE, good]) == good
    assert fetch.verify(path, [Checksum(md5(GOOD), size=len(GOOD))]).size == len(GOOD)
    assert fetch.verify(path, None) is None
    with pytest.raises(ChecksumError, match=f"MD5 {md5(GOOD)}.*do this"):
        fetch.verify(path, [STALE], advice="do this")
    with pytest.raises(ChecksumError, match="size alone"):  # every size known, none fits: not even hashed
        fetch.verify(path, [Checksum(md5(GOOD), size=len(GOOD) + 1)])


def test_md5_argument_accepts_md5sum_output_only():
    assert cli.md5_argument(" " + md5(GOOD).upper() + "\n") == md5(GOOD)
    with pytest.raises(Exception, match="not an MD5"):
        cli.md5_argument("abc")


# -- fetching ---------------------------------------------------------------------------------


def test_fetch_then_reuse_without_a_request(server, tmp_path):
    server.files["/a.tgz"] = GOOD
    dest = tmp_path / "downloads" / "a.tgz"
    assert fetch.fetch(f"{server.url}/a.tgz", dest, checksums=[STALE, Checksum(md5(GOOD))], progress=False) == dest
    assert dest.read_bytes() == GOOD and not dest.with_name("a.tgz.part").exists()
    fetch.fetch(f"{server.url}/a.tgz", dest, checksums=[Checksum(md5(GOOD))], progress=False)
    assert len(server.requests) == 1


def test_interrupted_download_is_kept_and_resumed_with_range(server, tmp_path):
    server.files["/a.tgz"] = GOOD
    server.cut_after = len(GOOD) // 2
    dest = tmp_path / "a.tgz"
    with pytest.raises(DownloadError, match="run the same command again to resume"):
        fetch.fetch(f"{server.url}/a.tgz", dest, checksums=[Checksum(md5(GOOD))], retries=0, progress=False)
    part = dest.with_name("a.tgz.part")
    kept = part.stat().st_size
    assert 0 < kept <= len(GOOD) // 2 and not dest.exists()
    assert part.read_bytes() == GOOD[:kept]
    fetch.fetch(f"{server.url}/a.tgz", dest, checksums=[Checksum(md5(GOOD))], retries=0, progress=False)
    assert dest.read_bytes() == GOOD and not part.exists()
    assert server.requests[-1] == ("/a.tgz", f"bytes={kept}-")  # only the rest was fetched


def test_interruption_is_retried_within_one_call(server, tmp_path):
    server.files["/a.tgz"] = GOOD
    server.cut_after = len(GOOD) // 2
    fetch.fetch(f"{server.url}/a.tgz", tmp_path / "a.tgz", checksums=[Checksum(md5(GOOD))], progress=False)
    assert (tmp_path / "a.tgz").read_bytes() == GOOD
    assert [r[1] is None for r in server.requests] == [True, False]  # the second request resumed


def test_a_server_that_ignores_range_sends_everything_again(server, tmp_path):
    server.files["/a.tgz"] = GOOD
    server.ignore_range = True
    part = tmp_path / "a.tgz.part"
    junk = b"junk that must not stay in front" * 100
    part.write_bytes(junk)
    fetch.fetch(f"{server.url}/a.tgz", tmp_path / "a.tgz", checksums=[Checksum(md5(GOOD))], progress=False)
    assert (tmp_path / "a.tgz").read_bytes() == GOOD
    assert server.requests[0][1] == f"bytes={len(junk)}-"  # asked to resume, got the whole file, started over


def test_a_part_longer_than_the_file_is_removed(server, tmp_path):
    server.files["/a.tgz"] = GOOD
    (tmp_path / "a.tgz.part").write_bytes(GOOD + b"extra")
    with pytest.raises(DownloadError, match="was removed; run the same command again"):
        fetch.fetch(f"{server.url}/a.tgz", tmp_path / "a.tgz", progress=False)
    assert tree(tmp_path) == []
    fetch.fetch(f"{server.url}/a.tgz", tmp_path / "a.tgz", checksums=[Checksum(md5(GOOD))], progress=False)


def test_a_download_that_fails_the_check_is_quarantined_and_not_fetched_again(server, tmp_path):
    """An upstream archive that changed would otherwise be fetched again by every run."""
    server.files["/a.tgz"] = GOOD
    url, dest = f"{server.url}/a.tgz", tmp_path / "a.tgz"
    with pytest.raises(ChecksumError, match=f"a.tgz.bad-md5 .*MD5 {md5(GOOD)}.*quarantined.*--md5.*delete"):
        fetch.fetch(url, dest, checksums=[STALE], progress=False)
    assert tree(tmp_path) == ["a.tgz.bad-md5"] and fetch.quarantine_path(dest).read_bytes() == GOOD
    for _ in range(2):  # later runs stop at once, with the same advice
        with pytest.raises(ChecksumError, match="quarantined and not downloaded again.*--md5.*delete"):
            fetch.fetch(url, dest, checksums=[STALE], progress=False)
    assert len(server.requests) == 1 and tree(tmp_path) == ["a.tgz.bad-md5"]


def test_a_quarantined_download_is_installed_once_md5_names_it(server, tmp_path):
    server.files["/a.tgz"] = GOOD
    url, dest = f"{server.url}/a.tgz", tmp_path / "a.tgz"
    with pytest.raises(ChecksumError):
        fetch.fetch(url, dest, checksums=[STALE], progress=False)
    # --md5 of the quarantined file: it becomes the archive, with no second download
    assert fetch.fetch(url, dest, checksums=[Checksum(md5(GOOD))], retry_quarantined=True, progress=False) == dest
    assert tree(tmp_path) == ["a.tgz"] and len(server.requests) == 1


def test_another_md5_or_deleting_the_quarantine_downloads_afresh(server, tmp_path):
    server.files["/a.tgz"] = GOOD
    url, dest = f"{server.url}/a.tgz", tmp_path / "a.tgz"
    with pytest.raises(ChecksumError):
        fetch.fetch(url, dest, checksums=[STALE], progress=False)
    with pytest.raises(ChecksumError, match="quarantined and will not"):  # --md5 of another file: fetched again
        fetch.fetch(url, dest, checksums=[Checksum("1" * 32)], retry_quarantined=True, progress=False)
    assert len(server.requests) == 2
    fetch.quarantine_path(dest).unlink()  # what the message says to do when the server is fixed
    server.files["/a.tgz"] = b"x" * 100
    assert fetch.fetch(url, dest, checksums=[Checksum(md5(b"x" * 100))], progress=False).read_bytes() == b"x" * 100
    assert len(server.requests) == 3 and tree(tmp_path) == ["a.tgz"]


def test_an_existing_archive_that_fails_the_check_is_kept(server, tmp_path):
    """A whole archive from an earlier run may be good and the list stale: it is reported, not deleted."""
    (tmp_path / "a.tgz").write_bytes(GOOD)
    with pytest.raises(ChecksumError, match="it is kept.*--md5"):
        fetch.fetch(f"{server.url}/a.tgz", tmp_path / "a.tgz", checksums=[STALE], progress=False)
    assert (tmp_path / "a.tgz").read_bytes() == GOOD and server.requests == []


def test_http_errors_and_an_unreachable_network_fail_fast_with_advice(server, tmp_path, monkeypatch):
    with pytest.raises(DownloadError, match="HTTP 404.*check the URL") as http_error:
        fetch.fetch(f"{server.url}/missing.tgz", tmp_path / "a.tgz", retries=3, progress=False)
    assert len(server.requests) == 1  # not retried
    assert not isinstance(http_error.value, fetch.UnreachableError)  # the server answered
    calls = []
    get = fetch.requests.get
    monkeypatch.setattr(fetch.requests, "get", lambda *args, **kwargs: calls.append(kwargs) or get(*args, **kwargs))
    start = time.monotonic()
    url = f"{closed_port_url()}/a.tgz"
    with pytest.raises(fetch.UnreachableError, match="check the network.*--archive") as unreachable:
        fetch.fetch(url, tmp_path / "a.tgz", retries=3, progress=False)
    assert time.monotonic() - start < 5 and len(calls) == 1  # no bytes came: no retry
    assert unreachable.value.url == url
    assert calls[0]["timeout"] == fetch.TIMEOUT == (10.0, 60.0)  # connect within 10 s, so no network fails fast


# -- extracting -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "members",
    [
        [("/tmp/evil", b"x", None)],
        [("pkg/../../evil", b"x", None)],
        [("pkg/link", None, "/etc/passwd")],
        [("pkg/link", None, "../../outside")],
    ],
    ids=["absolute", "dotdot", "absolute-link", "relative-link-out"],
)
def test_malicious_members_are_refused_before_writing(tmp_path, members):
    archive = tmp_path / "evil.tgz"
    archive.write_bytes(make_tgz([("pkg/ok.txt", b"ok", None), *members]))
    with pytest.raises(DownloadError, match="refusing"):
        archives.safe_extract(archive, tmp_path / "out")
    assert tree(tmp_path / "out") == []
    assert not (tmp_path / "evil").exists() and not (tmp_path / "outside").exists()
    # Through install, nothing appears in the data folder either, and the archive stays.
    with pytest.raises(DownloadError, match="refusing.*left untouched"):
        archives.install("pkg", tmp_path / "data", archive=archive, progress=False)
    assert tree(tmp_path / "data") == [] and archive.exists()


def test_the_data_filter_is_the_second_line(tmp_path, monkeypatch):
    """With our own check switched off, tarfile's data filter still refuses a link out."""
    monkeypatch.setattr(archives, "_check_member", lambda member, root: None)
    archive = tmp_path / "evil.tgz"
    archive.write_bytes(make_tgz([("pkg/link", None, "../../outside")]))
    with pytest.raises(DownloadError, match="refusing"):
        archives.safe_extract(archive, tmp_path / "out")


def test_links_inside_the_folder_are_allowed(tmp_path):
    archive = tmp_path / "ok.tgz"
    archive.write_bytes(make_tgz([("d/a.txt", b"a", None), ("d/b.txt", None, "a.txt")]))
    assert archives.safe_extract(archive, tmp_path / "out") == ["d"]
    assert (tmp_path / "out" / "d" / "b.txt").read_bytes() == b"a"


def test_a_damaged_archive_is_an_error_not_a_traceback(tmp_path):
    archive = tmp_path / "cut.tgz"
    archive.write_bytes(GOOD[: len(GOOD) // 2])
    with pytest.raises(DownloadError, match="damaged or incomplete"):
        archives.safe_extract(archive, tmp_path / "out")


# -- installing -------------------------------------------------------------------------------


def test_download_install_and_idempotent_rerun(server, tmp_path, capsys):
    server.files["/pkg.tgz"] = GOOD
    url = f"{server.url}/pkg.tgz"
    target = archives.install("pkg", tmp_path, url=url, checksums=[STALE, Checksum(md5(GOOD))], keep_archive=True)
    assert target == tmp_path / "pkg"
    assert tree(target) == [".complete", "train", "train/c", *[f"train/c/{i}.bin" for i in range(3)],
                            "val", "val/c", *[f"val/c/{i}.bin" for i in range(3)]]  # fmt: skip
    assert archives.read_marker(target) == {"source": url, "md5": md5(GOOD), "settings": {}}
    assert (tmp_path / "downloads" / "pkg.tgz").read_bytes() == GOOD  # kept: a good file, one list stale
    assert sorted(p.name for p in tmp_path.iterdir()) == ["downloads", "pkg"]  # no temporary folder left
    before = {path: path.stat().st_mtime_ns for path in target.rglob("*")}
    capsys.readouterr()
    archives.install("pkg", tmp_path, url=url, checksums=[Checksum("f" * 32)])
    assert "nothing to do" in capsys.readouterr().out
    assert len(server.requests) == 1 and {path: path.stat().st_mtime_ns for path in target.rglob("*")} == before


def test_the_downloaded_archive_is_removed_unless_kept(server, tmp_path):
    server.files["/pkg.tgz"] = GOOD
    archives.install("pkg", tmp_path, url=f"{server.url}/pkg.tgz", checksums=[Checksum(md5(GOOD))], progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pkg"]


def test_a_local_archive_is_checked_installed_and_never_touched(tmp_path):
    archive = tmp_path / "mirror" / "pkg.tgz"
    archive.parent.mkdir()
    archive.write_bytes(GOOD)
    os.chmod(archive, 0o444)  # a read-only mirror
    stat = archive.stat()
    data = tmp_path / "data"
    target = archives.install("pkg", data, archive=archive, checksums=[Checksum(md5(GOOD))], progress=False)
    assert len(list(target.glob("*/c/*.bin"))) == 6
    assert archives.read_marker(target)["source"] == str(archive.resolve())
    assert archive.read_bytes() == GOOD and archive.stat().st_mtime_ns == stat.st_mtime_ns
    assert sorted(p.name for p in data.iterdir()) == ["pkg"]  # no downloads/ folder, no copy


def test_a_bad_local_archive_is_kept_and_the_error_names_it(tmp_path):
    archive = tmp_path / "pkg.tgz"
    archive.write_bytes(GOOD)
    with pytest.raises(ChecksumError, match=f"{archive}.*left untouched.*--md5"):
        archives.install("pkg", tmp_path / "data", archive=archive, checksums=[STALE], progress=False)
    assert archive.read_bytes() == GOOD and tree(tmp_path / "data") == []
    with pytest.raises(DownloadError, match="no such file.*--archive"):
        archives.install("pkg", tmp_path / "data", archive=tmp_path / "nope.tgz", progress=False)
    archive.write_bytes(make_tgz([("elsewhere/a.txt", b"a", None)]))
    with pytest.raises(DownloadError, match=r"holds \['elsewhere'\], not the folder 'pkg'"):
        archives.install("pkg", tmp_path / "data", archive=archive, progress=False)
    assert archive.exists() and tree(tmp_path / "data") == []


def test_a_failure_while_arranging_leaves_no_half_folder(tmp_path):
    archive = tmp_path / "pkg.tgz"
    archive.write_bytes(GOOD)

    def arrange(extracted, out):
        (out / "half").mkdir(parents=True)
        raise DownloadError("arranging failed half-way")

    with pytest.raises(DownloadError, match="half-way"):
        archives.install("pkg", tmp_path / "data", archive=archive, arrange=arrange, progress=False)
    assert tree(tmp_path / "data") == []


def test_an_incomplete_earlier_folder_is_replaced(tmp_path):
    archive = tmp_path / "pkg.tgz"
    archive.write_bytes(GOOD)
    (tmp_path / "data" / "pkg" / "train").mkdir(parents=True)  # interrupted by hand, say: no marker
    (tmp_path / "data" / "pkg" / "stray.txt").write_text("from before")
    target = archives.install("pkg", tmp_path / "data", archive=archive, progress=False)
    assert not (target / "stray.txt").exists() and len(list(target.glob("*/c/*.bin"))) == 6
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["pkg"]


def test_other_settings_on_a_complete_folder_are_an_error(tmp_path):
    archive = tmp_path / "pkg.tgz"
    archive.write_bytes(GOOD)
    archives.install("pkg", tmp_path, archive=archive, settings={"seed": 1}, progress=False)
    archives.install("pkg", tmp_path, archive=archive, settings={"seed": 1}, progress=False)  # same: fine
    with pytest.raises(DownloadError, match="installed with \\{'seed': 1\\}.*delete"):
        archives.install("pkg", tmp_path, archive=archive, settings={"seed": 2}, progress=False)


def test_install_needs_exactly_one_source(tmp_path):
    with pytest.raises(ValueError, match="exactly one"):
        archives.install("pkg", tmp_path)
    with pytest.raises(ValueError, match="exactly one"):
        archives.install("pkg", tmp_path, url="http://x", archive=tmp_path / "a.tgz")
