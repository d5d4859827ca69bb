"""Figures the chapters share: learning curves, image grids, kernels, confusions.

Each function draws one figure with a title and labelled axes and returns it; the
chapter calls ``plt.show()``. Images are ``(N, H, W, 3)`` arrays in [0, 1] (or
mean-subtracted: pass ``mean_rgb`` to ``displayable`` to add the mean back).

Used by ``book/06_data_augmentation.ipynb``, ``08_training``, ``09_evaluation`` and
``10_small_data``; checked by ``tests/portable/test_evaluate.py``.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from helpers.evaluate import row_shares


def displayable(images: np.ndarray, mean_rgb: np.ndarray | None = None) -> np.ndarray:
    """Images ready for ``imshow``: the mean added back clipped to [0, 1]."""
    images = np.asarray(images, dtype=np.float32)
    if mean_rgb is not None:
        images = images + np.asarray(mean_rgb, dtype=np.float32)
    return np.clip(images, 0.0, 1.0)


def plot_history(histories: dict[str, pd.DataFrame],
                 title: str = "Learning curves") -> plt.Figure:
    """Loss, top-1 accuracy and learning rate per epoch for one or more runs.

    ``histories``: run name -> the history ``train_model`` returns (columns ``epoch``,
    ``loss``, ``val_loss``, ``accuracy``, ``val_accuracy``, ``learning_rate``).
    Training curves are dashed, validation curves solid, one colour per run.
    """
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for i, (name, h) in enumerate(histories.items()):
        colour = f"C{i}"
        for ax, key in zip(axes[:2], ("loss", "accuracy"), strict=True):
            ax.plot(h["epoch"], h[key], "--", color=colour, label=f"{name} (train)")
            if f"val_{key}" in h:
                ax.plot(h["epoch"], h[f"val_{key}"], "-o", color=colour, ms=3,
                        label=f"{name} (val)")
        axes[2].plot(h["epoch"], h["learning_rate"], "-o", color=colour, ms=3,
                     label=name)
    labels = ("cross-entropy loss", "top-1 accuracy", "base learning rate")
    for ax, label in zip(axes, labels, strict=True):
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.set_title(label)
        ax.grid(alpha=0.3)
    axes[2].set_yscale("log")
    axes[0].legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def image_grid(images: np.ndarray, titles: Sequence[str] | None = None, *,
               columns: int = 8, title: str = "", size: float = 1.6,
               title_colours: Sequence[str] | None = None) -> plt.Figure:
    """A grid of images ``(N, H, W, 3)`` (uint8 or in [0, 1]), optionally titled."""
    images = np.asarray(images)
    rows = max(1, int(np.ceil(len(images) / columns)))
    figsize = (columns * size, rows * size * 1.15)
    fig, axes = plt.subplots(rows, columns, figsize=figsize, squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.set_xticks([])
        ax.set_yticks([])
        if i >= len(images):
            ax.axis("off")
            continue
        ax.imshow(images[i], interpolation="nearest")
        if titles is not None:
            colour = title_colours[i] if title_colours is not None else "black"
            ax.set_title(titles[i], fontsize=7, color=colour)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def kernel_images(kernels: np.ndarray) -> np.ndarray:
    """Kernels ``(kh, kw, 3, F)`` as ``F`` RGB images ``(F, kh, kw, 3)`` in [0, 1].

    Each kernel is stretched from its own minimum to its own maximum, the way the
    paper's Figure 3 shows conv1's filters.
    """
    kernels = np.asarray(kernels, dtype=np.float32)
    if kernels.ndim != 4 or kernels.shape[2] != 3:
        raise ValueError(f"kernel_images: expected kernels (kh, kw, 3, F) of the first "
                         f"layer, got {kernels.shape}")
    k = np.transpose(kernels, (3, 0, 1, 2))
    low = k.min(axis=(1, 2, 3), keepdims=True)
    high = k.max(axis=(1, 2, 3), keepdims=True)
    return (k - low) / np.maximum(high - low, 1e-12)


def plot_confusion(confusion: pd.DataFrame,
                   title: str = "Confusion matrix (validation)") -> plt.Figure:
    """A confusion matrix (rows true, columns predicted) as a heat map of row shares."""
    rates = row_shares(confusion).fillna(0.0)
    n = len(confusion)
    fig, ax = plt.subplots(figsize=(0.5 * n + 3, 0.5 * n + 2))
    image = ax.imshow(rates.to_numpy(), cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(n), confusion.columns, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(n), confusion.index, fontsize=8)
    for i in range(n):
        for j in range(n):
            if confusion.iat[i, j]:
                colour = "white" if rates.iat[i, j] > 0.5 else "black"
                ax.text(j, i, int(confusion.iat[i, j]), ha="center", va="center",
                        fontsize=6, color=colour)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title)
    fig.colorbar(image, ax=ax, label="fraction of the true class")
    fig.tight_layout()
    return fig
