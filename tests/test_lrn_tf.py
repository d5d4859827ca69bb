"""The Keras LRN layer against TensorFlow's fused ``tf.nn.local_response_normalization``.

TensorFlow's kernel is an independent implementation of §3.3 (``depth_radius = n // 2``,
``bias = k``); values and gradients must agree. The backend-neutral checks are in
``tests/portable/test_lrn.py``.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest
import tensorflow as tf
from helpers.lrn import LocalResponseNormalization


@pytest.fixture
def activations() -> np.ndarray:
    return np.abs(np.random.default_rng(0).normal(scale=40.0, size=(2, 5, 6, 16))).astype(np.float32)


@pytest.mark.parametrize("k, n, alpha, beta", [(2.0, 5, 1e-4, 0.75), (1.0, 3, 1e-3, 0.5),
                                               (2.0, 7, 5e-4, 0.75)])
def test_equals_tf_nn(activations, k, n, alpha, beta):
    expected = tf.nn.local_response_normalization(activations, depth_radius=n // 2, bias=k,
                                                  alpha=alpha, beta=beta)
    got = LocalResponseNormalization(k=k, n=n, alpha=alpha, beta=beta)(activations)
    np.testing.assert_allclose(np.asarray(got), expected.numpy(), rtol=1e-5, atol=1e-6)
    assert not np.allclose(expected.numpy(), activations * k ** -beta, rtol=1e-3)


def test_gradient_matches_tf_nn(activations):
    x = tf.constant(activations)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        ours = tf.reduce_sum(LocalResponseNormalization()(x) ** 2)
        reference = tf.reduce_sum(tf.nn.local_response_normalization(x, 2, 2.0, 1e-4, 0.75) ** 2)
    np.testing.assert_allclose(tape.gradient(ours, x), tape.gradient(reference, x), rtol=1e-4, atol=1e-6)
