"""AlexNet's layers from scratch in NumPy: the reference Keras is checked against.

Every function takes batched NHWC arrays (``x: (N, H, W, C)``) of float32 or float64,
uses the TensorFlow/Keras kernel layout (``w: (kh, kw, C / groups, F)``) and is
vectorized: no Python loop runs over pixels or channels. ``conv2d_loop`` is the one
exception, kept on purpose: it reads like the paper's description (one dot product
per output pixel and kernel) and shows how much the vectorized version buys; so is
``lrn_loop``, the paper's LRN formula one channel at a time.

Taught in ``book/03_convolution_shapes.ipynb`` (convolution, pooling, dense, softmax),
``book/04_local_response_normalization.ipynb`` (LRN) and ``book/05_dropout.ipynb``
(dropout); checked by ``tests/test_layers_tf.py`` (against TensorFlow) and
``tests/portable/test_layers.py`` (against Keras, on every backend).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from helpers.shapes import conv_output_size

Padding = Literal["valid", "same"] | int | tuple[int, int]


# ------------------------------------------------------------------ argument checks


def _check_rank(name: str, array: np.ndarray, rank: int, layout: str) -> None:
    if array.ndim != rank:
        raise ValueError(f"{name}: expected a rank-{rank} array {layout}, got shape "
                         f"{array.shape}; add a batch axis with x[None] if you pass a "
                         "single image")


def _check_bias(name: str, b: np.ndarray | None, units: int, w_shape: tuple) -> None:
    if b is not None and np.shape(b) != (units,):
        raise ValueError(f"{name}: bias shape {np.shape(b)} does not match the {units} "
                         f"kernels or units of w {w_shape}; pass b of shape ({units},)")


def _check_conv(x: np.ndarray, w: np.ndarray, b: np.ndarray | None,
                groups: int) -> None:
    """Raise a ``ValueError`` naming the shapes when ``conv2d``'s arguments disagree."""
    _check_rank("conv2d", x, 4, "x: (N, H, W, C)")
    _check_rank("conv2d", w, 4, "w: (kh, kw, C / groups, F)")
    channels, (_, _, per_group, filters) = x.shape[3], w.shape
    if (not isinstance(groups, (int, np.integer)) or groups < 1 or channels % groups
            or filters % groups):
        raise ValueError(f"conv2d: groups={groups!r} must be a positive int dividing "
                         f"both the input channels ({channels}, x shape {x.shape}) "
                         f"and the kernels ({filters}, w shape {w.shape})")
    if per_group * groups != channels:
        raise ValueError(f"conv2d: channel mismatch: x has {channels} channels (shape "
                         f"{x.shape}) but w expects {per_group} x groups={groups} = "
                         f"{per_group * groups} (shape {w.shape}); w must be "
                         "(kh, kw, C / groups, F)")
    _check_bias("conv2d", b, filters, w.shape)


def _check_pool(x: np.ndarray, size: int, padding: str) -> None:
    """Raise a ``ValueError`` naming the argument when ``max_pool2d``'s are wrong."""
    _check_rank("max_pool2d", x, 4, "x: (N, H, W, C)")
    if not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"max_pool2d: size must be a positive int, got {size!r}")
    if padding not in ("valid", "same"):
        raise ValueError(f"max_pool2d: padding must be 'valid' or 'same', "
                         f"got {padding!r}")


def _check_dropout(rate: float, scale_at: str) -> None:
    """Raise a ``ValueError`` naming the argument when ``dropout``'s are wrong."""
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"dropout: rate must be in [0, 1), got {rate!r}")
    if scale_at not in ("train", "test"):
        raise ValueError(f"dropout: scale_at must be 'train' (inverted) or 'test' (the "
                         f"paper's), got {scale_at!r}")


def _as_float(*arrays: np.ndarray) -> list[np.ndarray]:
    dtype = np.result_type(*arrays, np.float32)
    return [np.asarray(a, dtype=dtype) for a in arrays]


# ------------------------------------------------------------------ padding and windows


def _pad_amounts(size: int, kernel: int, stride: int, padding: Padding,
                 axis: int) -> tuple[int, int]:
    """(before, after) padding of one spatial axis, the way TensorFlow computes it."""
    if padding == "valid":
        return 0, 0
    if padding == "same":  # TF: output ceil(size / stride), the odd pixel goes after
        out = conv_output_size(size, kernel, stride, "same")
        total = max((out - 1) * stride + kernel - size, 0)
        return total // 2, total - total // 2
    if isinstance(padding, str):
        raise ValueError(f"padding must be 'valid', 'same', an int or a pair of ints, "
                         f"got {padding!r}")
    amount = padding if isinstance(padding, (int, np.integer)) else padding[axis]
    if amount < 0:
        raise ValueError(f"padding must be non-negative, got {padding!r}")
    return int(amount), int(amount)


def _pad_spatial(name: str, x: np.ndarray, kh: int, kw: int, stride: int,
                 padding: Padding, fill: float = 0.0) -> np.ndarray:
    """``x`` padded as ``padding`` says; raises when the kernel does not fit."""
    if not isinstance(stride, (int, np.integer)) or stride < 1:
        raise ValueError(f"{name}: stride must be a positive int, got {stride!r}")
    if not isinstance(padding, (str, int, np.integer)) and len(padding) != 2:
        raise ValueError(f"{name}: padding must be 'valid', 'same', an int or a pair "
                         f"(ph, pw), got {padding!r}")
    top, bottom = _pad_amounts(x.shape[1], kh, stride, padding, 0)
    left, right = _pad_amounts(x.shape[2], kw, stride, padding, 1)
    if top or bottom or left or right:
        x = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)),
                   constant_values=fill)
    if kh > x.shape[1] or kw > x.shape[2]:
        raise ValueError(f"{name}: kernel {kh}x{kw} is larger than the padded input "
                         f"{x.shape[1]}x{x.shape[2]} (input shape {x.shape}); "
                         "use padding='same' or a larger input")
    return x


def _windows(x: np.ndarray, kh: int, kw: int, stride: int) -> np.ndarray:
    """View of every (kh, kw) window: (N, H_out, W_out, C, kh, kw), no copy."""
    return sliding_window_view(x, (kh, kw), axis=(1, 2))[:, ::stride, ::stride]


# ------------------------------------------------------------------ the layers


def conv2d(x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None, stride: int = 1,
           padding: Padding = "valid", groups: int = 1) -> np.ndarray:
    """2-D convolution (cross-correlation, as every framework computes it).

    x: (N, H, W, C); w: (kh, kw, C / groups, F); b: (F,) or None.
    ``padding``: ``"valid"`` (none), ``"same"`` (TensorFlow's rule: output
    ceil(H / stride)), an int (that many zeros on every side) or ``(ph, pw)``.
    ``groups`` splits the channels and the kernels into that many independent towers,
    as AlexNet's two GPUs do (§3.2): kernels ``g*F/groups ... (g+1)*F/groups - 1`` see
    only input channel group ``g``, the order of ``keras.layers.Conv2D(groups=...)``.
    Returns (N, H_out, W_out, F), H_out = floor((H + pads - kh) / stride) + 1.
    """
    x, w = np.asarray(x), np.asarray(w)
    _check_conv(x, w, b, groups)
    kh, kw, per_group, filters = w.shape
    x, w = _as_float(x, w)
    x = _pad_spatial("conv2d", x, kh, kw, stride, padding)
    windows = _windows(x, kh, kw, stride)  # (N, Ho, Wo, C, kh, kw), a view
    n, ho, wo = windows.shape[:3]
    # im2col: one row of C/groups*kh*kw numbers per output pixel and group ...
    rows = np.ascontiguousarray(windows).reshape(n * ho * wo, groups, -1)
    # ... laid out (channel, kh, kw) like the windows, one kernel matrix per group ...
    kernels = w.reshape(kh, kw, per_group, groups, filters // groups)
    kernels = kernels.transpose(3, 2, 0, 1, 4).reshape(groups, -1, filters // groups)
    # ... and one matrix product per group: (G, N*Ho*Wo, F/G).
    out = np.matmul(rows.transpose(1, 0, 2), kernels)
    out = out.transpose(1, 0, 2).reshape(n, ho, wo, filters)
    return out if b is None else out + np.asarray(b, dtype=out.dtype)


def conv2d_loop(x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None,
                stride: int = 1) -> np.ndarray:
    """The textbook convolution: one dot product per image, output pixel and kernel.

    x: (N, H, W, C); w: (kh, kw, C, F); b: (F,) or None; no padding, no groups.
    Returns (N, H_out, W_out, F). For teaching and benchmarks only: it is hundreds of
    times slower than ``conv2d``.
    """
    kh, kw, _, filters = w.shape
    n, h, width, _ = x.shape
    h_out, w_out = conv_output_size(h, kh, stride), conv_output_size(width, kw, stride)
    out = np.zeros((n, h_out, w_out, filters), dtype=np.result_type(x, w))
    for image in range(n):
        for i in range(h_out):
            for j in range(w_out):
                patch = x[image, i * stride:i * stride + kh, j * stride:j * stride + kw]
                for f in range(filters):
                    bias = 0 if b is None else b[f]
                    out[image, i, j, f] = np.sum(patch * w[:, :, :, f]) + bias
    return out


def max_pool2d(x: np.ndarray, size: int = 3, stride: int = 2,
               padding: Literal["valid", "same"] = "valid") -> np.ndarray:
    """Max pooling over ``size`` x ``size`` windows every ``stride`` pixels.

    x: (N, H, W, C) -> (N, H_out, W_out, C), like ``tf.nn.max_pool2d``. §3.4: AlexNet
    pools with z=3, s=2, so neighbouring windows overlap; z=2, s=2 is the traditional
    non-overlapping pooling. ``"same"`` pads with -inf, so padding never wins the max.
    """
    x = np.asarray(x)
    _check_pool(x, size, padding)
    (x,) = _as_float(x)
    x = _pad_spatial("max_pool2d", x, size, size, stride, padding, fill=-np.inf)
    return _windows(x, size, size, stride).max(axis=(-2, -1))


def dense(x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
    """Fully connected layer ``x @ w + b``, like ``keras.layers.Dense`` (no activation).

    x: (N, D); w: (D, U); b: (U,) or None. Returns (N, U).
    """
    x, w = np.asarray(x), np.asarray(w)
    _check_rank("dense", x, 2,
                "x: (N, D); flatten feature maps with x.reshape(len(x), -1)")
    _check_rank("dense", w, 2, "w: (D, U)")
    if x.shape[1] != w.shape[0]:
        raise ValueError(f"dense: x has {x.shape[1]} features (shape {x.shape}) but w "
                         f"expects {w.shape[0]} (shape {w.shape})")
    _check_bias("dense", b, w.shape[1], w.shape)
    x, w = _as_float(x, w)
    out = x @ w
    return out if b is None else out + np.asarray(b, dtype=out.dtype)


def relu(x: np.ndarray) -> np.ndarray:
    """Rectified linear unit max(0, x) (§3.1), elementwise: same shape and dtype."""
    x = np.asarray(x)
    return np.maximum(x, np.zeros((), dtype=x.dtype))


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Softmax along ``axis`` (e.g. logits (N, classes) -> probabilities (N, classes)).

    Subtracting the maximum first changes nothing mathematically but keeps ``exp``
    from overflowing on large logits.
    """
    (x,) = _as_float(np.asarray(x))
    shifted = np.exp(x - x.max(axis=axis, keepdims=True))
    return shifted / shifted.sum(axis=axis, keepdims=True)


def dropout(x: np.ndarray, rate: float, rng: np.random.Generator, training: bool,
            scale_at: Literal["train", "test"] = "train") -> np.ndarray:
    """Dropout: zero each unit with probability ``rate`` while training; same shape.

    ``scale_at="train"`` is inverted dropout (Keras): kept units are divided by
    1 - rate during training and the layer is the identity at test time.
    ``scale_at="test"`` is the paper's variant (§4.2): training keeps units unscaled
    and test time multiplies every output by 1 - rate (0.5 in the paper). Both give the
    same expected activation.
    """
    _check_dropout(rate, scale_at)
    (x,) = _as_float(np.asarray(x))
    if not training:
        return x if scale_at == "train" else x * x.dtype.type(1.0 - rate)
    keep = rng.random(x.shape) >= rate
    kept = np.where(keep, x, x.dtype.type(0))
    return kept / x.dtype.type(1.0 - rate) if scale_at == "train" else kept


# §3.3: k=2, n=5, alpha=1e-4, beta=0.75 ("determined using a validation set").
PAPER_K = 2.0
PAPER_N = 5
PAPER_ALPHA = 1e-4
PAPER_BETA = 0.75


def _check_lrn(x: np.ndarray, n: int) -> None:
    _check_rank("local_response_normalization", x, 4, "x: (N, H, W, C)")
    if not isinstance(n, (int, np.integer)) or n < 1 or n % 2 == 0:
        raise ValueError(f"local_response_normalization: n must be a positive odd int "
                         f"(a window centred on each channel), got {n!r}; the paper "
                         "uses n=5")


def local_response_normalization(x: np.ndarray, k: float = PAPER_K, n: int = PAPER_N,
                                 alpha: float = PAPER_ALPHA,
                                 beta: float = PAPER_BETA) -> np.ndarray:
    """Local response normalization across channels, §3.3's formula, vectorized.

    x: (N, H, W, C) -> same shape. b[..., i] = a[..., i] / (k + alpha * sum_j
    a[..., j]**2) ** beta, the sum over the ``n`` channels j centred on i (fewer at the
    edges). alpha is NOT divided by n (Caffe and PyTorch do that). Equals
    ``tf.nn.local_response_normalization(x, depth_radius=n // 2, bias=k, alpha=alpha,
    beta=beta)``.
    """
    x = np.asarray(x)
    _check_lrn(x, n)
    (x,) = _as_float(x)
    # Pad the channel axis with n // 2 zeros on each side, then sum every window of n
    # squares.
    squares = np.pad(x * x, ((0, 0), (0, 0), (0, 0), (n // 2, n // 2)))
    window_sum = sliding_window_view(squares, n, axis=-1).sum(axis=-1)  # (N, H, W, C)
    return x / (k + alpha * window_sum) ** beta


def lrn_loop(a: np.ndarray, k: float = PAPER_K, n: int = PAPER_N,
             alpha: float = PAPER_ALPHA, beta: float = PAPER_BETA) -> np.ndarray:
    """§3.3's formula read literally, one channel at a time: a: (N, H, W, C) -> same.

    The sum runs over channels ``max(0, i - n // 2) ... min(C - 1, i + n // 2)``.
    """
    channels, b = a.shape[-1], np.empty_like(a)
    for i in range(channels):
        lo, hi = max(0, i - n // 2), min(channels - 1, i + n // 2)
        window = (a[..., lo:hi + 1] ** 2).sum(axis=-1)  # the n maps around map i
        b[..., i] = a[..., i] / (k + alpha * window) ** beta
    return b


def relative_error(actual: np.ndarray, expected: np.ndarray) -> float:
    """Largest absolute difference / the reference's largest magnitude (any shape).

    0 for equal arrays; when the reference is all zeros, the largest ``|actual|``.
    """
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    if actual.shape != expected.shape:
        raise ValueError(f"relative_error: shapes differ, {actual.shape} vs "
                         f"{expected.shape}; compare arrays of the same shape")
    scale = np.max(np.abs(expected))
    difference = np.max(np.abs(actual - expected))
    return float(difference / scale) if scale else float(np.max(np.abs(actual)))
