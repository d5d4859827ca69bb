"""The NumPy layers of ``helpers.layers`` against TensorFlow's own ops, on random inputs.

An independent reference (``tf.nn``) for every layer; the backend-neutral checks against
Keras layers are in ``tests/portable/test_layers.py``.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest
import tensorflow as tf
from helpers.layers import (
    conv2d,
    local_response_normalization,
    lrn_loop,
    max_pool2d,
    relative_error,
    relu,
    softmax,
)
from portable.arrays import random

RTOL = 1e-5


def tf_padding(padding):
    if isinstance(padding, str):
        return padding.upper()
    ph, pw = (padding, padding) if isinstance(padding, int) else padding
    return [[0, 0], [ph, ph], [pw, pw], [0, 0]]


@pytest.mark.parametrize("side, channels, filters, kernel, stride, padding", [
    (227, 3, 96, 11, 4, "valid"),  # conv1 (§3.5)
    (13, 256, 384, 3, 1, 1),  # conv3, padded by hand
])
def test_conv2d_matches_tensorflow_on_alexnet_layers(side, channels, filters, kernel, stride, padding):
    rng = np.random.default_rng(side)
    x, w = random(rng, 2, side, side, channels), random(rng, kernel, kernel, channels, filters)
    b = random(rng, filters)
    expected = tf.nn.conv2d(x, w, stride, tf_padding(padding)).numpy() + b
    assert relative_error(conv2d(x, w, b, stride=stride, padding=padding), expected) < RTOL


def test_conv2d_matches_tensorflow_on_random_shapes_strides_and_paddings():
    rng = np.random.default_rng(2012)
    for trial in range(40):
        kernel_h, kernel_w = rng.integers(1, 6, size=2)
        stride = int(rng.integers(1, 5))
        paddings = ["valid", "same", int(rng.integers(0, 4)), tuple(int(p) for p in rng.integers(0, 3, 2))]
        padding = paddings[trial % 4]
        height, width = rng.integers(max(kernel_h, kernel_w), 20, size=2)
        channels, filters = rng.integers(1, 7, size=2)
        dtype = np.float64 if trial % 3 == 0 else np.float32
        x = random(rng, int(rng.integers(1, 4)), height, width, channels, dtype=dtype)
        w = random(rng, kernel_h, kernel_w, channels, filters, dtype=dtype)
        b = random(rng, filters, dtype=dtype)
        expected = tf.nn.conv2d(x, w, stride, tf_padding(padding)).numpy() + b
        actual = conv2d(x, w, b, stride=stride, padding=padding)
        assert actual.dtype == dtype, f"trial {trial}"
        assert relative_error(actual, expected) < RTOL, f"trial {trial}"


@pytest.mark.parametrize("side, expected_side", [(55, 27), (27, 13), (13, 6)])
def test_max_pool2d_matches_tensorflow_on_alexnet_layers(side, expected_side):
    x = random(np.random.default_rng(side), 2, side, side, 96)
    actual = max_pool2d(x, size=3, stride=2)
    assert actual.shape == (2, expected_side, expected_side, 96)
    np.testing.assert_array_equal(actual, tf.nn.max_pool2d(x, 3, 2, "VALID").numpy())


def test_max_pool2d_matches_tensorflow_on_random_shapes():
    rng = np.random.default_rng(11)
    for trial in range(30):
        size, stride = int(rng.integers(1, 5)), int(rng.integers(1, 4))
        padding = "same" if trial % 2 else "valid"
        x = random(rng, 2, int(rng.integers(size, 20)), int(rng.integers(size, 20)), int(rng.integers(1, 5)))
        expected = tf.nn.max_pool2d(x, size, stride, padding.upper()).numpy()
        np.testing.assert_array_equal(max_pool2d(x, size, stride, padding), expected)


def test_relu_and_softmax_match_tensorflow():
    rng = np.random.default_rng(4)
    x = random(rng, 8, 100)
    np.testing.assert_array_equal(relu(x), tf.nn.relu(x).numpy())
    logits = random(rng, 5, 1000) * 30
    assert relative_error(softmax(logits), tf.nn.softmax(logits).numpy()) < RTOL
    assert relative_error(softmax(logits, axis=0), tf.nn.softmax(logits, axis=0).numpy()) < RTOL
    huge = np.array([[1000.0, 1001.0, 1002.0], [-1e4, 0.0, 1e4]], dtype=np.float32)
    assert relative_error(softmax(huge), tf.nn.softmax(huge).numpy()) < RTOL


@pytest.mark.parametrize("shape", [(2, 55, 55, 96), (2, 27, 27, 256), (3, 5, 5, 7), (1, 4, 4, 2)])
def test_lrn_matches_tensorflow_with_the_papers_parameters(shape):
    x = random(np.random.default_rng(shape[-1]), *shape) * 20  # large, so the sum matters
    expected = tf.nn.local_response_normalization(x, depth_radius=2, bias=2.0, alpha=1e-4, beta=0.75)
    assert relative_error(local_response_normalization(x), expected.numpy()) < RTOL
    assert relative_error(lrn_loop(x), expected.numpy()) < RTOL


def test_lrn_other_window_sizes_match_tensorflow():
    x = random(np.random.default_rng(0), 2, 6, 6, 16) * 10
    for n in (1, 3, 7):
        expected = tf.nn.local_response_normalization(x, depth_radius=n // 2, bias=1.0, alpha=1e-3, beta=0.5)
        actual = local_response_normalization(x, k=1.0, n=n, alpha=1e-3, beta=0.5)
        assert relative_error(actual, expected.numpy()) < RTOL
