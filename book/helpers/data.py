"""One loader for every class-per-folder data set the book trains on.

``load_dataset()`` finds the best data set available (Imagenette, then mini-ImageNet,
then the offline set, drawn on first use), decodes every image once (threads, in
parallel), resizes its shorter side and centre-crops it (§2), caches the result and the
training set's statistics under ``artifacts_root()/data_cache``, and returns tf.data
pipelines that subtract the mean image and augment each image on its own (§4.1; see
``helpers.augment``). ``load_arrays()`` returns plain NumPy arrays for the small
experiments.

Images reach the network as float32 pixel values (0-255 scale, as the paper's) minus
the training set's mean image.
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

import numpy as np
import tensorflow as tf
from PIL import Image, ImageOps

from helpers import augment as augment_module
from helpers.augment import augment_image, center_crop, ten_views
from helpers.datasets import (
    FETCH_HINT,
    IMAGENETTE_VARIANTS,
    WNID_NAMES,
    DataNotFoundError,
    DataSource,
    find_dataset,
    list_splits,
)
from helpers.paths import artifacts_root

CACHE_VERSION = 1
__all__ = [  # the finding functions of helpers.datasets are re-exported: one import for the chapters
    "IMAGENETTE_VARIANTS",
    "DataNotFoundError",
    "DataSource",
    "DataSplits",
    "find_dataset",
    "list_splits",
    "load_arrays",
    "load_dataset",
    "load_image",
]


@dataclass
class DataSplits:
    """What ``load_dataset`` returns. Pipelines yield (images float32 (B, S, S, 3), labels int32 (B,)).

    ``val_ten_view`` yields images (B, 10, S, S, 3). ``mean_image`` is (R, R, 3) with
    ``R = helpers.augment.resize_size(S)``; ``mean_rgb`` (3,) is its average colour;
    ``eigenvalues`` (3,) and ``eigenvectors`` (3, 3) are the training set's RGB PCA (pixel
    values in [0, 1]).
    """

    train: tf.data.Dataset
    val: tf.data.Dataset
    train_eval: tf.data.Dataset
    val_ten_view: tf.data.Dataset
    class_names: list[str]
    mean_rgb: np.ndarray
    num_train: int
    num_val: int
    source: DataSource
    image_size: int = 0
    mean_image: np.ndarray = field(default=None, repr=False)
    eigenvalues: np.ndarray = field(default=None, repr=False)
    eigenvectors: np.ndarray = field(default=None, repr=False)


def load_image(path: Path, size: int) -> np.ndarray | None:
    """The image at ``path``, shorter side resized to ``size`` and centre-cropped (§2): uint8 (size, size, 3).

    Returns ``None`` for a file that is empty, corrupt or not an image.
    """
    try:
        with Image.open(path) as image:
            image.draft("RGB", (size, size))  # JPEG: decode at a reduced scale, still >= size
            image = image.convert("RGB")
            return np.asarray(ImageOps.fit(image, (size, size), Image.Resampling.BILINEAR))
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return None


def _decode_all(files: list[Path], size: int) -> tuple[np.ndarray, np.ndarray]:
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 1)) as pool:  # PIL decodes without the GIL
        images = list(pool.map(lambda p: load_image(p, size), files))
    ok = np.array([image is not None for image in images], dtype=bool)
    stacked = (
        np.stack([image for image in images if image is not None])
        if ok.any()
        else np.zeros((0, size, size, 3), np.uint8)
    )
    return stacked, ok


def _statistics(images: np.ndarray) -> dict[str, np.ndarray]:
    """Mean image (R, R, 3) and RGB moments E[x] (3,), E[x x^T] (3, 3) of uint8 images (N, R, R, 3)."""
    total = np.zeros(images.shape[1:], np.float64)
    first, second = np.zeros(3), np.zeros((3, 3))
    for start in range(0, len(images), 256):  # chunks keep the float copy small
        chunk = images[start : start + 256].astype(np.float64)
        total += chunk.sum(axis=0)
        pixels = chunk.reshape(-1, 3)
        first += pixels.sum(axis=0)
        second += pixels.T @ pixels
    n_pixels = max(1, images.shape[0] * images.shape[1] * images.shape[2])
    return {
        "mean_image": (total / max(1, len(images))).astype(np.float32),
        "pixel_mean": first / n_pixels,
        "pixel_sq_mean": second / n_pixels,
    }


def _cached_split(name: str, files: list[Path], size: int, with_stats: bool) -> dict[str, np.ndarray]:
    """Decoded images of ``files`` at ``size`` (and their statistics), cached on disk by content key."""
    listing = [(str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in files]
    key = hashlib.sha1(json.dumps([CACHE_VERSION, size, with_stats, listing]).encode()).hexdigest()[:16]
    cache = artifacts_root() / "data_cache" / f"{name}-{size}px-{key}.npz"
    if cache.exists():
        with np.load(cache) as stored:
            return dict(stored)
    images, ok = _decode_all(files, size)
    result = {"images": images, "ok": ok}
    if with_stats:
        result.update(_statistics(images))
    cache.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=cache.parent, suffix=".npz", delete=False) as tmp:
        np.savez(tmp, **result)
    os.replace(tmp.name, cache)  # atomic: an interrupted run leaves no half cache
    return result


def _prepare(name, image_size, subset_size, seed):
    dataset_name, folder = find_dataset(name, image_size)
    train_files, train_labels, val_files, val_labels, classes = list_splits(folder, seed)
    if subset_size is not None and subset_size < len(train_files):
        keep = np.sort(np.random.default_rng(seed).choice(len(train_files), subset_size, replace=False))
        train_files, train_labels = [train_files[i] for i in keep], [train_labels[i] for i in keep]
    if not train_files or not val_files:
        raise DataNotFoundError(f"{folder} has no training or no validation images; {FETCH_HINT}")
    size = augment_module.resize_size(image_size)
    train = _cached_split(f"{dataset_name}-train", train_files, size, with_stats=True)
    val = _cached_split(f"{dataset_name}-val", val_files, size, with_stats=False)
    bad = [
        str(f)
        for f, ok in zip(train_files + val_files, np.concatenate([train["ok"], val["ok"]]), strict=True)
        if not ok
    ]
    if bad:
        warnings.warn(
            f"skipped {len(bad)} unreadable file(s) (empty, corrupt or not an image): {bad}", stacklevel=3
        )
    y_train = np.asarray(train_labels, np.int32)[train["ok"]]
    y_val = np.asarray(val_labels, np.int32)[val["ok"]]
    names = [WNID_NAMES.get(c, c) for c in classes]
    is_real = dataset_name != "offline"
    label = {"offline": "offline shapes set", "mini-imagenet": "mini-ImageNet"}.get(
        dataset_name, dataset_name.replace("imagenette2", "Imagenette")
    )
    note = " (no real images found; see data_scripts/)" if is_real is False else f" from {folder}"
    description = f"{label}, {len(names)} classes, {len(y_train):,} train / {len(y_val):,} val images{note}"
    source = DataSource(dataset_name, folder, is_real, description)
    return train, y_train, val, y_val, names, source


def load_arrays(
    name: str | os.PathLike | None = None,
    *,
    image_size: int,
    subset_size: int | None = None,
    seed: int = 2012,
):
    """(x_train, y_train, x_val, y_val, class_names, source) as NumPy arrays, images float32 in [0, 1].

    Images are (N, S, S, 3) centre crops (S = ``image_size``) of images resized to
    ``resize_size(S)``; labels int32 (N,). No mean subtraction, no augmentation.
    """
    train, y_train, val, y_val, names, source = _prepare(name, image_size, subset_size, seed)
    crop = lambda images: center_crop(images, image_size).astype(np.float32) / 255.0  # noqa: E731
    return crop(train["images"]), y_train, crop(val["images"]), y_val, names, source


def load_dataset(
    name: str | os.PathLike | None = None,
    *,
    image_size: int,
    batch_size: int,
    subset_size: int | None = None,
    seed: int = 2012,
    augment: bool = True,
    pca_color: bool = True,
    flip: str = "random",
    shuffle: bool = True,
) -> DataSplits:
    """Train and validation pipelines for data set ``name`` (None: the best available) at ``image_size``.

    ``flip``: "random" (§4.1: each training image mirrored with probability 1/2),
    "always" (every training AND validation image mirrored), "none". With ``augment``
    the training images are random crops (and PCA colour shifts if ``pca_color``);
    without it, centre crops.
    """
    if flip not in augment_module.FLIP_MODES:
        raise ValueError(f"load_dataset: flip must be one of {augment_module.FLIP_MODES}, got {flip!r}")
    train, y_train, val, y_val, names, source = _prepare(name, image_size, subset_size, seed)
    mean = tf.constant(train["mean_image"])
    # §4.1: PCA of the RGB values of every training pixel, scaled to [0, 1] (see helpers.augment)
    values, vectors = augment_module.rgb_pca(train["pixel_mean"] / 255.0, train["pixel_sq_mean"] / 255.0**2)

    cached = {"train": tf.constant(train["images"]), "val": tf.constant(val["images"])}  # decoded once
    labels = {"train": tf.constant(y_train), "val": tf.constant(y_val)}
    pca = (values, vectors) if pca_color else (None, None)
    # The transforms have no Python control flow on tensors: AutoGraph has nothing to convert.
    plain = tf.autograph.experimental.do_not_convert

    @plain
    def mirror(x: tf.Tensor) -> tf.Tensor:  # flip="always": every image, train and val, mirrored
        return tf.reverse(x, axis=[-2]) if flip == "always" else x

    @plain
    def centred(split: str, i: tf.Tensor) -> tf.Tensor:
        return mirror(center_crop(tf.cast(tf.gather(cached[split], i), tf.float32) - mean, image_size))

    @plain
    def augmented(i: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
        image = tf.cast(tf.gather(cached["train"], i), tf.float32) - mean
        return augment_image(image, image_size, seed, flip=flip, eigenvalues=pca[0], eigenvectors=pca[1])

    @plain
    def ten(i: tf.Tensor) -> tf.Tensor:
        return ten_views(mirror(tf.cast(tf.gather(cached["val"], i), tf.float32) - mean)[None], image_size)[0]

    def pipeline(split: str, transform, shuffled: bool = False, randomised: bool = False) -> tf.data.Dataset:
        targets = labels[split]
        ds = tf.data.Dataset.range(int(targets.shape[0]))
        if shuffled:  # shuffle indices, not images: the buffer stays small
            ds = ds.shuffle(int(targets.shape[0]), seed=seed, reshuffle_each_iteration=True)
        if randomised:  # one stateless seed per image and per epoch: reproducible, different every epoch
            seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
            ds = tf.data.Dataset.zip(ds, seeds)
            ds = ds.map(plain(lambda i, s: (transform(i, s), tf.gather(targets, i))), tf.data.AUTOTUNE)
        else:
            ds = ds.map(plain(lambda i: (transform(i), tf.gather(targets, i))), tf.data.AUTOTUNE)
        return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)

    if augment:
        train_ds = pipeline("train", augmented, shuffled=shuffle, randomised=True)
    else:
        train_ds = pipeline("train", lambda i: centred("train", i), shuffled=shuffle)
    return DataSplits(
        train=train_ds,
        val=pipeline("val", lambda i: centred("val", i)),
        train_eval=pipeline("train", lambda i: centred("train", i)),
        val_ten_view=pipeline("val", ten),
        class_names=names,
        mean_rgb=train["mean_image"].mean(axis=(0, 1)),
        num_train=len(y_train),
        num_val=len(y_val),
        source=source,
        image_size=image_size,
        mean_image=train["mean_image"],
        eigenvalues=values,
        eigenvectors=vectors,
    )
