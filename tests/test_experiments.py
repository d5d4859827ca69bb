"""helpers.experiments against TensorFlow: the small CNN's forward pass.

The backend-neutral tests of the module are in ``tests/portable/test_experiments.py``.
"""

from __future__ import annotations

import numpy as np


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
