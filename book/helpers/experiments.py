"""Small-CNN experiments for the building-block chapters (ReLU vs tanh, dropout).

The paper's Figure 1 trains "a four-layer convolutional neural network" on CIFAR-10 with
ReLU and with tanh units and counts the epochs each needs to reach 25 % training error
(§3.1). This module holds that network, a training loop that records the error per epoch
and the time it took, the learning-rate search and the epochs-to-threshold measurement.
The dropout chapter reuses the loop with dropout in two fully connected layers (§4.2).
Everything is ``keras`` and NumPy: it runs on every backend.

Taught in ``book/02_relu_vs_tanh.ipynb`` and ``book/05_dropout.ipynb``; checked by
``tests/test_experiments.py``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import pandas as pd

CIFAR10_CACHE = Path("~/.keras/datasets/cifar-10-batches-py").expanduser()
"""Where Keras keeps CIFAR-10 once downloaded; the book reads it only from there."""

HISTORY_COLUMNS = ["epoch", "train_loss", "train_error", "val_error", "seconds"]


@dataclass(frozen=True)
class ExperimentData:
    """Images for a small experiment: float32 in [0, 1], ``(N, S, S, 3)``, int32 labels ``(N,)``."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    description: str
    is_real: bool = True


def load_experiment_data(image_size: int, subset_size: int | None, seed: int = 2012,
                         prefer_cifar10: bool = True) -> ExperimentData:
    """CIFAR-10 if Keras has it cached (Figure 1's data), else the book's photographs at ``image_size``.

    CIFAR-10 is only read from Keras' cache (no download is attempted); otherwise the best
    data set of ``helpers.data.load_dataset`` is used (Imagenette when installed), centre crops.
    """
    if prefer_cifar10 and CIFAR10_CACHE.is_dir():
        (x_train, y_train), (x_val, y_val) = keras.datasets.cifar10.load_data()
        if subset_size is not None:
            keep = np.random.default_rng(seed).permutation(len(x_train))[:subset_size]
            x_train, y_train = x_train[keep], y_train[keep]
        x_train, x_val = (keras.ops.convert_to_numpy(keras.ops.image.resize(
            x.astype("float32") / 255.0, (image_size, image_size))) if image_size != 32
            else x.astype("float32") / 255.0 for x in (x_train, x_val))
        return ExperimentData(x_train, y_train.ravel().astype("int32"), x_val,
                              y_val.ravel().astype("int32"),
                              f"CIFAR-10 (Keras cache), {len(x_train):,} train / {len(x_val):,} "
                              f"test images, {image_size} px")
    from helpers.data import load_dataset

    splits = load_dataset(image_size=image_size, subset_size=subset_size, seed=seed)
    return ExperimentData(splits.centre_crops("train"), splits.train.labels,
                          splits.centre_crops("val"), splits.val.labels,
                          f"{splits.source.description}, centre crops of {image_size} px",
                          splits.source.is_real)


def small_cnn(input_shape: tuple[int, int, int], num_classes: int, activation: str = "relu", *,
              widths: tuple[int, int, int] = (32, 32, 64), dense_units: int = 0,
              dropout_rate: float = 0.0, seed: int = 2012) -> keras.Model:
    """A four-layer CNN like Figure 1's: three 5x5 convolutions, each max-pooled 3/2, and a classifier.

    ``input_shape``: (S, S, C). Kernels are Glorot-uniform with seeds fixed per layer, so two
    networks built with the same seed start from identical weights whatever their
    ``activation``. With ``dense_units > 0`` two fully connected hidden layers of that width
    come before the classifier, each followed by ``Dropout(dropout_rate)`` as fc6/fc7 (§4.2).
    Returns logits.
    """
    if activation not in ACTIVATIONS:
        raise ValueError(f"small_cnn: activation {activation!r} is unknown; use one of {sorted(ACTIVATIONS)}")
    if not 0.0 <= dropout_rate < 1.0:
        raise ValueError(f"small_cnn: dropout_rate must be in [0, 1), got {dropout_rate}")

    def init(index: int) -> keras.initializers.Initializer:
        return keras.initializers.GlorotUniform(seed=seed + index)

    layers: list = [keras.Input(input_shape)]
    for index, width in enumerate(widths):
        layers += [keras.layers.Conv2D(width, 5, padding="same", activation=activation,
                                       kernel_initializer=init(index), name=f"conv{index + 1}"),
                   keras.layers.MaxPooling2D(3, 2, padding="same", name=f"pool{index + 1}")]
    layers.append(keras.layers.Flatten(name="flatten"))
    for index in range(2 if dense_units else 0):
        layers.append(keras.layers.Dense(dense_units, activation=activation,
                                         kernel_initializer=init(10 + index), name=f"fc{index + 1}"))
        if dropout_rate > 0:
            layers.append(keras.layers.Dropout(dropout_rate, seed=seed + 20 + index, name=f"drop{index + 1}"))
    layers.append(keras.layers.Dense(num_classes, kernel_initializer=init(30), name="logits"))
    return keras.Sequential(layers, name=f"small_cnn_{activation}")


def evaluate_error(model: keras.Model, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Mean cross-entropy and error rate of a compiled ``model`` in inference mode (no dropout)."""
    loss, accuracy = model.evaluate(x, y, batch_size=500, verbose=0)
    return float(loss), 1.0 - float(accuracy)


def train_with_history(model: keras.Model, x_train: np.ndarray, y_train: np.ndarray, *, epochs: int,
                       batch_size: int, learning_rate: float, momentum: float = 0.9,
                       x_val: np.ndarray | None = None, y_val: np.ndarray | None = None,
                       seed: int = 2012, eval_size: int | None = None) -> pd.DataFrame:
    """Train ``model`` with SGD + momentum (§5: 0.9), no regularisation, recording every epoch.

    ``x_train: (N, S, S, C)``, ``y_train: (N,)``. Every model sees the images in the same order
    (our own seeded shuffle). After each epoch the training error is measured in inference
    mode on the training set (or a fixed random sample of ``eval_size`` images). Returns the
    columns ``epoch`` (from 1), ``train_loss``, ``train_error``, ``val_error`` (NaN without
    validation data) and ``seconds`` (cumulative training time, measurements excluded).
    """
    if epochs < 1 or batch_size < 1:
        raise ValueError(f"train_with_history: epochs and batch_size must be >= 1, got {epochs}, {batch_size}")
    if len(x_train) != len(y_train):
        raise ValueError(f"train_with_history: {len(x_train)} images but {len(y_train)} labels; "
                         "pass matching arrays")
    model.compile(optimizer=keras.optimizers.SGD(learning_rate, momentum=momentum),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    rng = np.random.default_rng(seed)
    sample = np.sort(rng.permutation(len(x_train))[:eval_size]) if eval_size else np.arange(len(x_train))
    rows, elapsed = [], 0.0
    for epoch in range(1, epochs + 1):
        order = rng.permutation(len(x_train))  # the same order for every model
        start = time.perf_counter()
        model.fit(x_train[order], y_train[order], batch_size=batch_size, epochs=1, shuffle=False, verbose=0)
        elapsed += time.perf_counter() - start
        loss, train_error = evaluate_error(model, x_train[sample], y_train[sample])
        val_error = np.nan if x_val is None or y_val is None else evaluate_error(model, x_val, y_val)[1]
        rows.append((epoch, loss, train_error, val_error, elapsed))
        if not np.isfinite(loss):
            break  # diverged: the learning rate is too large; the history says so
    return pd.DataFrame(rows, columns=HISTORY_COLUMNS)


def epochs_to_threshold(errors: Sequence[float], threshold: float) -> int | None:
    """The first epoch (1-based) whose error is at or below ``threshold``; None if never."""
    for epoch, error in enumerate(errors, start=1):
        if error <= threshold:
            return epoch
    return None


def seconds_to_threshold(
    history: pd.DataFrame, threshold: float, column: str = "train_error"
) -> float | None:
    """Cumulative training seconds when ``history[column]`` first reaches ``threshold``; None if never."""
    epoch = epochs_to_threshold(history[column].to_numpy(), threshold)
    return None if epoch is None else float(history["seconds"].iloc[epoch - 1])


def common_threshold(histories: Sequence[pd.DataFrame], target: float, column: str = "train_error") -> float:
    """``target`` if every run reaches it, else the lowest error all runs reached.

    That is the largest of the runs' best errors, so every run crosses the returned
    threshold and the epochs to reach it can be compared.
    """
    if not histories:
        raise ValueError("common_threshold: pass at least one history")
    reachable = max(float(history[column].min()) for history in histories)
    return target if reachable <= target else reachable


def speedup_table(
    histories: dict[str, pd.DataFrame], threshold: float, column: str = "train_error"
) -> pd.DataFrame:
    """Epochs and seconds each run needed to reach ``threshold``, one row per run."""
    rows = {name: {"epochs": epochs_to_threshold(h[column].to_numpy(), threshold),
                   "seconds": seconds_to_threshold(h, threshold, column),
                   "final_" + column: float(h[column].iloc[-1])}
            for name, h in histories.items()}
    return pd.DataFrame.from_dict(rows, orient="index")


def learning_rate_sweep(
    build: Callable[[], keras.Model], x: np.ndarray, y: np.ndarray, learning_rates: Sequence[float], *,
    epochs: int, batch_size: int, seed: int = 2012,
) -> pd.DataFrame:
    """Train a fresh ``build()`` model per learning rate; the final training loss and error of each.

    ``build``: a function with no arguments that returns a new, identically initialised
    model. Returns a DataFrame indexed by learning rate with ``train_loss`` and
    ``train_error``; a diverged run counts as loss ``inf`` and error 1.0, so
    ``sweep["train_loss"].idxmin()`` is the rate that trained fastest.
    """
    rows = {}
    for rate in learning_rates:
        history = train_with_history(build(), x, y, epochs=epochs, batch_size=batch_size,
                                     learning_rate=rate, seed=seed)
        loss = float(history["train_loss"].iloc[-1])
        finite = np.isfinite(loss) and len(history) == epochs
        rows[rate] = {"train_loss": loss if finite else np.inf,
                      "train_error": float(history["train_error"].iloc[-1]) if finite else 1.0}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("learning_rate")


# --- Activations (§3.1) ------------------------------------------------------------

ACTIVATIONS = {
    "relu": (lambda z: np.maximum(z, 0.0), lambda z: (z > 0).astype(z.dtype)),
    "tanh": (np.tanh, lambda z: 1.0 - np.tanh(z) ** 2),
    "sigmoid": (lambda z: 1.0 / (1.0 + np.exp(-z)), lambda z: np.exp(-z) / (1.0 + np.exp(-z)) ** 2),
}
"""name -> (f, f'), NumPy, element-wise: the non-saturating ReLU and two saturating units."""


def gradient_norms_through_stack(
    activation: str, depth: int = 20, width: int = 256, batch: int = 64, weight_std: float = 1.0,
    seed: int = 2012,
) -> np.ndarray:
    """Backpropagate through ``depth`` dense layers of ``activation``; the gradient's size per layer.

    Weights are drawn N(0, weight_std**2 / width) (the same draws for every activation),
    inputs N(0, 1) of shape ``(batch, width)``, and the output gradient is all ones.
    Returns ``norms: (depth,)``, the root-mean-square gradient with respect to each
    layer's input, the first layer first: how much signal reaches the early layers.
    """
    if activation not in ACTIVATIONS:
        raise ValueError(
            f"gradient_norms_through_stack: unknown activation {activation!r}; use {sorted(ACTIVATIONS)}")
    f, df = ACTIVATIONS[activation]
    rng = np.random.default_rng(seed)
    weights = [rng.normal(0.0, weight_std / np.sqrt(width), (width, width)) for _ in range(depth)]
    h, pre = rng.normal(size=(batch, width)), []
    for w in weights:
        pre.append(h @ w)
        h = f(pre[-1])
    grad, norms = np.ones_like(h), []
    for w, z in zip(reversed(weights), reversed(pre), strict=True):
        grad = (grad * df(z)) @ w.T
        norms.append(float(np.sqrt(np.mean(grad ** 2))))
    return np.asarray(norms[::-1])
