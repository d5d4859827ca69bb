"""The NumPy layers of ``helpers.layers`` against Keras layers, on any Keras backend.

The TensorFlow comparisons (``tf.nn.conv2d``, ``tf.nn.max_pool2d``, ...) are in
``tests/test_layers_tf.py``; here the reference is Keras itself, so the same checks run on
TensorFlow, JAX and PyTorch.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from helpers.layers import (
    conv2d,
    conv2d_loop,
    dense,
    dropout,
    local_response_normalization,
    lrn_loop,
    max_pool2d,
    relative_error,
    relu,
    softmax,
)

from .arrays import random

RTOL = 1e-5


def keras_conv(x, w, b, stride, padding, groups) -> np.ndarray:
    layer = keras.layers.Conv2D(w.shape[-1], w.shape[:2], strides=stride, padding=padding,
                                groups=groups)
    layer.build(x.shape)
    layer.set_weights([w, b])
    return keras.ops.convert_to_numpy(layer(x))


# AlexNet's convolutions (§3.5): name, input side, kernel, stride, padding, C, F, groups
ALEXNET_CONVS = [
    ("conv1 227->55", 227, 11, 4, "valid", 3, 96, 1),
    ("conv2 27->27", 27, 5, 1, "same", 96, 256, 2),
    ("conv3 13->13", 13, 3, 1, "same", 256, 384, 1),
    ("conv4 13->13", 13, 3, 1, "same", 384, 384, 2),
    ("conv5 13->13", 13, 3, 1, "same", 384, 256, 2),
]


@pytest.mark.parametrize("case", ALEXNET_CONVS, ids=lambda c: c[0])
def test_conv2d_matches_keras_on_alexnet_layers(case):
    _, side, kernel, stride, padding, channels, filters, groups = case
    rng = np.random.default_rng(3)
    x = random(rng, 2, side, side, channels)
    w = random(rng, kernel, kernel, channels // groups, filters) * 0.05
    b = random(rng, filters)
    actual = conv2d(x, w, b, stride=stride, padding=padding, groups=groups)
    assert actual.dtype == np.float32
    assert relative_error(actual, keras_conv(x, w, b, stride, padding, groups)) < RTOL


def test_grouped_conv2d_matches_keras_on_random_shapes():
    rng = np.random.default_rng(7)
    for trial in range(6):
        groups = int(rng.integers(1, 5))
        channels, filters = groups * rng.integers(1, 4, size=2)
        kernel, stride = int(rng.integers(1, 5)), int(rng.integers(1, 4))
        padding = "same" if trial % 2 else "valid"
        height, width = rng.integers(kernel, 16, size=2)
        x = random(rng, 2, int(height), int(width), int(channels))
        w, b = random(rng, kernel, kernel, channels // groups, filters), random(rng, filters)
        actual = conv2d(x, w, b, stride=stride, padding=padding, groups=groups)
        expected = keras_conv(x, w, b, stride, padding, groups)
        assert relative_error(actual, expected) < RTOL, f"trial {trial}"


def test_groups_are_independent_towers():
    """Group 0's kernels must ignore group 1's channels, as the two GPUs of §3.2 do."""
    rng = np.random.default_rng(1)
    x, w = random(rng, 1, 9, 9, 4), random(rng, 3, 3, 2, 6)
    out = conv2d(x, w, groups=2)
    x_changed = x.copy()
    x_changed[..., 2:] += 1.0
    changed = conv2d(x_changed, w, groups=2)
    np.testing.assert_array_equal(out[..., :3], changed[..., :3])
    assert not np.allclose(out[..., 3:], changed[..., 3:])


def test_grouped_conv2d_is_two_convolutions_side_by_side():
    rng = np.random.default_rng(2)
    x, w, b = random(rng, 2, 11, 11, 6), random(rng, 3, 3, 3, 8), random(rng, 8)
    towers = [conv2d(x[..., :3], w[..., :4], b[:4], padding="same"),
              conv2d(x[..., 3:], w[..., 4:], b[4:], padding="same")]
    grouped = conv2d(x, w, b, padding="same", groups=2)
    np.testing.assert_allclose(grouped, np.concatenate(towers, axis=-1), rtol=1e-6)


def test_conv2d_loop_matches_vectorized():
    rng = np.random.default_rng(5)
    x, w, b = random(rng, 2, 23, 23, 3), random(rng, 11, 11, 3, 4), random(rng, 4)
    assert relative_error(conv2d_loop(x, w, b, stride=4), conv2d(x, w, b, stride=4)) < RTOL


@pytest.mark.parametrize("size, stride, padding", [(3, 2, "valid"), (2, 2, "valid"),
                                                   (3, 2, "same"), (4, 3, "same")])
def test_max_pool2d_matches_keras(size, stride, padding):
    x = random(np.random.default_rng(size), 2, 27, 23, 5)
    layer = keras.layers.MaxPooling2D(size, strides=stride, padding=padding)
    expected = keras.ops.convert_to_numpy(layer(x))
    np.testing.assert_array_equal(max_pool2d(x, size, stride, padding), expected)


def test_overlapping_and_non_overlapping_pooling_shapes():
    x = np.zeros((1, 55, 55, 1), np.float32)
    assert max_pool2d(x, 3, 2).shape == (1, 27, 27, 1)  # §3.4: z=3, s=2
    assert max_pool2d(x, 2, 2).shape == (1, 27, 27, 1)  # the traditional z=2, s=2
    assert max_pool2d(x[:, :13, :13], 3, 2).shape == (1, 6, 6, 1)


def test_dense_relu_softmax_match_keras():
    rng = np.random.default_rng(4)
    x, w, b = random(rng, 8, 9216), random(rng, 9216, 64) * 0.01, random(rng, 64)
    layer = keras.layers.Dense(64)
    layer.build(x.shape)
    layer.set_weights([w, b])
    assert relative_error(dense(x, w, b), keras.ops.convert_to_numpy(layer(x))) < RTOL
    np.testing.assert_array_equal(relu(x), keras.ops.convert_to_numpy(keras.ops.relu(x)))
    logits = random(rng, 5, 1000) * 30
    for axis in (-1, 0):
        expected = keras.ops.convert_to_numpy(keras.ops.softmax(logits, axis=axis))
        assert relative_error(softmax(logits, axis=axis), expected) < RTOL


def test_softmax_is_stable_on_huge_logits():
    logits = np.array([[1000.0, 1001.0, 1002.0], [-1e4, 0.0, 1e4]], dtype=np.float32)
    out = softmax(logits)
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out[0], np.exp([-2.0, -1.0, 0.0]) / np.exp([-2, -1, 0]).sum(),
                               rtol=1e-6)
    np.testing.assert_allclose(out.sum(axis=-1), 1.0, rtol=1e-6)


def test_lrn_vectorized_equals_the_loop():
    x = np.abs(random(np.random.default_rng(9), 2, 5, 5, 16, dtype=np.float64)) * 40
    for n in (1, 3, 5, 7):
        expected = lrn_loop(x, k=1.5, n=n, alpha=2e-4, beta=0.6)
        actual = local_response_normalization(x, k=1.5, n=n, alpha=2e-4, beta=0.6)
        assert relative_error(actual, expected) < 1e-12, n


def test_lrn_alpha_is_not_divided_by_n():
    """One channel at 100, zero neighbours: b = 100 / (2 + 1e-4 * 100^2)^0.75 (§3.3)."""
    x = np.zeros((1, 1, 1, 5), np.float64)
    x[..., 2] = 100.0
    expected = 100.0 / (2.0 + 1e-4 * 100.0**2) ** 0.75  # with alpha / n: 2.4, not 3
    assert local_response_normalization(x)[0, 0, 0, 2] == pytest.approx(expected, rel=1e-12)


def test_inverted_dropout_matches_keras_in_expectation_and_at_test_time():
    rng = np.random.default_rng(0)
    x = np.ones((200, 500), np.float32)
    out = dropout(x, 0.5, rng, training=True)
    assert set(np.unique(out)) == {0.0, 2.0}  # kept units scaled by 1 / (1 - rate)
    assert out.mean() == pytest.approx(1.0, abs=0.01)
    assert (out == 0).mean() == pytest.approx(0.5, abs=0.01)
    keras_out = keras.ops.convert_to_numpy(keras.layers.Dropout(0.5, seed=1)(x, training=True))
    assert set(np.unique(keras_out)) == {0.0, 2.0}
    np.testing.assert_array_equal(dropout(x, 0.5, rng, training=False), x)


def test_papers_dropout_scales_at_test_time():
    rng = np.random.default_rng(0)
    x = np.full((100, 1000), 3.0)
    train = dropout(x, 0.5, rng, training=True, scale_at="test")
    assert set(np.unique(train)) == {0.0, 3.0}
    test = dropout(x, 0.5, rng, training=False, scale_at="test")  # §4.2: outputs x 0.5
    np.testing.assert_array_equal(test, 1.5)
    assert train.mean() == pytest.approx(test.mean(), rel=0.01)


def test_relative_error():
    assert relative_error(np.ones(3), np.ones(3)) == 0.0
    assert relative_error([1.0, 2.5], [1.0, 2.0]) == pytest.approx(0.25)
    assert relative_error([0.5, 0.0], [0.0, 0.0]) == 0.5  # an all-zero reference
    with pytest.raises(ValueError, match="same shape"):
        relative_error(np.ones(3), np.ones(4))


def zeros(*shape: int) -> np.ndarray:
    return np.zeros(shape, np.float32)


@pytest.mark.parametrize(
    "call, words",
    [
        (lambda: conv2d(zeros(8, 8, 3), zeros(3, 3, 3, 4)), "x[None]"),
        (lambda: conv2d(zeros(1, 8, 8, 3), zeros(3, 3, 4, 4)), "(1, 8, 8, 3)"),
        (lambda: conv2d(zeros(1, 8, 8, 3), zeros(11, 11, 3, 4)), "padding='same'"),
        (lambda: conv2d(zeros(1, 8, 8, 3), zeros(3, 3, 1, 4), groups=2), "x shape (1, 8, 8, 3)"),
        (lambda: conv2d(zeros(1, 8, 8, 6), zeros(3, 3, 3, 5), groups=2), "(3, 3, 3, 5)"),
        (lambda: conv2d(zeros(1, 8, 8, 3), zeros(3, 3, 3, 4), zeros(5)), "shape (4,)"),
        (lambda: conv2d(zeros(1, 8, 8, 3), zeros(3, 3, 3, 4), stride=0), "stride"),
        (lambda: conv2d(zeros(1, 8, 8, 3), zeros(3, 3, 3, 4), padding="full"), "'same'"),
        (lambda: max_pool2d(zeros(1, 2, 2, 3), 3, 2), "3x3 is larger than the padded input 2x2"),
        (lambda: max_pool2d(zeros(2, 2, 3), 3, 2), "(2, 2, 3)"),
        (lambda: dense(zeros(2, 10), zeros(9, 4)), "(9, 4)"),
        (lambda: dense(zeros(2, 3, 3), zeros(9, 4)), "reshape"),
        (lambda: local_response_normalization(zeros(1, 2, 2, 8), n=4), "odd"),
        (lambda: dropout(zeros(3), 1.0, np.random.default_rng(), True), "rate"),
    ],
)
def test_bad_input_raises_a_value_error_that_says_what_to_do(call, words):
    with pytest.raises(ValueError) as error:
        call()
    assert words in str(error.value)
