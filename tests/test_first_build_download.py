"""A reader's first build fetches the photographs by itself; offline, it says what it uses.

``helpers.datasets.find_dataset`` downloads Imagenette-160 (and, by name, Oxford 17
Flowers) once, through the data scripts, when nothing is in the data folder; the
"download" here comes from an HTTP server on 127.0.0.1 serving a small archive shaped
like the official one.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from archive_fakes import Server, closed_port_url, make_tgz, md5
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
