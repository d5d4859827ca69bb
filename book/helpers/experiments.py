"""Small-CNN experiments for the building-block chapters (ReLU vs tanh, dropout).

The paper's Figure 1 trains "a four-layer convolutional neural network" on CIFAR-10 with
ReLU and with tanh units and counts the epochs each needs to reach 25% training error
(§3.1). This module holds that network (three convolutions and a classifier, like the
CIFAR-10 nets of cuda-convnet, the paper's code), a training loop that records the error
per epoch and the time it took, and the learning-rate search (the rate that reaches the
threshold in the fewest epochs; ``helpers.thresholds`` counts the epochs). The dropout
chapter reuses the loop with dropout in two fully connected layers (§4.2).
Everything is ``keras`` and NumPy: it runs on every backend.

Taught in ``book/02_relu_vs_tanh.ipynb`` and ``book/05_dropout.ipynb``; checked by
``tests/portable/test_experiments.py`` (any backend) and ``tests/test_experiments.py``
(against TensorFlow's autodiff).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from helpers.saturation import ACTIVATIONS
from helpers.thresholds import epochs_to_threshold, speedup_table

CIFAR10_CACHE = Path("~/.keras/datasets/cifar-10-batches-py").expanduser()
"""Where Keras keeps CIFAR-10 once downloaded; the book reads it only from there."""

HISTORY_COLUMNS = ["epoch", "train_loss", "train_error", "val_error", "seconds"]

FIGURE1_RATES = {"relu": (0.0015, 0.0005, 0.005, 0.00015),
                 "tanh": (0.015, 0.05, 0.005, 0.0015)}
"""The learning rates Figure 1's search tries per activation, about 3x apart, in the
order tried (the expected winner first: the order changes the search's cost, not its
winner)."""

CUDA_CONVNET_STD = (1e-4, 1e-2, 1e-2, 1e-2)
"""Weight std of conv1, conv2, conv3 and the classifier in cuda-convnet's four-layer
CIFAR-10 net (``layers-18pct.cfg``: ``initW``), biases zero."""


@dataclass(frozen=True)
class ExperimentData:
    """Images for a small experiment.

    ``x_train: (N, S, S, 3)`` and ``x_val`` float32 in [0, 1]; ``y_train: (N,)`` and
    ``y_val`` int32 labels; ``description`` names the data set, ``is_real`` is False for
    the drawn offline set.
    """

    x_train: np.ndarray = field(repr=False)
    y_train: np.ndarray = field(repr=False)
    x_val: np.ndarray = field(repr=False)
    y_val: np.ndarray = field(repr=False)
    description: str
    is_real: bool = True

    @property
    def name(self) -> str:
        """The data set's name, as its description begins: "Imagenette-160", ..."""
        return self.description.split(",")[0]


def _cifar10(image_size: int, subset_size: int | None, seed: int) -> ExperimentData:
    (x_train, y_train), (x_val, y_val) = keras.datasets.cifar10.load_data()
    if subset_size is not None:
        rng = np.random.default_rng(seed)
        keep = np.sort(rng.permutation(len(x_train))[:subset_size])
        x_train, y_train = x_train[keep], y_train[keep]

    def scaled(x: np.ndarray) -> np.ndarray:
        x = x.astype("float32") / 255.0
        if image_size == x.shape[1]:
            return x
        return keras.ops.convert_to_numpy(keras.ops.image.resize(x, (image_size,) * 2))

    description = (f"CIFAR-10 (Keras cache), {len(x_train):,} train / {len(x_val):,} "
                   f"test images, {image_size} px")
    return ExperimentData(scaled(x_train), y_train.ravel().astype("int32"),
                          scaled(x_val), y_val.ravel().astype("int32"), description)


def load_experiment_data(image_size: int, subset_size: int | None, seed: int = 2012,
                         prefer_cifar10: bool = True) -> ExperimentData:
    """CIFAR-10 if Keras has it cached (Figure 1's data), else the book's photographs.

    CIFAR-10 is only read from Keras' cache (no download is attempted); otherwise the
    best data set of ``helpers.data.load_dataset`` is used (Imagenette when installed):
    centre crops of ``image_size`` pixels, ``subset_size`` training images drawn with
    ``seed`` (``None``: all), every validation image.
    """
    if prefer_cifar10 and CIFAR10_CACHE.is_dir():
        return _cifar10(image_size, subset_size, seed)
    from helpers.data import load_dataset

    splits = load_dataset(image_size=image_size, subset_size=subset_size, seed=seed)
    description = f"{splits.source.description}, centre crops of {image_size} px"
    return ExperimentData(splits.centre_crops("train"), splits.train.labels,
                          splits.centre_crops("val"), splits.val.labels, description,
                          splits.source.is_real)


def paper_input(images: np.ndarray) -> np.ndarray:
    """What the paper feeds its network (§2): pixels, 0 to 255, minus the mean image.

    ``images: (N, S, S, 3)`` in [0, 1]; the mean image is that of ``images`` itself.
    """
    pixels = 255.0 * np.asarray(images, dtype=np.float32)
    return pixels - pixels.mean(axis=0)


def _initializer(kernel_std: Sequence[float] | None, index: int,
                 seed: int) -> keras.initializers.Initializer:
    """Glorot-uniform (``kernel_std=None``) or N(0, std**2), seeded per layer."""
    if kernel_std is None:
        return keras.initializers.GlorotUniform(seed=seed + index)
    std = kernel_std[min(index, len(kernel_std) - 1)]  # the last std: every dense layer
    return keras.initializers.RandomNormal(stddev=std, seed=seed + index)


POOLS = {"max": keras.layers.MaxPooling2D, "avg": keras.layers.AveragePooling2D}


def small_cnn(input_shape: tuple[int, int, int], num_classes: int,
              activation: str = "relu", *, widths: Sequence[int] = (32, 32, 64),
              pooling: Sequence[str] = ("max", "max", "max"),
              kernel_std: Sequence[float] | None = CUDA_CONVNET_STD,
              dense_units: int = 0, dropout_rate: float = 0.0,
              seed: int = 2012) -> keras.Model:
    """Figure 1's four-layer CNN: three 5x5 convolutions, each pooled 3/2, a classifier.

    ``input_shape``: (S, S, C); returns logits ``(batch, num_classes)``. The layout is
    cuda-convnet's CIFAR-10 net: 'same' 5x5 convolutions of ``widths`` filters, 3x3
    pooling with stride 2 (``pooling``: "max" as in §3.4, or "avg"), zero biases and
    weights N(0, std**2) with ``kernel_std`` = one std per convolution, then one for
    every fully connected layer (``None``: Glorot-uniform). Initialisers are seeded per
    layer, so two networks built with the same seed start from identical weights
    whatever their ``activation``. With ``dense_units > 0`` two fully connected hidden
    layers of that width come before the classifier, each followed by
    ``Dropout(dropout_rate)``, as fc6 and fc7 (§4.2).
    """
    _check_network(activation, widths, pooling, kernel_std, dropout_rate)
    def init(index: int) -> keras.initializers.Initializer:
        return _initializer(kernel_std, index, seed)

    layers: list = [keras.Input(input_shape)]
    for index, (width, pool) in enumerate(zip(widths, pooling, strict=True)):
        layers += [keras.layers.Conv2D(width, 5, padding="same", activation=activation,
                                       kernel_initializer=init(index),
                                       name=f"conv{index + 1}"),
                   POOLS[pool](3, 2, padding="same", name=f"pool{index + 1}")]
    layers.append(keras.layers.Flatten(name="flatten"))
    n = len(widths)
    for index in range(n, n + 2 if dense_units else n):
        layers.append(keras.layers.Dense(dense_units, activation=activation,
                                         kernel_initializer=init(index),
                                         name=f"fc{index + 1}"))
        if dropout_rate > 0:
            layers.append(keras.layers.Dropout(dropout_rate, seed=seed + 20 + index,
                                               name=f"drop{index + 1}"))
    layers.append(keras.layers.Dense(num_classes, kernel_initializer=init(n + 2),
                                     name="logits"))
    return keras.Sequential(layers, name=f"small_cnn_{activation}")


def _check_network(activation: str, widths: Sequence[int], pooling: Sequence[str],
                   kernel_std: Sequence[float] | None, dropout_rate: float) -> None:
    if activation not in ACTIVATIONS:
        raise ValueError(f"small_cnn: activation {activation!r} is unknown; "
                         f"use one of {sorted(ACTIVATIONS)}")
    if len(pooling) != len(widths) or not set(pooling) <= set(POOLS):
        raise ValueError(f"small_cnn: pooling {tuple(pooling)} must name one of "
                         f"{sorted(POOLS)} for each of the {len(widths)} convolutions")
    if kernel_std is not None and len(kernel_std) != len(widths) + 1:
        raise ValueError(f"small_cnn: kernel_std needs {len(widths) + 1} values (one "
                         "per convolution, then one for the dense layers), got "
                         f"{kernel_std}")
    if not 0.0 <= dropout_rate < 1.0:
        raise ValueError(f"small_cnn: dropout_rate must be in [0, 1), "
                         f"got {dropout_rate}")


# --- Training and measuring -----------------------------------------------------------

def evaluate_error(model: keras.Model, x: np.ndarray, y: np.ndarray,
                   batch_size: int = 500) -> tuple[float, float]:
    """Mean cross-entropy and error rate of ``model`` on ``x: (N, ...)``, ``y: (N,)``.

    Inference mode (no dropout), in batches of ``batch_size``.
    """
    logits = np.concatenate([np.asarray(model.predict_on_batch(x[i:i + batch_size]))
                             for i in range(0, len(x), batch_size)])
    loss = keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True)
    return (float(np.mean(keras.ops.convert_to_numpy(loss))),
            float(np.mean(logits.argmax(axis=1) != y)))


def train_with_history(model: keras.Model, x_train: np.ndarray, y_train: np.ndarray, *,
                       epochs: int, batch_size: int, learning_rate: float,
                       momentum: float = 0.9, x_val: np.ndarray | None = None,
                       y_val: np.ndarray | None = None, seed: int = 2012,
                       eval_size: int | None = None, stop_at: float | None = None,
                       optimizer: keras.optimizers.Optimizer | None = None
                       ) -> pd.DataFrame:
    """Train ``model`` with SGD and momentum (§5: 0.9), no regularisation, per epoch
    (or with ``optimizer``, e.g. ``PaperSGD`` with weight decay, in its place).

    ``x_train: (N, S, S, C)``, ``y_train: (N,)``. Every model sees the images in the
    same order (our own seeded shuffle). After each epoch the training error is
    measured in inference mode on the training set (or a fixed sample of ``eval_size``
    images); the run stops early once it is at or below ``stop_at``, or when the loss
    diverges. Returns the columns of ``HISTORY_COLUMNS``: ``epoch`` (from 1),
    ``train_loss``, ``train_error``, ``val_error`` (NaN without validation data) and
    ``seconds``: the processor time spent training so far (all the process's threads,
    the measurements excluded), which other programs on the machine barely change.
    """
    _check_training(x_train, y_train, epochs, batch_size)
    optimizer = optimizer or keras.optimizers.SGD(learning_rate, momentum=momentum)
    model.compile(optimizer=optimizer,
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(seed)
    sample = np.sort(rng.permutation(len(x_train))[:eval_size or len(x_train)])
    rows, elapsed = [], 0.0
    for epoch in range(1, epochs + 1):
        order = rng.permutation(len(x_train))  # the same order for every model
        start = time.process_time()
        for first in range(0, len(order), batch_size):  # one SGD step per minibatch
            batch = order[first:first + batch_size]
            model.train_on_batch(x_train[batch], y_train[batch])
        elapsed += time.process_time() - start
        loss, train_error = evaluate_error(model, x_train[sample], y_train[sample])
        val_error = np.nan if x_val is None else evaluate_error(model, x_val, y_val)[1]
        rows.append((epoch, loss, train_error, val_error, elapsed))
        if not np.isfinite(loss) or (stop_at is not None and train_error <= stop_at):
            break  # diverged (the learning rate is too large), or reached the threshold
    return pd.DataFrame(rows, columns=HISTORY_COLUMNS)


def _check_training(x: np.ndarray, y: np.ndarray, epochs: int, batch_size: int) -> None:
    if epochs < 1 or batch_size < 1:
        raise ValueError(f"train_with_history: epochs and batch_size must be >= 1, "
                         f"got {epochs} and {batch_size}")
    if len(x) != len(y):
        raise ValueError(f"train_with_history: {len(x)} images but {len(y)} labels; "
                         "pass matching arrays")


@dataclass(frozen=True)
class Sweep:
    """What ``learning_rate_sweep`` returns: ``table`` (one row per learning rate),
    ``histories`` (learning rate -> ``train_with_history`` frame), ``best``, the rate
    that reached the threshold in the fewest epochs, and ``model``, trained with it."""

    table: pd.DataFrame
    histories: dict[float, pd.DataFrame] = field(repr=False)
    best: float
    model: keras.Model = field(repr=False)


def learning_rate_sweep(build: Callable[[], keras.Model], x: np.ndarray, y: np.ndarray,
                        learning_rates: Sequence[float], *, threshold: float,
                        max_epochs: int, batch_size: int, seed: int = 2012,
                        eval_size: int | None = None) -> Sweep:
    """Train a fresh ``build()`` per learning rate until it reaches ``threshold``.

    Figure 1's criterion: the best rate is the one that reaches ``threshold`` in the
    fewest epochs (ties: the lower error then; if no rate reaches it, the lowest error).
    A run stops when it reaches the threshold or can no longer beat the best so far, so
    the order of ``learning_rates`` changes the cost, not the winner. ``build``: a
    function with no arguments returning an identically initialised model. ``table``
    (sorted by rate) has ``epochs`` (to the threshold, NaN if never), ``seconds`` and
    ``error`` (the last one measured).
    """
    histories, models, budget = {}, {}, max_epochs
    for rate in learning_rates:
        models[rate] = build()
        history = train_with_history(models[rate], x, y, epochs=budget,
                                     learning_rate=rate, batch_size=batch_size,
                                     seed=seed, eval_size=eval_size, stop_at=threshold)
        histories[rate] = history
        epochs = epochs_to_threshold(history["train_error"].to_numpy(), threshold)
        budget = min(budget, epochs or budget)  # a later rate must beat this to win
    table = speedup_table(histories, threshold).rename(
        columns={"final_train_error": "error"}).rename_axis("learning_rate")
    table = table.astype({"epochs": float}).sort_index()
    reached = table["epochs"].notna()
    ranked = table[reached] if reached.any() else table
    order = ["epochs", "error"] if reached.any() else ["error"]
    best = ranked.sort_values(order, kind="stable").index[0]
    return Sweep(table, histories, float(best), models[best])
