"""helpers.experiments against TensorFlow: the gradient through a stack, by autodiff.

The backend-neutral tests of the module are in ``tests/portable/test_experiments.py``.
"""

from __future__ import annotations

import numpy as np
from helpers.experiments import gradient_norms_through_stack


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


def test_small_cnn_logits_match_a_tensorflow_forward_pass():
    import tensorflow as tf
    from helpers.experiments import small_cnn

    pooling = ["max", "avg", "max"]
    model = small_cnn((12, 12, 3), 5, "tanh", pooling=pooling,
                      kernel_std=(0.3, 0.1, 0.1, 0.1))
    x = np.random.default_rng(0).normal(size=(2, 12, 12, 3)).astype("float32")
    h = tf.constant(x)
    for index, pool in enumerate(pooling, start=1):
        kernel, bias = model.get_layer(f"conv{index}").get_weights()
        h = tf.tanh(tf.nn.conv2d(h, kernel, 1, "SAME") + bias)
        h = tf.nn.pool(h, (3, 3), pool.upper(), strides=(2, 2), padding="SAME")
    kernel, bias = model.get_layer("logits").get_weights()
    expected = tf.reshape(h, (2, -1)) @ kernel + bias
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-4, atol=1e-6)
