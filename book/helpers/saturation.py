"""Saturating and non-saturating units (§3.1): how much gradient reaches early layers.

"In terms of training time with gradient descent, these saturating nonlinearities are
much slower than the non-saturating nonlinearity f(x) = max(0, x)" (§3.1).
``ACTIVATIONS`` holds each unit and its derivative in NumPy;
``gradient_norms_through_stack`` backpropagates through a deep stack of dense layers and
returns the gradient that reaches each layer: the mechanism behind Figure 1.

Taught in ``book/02_relu_vs_tanh.ipynb``; checked by
``tests/portable/test_saturation.py`` and ``tests/test_saturation_tf.py`` (against
TensorFlow's autodiff).
"""

from __future__ import annotations

import numpy as np

ACTIVATIONS = {
    "relu": (lambda z: np.maximum(z, 0.0), lambda z: (z > 0).astype(z.dtype)),
    "tanh": (np.tanh, lambda z: 1.0 - np.tanh(z) ** 2),
    "sigmoid": (lambda z: 1.0 / (1.0 + np.exp(-z)),
                lambda z: np.exp(-z) / (1.0 + np.exp(-z)) ** 2),
}
"""name -> (f, f'), NumPy, element-wise: the non-saturating ReLU and two saturating
units."""


def gradient_norms_through_stack(activation: str, depth: int = 20, width: int = 256,
                                 batch: int = 64, weight_std: float = 1.0,
                                 seed: int = 2012) -> np.ndarray:
    """Backpropagate through ``depth`` dense layers of ``activation``: the gradients.

    Weights are drawn N(0, weight_std**2 / width) (the same draws for every activation),
    inputs N(0, 1) of shape ``(batch, width)``, and the output gradient is all ones.
    Returns ``norms: (depth,)``, the root-mean-square gradient with respect to each
    layer's input, the first layer first: how much signal reaches the early layers.
    """
    if activation not in ACTIVATIONS:
        raise ValueError(f"gradient_norms_through_stack: unknown activation "
                         f"{activation!r}; use one of {sorted(ACTIVATIONS)}")
    f, df = ACTIVATIONS[activation]
    rng = np.random.default_rng(seed)
    weights = [rng.normal(0.0, weight_std / np.sqrt(width), (width, width))
               for _ in range(depth)]
    h, pre = rng.normal(size=(batch, width)), []
    for w in weights:
        pre.append(h @ w)
        h = f(pre[-1])
    grad, norms = np.ones_like(h), []
    for w, z in zip(reversed(weights), reversed(pre), strict=True):
        grad = (grad * df(z)) @ w.T
        norms.append(float(np.sqrt(np.mean(grad ** 2))))
    return np.asarray(norms[::-1])
