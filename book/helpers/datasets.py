"""Finding data sets: which one is present, and its files, labels and class names.

``find_dataset()`` picks Imagenette (``data_root()/imagenette2-*``), then mini-ImageNet
(``data_root()/mini-imagenet``), then the offline set (drawn on first use), or takes a
name or a folder; ``list_splits()`` lists a class-per-folder set's images and labels.
``helpers.data`` decodes and serves them.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from helpers.augment import resize_size
from helpers.paths import REPO_ROOT, data_root

IMAGENETTE_VARIANTS = {
    "imagenette2-160": 160,
    "imagenette2-320": 320,
    "imagenette2": 500,
}  # shorter side (px)
VAL_FOLDERS = ("val", "validation", "valid")
WNID_NAMES = {  # ImageNet classes of Imagenette and of the 16-class mini-ImageNet
    "n01440764": "tench",
    "n01443537": "goldfish",
    "n01484850": "great white shark",
    "n01491361": "tiger shark",
    "n01494475": "hammerhead",
    "n01496331": "electric ray",
    "n01498041": "stingray",
    "n01514668": "cock",
    "n01514859": "hen",
    "n01518878": "ostrich",
    "n01530575": "brambling",
    "n01531178": "goldfinch",
    "n01532829": "house finch",
    "n01534433": "junco",
    "n01537544": "indigo bunting",
    "n01558993": "robin",
    "n02102040": "English springer",
    "n02979186": "cassette player",
    "n03000684": "chain saw",
    "n03028079": "church",
    "n03394916": "French horn",
    "n03417042": "garbage truck",
    "n03425413": "gas pump",
    "n03445777": "golf ball",
    "n03888257": "parachute",
}
FETCH_HINT = (
    "fetch real images with `python -m data_scripts.download_imagenette --variant 160` "
    "or draw the offline set with `python -m data_scripts.make_offline_dataset`"
)


class DataNotFoundError(ValueError):
    """A data set folder is missing or holds no images; the message says which command fetches it."""


@dataclass(frozen=True)
class DataSource:
    """Where a data set came from: ``name``, folder ``path``, ``is_real`` photographs, ``description``."""

    name: str
    path: Path
    is_real: bool
    description: str


def _offline_folder() -> Path:
    try:
        from data_scripts.make_offline_dataset import ensure_offline_dataset
    except ImportError:  # chapters run from book/; the scripts live at the repository's root
        sys.path.append(str(REPO_ROOT))
        from data_scripts.make_offline_dataset import ensure_offline_dataset
    return ensure_offline_dataset(data_root())


def _has_images(folder: Path) -> bool:
    return folder.is_dir() and any(p.is_dir() and any(p.iterdir()) for p in folder.iterdir())


def find_dataset(name: str | os.PathLike | None = None, image_size: int = 224) -> tuple[str, Path]:
    """(name, folder) of the data set ``name``; ``None`` picks the best one available.

    Names: "imagenette" (the smallest variant whose images are at least
    ``resize_size(image_size)`` pixels, else the largest), "imagenette2-160",
    "imagenette2-320", "imagenette2", "mini-imagenet", "offline", or a folder.
    """
    root = data_root()
    if name is None or name == "imagenette":
        present = [v for v in IMAGENETTE_VARIANTS if _has_images(root / v / "train")]
        big_enough = [v for v in present if IMAGENETTE_VARIANTS[v] >= resize_size(image_size)]
        if present:
            chosen = (big_enough or present[::-1])[0]
            return chosen, root / chosen
        if name == "imagenette":
            raise DataNotFoundError(
                f"no Imagenette under {root}; fetch it with "
                "`python -m data_scripts.download_imagenette --variant 160`"
            )
        if _has_images(root / "mini-imagenet" / "train"):
            return "mini-imagenet", root / "mini-imagenet"
        return "offline", _offline_folder()
    if name == "offline":
        return "offline", _offline_folder()
    if str(name) in IMAGENETTE_VARIANTS or name == "mini-imagenet":
        folder = root / str(name)
        command = (
            "python -m data_scripts.make_mini_imagenet --source <your ImageNet folder>"
            if name == "mini-imagenet"
            else f"python -m data_scripts.download_imagenette --variant {str(name).split('-')[-1]}".replace(
                "--variant imagenette2", "--variant full"
            )
        )
        if not _has_images(folder / "train"):
            raise DataNotFoundError(
                f"data set {name!r} not found (or empty) at {folder}; make it with `{command}`"
            )
        return str(name), folder
    folder = Path(name).expanduser()
    if not _has_images(folder):
        raise DataNotFoundError(
            f"no class folders with images at {folder}; put images in <folder>/<class>/ "
            f"(or train/ and val/ of those), or {FETCH_HINT}"
        )
    return folder.name, folder


def _class_files(folder: Path) -> tuple[list[Path], list[int], list[str]]:
    classes = sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    files, labels = [], []
    for label, name in enumerate(classes):
        for path in sorted((folder / name).iterdir()):
            if path.is_file() and not path.name.startswith("."):
                files.append(path)
                labels.append(label)
    return files, labels, classes


def list_splits(folder: Path, seed: int = 2012, val_fraction: float = 0.2):
    """(train_files, train_labels, val_files, val_labels, class_names) of a class-per-folder set.

    ``folder`` holds ``train/<class>/`` and ``val/<class>/`` (or ``validation``), or the
    class folders themselves, which are then split with ``seed`` (``val_fraction`` to val).
    """
    val_dir = next((folder / v for v in VAL_FOLDERS if (folder / v).is_dir()), None)
    if (folder / "train").is_dir() and val_dir is not None:
        train_files, train_labels, classes = _class_files(folder / "train")
        val_files, val_labels, val_classes = _class_files(val_dir)
        if val_classes != classes:
            raise ValueError(
                f"{folder}: train/ and {val_dir.name}/ hold different class folders; make them match"
            )
        return train_files, train_labels, val_files, val_labels, classes
    files, labels, classes = _class_files(folder)
    is_val = np.random.default_rng(seed).random(len(files)) < val_fraction
    pick = lambda items, want: [x for x, v in zip(items, is_val, strict=True) if v == want]  # noqa: E731
    return pick(files, False), pick(labels, False), pick(files, True), pick(labels, True), classes
