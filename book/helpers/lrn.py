"""Local response normalization (§3.3) as a Keras layer, written with ``keras.ops``.

The paper normalizes each activity by the activities of the ``n`` neighbouring kernel
maps at the same position,

    b[x, y, i] = a[x, y, i] / (k + alpha * sum_j a[x, y, j]**2) ** beta,
    j = max(0, i - n/2) ... min(N - 1, i + n/2),

with ``k=2, n=5, alpha=1e-4, beta=0.75``; ``alpha`` multiplies the sum itself (it is
*not* divided by ``n`` as in Caffe and PyTorch). The window sum is one matrix product
with a band matrix (``band[j, i] = 1`` when ``|i - j| <= n // 2``): it runs on every
backend and has a gradient for free.

Under mixed precision the layer computes in float32 and returns the policy's compute
dtype: squares of float16 activations overflow above 256, and bfloat16's 8 bits of
mantissa would lose ``alpha`` times a small window sum next to ``k``.

Taught in ``book/04_local_response_normalization.ipynb``; checked by
``tests/portable/test_lrn.py`` (against ``helpers.layers.lrn_loop`` and
``helpers.layers.local_response_normalization``, on every backend) and
``tests/test_lrn_tf.py`` (against ``tf.nn.local_response_normalization``).
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import ops

from helpers.layers import PAPER_ALPHA, PAPER_BETA, PAPER_K, PAPER_N


def band_matrix(channels: int, n: int = PAPER_N) -> np.ndarray:
    """``(C, C)`` float32 band: 1 where channels ``i``, ``j`` are <= ``n // 2`` apart.

    ``squares @ band`` sums, for every channel, the ``n`` squares centred on it.
    """
    index = np.arange(channels)
    return (np.abs(index[:, None] - index[None, :]) <= n // 2).astype(np.float32)


def _check(k: float, n: int, beta: float) -> None:
    if not isinstance(n, int) or n < 1 or n % 2 == 0:
        raise ValueError(f"LocalResponseNormalization: n must be a positive odd int "
                         f"(the window is centred on each channel), got {n!r}; the "
                         "paper uses n=5")
    if k <= 0 and beta != 0:
        raise ValueError(f"LocalResponseNormalization: k must be > 0 so that the "
                         f"denominator is never 0, got k={k}; the paper uses k=2")


@keras.saving.register_keras_serializable(package="alexnet")
class LocalResponseNormalization(keras.layers.Layer):
    """Across-channel LRN of §3.3 (channels last): ``(N, H, W, C) -> (N, H, W, C)``.

    ``k`` (TensorFlow's ``bias``), ``n`` (odd; TensorFlow's ``depth_radius`` is
    ``n // 2``), ``alpha`` (not divided by ``n``) and ``beta`` default to the paper's
    values. The layer has no weights.
    """

    def __init__(self, k: float = PAPER_K, n: int = PAPER_N, alpha: float = PAPER_ALPHA,
                 beta: float = PAPER_BETA, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        _check(k, n, beta)
        self.k, self.n, self.alpha, self.beta = float(k), n, float(alpha), float(beta)

    def build(self, input_shape: tuple) -> None:
        if len(input_shape) != 4:
            raise ValueError(f"LocalResponseNormalization expects (N, H, W, C) inputs, "
                             f"got shape {tuple(input_shape)}; put it after a Conv2D")
        self.band = band_matrix(int(input_shape[-1]), self.n)

    def call(self, inputs: Any) -> Any:
        a = ops.cast(inputs, "float32")  # float16 overflows; bfloat16 is too coarse
        window_sum = ops.matmul(ops.square(a), self.band)  # sum over the n nearby maps
        b = a / ops.power(self.k + self.alpha * window_sum, self.beta)
        return ops.cast(b, self.compute_dtype)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "k": self.k, "n": self.n, "alpha": self.alpha,
                "beta": self.beta}
