"""One loader for every class-per-folder data set the book trains on.

``load_dataset()`` finds the data set (``helpers.datasets``), decodes every image once
(threads, in parallel) with its shorter side resized and the centre cropped (§2), caches
the ``uint8`` arrays under ``artifacts_root()/data_cache``, computes the training set's
statistics (mean image, RGB PCA) and returns them as ``DataSplits``. Training reads
``ImageBatches`` of ``uint8`` images, a ``keras.utils.PyDataset`` that any backend can
train on; the mean subtraction and the augmentation of §4.1 run inside the model
(``helpers.augment.PaperAugmentation``), on the device. A file that cannot be decoded is
skipped with a warning that names it.

Taught in ``book/06_data_augmentation.ipynb``; checked by ``tests/test_data.py`` and
``tests/portable/test_data.py``.
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

from helpers.augment import PaperAugmentation, center_crop, rgb_pca
from helpers.datasets import (
    FETCH_HINT,
    DataNotFoundError,
    DataSource,
    class_display_name,
    dataset_label,
    find_dataset,
    list_files,
)
from helpers.paths import artifacts_root
from helpers.shapes import resize_size

CACHE_VERSION = 2


def load_image(path: Path, size: int) -> np.ndarray | None:
    """The image at ``path``: shorter side resized to ``size``, centre cropped (§2).

    Returns uint8 ``(size, size, 3)``, or ``None`` for a file that is empty, corrupt or
    not an image.
    """
    try:
        with Image.open(path) as image:
            image.draft("RGB", (size, size))  # JPEG: decode at a smaller scale, >= size
            image = image.convert("RGB")
            fitted = ImageOps.fit(image, (size, size), Image.Resampling.BILINEAR)
            return np.asarray(fitted)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return None


@dataclass(frozen=True)
class Split:
    """One split: uint8 ``images`` ``(N, R, R, 3)``, int32 ``labels``, ``files``."""

    images: np.ndarray = field(repr=False)
    labels: np.ndarray = field(repr=False)
    files: list[Path] = field(repr=False)

    def __len__(self) -> int:
        return len(self.labels)


@dataclass(frozen=True)
class DataSplits:
    """What ``load_dataset`` returns: both splits, class names, source, statistics.

    ``image_size`` is the network's input ``S``; images have ``R = resize_size(S)``
    pixels.
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
        """``ImageBatches`` of ``"train"`` (reshuffled each epoch) or ``"val"``."""
        data = {"train": self.train, "val": self.val}[split]
        shuffle = split == "train" if shuffle is None else shuffle
        return ImageBatches(data, batch_size, shuffle=shuffle, seed=seed)

    def augmentation(self, *, flip: str = "random", pca_color: bool = True,
                     augment: bool = True, seed: int = 2012) -> PaperAugmentation:
        """The model's input stage for this data: mean image, RGB PCA, S-pixel crops."""
        stage = PaperAugmentation(self.image_size, resize_size(self.image_size),
                                  flip=flip, pca_color=pca_color, augment=augment,
                                  seed=seed, name="augment")
        return stage.set_statistics(self.mean_image, self.eigenvalues,
                                    self.eigenvectors)

    def centre_crops(self, split: str) -> np.ndarray:
        """The centre crops of a split, float32 in [0, 1], ``(N, S, S, 3)``."""
        images = {"train": self.train, "val": self.val}[split].images
        return center_crop(images, self.image_size).astype(np.float32) / 255.0


class ImageBatches(keras.utils.PyDataset):
    """Batches ``(uint8 images (B, R, R, 3), int32 labels (B,))`` of a ``Split``.

    With ``shuffle`` every epoch has its own order, drawn from ``(seed, epoch)``, so a
    run resumed at epoch ``e`` (``set_epoch(e)``) sees the batches an uninterrupted run
    would. Give ``fit`` ``shuffle=False`` (``helpers.train`` does): otherwise Keras
    reorders the batches with NumPy's global generator.
    """

    def __init__(self, split: Split, batch_size: int, *, shuffle: bool,
                 seed: int = 2012) -> None:
        super().__init__(workers=1, use_multiprocessing=False)
        if batch_size < 1:
            raise ValueError(f"ImageBatches: batch_size must be >= 1, got {batch_size}")
        self.split, self.batch_size, self.shuffle = split, batch_size, shuffle
        self.seed = seed
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        """Use the order of epoch ``epoch`` (0-based) from now on."""
        self.epoch = epoch
        n = len(self.split)
        rng = np.random.default_rng([self.seed, epoch])
        self.order = rng.permutation(n) if self.shuffle else np.arange(n)

    def on_epoch_end(self) -> None:
        self.set_epoch(self.epoch + 1)

    def __len__(self) -> int:
        return -(-len(self.split) // self.batch_size)

    def _chosen(self, index: int) -> np.ndarray:
        start = index * self.batch_size
        return np.sort(self.order[start:start + self.batch_size])  # sorted: faster

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        if not 0 <= index < len(self):  # not an empty batch: a step would fail on it
            raise IndexError(f"ImageBatches: batch {index} of {len(self)} "
                             f"({len(self.split)} images, {self.batch_size} a batch)")
        chosen = self._chosen(index)
        return self.split.images[chosen], self.split.labels[chosen]

    def labels_in_order(self) -> np.ndarray:
        """The labels of every batch, in the order the batches give them (no images)."""
        order = np.concatenate([self._chosen(i) for i in range(len(self))])
        return self.split.labels[order]


def _decode_all(files: list[Path], size: int) -> tuple[np.ndarray, np.ndarray]:
    workers = max(2, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=workers) as pool:  # PIL releases the GIL
        images = list(pool.map(lambda p: load_image(p, size), files))
    ok = np.array([image is not None for image in images], dtype=bool)
    good = [image for image in images if image is not None]
    return (np.stack(good) if good else np.zeros((0, size, size, 3), np.uint8)), ok


def _statistics(images: np.ndarray) -> dict[str, np.ndarray]:
    """Mean image ``(R, R, 3)``, RGB moments E[x] ``(3,)`` and E[x x^T] ``(3, 3)``."""
    total = np.zeros(images.shape[1:], np.float64)
    first, second = np.zeros(3), np.zeros((3, 3))
    for start in range(0, len(images), 256):  # chunks keep the float copy small
        chunk = images[start:start + 256].astype(np.float64)
        total += chunk.sum(axis=0)
        pixels = chunk.reshape(-1, 3)
        first, second = first + pixels.sum(axis=0), second + pixels.T @ pixels
    n_pixels = max(1, images.shape[0] * images.shape[1] * images.shape[2])
    return {"mean_image": (total / max(1, len(images))).astype(np.float32),
            "pixel_mean": first / n_pixels, "pixel_sq_mean": second / n_pixels}


def _cached_images(name: str, files: list[Path],
                   size: int) -> tuple[np.ndarray, np.ndarray]:
    """Decoded images of ``files`` at ``size``, and which decoded; cached on disk."""
    stats = [(str(p), p.stat()) for p in files]
    listing = [(path, st.st_size, st.st_mtime_ns) for path, st in stats]
    key = hashlib.sha1(json.dumps([CACHE_VERSION, size, listing]).encode()).hexdigest()
    cache = artifacts_root() / "data_cache" / f"{name}-{size}px-{key[:16]}.npz"
    if cache.exists():
        with np.load(cache) as stored:
            return stored["images"], stored["ok"]
    images, ok = _decode_all(files, size)
    cache.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=cache.parent, suffix=".npz",
                                     delete=False) as tmp:
        np.savez(tmp, images=images, ok=ok)
    os.replace(tmp.name, cache)  # atomic: an interrupted run leaves no half cache
    return images, ok


def _decoded_split(name: str, files: list[Path], labels: list[int], size: int,
                   subset_size: int | None = None, seed: int = 2012) -> Split:
    """The decodable images of ``files`` (at most ``subset_size``, drawn with ``seed``).

    Every file is decoded once per size and cached; a subset is drawn from the cache.
    Unreadable files are skipped with a warning naming them.
    """
    images, ok = _cached_images(name, files, size)
    bad = [str(f) for f, good in zip(files, ok, strict=True) if not good]
    if bad:
        warnings.warn(f"skipped {len(bad)} unreadable file(s) (empty, corrupt or "
                      f"not an image): {bad}", stacklevel=3)
    kept = [f for f, good in zip(files, ok, strict=True) if good]
    split = Split(images, np.asarray(labels, np.int32)[ok], kept)
    if subset_size is None or subset_size >= len(split):
        return split
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(len(split), subset_size, replace=False))
    return Split(split.images[pick], split.labels[pick], [split.files[i] for i in pick])


def _describe(dataset_name: str, folder: Path, classes: int, train: int,
              val: int) -> str:
    label = dataset_label(dataset_name)
    where = (" (no photographs found; see data_scripts/)" if dataset_name == "offline"
             else f" from {folder}")
    return f"{label}, {classes} classes, {train:,} train / {val:,} val images{where}"


def load_dataset(name: str | os.PathLike | None = None, *, image_size: int,
                 subset_size: int | None = None, val_size: int | None = None,
                 seed: int = 2012) -> DataSplits:
    """Decoded images of data set ``name`` (None: the best available) for S-pixel crops.

    ``image_size`` is S; ``subset_size`` and ``val_size`` limit the training and the
    validation images (drawn with ``seed``; ``None``: all). The mean image and the RGB
    PCA are those of the training images used.
    """
    dataset_name, folder = find_dataset(name, image_size)
    files = list_files(folder, seed)
    if not files.train_files or not files.val_files:
        raise DataNotFoundError(f"{folder} has no training or no validation images; "
                                f"{FETCH_HINT}")
    size = resize_size(image_size)
    train = _decoded_split(f"{dataset_name}-train", files.train_files,
                           files.train_labels, size, subset_size, seed)
    val = _decoded_split(f"{dataset_name}-val", files.val_files, files.val_labels,
                         size, val_size, seed)
    stats = _statistics(train.images)
    # §4.1: PCA of the RGB values of every training pixel, in [0, 1] (helpers.augment)
    values, vectors = rgb_pca(stats["pixel_mean"] / 255.0,
                              stats["pixel_sq_mean"] / 255.0**2)
    description = _describe(dataset_name, folder, len(files.classes), len(train),
                            len(val))
    source = DataSource(dataset_name, folder, dataset_name != "offline", description)
    return DataSplits(train, val, [class_display_name(c) for c in files.classes],
                      source, image_size, stats["mean_image"], values, vectors)
