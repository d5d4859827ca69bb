"""helpers.saturation against TensorFlow: the gradient through a stack, by autodiff.

The backend-neutral tests of the module are in ``tests/portable/test_saturation.py``.
"""

from __future__ import annotations

import numpy as np
from helpers.saturation import gradient_norms_through_stack


def test_gradient_norms_match_tensorflow_autodiff():
    import tensorflow as tf

    depth, width, batch = 4, 8, 3
    rng = np.random.default_rng(2012)  # the same draws the helper makes
    weights = [tf.constant(rng.normal(0.0, 1.0 / np.sqrt(width), (width, width)))
               for _ in range(depth)]
    inputs = [tf.constant(rng.normal(size=(batch, width)))]
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(inputs[0])
        for w in weights:
            inputs.append(tf.tanh(inputs[-1] @ w))
            tape.watch(inputs[-1])
        total = tf.reduce_sum(inputs[-1])
    expected = [float(tf.sqrt(tf.reduce_mean(tape.gradient(total, h) ** 2)))
                for h in inputs[:-1]]
    got = gradient_norms_through_stack("tanh", depth=depth, width=width, batch=batch)
    np.testing.assert_allclose(got, expected, rtol=1e-10)
