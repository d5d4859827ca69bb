"""A reader's first build fetches the photographs by itself; offline, it says what it uses.

The build downloads Imagenette-160 and Oxford 17 Flowers once, before any chapter runs,
with its progress bar on the terminal (``book/_ext/preflight.py``); a chapter run alone
downloads them itself (``helpers.datasets.find_dataset``), through the same data
scripts. The "download" here comes from an HTTP server on 127.0.0.1 serving small
archives shaped like the official ones; the builds are of a one-page book.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import nbformat
import numpy as np
import pytest
import yaml
from archive_fakes import Server, closed_port_url, make_tgz, md5
from conftest import REPO_ROOT, book_extension
from helpers import datasets
from PIL import Image

from data_scripts import download_imagenette, fetch

WNIDS = ["n01440764", "n02102040"]


def jpeg(seed: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (40, 50, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG")
    return buffer.getvalue()


def imagenette_archive() -> bytes:
    members = [(f"imagenette2-160/{split}/{wnid}/{i}.JPEG", jpeg(i + 10 * k), None)
               for k, wnid in enumerate(WNIDS) for split in ("train", "val") for i in range(3)]
    return make_tgz(members)


@pytest.fixture()
def empty_data(isolated_folders, monkeypatch):
    monkeypatch.setenv("ALEXNET_DOWNLOAD", "1")
    return isolated_folders


def test_the_first_build_downloads_imagenette_once(empty_data, monkeypatch):
    archive = imagenette_archive()
    with Server({"/imagenette2-160.tgz": archive}) as server:
        monkeypatch.setattr(download_imagenette, "BASE_URL", server.url)
        monkeypatch.setitem(download_imagenette.CHECKSUMS, "160",
                            (fetch.Checksum(md5(archive), source="test"),))
        name, folder = datasets.find_dataset(None, image_size=67)
        assert (name, folder) == ("imagenette2-160", empty_data / "imagenette2-160")
        assert sorted(p.name for p in (folder / "train").iterdir()) == WNIDS
        assert datasets.find_dataset(None, image_size=67)[0] == "imagenette2-160"
        assert len(server.requests) == 1, "downloaded more than once"


def test_offline_the_drawn_set_is_the_last_resort_with_a_warning(empty_data, monkeypatch):
    monkeypatch.setattr(download_imagenette, "BASE_URL", closed_port_url())
    drawn = empty_data / "offline"
    monkeypatch.setattr(datasets, "_offline_folder", lambda: drawn)
    with pytest.warns(UserWarning, match="could not download imagenette2-160"):
        name, folder = datasets.find_dataset(None, image_size=67)
    assert (name, folder) == ("offline", drawn)


def test_downloads_can_be_turned_off(empty_data, monkeypatch):
    monkeypatch.setenv("ALEXNET_DOWNLOAD", "0")
    monkeypatch.setattr(download_imagenette, "BASE_URL", "http://127.0.0.1:9/never")
    with pytest.raises(datasets.DataNotFoundError, match="download_flowers17"):
        datasets.find_dataset("flowers17")


# -- the build downloads before any chapter runs (book/_ext/preflight.py) --------------------

preflight = book_extension("preflight")
UPSTREAM = '''"""A stand-in for fast.ai's and the VGG's servers: the data scripts fetch from 127.0.0.1."""
import functools
import json
import os

from data_scripts import download_flowers17, download_imagenette
from data_scripts.fetch import Checksum

UPSTREAM = json.loads(os.environ["TEST_UPSTREAM"])


def setup(app):
    download_imagenette.BASE_URL = UPSTREAM["url"]
    download_imagenette.CHECKSUMS["160"] = (Checksum(UPSTREAM["imagenette2-160"]),)
    download_flowers17.URL = UPSTREAM["url"] + "/17flowers.tgz"
    download_flowers17.CHECKSUMS = (Checksum(UPSTREAM["flowers17"]),)
    download_flowers17.install_flowers17 = functools.partial(  # 2 images a class, not 80
        download_flowers17.install_flowers17, images_per_class=2, val_per_class=1)
    return {"parallel_read_safe": True}
'''
PAGE = """import os
from helpers import datasets
print("ALEXNET_DOWNLOAD:", os.environ.get("ALEXNET_DOWNLOAD"))
print("missing:", datasets.downloads_needed())"""


def flowers_archive() -> bytes:
    """The official layout, ``jpg/image_NNNN.jpg``, with 2 images of each of the 17 classes."""
    return make_tgz([(f"jpg/image_{(label * 2 + i + 1):04d}.jpg", jpeg(label), None)
                     for label in range(17) for i in range(2)])


ARCHIVES = {"/imagenette2-160.tgz": imagenette_archive(), "/17flowers.tgz": flowers_archive()}
GOOD_MD5S = {"imagenette2-160": md5(ARCHIVES["/imagenette2-160.tgz"]),
             "flowers17": md5(ARCHIVES["/17flowers.tgz"])}


@pytest.fixture()
def small_book(tmp_path) -> Path:
    """A one-page book with the preflight extension, fetching from ``TEST_UPSTREAM``."""
    (tmp_path / "ext").mkdir()
    (tmp_path / "ext" / "upstream.py").write_text(UPSTREAM)
    book = tmp_path / "book"
    book.mkdir()
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# A page"),
                                                   nbformat.v4.new_code_cell(PAGE)]),
                   book / "intro.ipynb")
    (book / "_toc.yml").write_text("format: jb-book\nroot: intro\n")
    config = {"title": "t", "execute": {"execute_notebooks": "cache"},
              "sphinx": {"local_extensions": {"upstream": str(tmp_path / "ext"),
                                              "preflight": str(REPO_ROOT / "book" / "_ext")}}}
    (book / "_config.yml").write_text(yaml.safe_dump(config))
    return book


def build(book: Path, url: str, md5s: dict[str, str]) -> tuple[str, str, float]:
    """``jupyter-book build -W`` of ``book`` fetching from ``url``; (stdout, stderr, seconds)."""
    env = {**os.environ, "ALEXNET_DATA": str(book.parent / "data"),
           "ALEXNET_ARTIFACTS": str(book.parent / "artifacts"),
           "TEST_UPSTREAM": json.dumps({"url": url, **md5s})}
    env.pop("ALEXNET_DOWNLOAD", None)  # as on a reader's machine
    start = time.perf_counter()
    result = subprocess.run([shutil.which("jupyter-book") or "jupyter-book", "build", str(book),
                             "-W"], env=env, capture_output=True, text=True, timeout=600)
    seconds = time.perf_counter() - start
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    return result.stdout, result.stderr, seconds


def page_says(book: Path) -> str:
    """What the page's code cell printed in the built HTML."""
    html = (book / "_build" / "html" / "intro.html").read_text()
    return re.sub(r"<[^>]+>", "", html).replace("&#39;", "'")


def data_lines(output: str) -> list[str]:
    """The build's lines about the data, without their colours."""
    plain = re.sub(r"\x1b\[[0-9;]*m", "", output)
    return [line for line in plain.splitlines() if line.startswith("data: ")]


def test_the_build_downloads_once_with_a_progress_bar_before_any_chapter(small_book):
    with Server(ARCHIVES) as server:
        out, err, _ = build(small_book, server.url, GOOD_MD5S)
        assert sorted(path for path, _ in server.requests) == sorted(ARCHIVES)
        # tqdm's bar on the build's own standard error, not in a chapter's kernel
        assert "imagenette2-160.tgz: 100%" in err and "17flowers.tgz: 100%" in err, err[-2000:]
        installed = out.index("data: Oxford 17 Flowers installed")
        assert installed < out.index("Executing notebook"), "a chapter ran before the data came"
        page = page_says(small_book)
        assert "ALEXNET_DOWNLOAD: 0" in page and "missing: []" in page  # the chapter finds it
        out, err, _ = build(small_book, server.url, GOOD_MD5S)  # the second build
        assert len(server.requests) == 2, "downloaded again"
        assert data_lines(out) == [f"data: nothing to download: {small_book.parent / 'data'} holds "
                                   "the chapters' data sets"]
        assert "100%" not in err


def test_without_network_one_line_then_a_later_build_downloads_and_reexecutes(small_book):
    out, err, seconds = build(small_book, closed_port_url(), GOOD_MD5S)
    failed = [line for line in data_lines(out) if "no network" in line]
    assert len(failed) == 1, out[-3000:]
    assert ("Imagenette-160 and Oxford 17 Flowers not downloaded, so the chapters use drawn "
            "shapes; connect and build again") in failed[0]
    assert "Traceback" not in out + err and seconds < 120
    page = page_says(small_book)  # the chapter falls back without trying again
    assert "ALEXNET_DOWNLOAD: 0" in page and "missing: ['imagenette2-160', 'flowers17']" in page
    with Server(ARCHIVES) as server:  # connected: the cached page ran without the data
        out, _, _ = build(small_book, server.url, GOOD_MD5S)
        assert len(server.requests) == 2 and "every page runs again" in out, out[-3000:]
    assert "missing: []" in page_says(small_book)


def test_a_bad_checksum_is_quarantined_and_not_fetched_again(small_book):
    md5s = {**GOOD_MD5S, "imagenette2-160": "0" * 32}  # upstream changed its archive
    quarantined = small_book.parent / "data" / "downloads" / "imagenette2-160.tgz.bad-md5"
    with Server(ARCHIVES) as server:
        out, _, _ = build(small_book, server.url, md5s)
        assert len(server.requests) == 2 and quarantined.is_file()
        line = next(line for line in data_lines(out) if "Imagenette-160 not installed" in line)
        assert "is quarantined" in line and "--md5" in line and f"delete {quarantined}" in line
        assert "data: Oxford 17 Flowers installed" in out
        out, _, _ = build(small_book, server.url, md5s)
        assert len(server.requests) == 2, "the quarantined archive was downloaded again"
        assert any("quarantined and not downloaded again" in line for line in data_lines(out))


def test_a_chapter_run_alone_sees_the_quarantine_too(empty_data, monkeypatch):
    """On Colab the chapter downloads by itself: a quarantined archive stops it at once."""
    with Server(ARCHIVES) as server:
        monkeypatch.setattr(download_imagenette, "BASE_URL", server.url)
        monkeypatch.setitem(download_imagenette.CHECKSUMS, "160", (fetch.Checksum("0" * 32),))
        monkeypatch.setattr(datasets, "_offline_folder", lambda: empty_data / "offline")
        for _ in range(2):
            with pytest.warns(UserWarning, match="could not download imagenette2-160.*quarantined"):
                assert datasets.find_dataset(None, image_size=67)[0] == "offline"
        assert len(server.requests) == 1


def test_the_build_step_respects_alexnet_download_0(empty_data, monkeypatch, caplog):
    monkeypatch.setenv("ALEXNET_DOWNLOAD", "0")
    monkeypatch.setattr(datasets, "install_download", lambda name: pytest.fail("downloaded"))
    with caplog.at_level("INFO"):
        assert preflight.fetch_data() == []
    assert "downloads are off (ALEXNET_DOWNLOAD=0)" in caplog.text


def test_no_network_stops_after_the_first_set(empty_data, monkeypatch, caplog):
    """Each try would wait for the connection to time out: the second set is not tried."""
    tried = []

    def unreachable(name):
        tried.append(name)
        raise fetch.UnreachableError("no route", "https://s3.amazonaws.com/x.tgz")

    monkeypatch.setattr(datasets, "install_download", unreachable)
    with caplog.at_level("INFO"):
        assert preflight.fetch_data() == []
    assert tried == ["imagenette2-160"] and os.environ["ALEXNET_DOWNLOAD"] == "0"
    assert "no network (s3.amazonaws.com cannot be reached)" in caplog.text
