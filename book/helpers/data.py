"""One loader for every class-per-folder data set the book trains on.

``load_dataset()`` finds the data set (``helpers.datasets``), decodes every image once
(threads, in parallel) with its shorter side resized and the centre cropped (§2), caches
the ``uint8`` arrays and the training set's statistics (mean image, RGB moments) under
``artifacts_root()/data_cache``, and returns them as ``DataSplits``. Training reads
``ImageBatches`` of ``uint8`` images, a ``keras.utils.PyDataset`` that any backend can
train on; the mean subtraction and the augmentation of §4.1 run inside the model
(``helpers.augment.PaperAugmentation``), on the device.

Taught in ``book/06_data_augmentation.ipynb``; checked by ``tests/test_data.py``.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np
from PIL import Image, ImageOps

from helpers.augment import PaperAugmentation, center_crop, resize_size, rgb_pca
from helpers.datasets import (
    FETCH_HINT,
    DataNotFoundError,
    DataSource,
    FileSplits,
    class_display_name,
    find_dataset,
    list_files,
)
from helpers.paths import artifacts_root

CACHE_VERSION = 2
LABELS = {"offline": "offline set of drawn shapes", "mini-imagenet": "mini-ImageNet",
          "flowers17": "Oxford 17 Flowers", "imagenette2": "Imagenette (full size)"}


def load_image(path: Path, size: int) -> np.ndarray | None:
    """The image at ``path``, shorter side resized to ``size``, centre cropped (§2): uint8 ``(size, size, 3)``.

    Returns ``None`` for a file that is empty, corrupt or not an image.
    """
    try:
        with Image.open(path) as image:
            image.draft("RGB", (size, size))  # JPEG: decode at a reduced scale, still >= size
            image = image.convert("RGB")
            return np.asarray(ImageOps.fit(image, (size, size), Image.Resampling.BILINEAR))
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return None


@dataclass(frozen=True)
class Split:
    """Decoded images of one split: ``images`` uint8 ``(N, R, R, 3)``, ``labels`` int32 ``(N,)``."""

    images: np.ndarray = field(repr=False)
    labels: np.ndarray = field(repr=False)
    files: list[Path] = field(repr=False)

    def __len__(self) -> int:
        return len(self.labels)


@dataclass(frozen=True)
class DataSplits:
    """What ``load_dataset`` returns: both splits, class names, source and training statistics.

    ``image_size`` is the network's input ``S``; images are ``R = resize_size(S)`` pixels.
    ``mean_image`` is ``(R, R, 3)`` (0-255 scale); ``eigenvalues`` ``(3,)`` and
    ``eigenvectors`` ``(3, 3)`` are the RGB PCA of the training pixels in [0, 1] (§4.1).
    """

    train: Split
    val: Split
    class_names: list[str]
    source: DataSource
    image_size: int
    mean_image: np.ndarray = field(repr=False)
    eigenvalues: np.ndarray = field(repr=False)
    eigenvectors: np.ndarray = field(repr=False)

    @property
    def num_train(self) -> int:
        return len(self.train)

    @property
    def num_val(self) -> int:
        return len(self.val)

    def batches(self, split: str, batch_size: int, *, shuffle: bool | None = None,
                seed: int = 2012) -> ImageBatches:
        """``ImageBatches`` of ``"train"`` (shuffled every epoch) or ``"val"`` (in order)."""
        data = {"train": self.train, "val": self.val}[split]
        return ImageBatches(data, batch_size, shuffle=split == "train" if shuffle is None else shuffle,
                            seed=seed)

    def augmentation(self, *, flip: str = "random", pca_color: bool = True, augment: bool = True,
                     seed: int = 2012) -> PaperAugmentation:
        """The model's input stage for this data: mean image, RGB PCA, crops of ``image_size``."""
        stage = PaperAugmentation(self.image_size, resize_size(self.image_size), flip=flip,
                                  pca_color=pca_color, augment=augment, seed=seed, name="augment")
        return stage.set_statistics(self.mean_image, self.eigenvalues, self.eigenvectors)

    def centre_crops(self, split: str) -> np.ndarray:
        """The centre crops of a split as float32 in [0, 1], ``(N, S, S, 3)``: for figures and small models."""
        images = {"train": self.train, "val": self.val}[split].images
        return center_crop(images, self.image_size).astype(np.float32) / 255.0


class ImageBatches(keras.utils.PyDataset):
    """Batches ``(uint8 images (B, R, R, 3), int32 labels (B,))`` of one ``Split``, for ``fit``.

    With ``shuffle`` every epoch has its own order, drawn from ``(seed, epoch)``, so a run
    resumed at epoch ``e`` (``set_epoch(e)``) sees the batches an uninterrupted run would.
    """

    def __init__(self, split: Split, batch_size: int, *, shuffle: bool, seed: int = 2012) -> None:
        super().__init__(workers=1, use_multiprocessing=False)
        if batch_size < 1:
            raise ValueError(f"ImageBatches: batch_size must be >= 1, got {batch_size}")
        self.split, self.batch_size, self.shuffle, self.seed = split, batch_size, shuffle, seed
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        """Use the order of epoch ``epoch`` (0-based) from now on."""
        self.epoch = epoch
        n = len(self.split)
        self.order = np.random.default_rng([self.seed, epoch]).permutation(n) if self.shuffle \
            else np.arange(n)

    def on_epoch_end(self) -> None:
        self.set_epoch(self.epoch + 1)

    def __len__(self) -> int:
        return -(-len(self.split) // self.batch_size)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        chosen = np.sort(self.order[index * self.batch_size:(index + 1) * self.batch_size])
        return self.split.images[chosen], self.split.labels[chosen]


def _decode_all(files: list[Path], size: int) -> tuple[np.ndarray, np.ndarray]:
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 1)) as pool:  # PIL drops the GIL
        images = list(pool.map(lambda p: load_image(p, size), files))
    ok = np.array([image is not None for image in images], dtype=bool)
    good = [image for image in images if image is not None]
    return (np.stack(good) if good else np.zeros((0, size, size, 3), np.uint8)), ok


def _statistics(images: np.ndarray) -> dict[str, np.ndarray]:
    """Mean image ``(R, R, 3)`` and RGB moments E[x] ``(3,)``, E[x x^T] ``(3, 3)`` of uint8 images."""
    total, first, second = np.zeros(images.shape[1:], np.float64), np.zeros(3), np.zeros((3, 3))
    for start in range(0, len(images), 256):  # chunks keep the float copy small
        chunk = images[start:start + 256].astype(np.float64)
        total += chunk.sum(axis=0)
        pixels = chunk.reshape(-1, 3)
        first, second = first + pixels.sum(axis=0), second + pixels.T @ pixels
    n_pixels = max(1, images.shape[0] * images.shape[1] * images.shape[2])
    return {"mean_image": (total / max(1, len(images))).astype(np.float32),
            "pixel_mean": first / n_pixels, "pixel_sq_mean": second / n_pixels}


def _cached_split(name: str, files: list[Path], size: int, with_stats: bool) -> dict[str, np.ndarray]:
    """Decoded images of ``files`` at ``size`` (and their statistics), cached on disk by content key."""
    listing = [(str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in files]
    key = hashlib.sha1(json.dumps([CACHE_VERSION, size, with_stats, listing]).encode()).hexdigest()
    cache = artifacts_root() / "data_cache" / f"{name}-{size}px-{key[:16]}.npz"
    if cache.exists():
        with np.load(cache) as stored:
            return dict(stored)
    images, ok = _decode_all(files, size)
    result = {"images": images, "ok": ok, **(_statistics(images) if with_stats else {})}
    cache.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=cache.parent, suffix=".npz", delete=False) as tmp:
        np.savez(tmp, **result)
    os.replace(tmp.name, cache)  # atomic: an interrupted run leaves no half cache
    return result


def _subset(files: FileSplits, subset_size: int | None, seed: int) -> FileSplits:
    """At most ``subset_size`` training files, drawn at random with ``seed``; val untouched."""
    if subset_size is None or subset_size >= len(files.train_files):
        return files
    keep = np.sort(np.random.default_rng(seed).choice(len(files.train_files), subset_size, replace=False))
    return FileSplits([files.train_files[i] for i in keep], [files.train_labels[i] for i in keep],
                      files.val_files, files.val_labels, files.classes)


def _split(decoded: dict[str, np.ndarray], files: list[Path], labels: list[int]) -> Split:
    ok = decoded["ok"]
    kept = [f for f, good in zip(files, ok, strict=True) if good]
    return Split(decoded["images"], np.asarray(labels, np.int32)[ok], kept)


def _describe(dataset_name: str, folder: Path, classes: int, train: int, val: int) -> str:
    label = LABELS.get(dataset_name, dataset_name.replace("imagenette2-", "Imagenette-"))
    where = " (no photographs found; see data_scripts/)" if dataset_name == "offline" else f" from {folder}"
    return f"{label}, {classes} classes, {train:,} train / {val:,} val images{where}"


def load_dataset(name: str | os.PathLike | None = None, *, image_size: int,
                 subset_size: int | None = None, seed: int = 2012) -> DataSplits:
    """Decoded images of data set ``name`` (None: the best available) for ``image_size`` crops.

    ``subset_size`` limits the training images (drawn with ``seed``); validation keeps all.
    Unreadable files (empty, corrupt, not images) are skipped with a warning naming them.
    """
    dataset_name, folder = find_dataset(name, image_size)
    files = _subset(list_files(folder, seed), subset_size, seed)
    if not files.train_files or not files.val_files:
        raise DataNotFoundError(f"{folder} has no training or no validation images; {FETCH_HINT}")
    size = resize_size(image_size)
    train = _cached_split(f"{dataset_name}-train", files.train_files, size, with_stats=True)
    val = _cached_split(f"{dataset_name}-val", files.val_files, size, with_stats=False)
    bad = [str(f) for f, ok in zip(files.train_files + files.val_files,
                                   np.concatenate([train["ok"], val["ok"]]), strict=True) if not ok]
    if bad:
        warnings.warn(f"skipped {len(bad)} unreadable file(s) (empty, corrupt or not an image): {bad}",
                      stacklevel=2)
    splits = _split(train, files.train_files, files.train_labels), _split(val, files.val_files, files.val_labels)
    description = _describe(dataset_name, folder, len(files.classes), len(splits[0]), len(splits[1]))
    # §4.1: PCA of the RGB values of every training pixel, scaled to [0, 1] (see helpers.augment)
    values, vectors = rgb_pca(train["pixel_mean"] / 255.0, train["pixel_sq_mean"] / 255.0**2)
    return DataSplits(*splits, [class_display_name(c) for c in files.classes],
                      DataSource(dataset_name, folder, dataset_name != "offline", description),
                      image_size, train["mean_image"], values, vectors)
