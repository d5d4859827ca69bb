"""AlexNet (§3, Figure 2), built from the architecture table of ``helpers.shapes``.

``build_alexnet()`` with its defaults is the network of the paper: a 227x227x3 input,
five convolutions and three fully connected layers, ReLU after every layer with weights
but the last (fc8 gives the logits), local response normalization after the first two
convolutions, overlapping max pooling, the two-GPU split as two towers in conv2, conv4
and conv5, dropout in fc6 and fc7 and the paper's initialisation. It has 60,965,224
parameters for 1000 classes (62,378,344 as one tower). The model takes mean-subtracted
images ``(B, S, S, 3)`` (or ``uint8`` images of ``resize_size(S)`` pixels when an input
stage such as ``PaperAugmentation`` is given) and returns the logits of ``fc8`` in
float32; the softmax belongs to the loss.

Everything is ``keras`` and ``keras.ops``: the model builds and trains on TensorFlow,
JAX and PyTorch. ``numpy_forward`` runs the same network with the NumPy layers of
``helpers.layers``. Taught in ``book/07_model.ipynb``; checked by
``tests/portable/test_model.py`` (every backend) and ``tests/test_model_tf.py``
(against Keras' own grouped ``Conv2D`` on TensorFlow).
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

# §5: "We initialized the weights in each layer from a zero-mean Gaussian distribution
# with standard deviation 0.01. We initialized the neuron biases in the second, fourth,
# and fifth convolutional layers, as well as in the fully-connected hidden layers, with
# the constant 1."
PAPER_WEIGHT_STD = 0.01
PAPER_BIAS_ONE = frozenset({"conv2", "conv4", "conv5", "fc6", "fc7"})


@keras.saving.register_keras_serializable(package="alexnet")
class TowerConv2D(keras.layers.Conv2D):
    """``Conv2D(groups=g)`` computed as ``g`` plain convolutions, one per tower (§3.2).

    Input ``(B, H, W, C)`` -> ``(B, H_out, W_out, F)``. The kernel has Keras' grouped
    layout ``(kh, kw, C / g, F)``: tower ``t`` convolves input channels ``t*C/g ...``
    with kernels ``t*F/g ...``. Same numbers as ``groups=g``, but every backend runs it
    as plain convolutions (TensorFlow's CPU kernels have no groups).
    """

    def convolution_op(self, inputs: Any, kernel: Any) -> Any:
        if self.groups == 1:
            return super().convolution_op(inputs, kernel)
        towers = zip(ops.split(inputs, self.groups, axis=-1),
                     ops.split(kernel, self.groups, axis=-1), strict=True)
        one_tower = super().convolution_op
        return ops.concatenate([one_tower(x, k) for x, k in towers], axis=-1)


def _initializers(name: str, variant: str) -> dict[str, Any]:
    """§5's initialisation (modern variant: He's, zero biases), fresh per layer."""
    if variant == "modern":
        return {"kernel_initializer": keras.initializers.HeNormal(),
                "bias_initializer": "zeros"}
    bias = "ones" if name in PAPER_BIAS_ONE else "zeros"
    weights = keras.initializers.RandomNormal(stddev=PAPER_WEIGHT_STD)
    return {"kernel_initializer": weights, "bias_initializer": bias}


def _normalization(name: str, kind: str) -> keras.layers.Layer | None:
    """§3.3's LRN (k=2, n=5, alpha=1e-4, beta=0.75), batch normalization, or nothing."""
    index = name[-1]
    if kind == "lrn":
        return LocalResponseNormalization(name=f"lrn{index}")
    if kind == "batchnorm":
        return keras.layers.BatchNormalization(name=f"bn{index}")
    return None


def keras_layer(spec: LayerSpec, variant: str, normalization: str,
                dropout_rate: float) -> keras.layers.Layer | None:
    """The Keras layer for one row of ``alexnet_layers`` (``None``: no normalization).

    Convolutions and fc6, fc7 have a ReLU; fc8 does not (it gives the logits).
    """
    init = _initializers(spec.name, variant)
    if spec.kind == "conv":
        padding = "valid" if spec.padding == 0 else "same"  # conv2-5: p = (k - 1) / 2
        return TowerConv2D(spec.filters, spec.kernel, strides=spec.stride,
                           padding=padding, groups=spec.groups, activation="relu",
                           name=spec.name, **init)
    if spec.kind == "lrn":
        return _normalization(spec.name, normalization)
    if spec.kind == "pool":
        return keras.layers.MaxPooling2D(spec.kernel, strides=spec.stride,
                                         name=spec.name)
    if spec.kind == "flatten":
        return keras.layers.Flatten(name=spec.name)
    if spec.kind == "dropout":
        return keras.layers.Dropout(dropout_rate, name=spec.name)  # §4.2: 0.5
    last = spec.name == "fc8"  # fc8: logits, no ReLU (float32 under mixed precision)
    return keras.layers.Dense(spec.filters, activation=None if last else "relu",
                              name=spec.name, dtype="float32" if last else None, **init)


def build_alexnet(num_classes: int = 1000, input_size: int = 227,
                  variant: Variant = "paper", *, normalization: str | None = None,
                  pooling: str = "overlapping", dropout_rate: float = 0.5,
                  input_stage: keras.layers.Layer | None = None,
                  name: str | None = None) -> keras.Model:
    """AlexNet as a Keras model: images ``(B, S, S, 3)`` -> logits ``(B, K)``.

    ``variant``: ``"paper"`` (two towers, LRN, §5's initialisation), ``"single_tower"``
    (the same in one tower) or ``"modern"`` (one tower, batch normalization where LRN
    was, He initialisation, zero biases). ``normalization`` overrides it (``"lrn"``,
    ``"batchnorm"``, ``"none"``); ``pooling`` is ``"overlapping"`` (3x3/2, §3.4) or
    ``"non_overlapping"`` (2x2/2). ``input_stage`` (e.g. ``PaperAugmentation``) comes
    first and takes ``uint8`` images of its own size. Layer names: conv1, lrn1|bn1,
    pool1, ..., fc8.
    """
    normalization = _check_arguments(num_classes, input_size, variant, normalization,
                                     pooling, dropout_rate)
    groups = 2 if variant == "paper" else 1  # §3.2: two GPUs
    inputs, x = _inputs(input_size, input_stage)
    for spec in alexnet_layers(num_classes, groups, pooling):
        layer = keras_layer(spec, variant, normalization, dropout_rate)
        x = x if layer is None else layer(x)
    return keras.Model(inputs, x, name=name or f"alexnet_{variant}")


def _inputs(input_size: int, input_stage: keras.layers.Layer | None) -> tuple[Any, Any]:
    """The model's input and the tensor conv1 sees (after the input stage, if any)."""
    if input_stage is None:
        inputs = keras.Input((input_size, input_size, 3), name="image")
        return inputs, inputs
    side = input_stage.resized_size
    inputs = keras.Input((side, side, 3), dtype="uint8", name="image")
    return inputs, input_stage(inputs)


def _check_arguments(num_classes: int, input_size: int, variant: str,
                     normalization: str | None, pooling: str,
                     dropout_rate: float) -> str:
    """Raise a ``ValueError`` saying what to pass instead; return the normalization."""
    normalization = normalization or ("batchnorm" if variant == "modern" else "lrn")
    choices = {"variant": (variant, VARIANTS),
               "normalization": (normalization, NORMALIZATIONS),
               "pooling": (pooling, tuple(POOLING))}
    for argument, (value, allowed) in choices.items():
        if value not in allowed:
            raise ValueError(f"build_alexnet: unknown {argument} {value!r}; "
                             f"use one of {', '.join(allowed)}")
    if not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"build_alexnet: num_classes must be a positive int (the "
                         f"number of classes), got {num_classes!r}")
    if not 0.0 <= dropout_rate < 1.0:
        raise ValueError(f"build_alexnet: dropout_rate must be in [0, 1) (the paper "
                         f"uses 0.5), got {dropout_rate!r}")
    smallest = minimum_input_size(pooling)
    if not isinstance(input_size, int) or input_size < smallest:
        raise ValueError(f"build_alexnet: input_size {input_size!r} is too small for "
                         f"five convolutions and three poolings; use at least "
                         f"{smallest} (the paper uses 227)")
    return normalization


def network(model: keras.Model) -> keras.Model:
    """The part of ``model`` from ``conv1``'s input to the logits (no input stage)."""
    first = model.get_layer("conv1")
    if first.input is model.input:
        return model
    return keras.Model(first.input, model.output, name=f"{model.name}_network")


def _cost_row(layer: keras.layers.Layer) -> tuple | None:
    """(name, kind, output shape, parameters, multiply-adds) of a weighted layer."""
    if isinstance(layer, keras.layers.Conv2D):
        kh, kw, c_per_group, filters = layer.kernel.shape
        _, h_out, w_out, _ = layer.output.shape
        macs = h_out * w_out * filters * kh * kw * c_per_group
        output = tuple(layer.output.shape[1:])
        return layer.name, "conv", output, layer.count_params(), macs
    if isinstance(layer, keras.layers.Dense):
        n_in, units = layer.kernel.shape
        return layer.name, "fc", (units,), layer.count_params(), n_in * units
    return None


def layer_costs(model: keras.Model) -> pd.DataFrame:
    """Parameters and multiply-adds per image of each weighted layer of a built model.

    A convolution does ``H_out * W_out * F * kh * kw * C_in / groups`` multiply-adds, a
    dense layer ``inputs * units``. One row per layer; columns: ``kind`` ("conv" or
    "fc"), ``output``, ``parameters``, ``multiply_adds`` and the shares (in %)
    ``parameters_pct``, ``multiply_adds_pct``.
    """
    rows = [row for row in map(_cost_row, model.layers) if row is not None]
    columns = ["layer", "kind", "output", "parameters", "multiply_adds"]
    table = pd.DataFrame(rows, columns=columns).set_index("layer")
    for column in ("parameters", "multiply_adds"):
        table[f"{column}_pct"] = 100 * table[column] / table[column].sum()
    return table


def numpy_weights(model: keras.Model) -> dict[str, list[np.ndarray]]:
    """Every weighted layer's variables as float64 arrays, by layer name.

    ``{"conv1": [kernel (11, 11, 3, 96), bias (96,)], ..., "fc8": [...]}``.
    """
    return {layer.name: [np.asarray(w, np.float64) for w in layer.get_weights()]
            for layer in model.layers if layer.get_weights()}


def numpy_forward(weights: dict[str, list[np.ndarray]], x: np.ndarray,
                  groups: int = 2) -> np.ndarray:
    """AlexNet at inference in NumPy: images ``(N, S, S, 3)`` -> logits ``(N, K)``.

    ``weights``: ``numpy_weights(model)`` of a model with LRN (``"paper"``: groups=2,
    ``"single_tower"``: groups=1). Dropout is the identity at test time (Keras'
    inverted dropout rescales while training).
    """
    w, pool = weights, L.max_pool2d  # §3.4: 3x3 windows, stride 2
    lrn = L.local_response_normalization  # §3.3: k=2, n=5, alpha=1e-4, beta=0.75
    x = pool(lrn(L.relu(L.conv2d(x, *w["conv1"], stride=4))))
    x = pool(lrn(L.relu(L.conv2d(x, *w["conv2"], padding="same", groups=groups))))
    x = L.relu(L.conv2d(x, *w["conv3"], padding="same"))  # conv3 sees both towers
    x = L.relu(L.conv2d(x, *w["conv4"], padding="same", groups=groups))
    x = pool(L.relu(L.conv2d(x, *w["conv5"], padding="same", groups=groups)))
    x = x.reshape(len(x), -1)  # (N, 6, 6, 256) -> (N, 9216), the order Flatten uses
    x = L.relu(L.dense(x, *w["fc6"]))
    x = L.relu(L.dense(x, *w["fc7"]))
    return L.dense(x, *w["fc8"])  # logits, no ReLU: the softmax belongs to the loss
