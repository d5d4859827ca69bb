"""The Imagenette downloader, against an HTTP server on 127.0.0.1 serving a small archive the test makes."""

from __future__ import annotations

import hashlib
import io
import random
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from data_scripts import download_imagenette as dl


class Server:
    """Serves ``files`` (path -> bytes) with HTTP Range support; may cut a response after ``cut_after``."""

    def __init__(self, files: dict[str, bytes]):
        self.files, self.cut_after, self.requests = files, None, []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep the test output quiet
                pass

            def do_GET(self):
                server.requests.append((self.path, self.headers.get("Range")))
                body = server.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                start = 0
                if self.headers.get("Range"):
                    start = int(self.headers["Range"].split("=")[1].split("-")[0])
                    if start >= len(body):
                        self.send_error(416)
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                payload = body[start:]
                if server.cut_after is not None:  # promise everything, send part, hang up
                    payload, server.cut_after = payload[: server.cut_after], None
                    self.wfile.write(payload)
                    self.close_connection = True
                    return
                self.wfile.write(payload)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()


@pytest.fixture()
def server():
    served = Server({})
    yield served
    served.httpd.shutdown()
    served.httpd.server_close()


def make_tgz(members: list[tuple[str, bytes | None, str | None]]) -> bytes:
    """A .tgz of (name, file bytes or None, symlink target or None) members."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, content, link in members:
            info = tarfile.TarInfo(name)
            if link is not None:
                info.type, info.linkname = tarfile.SYMTYPE, link
                tar.addfile(info)
            else:
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


_NOISE = random.Random(0)  # incompressible contents: the archive is about 300 kB, several download chunks
GOOD = make_tgz(
    [
        (f"imagenette2-160/{split}/n01440764/{i}.JPEG", _NOISE.randbytes(50_000), None)
        for split in ("train", "val")
        for i in range(3)
    ]
)


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def test_download_install_and_idempotent_rerun(server, tmp_path, capsys):
    server.files["/imagenette2-160.tgz"] = GOOD
    target = dl.install(
        f"{server.url}/imagenette2-160.tgz", "imagenette2-160", tmp_path, md5=md5(GOOD), progress=False
    )
    assert target == tmp_path / "imagenette2-160"
    assert len(list(target.glob("train/*/*.JPEG"))) == 3 and len(list(target.glob("val/*/*.JPEG"))) == 3
    assert (tmp_path / "downloads" / "imagenette2-160.tgz").read_bytes() == GOOD
    assert not list(tmp_path.glob(".*extracting*")) and not list(tmp_path.glob("downloads/*.part"))
    served = len(server.requests)
    dl.install(
        f"{server.url}/imagenette2-160.tgz", "imagenette2-160", tmp_path, md5=md5(GOOD), progress=False
    )
    assert len(server.requests) == served and "nothing to do" in capsys.readouterr().out  # no second download


def test_interrupted_download_resumes_with_range(server, tmp_path):
    server.files["/a.tgz"] = GOOD
    server.cut_after = len(GOOD) // 2
    dest = tmp_path / "a.tgz"
    with pytest.raises(dl.DownloadError, match="run the same command again to resume"):
        dl.download(f"{server.url}/a.tgz", dest, md5=md5(GOOD), retries=0, progress=False)
    part = dest.with_name("a.tgz.part")
    kept = part.stat().st_size
    assert 0 < kept <= len(GOOD) // 2 and not dest.exists()
    assert part.read_bytes() == GOOD[:kept]
    dl.download(f"{server.url}/a.tgz", dest, md5=md5(GOOD), retries=0, progress=False)
    assert dest.read_bytes() == GOOD and not part.exists()
    assert server.requests[-1] == ("/a.tgz", f"bytes={kept}-")  # only the rest was fetched


def test_interruption_is_retried_within_one_call(server, tmp_path):
    server.files["/a.tgz"] = GOOD
    server.cut_after = len(GOOD) // 2
    dl.download(f"{server.url}/a.tgz", tmp_path / "a.tgz", md5=md5(GOOD), retries=2, progress=False)
    assert (tmp_path / "a.tgz").read_bytes() == GOOD
    assert [r[1] is None for r in server.requests] == [True, False]  # the second request resumed


def test_wrong_checksum_is_refused_and_removed(server, tmp_path):
    server.files["/a.tgz"] = GOOD
    with pytest.raises(dl.DownloadError, match="MD5 checksum mismatch"):
        dl.download(f"{server.url}/a.tgz", tmp_path / "a.tgz", md5="0" * 32, progress=False)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(dl.DownloadError, match="expected 5"):
        dl.download(f"{server.url}/a.tgz", tmp_path / "b.tgz", size=5, progress=False)


def test_missing_file_gives_a_clear_message(server, tmp_path, capsys):
    code = dl.main(["--variant", "160", "--data", str(tmp_path), "--url", f"{server.url}/nothing.tgz"])
    assert code == 1 and "run the same command again" in capsys.readouterr().err


@pytest.mark.parametrize(
    "members",
    [
        [("/etc/evil", b"x", None)],
        [("imagenette2-160/../../evil", b"x", None)],
        [("imagenette2-160/link", None, "/etc/passwd")],
        [("imagenette2-160/link", None, "../../outside")],
    ],
    ids=["absolute", "dotdot", "absolute-link", "relative-link-out"],
)
def test_malicious_members_are_refused_before_writing(tmp_path, members):
    archive = tmp_path / "evil.tgz"
    archive.write_bytes(make_tgz([("imagenette2-160/ok.txt", b"ok", None), *members]))
    with pytest.raises(dl.DownloadError, match="refusing"):
        dl.safe_extract(archive, tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []
    assert not (tmp_path / "evil").exists() and not (tmp_path / "outside").exists()


def test_links_inside_the_folder_are_allowed(tmp_path):
    archive = tmp_path / "ok.tgz"
    archive.write_bytes(make_tgz([("d/a.txt", b"a", None), ("d/b.txt", None, "a.txt")]))
    assert dl.safe_extract(archive, tmp_path / "out") == ["d"]
    assert (tmp_path / "out" / "d" / "b.txt").read_bytes() == b"a"


def test_cli_installs_where_the_book_looks(server, tmp_path, monkeypatch):
    server.files["/imagenette2-160.tgz"] = GOOD
    monkeypatch.setenv("ALEXNET_DATA", str(tmp_path / "data"))
    assert dl.main(["--variant", "160", "--url", f"{server.url}/imagenette2-160.tgz", "--no-checksum"]) == 0
    from helpers.paths import data_root

    assert (data_root() / "imagenette2-160" / "train" / "n01440764").is_dir()
    assert not (
        data_root() / "downloads" / "imagenette2-160.tgz"
    ).exists()  # archive removed after extraction
    with pytest.raises(SystemExit):
        dl.main(["--help"])
    assert Path(dl.__file__).parent.name == "data_scripts"
