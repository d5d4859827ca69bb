"""Small-CNN experiments for the training-tricks chapters (ReLU vs tanh, dropout).

The paper's Figure 1 trains "a four-layer convolutional neural network" on CIFAR-10
with ReLU and with tanh and counts the epochs each needs to reach 25 % training error
(§3.1). This module holds that network, a training loop that records the error per
epoch and the time it took, and the epochs-to-threshold measurement the chapters
report. The dropout chapter reuses the loop with dropout in the fully connected
layers (§4.2).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

CIFAR10_CACHE = Path("~/.keras/datasets/cifar-10-batches-py").expanduser()
"""Where Keras keeps CIFAR-10 once downloaded; the book loads it only from there."""

HISTORY_COLUMNS = ["epoch", "train_loss", "train_error", "val_error", "seconds"]


def load_experiment_arrays(
    image_size: int, subset_size: int | None, seed: int = 2012, prefer_cifar10: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, str]:
    """Images for the small experiments: CIFAR-10 if Keras has it cached, else the book's data.

    Returns ``(x_train, y_train, x_val, y_val, description)``: images float32 in [0, 1],
    ``x: (N, S, S, 3)``, labels int32 ``(N,)``. CIFAR-10 is only read from Keras' cache
    (no download is attempted); its 32-pixel images are resized when ``image_size != 32``.
    """
    if prefer_cifar10 and CIFAR10_CACHE.is_dir():
        import keras
        import tensorflow as tf

        (x_train, y_train), (x_val, y_val) = keras.datasets.cifar10.load_data()
        rng = np.random.default_rng(seed)
        if subset_size is not None:
            keep = rng.permutation(len(x_train))[:subset_size]
            x_train, y_train = x_train[keep], y_train[keep]
        x_train, x_val = (x.astype("float32") / 255.0 for x in (x_train, x_val))
        if image_size != 32:
            x_train, x_val = (tf.image.resize(x, (image_size, image_size)).numpy() for x in (x_train, x_val))
        description = (f"CIFAR-10 (Keras cache), {len(x_train):,} train / {len(x_val):,} test images, "
                       f"{image_size} px")
        return x_train, y_train.ravel().astype("int32"), x_val, y_val.ravel().astype("int32"), description
    from helpers.data import load_arrays

    x_train, y_train, x_val, y_val, _, source = load_arrays(
        image_size=image_size, subset_size=subset_size, seed=seed)
    return (np.asarray(x_train, "float32"), np.asarray(y_train, "int32"),
            np.asarray(x_val, "float32"), np.asarray(y_val, "int32"), source.description)


def small_cnn(
    input_shape: tuple[int, int, int],
    num_classes: int,
    activation: str = "relu",
    *,
    widths: tuple[int, int, int] = (16, 32, 32),
    dense_units: int = 0,
    dropout_rate: float = 0.0,
    seed: int = 2012,
):
    """The four-layer CNN of Figure 1: three 5x5/5x5/3x3 convolutions and a classifier.

    ``input_shape``: (S, S, C). Every kernel is drawn from a Glorot-uniform initialiser
    seeded by ``seed``, so two networks built with the same seed start from identical
    weights whatever their ``activation``. With ``dense_units > 0`` two fully connected
    hidden layers of that width are added before the classifier, each followed by
    ``Dropout(dropout_rate)`` as in the paper's fc6/fc7 (§4.2). Returns logits.
    """
    import keras

    if activation not in ("relu", "tanh", "sigmoid"):
        raise ValueError(f"small_cnn: activation {activation!r} is unknown; use 'relu', 'tanh' or 'sigmoid'")
    if not 0.0 <= dropout_rate < 1.0:
        raise ValueError(f"small_cnn: dropout_rate must be in [0, 1), got {dropout_rate}")

    def init(index: int):
        return keras.initializers.GlorotUniform(seed=seed + index)

    layers = [keras.Input(input_shape)]
    for index, (width, kernel) in enumerate(zip(widths, (5, 5, 3), strict=True)):
        layers.append(keras.layers.Conv2D(width, kernel, padding="same", activation=activation,
                                          kernel_initializer=init(index), name=f"conv{index + 1}"))
        if index < 2:
            layers.append(keras.layers.MaxPooling2D(3, 2, padding="same", name=f"pool{index + 1}"))
    layers.append(keras.layers.GlobalAveragePooling2D(name="pool3") if dense_units == 0 else
                  keras.layers.Flatten(name="flatten"))
    for index in range(2 if dense_units else 0):
        layers.append(keras.layers.Dense(dense_units, activation=activation,
                                         kernel_initializer=init(10 + index),
                                         name=f"fc{index + 1}"))
        if dropout_rate > 0:
            layers.append(keras.layers.Dropout(dropout_rate, seed=seed + 20 + index, name=f"drop{index + 1}"))
    layers.append(keras.layers.Dense(num_classes, kernel_initializer=init(30), name="logits"))
    return keras.Sequential(layers, name=f"small_cnn_{activation}")


def train_with_history(
    model,
    x_train: np.ndarray,
    y_train: np.ndarray,
    *,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    momentum: float = 0.9,
    x_val: np.ndarray | None = None,
    y_val: np.ndarray | None = None,
    seed: int = 2012,
    eval_size: int | None = None,
) -> pd.DataFrame:
    """Train ``model`` with SGD + momentum (§5: momentum 0.9) and record every epoch.

    ``x_train: (N, S, S, C)``, ``y_train: (N,)`` integer labels. After each epoch the
    training error is measured on the whole training set in inference mode (no
    dropout), so runs with and without dropout are compared on the same footing;
    ``eval_size`` limits that measurement to a fixed random sample of the training images
    (``None``: all of them), which saves time on large training sets.
    Returns a DataFrame with columns ``epoch`` (1-based), ``train_loss``,
    ``train_error``, ``val_error`` (NaN without validation data) and ``seconds``
    (cumulative training time, evaluation excluded).
    """
    import keras
    import tensorflow as tf

    if epochs < 1 or batch_size < 1:
        raise ValueError(
            f"train_with_history: epochs and batch_size must be >= 1, got {epochs}, {batch_size}")
    if len(x_train) != len(y_train):
        raise ValueError(
            f"train_with_history: {len(x_train)} images but {len(y_train)} labels; pass matching arrays")
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    optimizer = keras.optimizers.SGD(learning_rate, momentum=momentum)

    @tf.function(reduce_retracing=True)
    def step(x, y):
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables, strict=True))

    rng = np.random.default_rng(seed)
    sample = np.sort(rng.permutation(len(x_train))[:eval_size]) if eval_size else np.arange(len(x_train))
    rows, elapsed = [], 0.0
    for epoch in range(1, epochs + 1):
        order = rng.permutation(len(x_train))  # our own shuffle: the same order for every model
        start = time.perf_counter()
        for first in range(0, len(order), batch_size):
            batch = order[first:first + batch_size]
            step(tf.constant(x_train[batch]), tf.constant(y_train[batch]))
        elapsed += time.perf_counter() - start
        loss, train_error = evaluate_error(model, x_train[sample], y_train[sample])
        val_error = float("nan") if x_val is None or y_val is None else evaluate_error(model, x_val, y_val)[1]
        rows.append((epoch, loss, train_error, val_error, elapsed))
        if not np.isfinite(loss):
            break  # diverged: the learning rate is too large; the history says so
    return pd.DataFrame(rows, columns=HISTORY_COLUMNS)


def evaluate_error(model, x: np.ndarray, y: np.ndarray, batch_size: int = 500) -> tuple[float, float]:
    """Mean cross-entropy and error rate of ``model`` (logits), inference mode.

    ``x: (N, ...)``, ``y: (N,)`` integer labels. Returns ``(loss, error)``.
    """
    logits = np.concatenate([np.asarray(model(x[i:i + batch_size], training=False))
                             for i in range(0, len(x), batch_size)])
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = float(-log_probs[np.arange(len(y)), y].mean())
    return loss, float(np.mean(logits.argmax(axis=1) != y))


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
    build, x: np.ndarray, y: np.ndarray, learning_rates: Sequence[float], *, epochs: int, batch_size: int,
    seed: int = 2012,
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
