"""Local response normalization (§3.3) as a Keras layer that saves and loads.

The paper normalizes each activity by the activities of the ``n`` neighbouring
kernel maps at the same position:

    b[x, y, i] = a[x, y, i] / (k + alpha * sum_{j=max(0, i-n/2)}^{min(N-1, i+n/2)} a[x, y, j]**2) ** beta

with ``k=2, n=5, alpha=1e-4, beta=0.75``. Note that ``alpha`` multiplies the sum
itself (it is *not* divided by ``n`` as in some later libraries), which is exactly
what ``tf.nn.local_response_normalization`` computes with ``depth_radius = n // 2``
and ``bias = k``. The layer therefore delegates to that fused kernel, which has a
gradient, an XLA implementation and a GPU implementation.

Under mixed precision (``keras.mixed_precision.set_global_policy("mixed_float16")``)
the layer computes in float32 and returns the policy's compute dtype: the squares
of float16 activations overflow above 256, and the sum of five of them loses
digits, so the normalization is done at full precision and only the result is
rounded.
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

# §3.3: k=2, n=5, alpha=1e-4, beta=0.75 ("determined using a validation set").
PAPER_K = 2.0
PAPER_N = 5
PAPER_ALPHA = 1e-4
PAPER_BETA = 0.75


@keras.saving.register_keras_serializable(package="alexnet")
class LocalResponseNormalization(keras.layers.Layer):
    """Across-channel local response normalization of §3.3 (channels last).

    Args:
        k: additive constant in the denominator (the paper's ``k``, TensorFlow's ``bias``).
        n: number of adjacent kernel maps summed over, odd (the window is ``n // 2`` on each side).
        alpha: scale of the sum of squares (not divided by ``n``).
        beta: exponent of the denominator.

    Call: ``x: (N, H, W, C)`` -> ``(N, H, W, C)``, same dtype as the layer's compute dtype.
    The layer has no weights.
    """

    def __init__(
        self,
        k: float = PAPER_K,
        n: int = PAPER_N,
        alpha: float = PAPER_ALPHA,
        beta: float = PAPER_BETA,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not isinstance(n, int) or n < 1 or n % 2 == 0:
            raise ValueError(
                f"LocalResponseNormalization: n must be a positive odd int (the window is centred "
                f"on each channel), got {n!r}; the paper uses n=5"
            )
        if k <= 0 and beta != 0:
            raise ValueError(
                f"LocalResponseNormalization: k must be > 0 so the denominator is never 0, got k={k}"
            )
        self.k = float(k)
        self.n = n
        self.alpha = float(alpha)
        self.beta = float(beta)

    def call(self, inputs: Any) -> Any:
        if len(inputs.shape) != 4:
            raise ValueError(
                f"LocalResponseNormalization expects (N, H, W, C) inputs, got shape {tuple(inputs.shape)}; "
                "put it after a Conv2D layer (channels last)"
            )
        x = tf.cast(inputs, tf.float32)
        y = tf.nn.local_response_normalization(
            x, depth_radius=self.n // 2, bias=self.k, alpha=self.alpha, beta=self.beta
        )
        return tf.cast(y, self.compute_dtype)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "k": self.k, "n": self.n, "alpha": self.alpha, "beta": self.beta}
