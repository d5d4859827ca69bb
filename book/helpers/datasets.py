"""Finding data sets: which one is present, its files, labels and class names.

``find_dataset()`` picks Imagenette (``data_root()/imagenette2-*``; on a first run with
a network connection it downloads Imagenette-160 once), then mini-ImageNet, then the
drawn offline set, or takes a name (``"flowers17"``, ...) or any folder of
``<class>/<image>`` files (or ``train/`` and ``val/`` of those). ``downloads_needed()``
and ``install_download()`` let the book's build download the same sets before any
chapter runs (``book/_ext/preflight.py``), so that its progress bar reaches the
terminal; a chapter run alone (Colab, Binder) downloads them itself.
``list_files()`` lists a class-per-folder set; ``stratified_holdout()`` is the one
seeded per-class split (also of the data scripts). ``helpers.data`` decodes and serves
the images.

Taught in ``book/06_data_augmentation.ipynb``; checked by ``tests/test_data.py`` and
``tests/test_first_build_download.py``.
"""

from __future__ import annotations

import os
import random
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from helpers.paths import data_root
from helpers.shapes import resize_size

K = TypeVar("K")
T = TypeVar("T")

IMAGENETTE_VARIANTS = {"imagenette2-160": 160, "imagenette2-320": 320,
                       "imagenette2": 500}
"""Imagenette's folders and the shorter side of their images (pixels)."""


def imagenette_variant(folder: str) -> str:
    """The variant name of an Imagenette folder: ``"imagenette2-160"`` -> ``"160"``."""
    return folder.removeprefix("imagenette2").lstrip("-") or "full"


IMAGENETTE_FOLDERS = {imagenette_variant(folder): folder
                      for folder in IMAGENETTE_VARIANTS}
"""The same folders by variant name: ``{"160": "imagenette2-160", ...}``."""
NAMED_SETS = {"mini-imagenet": "make_mini_imagenet --source <your ImageNet folder>",
              "flowers17": "download_flowers17"}
"""Other data sets found by name, and the ``data_scripts`` command that makes each."""
VAL_FOLDERS = ("val", "validation", "valid")
DOWNLOAD_VARIABLE = "ALEXNET_DOWNLOAD"
"""``ALEXNET_DOWNLOAD=0``: nothing is downloaded; the chapters use what is installed."""
DOWNLOADS = {"imagenette2-160": "download_imagenette --variant 160",
             "flowers17": NAMED_SETS["flowers17"]}
"""The sets chapters download on first use, and the ``data_scripts`` command of each."""
DATASET_LABELS = {"offline": "offline set of drawn shapes",
                  "mini-imagenet": "mini-ImageNet", "flowers17": "Oxford 17 Flowers",
                  "imagenette2": "Imagenette (full size)"}
"""How the pages name the data sets that are not named by their folder."""
WNID_NAMES = {  # ImageNet classes 0-15 (mini-ImageNet, in order), then Imagenette's
    "n01440764": "tench", "n01443537": "goldfish", "n01484850": "great white shark",
    "n01491361": "tiger shark", "n01494475": "hammerhead", "n01496331": "electric ray",
    "n01498041": "stingray", "n01514668": "cock", "n01514859": "hen",
    "n01518878": "ostrich",
    "n01530575": "brambling", "n01531178": "goldfinch", "n01532829": "house finch",
    "n01534433": "junco", "n01537544": "indigo bunting", "n01558993": "robin",
    "n02102040": "English springer", "n02979186": "cassette player",
    "n03000684": "chain saw",
    "n03028079": "church", "n03394916": "French horn", "n03417042": "garbage truck",
    "n03425413": "gas pump", "n03445777": "golf ball", "n03888257": "parachute",
}
FETCH_HINT = ("fetch real images with `python -m data_scripts.download_imagenette "
              "--variant 160` or draw the offline set with `python -m "
              "data_scripts.make_offline_dataset`")


class DataNotFoundError(ValueError):
    """A data set folder is missing or empty; the message says how to make it."""


@dataclass(frozen=True)
class DataSource:
    """Where a data set came from: ``name``, ``path``, ``is_real``, ``description``.

    ``is_real`` is False for the drawn offline set (no photographs).
    """

    name: str
    path: Path
    is_real: bool
    description: str = ""


@dataclass(frozen=True)
class FileSplits:
    """A class-per-folder set's files and labels per split, and its class folders."""

    train_files: list[Path]
    train_labels: list[int]
    val_files: list[Path]
    val_labels: list[int]
    classes: list[str]


def class_display_name(folder: str) -> str:
    """A class folder's name on the page: WordNet ids by their name, ``_`` as spaces."""
    return WNID_NAMES.get(folder, folder.replace("_", " "))


def _has_images(folder: Path) -> bool:
    return folder.is_dir() and any(p.is_dir() and any(p.iterdir())
                                   for p in folder.iterdir())


def _offline_folder() -> Path:
    from data_scripts.make_offline_dataset import ensure_offline_dataset

    return ensure_offline_dataset(data_root())


def dataset_label(dataset_name: str) -> str:
    """The name a page prints for a data set (``"imagenette2-160"``: Imagenette-160)."""
    default = dataset_name.replace("imagenette2-", "Imagenette-")
    return DATASET_LABELS.get(dataset_name, default)


def downloads_enabled() -> bool:
    """False when ``ALEXNET_DOWNLOAD=0``: then nothing is downloaded."""
    return os.environ.get(DOWNLOAD_VARIABLE, "1") != "0"


def downloads_needed() -> list[str]:
    """The sets of ``DOWNLOADS`` that the chapters would download now, in that order.

    Imagenette-160 when ``data_root()`` holds no Imagenette and no mini-ImageNet (what
    ``find_dataset(None)`` picks), Oxford 17 Flowers when its folder has no images
    (``find_dataset("flowers17")``, the small-data chapter).
    """
    root = data_root()
    needed = []
    if (_best_imagenette(root, 224) is None
            and not _has_images(root / "mini-imagenet" / "train")):
        needed.append("imagenette2-160")
    if not _has_images(root / "flowers17" / "train"):
        needed.append("flowers17")
    return needed


def install_download(name: str) -> Path:
    """Download and install ``name`` (a key of ``DOWNLOADS``) into ``data_root()``.

    With a progress bar on standard error, through the data scripts (resumed after an
    interruption, checked, installed whole); nothing is downloaded when the set is
    complete. Raises ``data_scripts.fetch.DownloadError``; its message says what to do.
    """
    from data_scripts.download_flowers17 import install_flowers17
    from data_scripts.download_imagenette import ensure_imagenette

    installers = {"imagenette2-160": lambda: ensure_imagenette(data_root(), "160"),
                  "flowers17": lambda: install_flowers17(data_root())}
    return installers[name]()


def _download(name: str) -> Path | None:
    """``install_download(name)`` on a first run; ``None`` when downloads are off
    (``ALEXNET_DOWNLOAD=0``) or fail: the warning says why and what fetches it later."""
    if not downloads_enabled():
        return None
    from data_scripts.fetch import DownloadError

    try:
        return install_download(name)
    except DownloadError as error:
        warnings.warn(f"could not download {name} ({error}); {FETCH_HINT}",
                      stacklevel=3)
        return None


def _best_imagenette(root: Path, image_size: int) -> tuple[str, Path] | None:
    present = [v for v in IMAGENETTE_VARIANTS if _has_images(root / v / "train")]
    needed = resize_size(image_size)
    big_enough = [v for v in present if IMAGENETTE_VARIANTS[v] >= needed]
    chosen = (big_enough or present[::-1] or [None])[0]
    return None if chosen is None else (chosen, root / chosen)


def find_dataset(name: str | os.PathLike | None = None,
                 image_size: int = 224) -> tuple[str, Path]:
    """``(name, folder)`` of data set ``name``; ``None`` picks the best one available.

    Names: ``"imagenette"`` (the smallest variant whose images are at least
    ``resize_size(image_size)`` pixels, else the largest), a variant
    (``"imagenette2-160"``, ...), ``"mini-imagenet"``, ``"flowers17"``, ``"offline"``,
    or a folder. With ``None`` and nothing present, Imagenette-160 is downloaded (unless
    ``ALEXNET_DOWNLOAD=0`` or offline: then the drawn set, with a warning).
    """
    root = data_root()
    if name is None or name == "imagenette":
        found = _best_imagenette(root, image_size)
        mini = _has_images(root / "mini-imagenet" / "train")
        if found is None and name is None and mini:
            return "mini-imagenet", root / "mini-imagenet"
        if found is None and _download("imagenette2-160") is not None:
            found = _best_imagenette(root, image_size)
        if found is not None:
            return found
        if name == "imagenette":
            command = "python -m data_scripts.download_imagenette --variant 160"
            raise DataNotFoundError(f"no Imagenette under {root}; fetch it with "
                                    f"`{command}`")
        return "offline", _offline_folder()
    if name == "offline":
        return "offline", _offline_folder()
    if str(name) in IMAGENETTE_VARIANTS or str(name) in NAMED_SETS:
        folder = root / str(name)
        downloadable = name in ("imagenette2-160", "flowers17")
        if downloadable and not _has_images(folder / "train"):
            _download(str(name))
        if not _has_images(folder / "train"):
            variant = imagenette_variant(str(name))
            command = NAMED_SETS.get(str(name),
                                     f"download_imagenette --variant {variant}")
            raise DataNotFoundError(f"data set {name!r} not found (or empty) at "
                                    f"{folder}; make it with `python -m "
                                    f"data_scripts.{command}`")
        return str(name), folder
    folder = Path(name).expanduser()
    if not _has_images(folder):
        raise DataNotFoundError(f"no class folders with images at {folder}; put images "
                                f"in <folder>/<class>/ (or train/ and val/ of those), "
                                f"or {FETCH_HINT}")
    return folder.name, folder


def _class_files(folder: Path) -> tuple[list[Path], list[int], list[str]]:
    classes = sorted(p.name for p in folder.iterdir()
                     if p.is_dir() and not p.name.startswith("."))
    files, labels = [], []
    for label, name in enumerate(classes):
        for path in sorted((folder / name).iterdir()):
            if path.is_file() and not path.name.startswith("."):
                files.append(path)
                labels.append(label)
    return files, labels, classes


def stratified_holdout(by_class: Mapping[K, Sequence[T]], seed: int, *,
                       count: int | None = None, fraction: float | None = None
                       ) -> tuple[dict[K, list[T]], dict[K, list[T]]]:
    """Hold out ``count`` items of every class, or ``fraction`` of them, seeded.

    With ``fraction``, a class of two or more items gives at least one. Classes are
    visited in sorted order with one ``random.Random(seed)``, each class's items
    sorted first, so the split depends only on the seed and the items. Returns
    ``(train, val)``, each ``{class: sorted items}``. Raises ``ValueError`` when a class
    has no more than ``count`` items (nothing would be left to train on).
    """
    if (count is None) == (fraction is None):
        raise ValueError("stratified_holdout: give count or fraction, one of them")
    rng, train, val = random.Random(seed), {}, {}
    for key in sorted(by_class):
        items = sorted(by_class[key])
        if count is not None and len(items) <= count:
            raise ValueError(f"class {key!r} has {len(items)} items, too few to hold "
                             f"out {count} and train on the rest")
        cut = count if count is not None else (
            max(1, round(len(items) * fraction)) if len(items) > 1 else 0)
        rng.shuffle(items)
        val[key], train[key] = sorted(items[:cut]), sorted(items[cut:])
    return train, val


def list_files(folder: Path, seed: int = 2012, val_fraction: float = 0.2) -> FileSplits:
    """The files and labels of a class-per-folder set (label: index of sorted folder).

    ``folder`` holds ``train/<class>/`` and ``val/<class>/`` (or ``validation``), or the
    class folders themselves, of which ``val_fraction`` of each class is held out for
    validation (``stratified_holdout`` with ``seed``).
    """
    folder = Path(folder)
    val_dir = next((folder / v for v in VAL_FOLDERS if (folder / v).is_dir()), None)
    if (folder / "train").is_dir() and val_dir is not None:
        train_files, train_labels, classes = _class_files(folder / "train")
        val_files, val_labels, val_classes = _class_files(val_dir)
        if val_classes != classes:
            raise ValueError(f"{folder}: train/ and {val_dir.name}/ hold different "
                             "class folders; make them match")
        return FileSplits(train_files, train_labels, val_files, val_labels, classes)
    files, labels, classes = _class_files(folder)
    by_class: dict[int, list[Path]] = {}
    for path, label in zip(files, labels, strict=True):
        by_class.setdefault(label, []).append(path)
    train, val = stratified_holdout(by_class, seed, fraction=val_fraction)
    return FileSplits(*_flat(train), *_flat(val), classes)


def _flat(by_class: dict[int, list[Path]]) -> tuple[list[Path], list[int]]:
    """``{label: files}`` as parallel lists of files and labels."""
    return ([path for paths in by_class.values() for path in paths],
            [label for label, paths in by_class.items() for _ in paths])
