"""Evaluating a trained classifier the paper's way (§2, §4.1, §6.1).

Predictions over ``helpers.data.ImageBatches``, top-k accuracy, the paper's ten-view
averaging, a confusion matrix and per-class accuracy, nearest neighbours in the
feature space of the last hidden layer (Figure 4), and how colour-specific the first
layer's kernels are (Figure 3, §6.1). Models output logits
``(B, classes)``; the functions run on every Keras backend. The softmax is
``helpers.layers.softmax``.

Taught in ``book/09_evaluation.ipynb``; checked by ``tests/portable/test_evaluate.py``
(every backend) and ``tests/test_evaluate.py`` (against TensorFlow).
"""

from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np
import pandas as pd

from helpers.layers import softmax
from helpers.model import network


def batch_labels(batches: Any) -> np.ndarray:
    """The labels ``(N,)`` of every batch of ``batches``, in order.

    ``ImageBatches`` gives them without gathering the images; any other sequence of
    ``(images, labels)`` batches is read batch by batch.
    """
    if hasattr(batches, "labels_in_order"):
        return batches.labels_in_order().astype(np.int64)
    labels = [np.asarray(batches[i][1]) for i in range(len(batches))]
    return np.concatenate(labels).astype(np.int64)


def predict(model: keras.Model, batches: Any) -> tuple[np.ndarray, np.ndarray]:
    """Logits ``(N, C)`` (float32) and labels ``(N,)`` over ``batches`` (no dropout).

    The labels are read first: ``model.predict`` ends an epoch of ``batches``, and a
    shuffled ``ImageBatches`` then moves on to the next epoch's order.
    """
    labels = batch_labels(batches)
    return np.asarray(model.predict(batches, verbose=0), np.float32), labels


def features(model: keras.Model, batches: Any,
             layer: str = "fc7") -> tuple[np.ndarray, np.ndarray]:
    """Activations ``(N, D)`` of ``layer`` over ``batches`` (default fc7, §6.1), labels.

    The one feature extractor of the book: a model from ``model``'s input to the
    layer's output, run at inference (no dropout, centre crops).
    """
    output = model.get_layer(layer).output
    extractor = keras.Model(model.input, output, name=f"{model.name}_{layer}")
    return predict(extractor, batches)


def predict_ten_view(model: keras.Model,
                     batches: Any) -> tuple[np.ndarray, np.ndarray]:
    """§4.1: softmax outputs averaged over each image's ten views; ``(N, C)``, labels.

    "The network makes a prediction by extracting five 224x224 patches (the four corner
    patches and the center patch) as well as their horizontal reflections (hence ten
    patches in all), and averaging the predictions made by the network's softmax layer
    on the ten patches." ``model`` starts with a ``PaperAugmentation`` input stage
    (layer ``"augment"``), whose ``views`` cuts the patches; the rest scores them.
    """
    stage, net = model.get_layer("augment"), network(model)
    probabilities, labels = [], []
    for i in range(len(batches)):
        images, truth = batches[i]
        logits = np.asarray(net.predict_on_batch(stage.views(images)), np.float64)
        probabilities.append(softmax(logits).reshape(len(images), 10, -1).mean(axis=1))
        labels.append(np.asarray(truth))
    return np.concatenate(probabilities), np.concatenate(labels).astype(np.int64)


def top_k_accuracy(scores: np.ndarray, labels: np.ndarray, k: int = 1) -> float:
    """Fraction of rows whose label is among the ``k`` highest scores.

    ``scores: (N, C)`` (logits or probabilities), ``labels: (N,)``; ties go to the lower
    class. §2: "the top-5 error rate is the fraction of test images for which the
    correct label is not among the five labels considered most probable by the model";
    the top-5 accuracy is one minus it.
    """
    scores, labels = np.asarray(scores), np.asarray(labels)
    if scores.ndim != 2 or labels.shape != (scores.shape[0],):
        raise ValueError(f"top_k_accuracy: need scores (N, C) and labels (N,), "
                         f"got {scores.shape} and {labels.shape}")
    if not 1 <= k <= scores.shape[1]:
        raise ValueError(f"top_k_accuracy: k must be in 1..{scores.shape[1]} (the "
                         f"number of classes), got {k}")
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return float((top == labels[:, None]).any(axis=1).mean())


def split_accuracy(model: keras.Model, splits: Any, split: str = "val",
                   k: int = 1, batch_size: int = 250) -> float:
    """Top-``k`` accuracy of ``model`` on one split of ``splits`` (centre crops).

    ``splits`` is a ``helpers.data.Splits``; its ``batches(split, batch_size)`` are read
    in order, without augmentation or dropout.
    """
    return top_k_accuracy(*predict(model, splits.batches(split, batch_size)), k=k)


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray,
                     class_names: list[str]) -> pd.DataFrame:
    """Counts ``(C, C)``: rows are true classes, columns predicted ones, both named."""
    c = len(class_names)
    counts = np.zeros((c, c), dtype=np.int64)
    np.add.at(counts, (np.asarray(labels), np.asarray(predictions)), 1)
    return pd.DataFrame(counts, index=pd.Index(class_names, name="true"),
                        columns=pd.Index(class_names, name="predicted"))


def row_shares(confusion: pd.DataFrame) -> pd.DataFrame:
    """Each row of a confusion matrix as shares of its true class (empty rows: NaN)."""
    return confusion.div(confusion.sum(axis=1).replace(0, np.nan), axis=0)


def binomial_standard_error(p: float, n: int) -> float:
    """Standard error of an accuracy (or error rate) ``p`` measured on ``n`` images.

    Each image is right or wrong, so the count is binomial: ``sqrt(p (1 - p) / n)``, in
    the unit of ``p``. The chapters use it as the noise of one run's number on a fixed
    set of images (05, 09, 10).
    """
    if n < 1 or not 0.0 <= p <= 1.0:
        raise ValueError(f"binomial_standard_error: need 0 <= p <= 1 and n >= 1, "
                         f"got p={p} and n={n}")
    return math.sqrt(p * (1.0 - p) / n)


def per_class_accuracy(confusion: pd.DataFrame) -> pd.Series:
    """Top-1 accuracy of each true class (``row_shares``' diagonal), lowest first."""
    shares = row_shares(confusion)
    return pd.Series(np.diag(shares.to_numpy()), index=confusion.index).sort_values()


def nearest_neighbours(queries: np.ndarray, bank: np.ndarray, k: int = 5, *,
                       block_size: int = 1 << 24) -> tuple[np.ndarray, np.ndarray]:
    """Indices and Euclidean distances of the ``k`` rows of ``bank`` nearest each query.

    §6.1, Figure 4: "If two images produce feature activation vectors with a small
    Euclidean separation, we can say that the higher levels of the neural network
    consider them to be similar." ``queries: (Q, D)``, ``bank: (N, D)``; returns
    ``(Q, k)`` each, nearest first. Computed in the inputs' precision, float32 at
    least (float32 features and pixels stay float32: 2,000 centre crops of 227 pixels
    take 1.2 GB as float32, twice that as float64), for as many queries at a time as
    keep the ``(queries, N)`` block of distances within ``block_size`` numbers.
    """
    q, b = np.asarray(queries), np.asarray(bank)
    if q.ndim != 2 or b.ndim != 2 or q.shape[1] != b.shape[1]:
        raise ValueError(f"nearest_neighbours: need queries (Q, D) and bank (N, D), "
                         f"got {q.shape} and {b.shape}")
    if not 1 <= k <= len(b):
        raise ValueError(f"nearest_neighbours: k must be in 1..{len(b)} (the bank "
                         f"size), got {k}")
    dtype = np.result_type(q.dtype, b.dtype, np.float32)
    q, b = q.astype(dtype, copy=False), b.astype(dtype, copy=False)
    bank_norms = np.einsum("ij,ij->i", b, b)  # squared, without a copy of the bank
    rows = max(1, block_size // len(b))
    indices = np.empty((len(q), k), np.int64)
    distances = np.empty((len(q), k), dtype)
    for start in range(0, len(q), rows):
        block = q[start:start + rows]
        squared = np.einsum("ij,ij->i", block, block)[:, None] - 2 * block @ b.T
        squared += bank_norms
        found = np.sqrt(np.maximum(squared, 0.0))
        nearest = np.argsort(found, axis=1, kind="stable")[:, :k]
        indices[start:start + rows] = nearest
        distances[start:start + rows] = np.take_along_axis(found, nearest, axis=1)
    return indices, distances


def summary_table(rows: dict[str, tuple[np.ndarray, np.ndarray]],
                  k: int = 5) -> pd.DataFrame:
    """Top-1 and top-k accuracy (%) of each named ``(scores, labels)``, one row each."""
    table = {}
    for name, (scores, labels) in rows.items():
        top_k = min(k, np.asarray(scores).shape[1])
        table[name] = {"top-1 (%)": 100 * top_k_accuracy(scores, labels, 1),
                       f"top-{k} (%)": 100 * top_k_accuracy(scores, labels, top_k)}
    return pd.DataFrame(table).T.round(2)


def colour_share(kernels: np.ndarray) -> np.ndarray:
    """How colour-specific each kernel of ``kernels`` ``(h, w, 3, K)`` is: ``(K,)``.

    The size of its colour channels' differences from their own mean (the grey
    kernel), relative to its whole size: 0 for a grey kernel, up to about 0.8 for one
    whose channels are unrelated.
    """
    grey = kernels.mean(axis=2, keepdims=True)
    energy = (kernels**2).sum(axis=(0, 1, 2))
    return np.sqrt(((kernels - grey) ** 2).sum(axis=(0, 1, 2)) / energy)


TOWERS_DIFFER = 1.2
"""§6.1's two towers count as specialised when one half's mean colour share is at least
this many times the other's."""


def tower_colour_shares(kernels: np.ndarray) -> tuple[float, float, bool]:
    """Mean ``colour_share`` of the first and the second half of the kernels (the
    paper's GPU 1 and GPU 2), and whether they differ by ``TOWERS_DIFFER``."""
    shares = colour_share(kernels)
    half = len(shares) // 2
    first, second = float(shares[:half].mean()), float(shares[half:].mean())
    return first, second, max(first, second) >= TOWERS_DIFFER * min(first, second)


def tower_split_verdict(kernels: np.ndarray) -> tuple[str, str]:
    """What conv1's ``kernels`` show of §6.1's two towers, one colour-specific and one
    not: the colour shares, for the claims ledger, and the ledger's verdict."""
    first, second, differ = tower_colour_shares(kernels)
    return (f"colour share {first:.2f} vs {second:.2f}",
            "direction reproduced" if differ else "not reproduced")
