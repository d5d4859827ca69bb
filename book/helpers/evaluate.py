"""Evaluating a trained classifier the paper's way (§4, §6.1).

Pure functions over NumPy arrays and ``tf.data`` datasets: predictions, top-k
accuracy, the paper's ten-view averaging, confusion matrix and per-class accuracy,
and nearest neighbours in the feature space of the last hidden layer (Figure 4).
Models output logits ``(B, classes)``.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import pandas as pd
import tensorflow as tf


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of ``logits: (N, C)`` in float64, numerically stable."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def _labels(dataset: Any) -> tuple[np.ndarray, Any]:
    """The labels ``(N,)`` of ``dataset``, and ``dataset`` with its number of batches made known."""
    labels = [np.asarray(y) for _, y in dataset]
    if not labels:
        raise ValueError("evaluate: the dataset is empty; check the data split and subset_size")
    known = dataset.apply(tf.data.experimental.assert_cardinality(len(labels)))  # no "ran out of data"
    return np.concatenate(labels).astype(np.int64), known


def predict(model: keras.Model, dataset: Any) -> tuple[np.ndarray, np.ndarray]:
    """Logits and labels over a batched ``tf.data`` dataset of ``(images (B, S, S, 3), labels (B,))``.

    Returns ``logits: (N, C)`` float32 and ``labels: (N,)`` int64. Uses ``model.predict``
    (one compiled function for every batch; dropout off).
    """
    labels, dataset = _labels(dataset)
    outputs = model.predict(dataset.map(lambda x, y: x), verbose=0)
    return np.asarray(outputs, dtype=np.float32), labels


def predict_ten_view(model: keras.Model, dataset: Any) -> tuple[np.ndarray, np.ndarray]:
    """Class probabilities averaged over ten views, and labels.

    §4.1: "the network makes a prediction by extracting five 224x224 patches (the
    four corner patches and the center patch) as well as their horizontal
    reflections (hence ten patches in all), and averaging the predictions made by
    the network's softmax layer on the ten patches." ``dataset`` yields
    ``(views (B, V, S, S, 3), labels (B,))``. Returns ``probabilities: (N, C)``
    and ``labels: (N,)``.
    """
    shape = dataset.element_spec[0].shape
    if shape.rank != 5:
        raise ValueError(f"predict_ten_view: expected views (B, V, S, S, 3), got shape {shape}; "
                         "use the data helpers' val_ten_view split")
    views = int(shape[1])
    labels, dataset = _labels(dataset)
    flat = dataset.map(lambda v, y: tf.reshape(v, (-1, *shape[2:])))  # (B * V, S, S, 3)
    logits = np.asarray(model.predict(flat, verbose=0))
    return softmax(logits).reshape(len(labels), views, -1).mean(axis=1), labels


def top_k_accuracy(scores: np.ndarray, labels: np.ndarray, k: int = 1) -> float:
    """Fraction of rows whose label is among the ``k`` highest scores.

    ``scores: (N, C)`` (logits or probabilities), ``labels: (N,)``. Ties are broken
    by class index, as ``np.argsort`` does. §4.1: "top-5 error rate is the fraction
    of test images for which the correct label is not among the five labels
    considered most probable by the model."
    """
    scores, labels = np.asarray(scores), np.asarray(labels)
    if scores.ndim != 2 or labels.shape != (scores.shape[0],):
        raise ValueError(f"top_k_accuracy: need scores (N, C) and labels (N,), "
                         f"got {scores.shape} and {labels.shape}")
    if not 1 <= k <= scores.shape[1]:
        raise ValueError(f"top_k_accuracy: k must be in 1..{scores.shape[1]} (the number of classes), "
                         f"got {k}")
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return float((top == labels[:, None]).any(axis=1).mean())


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray, class_names: list[str]) -> pd.DataFrame:
    """Counts ``(C, C)``: rows are true classes, columns predicted classes, named by ``class_names``."""
    c = len(class_names)
    counts = np.zeros((c, c), dtype=np.int64)
    np.add.at(counts, (np.asarray(labels), np.asarray(predictions)), 1)
    index = pd.Index(class_names, name="true")
    return pd.DataFrame(counts, index=index, columns=pd.Index(class_names, name="predicted"))


def per_class_accuracy(confusion: pd.DataFrame) -> pd.Series:
    """Top-1 accuracy of each true class (the diagonal over the row sums), lowest first."""
    totals = confusion.sum(axis=1).replace(0, np.nan)
    return (pd.Series(np.diag(confusion.to_numpy()), index=confusion.index) / totals).sort_values()


def features(model: keras.Model, dataset: Any, layer: str = "fc7") -> tuple[np.ndarray, np.ndarray]:
    """Activations of ``layer`` (default the 4096-d fc7) over ``dataset``: ``(N, D)`` and labels ``(N,)``."""
    extractor = keras.Model(model.inputs, model.get_layer(layer).output)
    return predict(extractor, dataset)


def nearest_neighbours(queries: np.ndarray, bank: np.ndarray, k: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """Indices and Euclidean distances of the ``k`` rows of ``bank`` closest to each query.

    §6.1, Figure 4: images whose last-hidden-layer feature vectors have a small
    Euclidean separation are considered similar. ``queries: (Q, D)``,
    ``bank: (N, D)``; returns ``indices: (Q, k)`` and ``distances: (Q, k)``, nearest first.
    """
    q, b = np.asarray(queries, np.float64), np.asarray(bank, np.float64)
    if q.shape[1:] != b.shape[1:] or q.ndim != 2:
        raise ValueError(f"nearest_neighbours: need queries (Q, D) and bank (N, D), "
                         f"got {q.shape} and {b.shape}")
    if not 1 <= k <= len(b):
        raise ValueError(f"nearest_neighbours: k must be in 1..{len(b)} (the bank size), got {k}")
    squared = (q**2).sum(1)[:, None] - 2 * q @ b.T + (b**2).sum(1)[None, :]
    distances = np.sqrt(np.maximum(squared, 0.0))
    indices = np.argsort(distances, axis=1, kind="stable")[:, :k]
    return indices, np.take_along_axis(distances, indices, axis=1)


def summary_table(rows: dict[str, tuple[np.ndarray, np.ndarray]], k: int = 5) -> pd.DataFrame:
    """Top-1 and top-k accuracy (in %) for each named ``(scores, labels)`` pair, one row each."""
    table = {name: {"top-1 (%)": 100 * top_k_accuracy(s, y, 1),
                    f"top-{k} (%)": 100 * top_k_accuracy(s, y, min(k, np.asarray(s).shape[1]))}
             for name, (s, y) in rows.items()}
    return pd.DataFrame(table).T.round(2)
