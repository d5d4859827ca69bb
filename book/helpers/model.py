"""AlexNet (§3, Figure 2), built from the architecture table of ``helpers.shapes``.

``build_alexnet()`` with its defaults is the network of the paper: a 227x227x3 input,
five convolutions and three fully connected layers, ReLU after every layer but the last,
local response normalization after the first two convolutions, overlapping max pooling,
the two-GPU split as two towers in conv2, conv4 and conv5, dropout in fc6 and fc7 and the
paper's initialisation. It has 60,965,224 parameters for 1000 classes (62,378,344 as one
tower). The model takes mean-subtracted images ``(B, S, S, 3)`` (or ``uint8`` images of
``resize_size(S)`` pixels when an input stage such as ``PaperAugmentation`` is given) and
returns the logits of ``fc8`` in float32; the softmax belongs to the loss.

Everything is ``keras`` and ``keras.ops``: the model builds and trains on TensorFlow, JAX
and PyTorch. Taught in ``book/07_model.ipynb``; checked by ``tests/test_model.py``.
"""

from __future__ import annotations

from typing import Any, Literal

import keras
import numpy as np
import pandas as pd
from keras import ops

from helpers import layers as L
from helpers.lrn import LocalResponseNormalization
from helpers.shapes import POOLING, LayerSpec, alexnet_layers, minimum_input_size

Variant = Literal["paper", "single_tower", "modern"]
VARIANTS: tuple[str, ...] = ("paper", "single_tower", "modern")
NORMALIZATIONS: tuple[str, ...] = ("lrn", "batchnorm", "none")

# §5: "We initialized the weights in each layer from a zero-mean Gaussian distribution with
# standard deviation 0.01. We initialized the neuron biases in the second, fourth, and fifth
# convolutional layers, as well as in the fully-connected hidden layers, with the constant 1."
PAPER_WEIGHT_STD = 0.01
PAPER_BIAS_ONE = frozenset({"conv2", "conv4", "conv5", "fc6", "fc7"})


@keras.saving.register_keras_serializable(package="alexnet")
class TowerConv2D(keras.layers.Conv2D):
    """``Conv2D(groups=g)`` computed as ``g`` ordinary convolutions, one per tower (§3.2).

    The kernel has Keras' grouped layout ``(kh, kw, C / g, F)``: tower ``t`` convolves input
    channels ``t*C/g ...`` with kernels ``t*F/g ...``. Same numbers as ``groups=g``, but
    every backend runs it as plain convolutions (TensorFlow's CPU kernels have no groups).
    """

    def convolution_op(self, inputs: Any, kernel: Any) -> Any:
        if self.groups == 1:
            return super().convolution_op(inputs, kernel)
        towers = zip(ops.split(inputs, self.groups, axis=-1),
                     ops.split(kernel, self.groups, axis=-1), strict=True)
        return ops.concatenate([super(TowerConv2D, self).convolution_op(x, k)
                                for x, k in towers], axis=-1)


def _initializers(name: str, variant: str) -> dict[str, keras.initializers.Initializer]:
    """§5's initialisation (or He's, zero biases, for the modern variant), fresh per layer."""
    if variant == "modern":
        return {"kernel_initializer": keras.initializers.HeNormal(), "bias_initializer": "zeros"}
    bias = "ones" if name in PAPER_BIAS_ONE else "zeros"
    return {"kernel_initializer": keras.initializers.RandomNormal(stddev=PAPER_WEIGHT_STD),
            "bias_initializer": bias}


def _normalization(name: str, kind: str) -> keras.layers.Layer | None:
    """§3.3's LRN (k=2, n=5, alpha=1e-4, beta=0.75), batch normalization, or nothing."""
    index = name[-1]
    if kind == "lrn":
        return LocalResponseNormalization(name=f"lrn{index}")
    return keras.layers.BatchNormalization(name=f"bn{index}") if kind == "batchnorm" else None


def keras_layer(spec: LayerSpec, variant: str, normalization: str,
                dropout_rate: float) -> keras.layers.Layer | None:
    """The Keras layer for one row of ``alexnet_layers`` (``None``: no normalization)."""
    init = _initializers(spec.name, variant)
    if spec.kind == "conv":
        padding = "valid" if spec.padding == 0 else "same"  # conv2-5: p = (k - 1) / 2
        return TowerConv2D(spec.filters, spec.kernel, strides=spec.stride, padding=padding,
                           groups=spec.groups, activation="relu", name=spec.name, **init)
    if spec.kind == "lrn":
        return _normalization(spec.name, normalization)
    if spec.kind == "pool":
        return keras.layers.MaxPooling2D(spec.kernel, strides=spec.stride, name=spec.name)
    if spec.kind == "flatten":
        return keras.layers.Flatten(name=spec.name)
    if spec.kind == "dropout":
        return keras.layers.Dropout(dropout_rate, name=spec.name)  # §4.2: 0.5
    last = spec.name == "fc8"  # fc8 gives logits (float32 even under mixed precision)
    return keras.layers.Dense(spec.filters, activation=None if last else "relu", name=spec.name,
                              dtype="float32" if last else None, **init)


def build_alexnet(num_classes: int = 1000, input_size: int = 227, variant: Variant = "paper", *,
                  normalization: str | None = None, pooling: str = "overlapping",
                  dropout_rate: float = 0.5, input_stage: keras.layers.Layer | None = None,
                  name: str | None = None) -> keras.Model:
    """AlexNet as a functional Keras model: ``(B, S, S, 3)`` images -> ``(B, classes)`` logits.

    ``variant``: ``"paper"`` (two towers, LRN, §5's initialisation), ``"single_tower"`` (the
    same in one tower) or ``"modern"`` (one tower, batch normalization where LRN was, He
    initialisation, zero biases). ``normalization`` overrides it (``"lrn"``, ``"batchnorm"``,
    ``"none"``); ``pooling`` is ``"overlapping"`` (3x3/2, §3.4) or ``"non_overlapping"``
    (2x2/2). ``input_stage`` (e.g. ``PaperAugmentation``) comes first, taking ``uint8``
    images of its own size. Layer names: conv1, lrn1|bn1, pool1, ..., fc8.
    """
    normalization = _check_arguments(num_classes, input_size, variant, normalization,
                                     pooling, dropout_rate)
    groups = 2 if variant == "paper" else 1  # §3.2: two GPUs
    if input_stage is None:
        inputs = x = keras.Input((input_size, input_size, 3), name="image")
    else:
        side = input_stage.resized_size
        inputs = keras.Input((side, side, 3), dtype="uint8", name="image")
        x = input_stage(inputs)
    for spec in alexnet_layers(num_classes, groups, pooling):
        layer = keras_layer(spec, variant, normalization, dropout_rate)
        x = x if layer is None else layer(x)
    return keras.Model(inputs, x, name=name or f"alexnet_{variant}")


def _check_arguments(num_classes: int, input_size: int, variant: str, normalization: str | None,
                     pooling: str, dropout_rate: float) -> str:
    """Raise a ``ValueError`` that says what to pass instead; return the normalization."""
    normalization = normalization or ("batchnorm" if variant == "modern" else "lrn")
    choices = {"variant": (variant, VARIANTS), "normalization": (normalization, NORMALIZATIONS),
               "pooling": (pooling, tuple(POOLING))}
    for argument, (value, allowed) in choices.items():
        if value not in allowed:
            raise ValueError(f"build_alexnet: unknown {argument} {value!r}; "
                             f"use one of {', '.join(allowed)}")
    if not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"build_alexnet: num_classes must be a positive int, got {num_classes!r}")
    if not 0.0 <= dropout_rate < 1.0:
        raise ValueError(f"build_alexnet: dropout_rate must be in [0, 1), got {dropout_rate!r}")
    smallest = minimum_input_size(pooling)
    if not isinstance(input_size, int) or input_size < smallest:
        raise ValueError(f"build_alexnet: input_size {input_size!r} is too small for five "
                         f"convolutions and three poolings; use at least {smallest} "
                         "(the paper uses 227)")
    return normalization


def network(model: keras.Model) -> keras.Model:
    """The part of ``model`` from ``conv1``'s input to the logits (no input stage)."""
    first = model.get_layer("conv1")
    if first.input is model.input:
        return model
    return keras.Model(first.input, model.output, name=f"{model.name}_network")


def layer_costs(model: keras.Model) -> pd.DataFrame:
    """Parameters and multiply-adds per image of each weighted layer, read from a built model.

    A convolution does ``H_out * W_out * F * kh * kw * C_in / groups`` multiply-adds, a
    dense layer ``inputs * units``. Columns: ``kind`` ("conv" or "fc"), ``output``,
    ``parameters``, ``multiply_adds`` and the shares ``parameters_pct``, ``multiply_adds_pct``.
    """
    rows = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            kh, kw, c_per_group, filters = layer.kernel.shape
            _, h_out, w_out, _ = layer.output.shape
            macs = h_out * w_out * filters * kh * kw * c_per_group
            rows.append((layer.name, "conv", tuple(layer.output.shape[1:]), layer.count_params(), macs))
        elif isinstance(layer, keras.layers.Dense):
            n_in, units = layer.kernel.shape
            rows.append((layer.name, "fc", (units,), layer.count_params(), n_in * units))
    table = pd.DataFrame(rows, columns=["layer", "kind", "output", "parameters", "multiply_adds"])
    table = table.set_index("layer")
    table["parameters_pct"] = 100 * table["parameters"] / table["parameters"].sum()
    table["multiply_adds_pct"] = 100 * table["multiply_adds"] / table["multiply_adds"].sum()
    return table


def numpy_weights(model: keras.Model) -> dict[str, list[np.ndarray]]:
    """Every weighted layer's variables as float64 NumPy arrays, by layer name."""
    return {layer.name: [np.asarray(w, np.float64) for w in layer.get_weights()]
            for layer in model.layers if layer.get_weights() and layer.name != "image"}


def numpy_forward(w: dict[str, list[np.ndarray]], x: np.ndarray, groups: int = 2) -> np.ndarray:
    """AlexNet at inference with the NumPy layers: ``(N, S, S, 3)`` -> logits ``(N, classes)``.

    ``w``: ``numpy_weights(model)`` of a model with LRN (``"paper"``, ``"single_tower"``);
    dropout is the identity at test time (Keras' inverted dropout rescales while training).
    """
    pool, lrn = L.max_pool2d, L.local_response_normalization  # §3.4: 3/2; §3.3: k=2, n=5
    x = pool(lrn(L.relu(L.conv2d(x, *w["conv1"], stride=4))))
    x = pool(lrn(L.relu(L.conv2d(x, *w["conv2"], padding="same", groups=groups))))
    x = L.relu(L.conv2d(x, *w["conv3"], padding="same"))  # conv3 sees both towers
    x = L.relu(L.conv2d(x, *w["conv4"], padding="same", groups=groups))
    x = pool(L.relu(L.conv2d(x, *w["conv5"], padding="same", groups=groups)))
    x = x.reshape(len(x), -1)  # (N, 6, 6, 256) -> (N, 9216), the order Keras flattens in
    x = L.relu(L.dense(x, *w["fc6"]))
    x = L.relu(L.dense(x, *w["fc7"]))
    return L.dense(x, *w["fc8"])  # logits: the softmax belongs to the loss
