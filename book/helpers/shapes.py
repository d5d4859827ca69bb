"""AlexNet's architecture as one table, and the arithmetic of its shapes.

``alexnet_layers`` is the network of §3.5 and Figure 2 as data: every layer in order
with its kernel, stride, padding, width and groups. ``helpers.model.build_alexnet``
builds the Keras model from this table, and ``alexnet_table`` walks the output-size
formula ``conv_output_size`` through it (``layer_table`` does it for any list of
layers), counting parameters, multiply-adds and activation memory by hand, for any
input size and class count. The tests compare the two.

Taught in ``book/03_convolution_shapes.ipynb`` (and used in ``book/07_model.ipynb``);
checked by ``tests/test_shapes_tf.py`` (against TensorFlow) and
``tests/portable/test_shapes.py`` (against the Keras model, on every backend).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

BYTES_PER_FLOAT32 = 4

# §3.4: pooling windows of z=3 pixels every s=2 pixels overlap; z=2, s=2 is the
# traditional, non-overlapping pooling the paper compares against.
POOLING: dict[str, tuple[int, int]] = {"overlapping": (3, 2), "non_overlapping": (2, 2)}


def resize_size(image_size: int) -> int:
    """The side images are resized and centre-cropped to before ``image_size`` crops.

    §2 and §4.1: 256 before 224-pixel crops; scaled: ``round(image_size * 256 / 224)``.
    """
    if image_size < 1:
        raise ValueError(f"resize_size: image_size must be positive, got {image_size}")
    return round(image_size * 256 / 224)


def conv_output_size(n: int, kernel: int, stride: int = 1,
                     padding: int | str = 0) -> int:
    """Output side of a convolution or pooling window sliding over ``n`` pixels.

    ``floor((n + 2 * padding - kernel) / stride) + 1`` for an int ``padding`` (per
    side); ``"valid"`` is padding 0 and ``"same"`` gives ``ceil(n / stride)``,
    TensorFlow's rule. Raises ``ValueError`` when the kernel does not fit.
    """
    if min(n, kernel, stride) < 1:
        raise ValueError(f"conv_output_size: n={n}, kernel={kernel} and "
                         f"stride={stride} must all be positive")
    if padding == "same":
        return -(-n // stride)
    pad = 0 if padding == "valid" else padding
    if not isinstance(pad, int) or pad < 0:
        raise ValueError(f"conv_output_size: padding must be 'valid', 'same' or a "
                         f"non-negative int, got {padding!r}")
    if kernel > n + 2 * pad:
        raise ValueError(f"conv_output_size: kernel {kernel} is larger than the padded "
                         f"input {n + 2 * pad} (n={n}, padding={pad}); use a larger "
                         "input or more padding")
    return (n + 2 * pad - kernel) // stride + 1


@dataclass(frozen=True)
class LayerSpec:
    """One row of the architecture; ``kind``: conv, lrn, pool, flatten, dense, dropout.

    ``padding`` is per side (conv2-5 keep their size: ``(kernel - 1) / 2``); ``filters``
    are a convolution's kernels or a dense layer's units; ``groups=2`` is the two-GPU
    split (§3.2).
    """

    name: str
    kind: str
    kernel: int = 0
    stride: int = 1
    padding: int = 0
    filters: int = 0
    groups: int = 1


def _check_layers_arguments(groups: int, pooling: str) -> None:
    if pooling not in POOLING:
        raise ValueError(f"alexnet_layers: pooling must be one of {sorted(POOLING)}, "
                         f"got {pooling!r}")
    if groups not in (1, 2):
        raise ValueError(f"alexnet_layers: groups must be 2 (the paper's two GPUs) "
                         f"or 1 (one tower), got {groups!r}")


def alexnet_layers(num_classes: int = 1000, groups: int = 2,
                   pooling: str = "overlapping") -> list[LayerSpec]:
    """AlexNet's layers in order (§3.5, Figure 2); ``groups=1`` is one tower."""
    _check_layers_arguments(groups, pooling)
    z, s = POOLING[pooling]
    # §3.5: 96 11x11x3 kernels, stride 4; 256 5x5; 384 3x3; 384 3x3; 256 3x3; 4096;
    # 4096; 1000. §3.2: conv2, conv4 and conv5 see only the kernel maps of their own
    # GPU (groups=2); §3.3, §3.4: response normalization, then max pooling, after
    # conv1 and conv2.
    return [
        LayerSpec("conv1", "conv", 11, 4, 0, 96),
        LayerSpec("lrn1", "lrn"),
        LayerSpec("pool1", "pool", z, s),
        LayerSpec("conv2", "conv", 5, 1, 2, 256, groups),
        LayerSpec("lrn2", "lrn"),
        LayerSpec("pool2", "pool", z, s),
        LayerSpec("conv3", "conv", 3, 1, 1, 384),
        LayerSpec("conv4", "conv", 3, 1, 1, 384, groups),
        LayerSpec("conv5", "conv", 3, 1, 1, 256, groups),
        LayerSpec("pool5", "pool", z, s),
        LayerSpec("flatten", "flatten"),
        LayerSpec("fc6", "dense", filters=4096),
        LayerSpec("drop6", "dropout"),  # §4.2: dropout in the first two dense layers
        LayerSpec("fc7", "dense", filters=4096),
        LayerSpec("drop7", "dropout"),
        LayerSpec("fc8", "dense", filters=num_classes),
    ]


def _row(layer: LayerSpec, side: int, channels: int, features: int | None) -> dict:
    """Shapes and costs of one layer given its input; see ``layer_table``."""
    params = macs = 0
    if layer.kind == "conv":
        fan_in = layer.kernel * layer.kernel * channels // layer.groups
        params = fan_in * layer.filters + layer.filters
        macs = side * side * layer.filters * fan_in
        channels = layer.filters
    if layer.kind == "flatten":
        features = side * side * channels
    if layer.kind == "dense":
        params = features * layer.filters + layer.filters
        macs = features * layer.filters
        features = layer.filters
    output = (side, side, channels) if features is None else (features,)
    is_conv, k = layer.kind == "conv", layer.kernel
    return {"layer": layer.name, "type": layer.kind,
            "kernel": f"{k}×{k}/{layer.stride}" if k else "",
            "padding": layer.padding if is_conv else "",
            "groups": layer.groups if is_conv else "",
            "output": output, "parameters": params, "multiply_adds": macs,
            "activation_bytes": math.prod(output) * BYTES_PER_FLOAT32}


def layer_table(layers: Sequence[LayerSpec], input_size: int = 227) -> pd.DataFrame:
    """Shapes and costs of ``layers`` on an ``input_size`` x ``input_size`` x 3 input.

    One row per layer (indexed by name) with ``type``, ``kernel`` (e.g. ``"11x11/4"``),
    ``padding``, ``groups``, ``output`` (shape without the batch axis), ``parameters``,
    ``multiply_adds`` (per image) and ``activation_bytes`` (float32). Raises
    ``ValueError`` when the input is too small for some layer.
    """
    side, channels, features, rows = input_size, 3, None, []
    for layer in layers:
        if layer.kind in ("conv", "pool"):
            try:
                side = conv_output_size(side, layer.kernel, layer.stride, layer.padding)
            except ValueError as error:
                raise ValueError(f"input {input_size} is too small for layer "
                                 f"{layer.name} ({error}); use a larger input_size"
                                 ) from None
        rows.append(_row(layer, side, channels, features))
        channels = layer.filters if layer.kind == "conv" else channels
        output = rows[-1]["output"]
        features = output[0] if len(output) == 1 else None
    return pd.DataFrame(rows).set_index("layer")


def alexnet_table(input_size: int = 227, num_classes: int = 1000, groups: int = 2,
                  pooling: str = "overlapping") -> pd.DataFrame:
    """Layer-by-layer shapes and costs of AlexNet: ``layer_table(alexnet_layers(...))``.

    Input ``(input_size, input_size, 3)``; one row per layer, named as in
    ``build_alexnet``. Raises ``ValueError`` when the input is too small for some layer.
    """
    if num_classes < 1:
        raise ValueError(f"alexnet_table: num_classes must be positive, "
                         f"got {num_classes}")
    return layer_table(alexnet_layers(num_classes, groups, pooling), input_size)


@functools.cache
def minimum_input_size(pooling: str = "overlapping") -> int:
    """The smallest square input side for which every layer has at least one pixel."""
    size = 11  # conv1's kernel
    while True:
        try:
            alexnet_table(size, pooling=pooling)
            return size
        except ValueError:
            size += 1
