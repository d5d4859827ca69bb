"""Random test inputs shared by the tests (portable and TensorFlow-only).

``random`` draws layer inputs; ``noise_split`` and ``noise_splits`` stand in for a data
set (uint8 noise, labels cycling through the classes); ``TOY_EIGENVALUES`` with the
identity as eigenvectors is a stand-in for §4.1's PCA of the training pixels.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from helpers.data import DataSplits, Split
from helpers.datasets import DataSource

TOY_EIGENVALUES = np.array([0.01, 0.001, 0.0001])
TOY_EIGENVECTORS = np.eye(3)


def random(rng: np.random.Generator, *shape: int, dtype=np.float32) -> np.ndarray:
    """Standard-normal values of ``shape`` drawn from ``rng``, cast to ``dtype``."""
    return rng.standard_normal(shape).astype(dtype)


def noise_split(rng: np.random.Generator, count: int, side: int, classes: int) -> Split:
    """``count`` uint8 images of noise, ``side`` pixels square, labelled 0, 1, ...,
    ``classes - 1``, 0, 1, ... in turn."""
    images = rng.integers(0, 256, size=(count, side, side, 3), dtype=np.uint8)
    return Split(images, (np.arange(count) % classes).astype(np.int32), [])


def noise_splits(split: Split, folder: Path | None, image_size: int,
                 class_names: list[str]) -> DataSplits:
    """``split`` as both training and validation set, with its mean image and the toy
    PCA: what ``load_dataset`` returns, for tests that train."""
    source = DataSource("tiny", folder, True, f"{len(class_names)} classes of noise")
    return DataSplits(split, split, class_names, source, image_size,
                      split.images.mean(0), TOY_EIGENVALUES, TOY_EIGENVECTORS)
