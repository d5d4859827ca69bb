"""AlexNet (§3, Figure 2) as one Keras builder with options instead of copies.

``build_alexnet()`` with its defaults is the network of the paper: a 227x227x3
input, five convolutions and three fully connected layers, ReLU everywhere,
local response normalization after the first two convolutions, overlapping max
pooling, the two-GPU split written as grouped convolutions, dropout in the two
hidden fully connected layers and the paper's initialisation. It has
60,965,224 parameters for 1000 classes (62,378,344 as one tower).

The model takes mean-subtracted float32 images ``(B, S, S, 3)`` and returns the
logits of the layer named ``fc8`` (float32 even under mixed precision); the
softmax belongs to the loss (``from_logits=True``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import keras

from helpers.lrn import LocalResponseNormalization

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

Variant = Literal["paper", "single_tower", "modern"]
Normalization = Literal["lrn", "batchnorm", "none"]
Pooling = Literal["overlapping", "non_overlapping"]

VARIANTS: tuple[str, ...] = ("paper", "single_tower", "modern")
NORMALIZATIONS: tuple[str, ...] = ("lrn", "batchnorm", "none")
POOLINGS: tuple[str, ...] = ("overlapping", "non_overlapping")

# §3.4: pooling windows of z=3 pixels every s=2 pixels overlap; s=z=2 is the
# traditional, non-overlapping pooling the paper compares against.
POOL_SIZE_STRIDE: dict[str, tuple[int, int]] = {"overlapping": (3, 2), "non_overlapping": (2, 2)}

# §3.5 and Figure 2: (name, kernels, kernel size, stride, padding, groups in the
# paper's two-tower network). conv2, conv4 and conv5 only see the kernel maps
# on their own GPU; conv3 sees both.
CONV_LAYERS: tuple[tuple[str, int, int, int, str, int], ...] = (
    ("conv1", 96, 11, 4, "valid", 1),
    ("conv2", 256, 5, 1, "same", 2),
    ("conv3", 384, 3, 1, "same", 1),
    ("conv4", 384, 3, 1, "same", 2),
    ("conv5", 256, 3, 1, "same", 2),
)
HIDDEN_UNITS = 4096  # §3.5: "The fully-connected layers have 4096 neurons each."

# §5: "neuron biases in the second, fourth, and fifth convolutional layers, as well
# as in the fully-connected hidden layers, with the constant 1 ... This
# initialization accelerates the early stages of learning by providing the ReLUs
# with positive inputs." All weights: zero-mean Gaussian, standard deviation 0.01.
PAPER_WEIGHT_STD = 0.01
PAPER_BIAS_ONE = frozenset({"conv2", "conv4", "conv5", "fc6", "fc7"})


def _output_size(size: int, kernel: int, stride: int, padding: str) -> int:
    """Side of a convolution or pooling output (floor division, as Keras does)."""
    if padding == "same":
        return -(-size // stride)
    return (size - kernel) // stride + 1


def minimum_input_size(pooling: Pooling = "overlapping") -> int:
    """The smallest square input for which every layer still has at least one pixel."""
    size = 11
    while _final_feature_size(size, pooling) < 1:
        size += 1
    return size


def _final_feature_size(input_size: int, pooling: str) -> int:
    """Side of pool5's output for an ``input_size`` x ``input_size`` image."""
    pool, pool_stride = POOL_SIZE_STRIDE[pooling]
    size = input_size
    for name, _, kernel, stride, padding, _ in CONV_LAYERS:
        size = _output_size(size, kernel, stride, padding)
        if name in ("conv1", "conv2", "conv5"):
            if size < pool:
                return 0
            size = _output_size(size, pool, pool_stride, "valid")
    return size


def _initializers(name: str, variant: str) -> dict[str, keras.initializers.Initializer]:
    """Kernel and bias initialisers for one layer (a fresh instance per layer)."""
    if variant == "modern":
        return {
            "kernel_initializer": keras.initializers.HeNormal(),
            "bias_initializer": keras.initializers.Zeros(),
        }
    bias = keras.initializers.Ones() if name in PAPER_BIAS_ONE else keras.initializers.Zeros()
    return {
        "kernel_initializer": keras.initializers.RandomNormal(mean=0.0, stddev=PAPER_WEIGHT_STD),
        "bias_initializer": bias,
    }


def _normalization_layer(kind: str, index: int) -> keras.layers.Layer | None:
    if kind == "lrn":
        return LocalResponseNormalization(name=f"lrn{index}")  # §3.3: k=2, n=5, alpha=1e-4, beta=0.75
    if kind == "batchnorm":
        return keras.layers.BatchNormalization(name=f"bn{index}")
    return None


def build_alexnet(
    num_classes: int = 1000,
    input_size: int = 227,
    variant: Variant = "paper",
    *,
    normalization: Normalization | None = None,
    pooling: Pooling = "overlapping",
    dropout_rate: float = 0.5,
    name: str | None = None,
) -> keras.Model:
    """Build AlexNet as a functional Keras model.

    Args:
        num_classes: units of ``fc8`` (1000 for ILSVRC).
        input_size: side ``S`` of the square input; 227 makes conv1's 11x11/4 windows tile
            the image exactly (55x55 outputs). Smaller inputs (at least
            ``minimum_input_size(pooling)``) keep every layer and shrink fc6.
        variant: ``"paper"`` (groups=2 in conv2, conv4, conv5; LRN; N(0, 0.01) weights, biases
            1 in conv2/4/5, fc6, fc7), ``"single_tower"`` (the same without groups) or
            ``"modern"`` (one tower, batch normalization where LRN was, He initialisation,
            zero biases).
        normalization: overrides the variant's normalization: ``"lrn"``, ``"batchnorm"`` or ``"none"``.
        pooling: ``"overlapping"`` (3x3 windows, stride 2, §3.4) or ``"non_overlapping"`` (2x2, stride 2).
        dropout_rate: rate of ``drop6`` and ``drop7`` (§4.2: 0.5).
        name: the model's name (default ``alexnet_<variant>``).

    Returns:
        A model mapping ``(B, S, S, 3)`` float32 images to ``(B, num_classes)`` float32 logits.
        Layer names: conv1, lrn1|bn1, pool1, conv2, lrn2|bn2, pool2, conv3, conv4, conv5, pool5,
        flatten, fc6, drop6, fc7, drop7, fc8.
    """
    if variant not in VARIANTS:
        raise ValueError(f"build_alexnet: unknown variant {variant!r}; use one of {', '.join(VARIANTS)}")
    normalization = normalization or ("batchnorm" if variant == "modern" else "lrn")
    if normalization not in NORMALIZATIONS:
        raise ValueError(
            f"build_alexnet: unknown normalization {normalization!r}; use one of {', '.join(NORMALIZATIONS)}"
        )
    if pooling not in POOLINGS:
        raise ValueError(f"build_alexnet: unknown pooling {pooling!r}; use one of {', '.join(POOLINGS)}")
    if not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"build_alexnet: num_classes must be a positive int, got {num_classes!r}")
    if not 0.0 <= dropout_rate < 1.0:
        raise ValueError(f"build_alexnet: dropout_rate must be in [0, 1), got {dropout_rate!r}")
    smallest = minimum_input_size(pooling)
    if not isinstance(input_size, int) or input_size < smallest:
        raise ValueError(
            f"build_alexnet: input_size {input_size!r} is too small for five convolutions and three "
            f"poolings; use at least {smallest} (the paper uses 227)"
        )

    pool_size, pool_stride = POOL_SIZE_STRIDE[pooling]
    inputs = keras.Input(shape=(input_size, input_size, 3), name="image")
    x = inputs
    for index, (layer_name, filters, kernel, stride, padding, paper_groups) in enumerate(CONV_LAYERS, 1):
        groups = paper_groups if variant == "paper" else 1
        x = keras.layers.Conv2D(
            filters, kernel, strides=stride, padding=padding, groups=groups, activation="relu",
            name=layer_name, **_initializers(layer_name, variant),
        )(x)
        if index in (1, 2):  # §3.3: normalization after the ReLU of conv1 and conv2
            layer = _normalization_layer(normalization, index)
            x = layer(x) if layer is not None else x
        if index in (1, 2, 5):  # §3.5: max pooling after conv1, conv2 and conv5
            x = keras.layers.MaxPooling2D(pool_size, strides=pool_stride, name=f"pool{index}")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    for index in (6, 7):
        x = keras.layers.Dense(HIDDEN_UNITS, activation="relu", name=f"fc{index}",
                               **_initializers(f"fc{index}", variant))(x)
        x = keras.layers.Dropout(dropout_rate, name=f"drop{index}")(x)  # §4.2
    # Logits in float32 even under a mixed-precision policy, so the softmax in the loss is stable.
    outputs = keras.layers.Dense(num_classes, name="fc8", dtype="float32", **_initializers("fc8", variant))(x)
    return keras.Model(inputs, outputs, name=name or f"alexnet_{variant}")


def feature_extractor(model: keras.Model, layer: str = "fc7") -> keras.Model:
    """A model from ``model``'s input to the output of ``layer`` (default: the 4096-d fc7 features, §6.1)."""
    return keras.Model(model.input, model.get_layer(layer).output, name=f"{model.name}_{layer}")


def layer_costs(model: keras.Model) -> pd.DataFrame:
    """Parameters and multiply-adds of each weighted layer, read from a built model.

    Multiply-adds per image: a convolution does ``H_out * W_out * F * kh * kw * C_in / groups``,
    a dense layer ``inputs * units``; pooling, normalization and ReLU are not counted
    (they do no multiply-adds, and their other work is small beside the convolutions').

    Returns a DataFrame indexed by layer name with columns ``kind`` ("conv" or "fc"),
    ``output`` (shape without the batch axis), ``parameters``, ``multiply_adds`` (the column names
    of ``helpers.shapes.alexnet_table``), and the shares ``parameters_pct`` and ``multiply_adds_pct``
    of the model's totals.
    """
    import pandas as pd

    rows = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            kh, kw, c_per_group, filters = layer.kernel.shape
            _, h_out, w_out, _ = layer.output.shape
            rows.append((layer.name, "conv", tuple(layer.output.shape[1:]), layer.count_params(),
                         h_out * w_out * filters * kh * kw * c_per_group))
        elif isinstance(layer, keras.layers.Dense):
            n_in, units = layer.kernel.shape
            rows.append((layer.name, "fc", tuple(layer.output.shape[1:]), layer.count_params(), n_in * units))
    columns = ["layer", "kind", "output", "parameters", "multiply_adds"]
    table = pd.DataFrame(rows, columns=columns).set_index("layer")
    table["parameters_pct"] = 100 * table["parameters"] / model.count_params()
    table["multiply_adds_pct"] = 100 * table["multiply_adds"] / table["multiply_adds"].sum()
    return table


def numpy_forward(model: keras.Model, images: np.ndarray) -> np.ndarray:
    """Run ``model`` at inference time with the NumPy layers of ``helpers.layers`` and its weights.

    ``images: (N, S, S, 3)`` -> logits ``(N, num_classes)`` in float64. Dropout is the identity at
    inference (the weights already hold the trained scale, as Keras' inverted dropout
    arranges); batch normalization uses its moving statistics. Raises ``ValueError`` for a
    layer type it does not know.
    """
    import numpy as np

    from helpers import layers as L

    x = np.asarray(images, dtype=np.float64)
    for layer in model.layers:
        if isinstance(layer, (keras.layers.InputLayer, keras.layers.Dropout)):
            continue
        weights = [np.asarray(w, dtype=np.float64) for w in layer.get_weights()]
        if isinstance(layer, keras.layers.Conv2D):
            x = L.conv2d(x, weights[0], weights[1], stride=layer.strides[0], padding=layer.padding,
                         groups=layer.groups)
        elif isinstance(layer, keras.layers.Dense):
            x = L.dense(x, weights[0], weights[1])
        elif isinstance(layer, LocalResponseNormalization):
            x = L.local_response_normalization(x, k=layer.k, n=layer.n, alpha=layer.alpha, beta=layer.beta)
        elif isinstance(layer, keras.layers.BatchNormalization):
            gamma, beta, mean, variance = weights
            x = gamma * (x - mean) / np.sqrt(variance + layer.epsilon) + beta
        elif isinstance(layer, keras.layers.MaxPooling2D):
            x = L.max_pool2d(x, size=layer.pool_size[0], stride=layer.strides[0], padding=layer.padding)
        elif isinstance(layer, keras.layers.Flatten):
            x = x.reshape(len(x), -1)  # channels last, row-major: the order Keras flattens in
        else:
            raise ValueError(
                f"numpy_forward: no NumPy version of layer {layer.name!r} ({type(layer).__name__}); "
                "run it with Keras instead"
            )
        if getattr(layer, "activation", None) is keras.activations.relu:
            x = L.relu(x)
    return x
