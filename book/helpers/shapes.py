"""Shape arithmetic: how big every AlexNet layer is, derived by hand rather than by building the model.

``conv_output_size`` is the floor formula every framework uses; ``alexnet_table`` walks
it through the whole network (§3.5, Figure 2) and adds up parameters, multiply-adds
and activation memory, for any input size and class count.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from helpers.layers import Padding

BYTES_PER_FLOAT32 = 4


def conv_output_size(n: int, kernel: int, stride: int = 1, padding: Padding = 0) -> int:
    """Output side of a convolution or pooling window sliding over ``n`` pixels.

    floor((n + 2 * padding - kernel) / stride) + 1 for an int ``padding`` (per side);
    ``"valid"`` is padding 0 and ``"same"`` gives ceil(n / stride), TensorFlow's rule.
    Raises ``ValueError`` when the kernel does not fit in the padded input.
    """
    if min(n, kernel, stride) < 1:
        raise ValueError(f"conv_output_size: n={n}, kernel={kernel} and stride={stride} must all be positive")
    if padding == "same":
        return -(-n // stride)
    pad = 0 if padding == "valid" else padding
    if not isinstance(pad, int) or pad < 0:
        raise ValueError(f"conv_output_size: padding must be 'valid', 'same' or a non-negative int, "
                         f"got {padding!r}")
    if kernel > n + 2 * pad:
        raise ValueError(f"conv_output_size: kernel {kernel} is larger than the padded input {n + 2 * pad} "
                         f"(n={n}, padding={pad}); use a larger input or more padding")
    return (n + 2 * pad - kernel) // stride + 1


@dataclass(frozen=True)
class _Layer:
    name: str
    kind: str  # conv | lrn | pool | flatten | dense | dropout
    kernel: int = 0
    stride: int = 1
    padding: int = 0
    filters: int = 0  # output channels (conv) or units (dense)
    groups: int = 1


def alexnet_layers(num_classes: int = 1000, groups: int = 2, pooling: str = "overlapping") -> list[_Layer]:
    """AlexNet's layers in order (§3.5, Figure 2), named like ``helpers.model.build_alexnet``."""
    # §3.4: overlapping pooling z=3, s=2; the traditional alternative is z=2, s=2
    pool = {"overlapping": (3, 2), "non_overlapping": (2, 2)}
    if pooling not in pool:
        raise ValueError(f"alexnet_layers: pooling must be one of {sorted(pool)}, got {pooling!r}")
    if groups not in (1, 2):
        raise ValueError(f"alexnet_layers: groups must be 2 (the paper's two GPUs) or 1 (one tower), "
                         f"got {groups!r}")
    z, s = pool[pooling]
    # §3.5: 96 11x11 kernels stride 4; 256 5x5; 384 3x3; 384 3x3; 256 3x3; 4096; 4096; 1000.
    # §3.2: conv2, conv4 and conv5 see only the kernel maps of their own GPU (groups=2).
    return [
        _Layer("conv1", "conv", 11, 4, 0, 96),
        _Layer("lrn1", "lrn"),
        _Layer("pool1", "pool", z, s),
        _Layer("conv2", "conv", 5, 1, 2, 256, groups),
        _Layer("lrn2", "lrn"),
        _Layer("pool2", "pool", z, s),
        _Layer("conv3", "conv", 3, 1, 1, 384),
        _Layer("conv4", "conv", 3, 1, 1, 384, groups),
        _Layer("conv5", "conv", 3, 1, 1, 256, groups),
        _Layer("pool5", "pool", z, s),
        _Layer("flatten", "flatten"),
        _Layer("fc6", "dense", filters=4096),
        _Layer("drop6", "dropout"),
        _Layer("fc7", "dense", filters=4096),
        _Layer("drop7", "dropout"),
        _Layer("fc8", "dense", filters=num_classes),
    ]


def alexnet_table(input_size: int = 227, num_classes: int = 1000, groups: int = 2,
                  pooling: str = "overlapping") -> pd.DataFrame:
    """Layer-by-layer shapes and costs of AlexNet on a ``input_size`` x ``input_size`` x 3 input.

    One row per layer (indexed by name, as in ``build_alexnet``) with columns ``type``,
    ``kernel`` (e.g. ``"11x11/4"``), ``padding``, ``output`` (a shape tuple without the batch axis),
    ``parameters`` (weights + biases), ``multiply_adds`` (per image) and ``activation_bytes``
    (the output of one image in float32). ``groups=2`` is the paper's two-GPU split, ``groups=1``
    a single tower; ``pooling`` is ``"overlapping"`` (3/2) or ``"non_overlapping"`` (2/2).
    Raises ``ValueError`` when the input is too small for some layer.
    """
    if num_classes < 1:
        raise ValueError(f"alexnet_table: num_classes must be positive, got {num_classes}")
    side, channels, features = input_size, 3, None
    rows = []
    for layer in alexnet_layers(num_classes, groups, pooling):
        params = macs = 0
        kernel = ""
        if layer.kind in ("conv", "pool"):
            try:
                side = conv_output_size(side, layer.kernel, layer.stride, layer.padding)
            except ValueError as error:
                raise ValueError(f"alexnet_table: input {input_size} is too small for layer {layer.name} "
                                 f"({error}); use a larger input_size") from None
            kernel = f"{layer.kernel}x{layer.kernel}/{layer.stride}"
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
        size = side * side * channels if features is None else features
        rows.append({
            "layer": layer.name, "type": layer.kind, "kernel": kernel,
            "padding": layer.padding if layer.kind == "conv" else "",
            "groups": layer.groups if layer.kind == "conv" else "",
            "output": output, "parameters": params, "multiply_adds": macs,
            "activation_bytes": size * BYTES_PER_FLOAT32,
        })
    return pd.DataFrame(rows).set_index("layer")
