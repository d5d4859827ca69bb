"""The NumPy layers of ``helpers.layers`` against TensorFlow and Keras, on random inputs."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import pytest
import tensorflow as tf
from helpers.layers import (
    conv2d,
    conv2d_loop,
    dense,
    dropout,
    local_response_normalization,
    max_pool2d,
    relu,
    softmax,
)

RTOL = 1e-5


def assert_close(actual: np.ndarray, expected, rtol: float = RTOL) -> None:
    """Equal within ``rtol`` relative to the largest magnitude of the reference."""
    expected = np.asarray(expected)
    assert actual.shape == expected.shape
    scale = max(float(np.max(np.abs(expected))), 1e-30)
    error = float(np.max(np.abs(actual - expected))) / scale
    assert error <= rtol, f"max error {error:.2e} relative to the reference's scale {scale:.3g}"


def random(rng: np.random.Generator, *shape: int, dtype=np.float32) -> np.ndarray:
    return rng.standard_normal(shape).astype(dtype)


def tf_padding(padding):
    if isinstance(padding, str):
        return padding.upper()
    ph, pw = (padding, padding) if isinstance(padding, int) else padding
    return [[0, 0], [ph, ph], [pw, pw], [0, 0]]


def keras_grouped_conv(x, w, b, stride, padding, groups):
    layer = keras.layers.Conv2D(w.shape[-1], w.shape[:2], strides=stride, padding=padding, groups=groups)
    layer.build(x.shape)
    layer.set_weights([w, b])
    return keras.ops.convert_to_numpy(layer(x))


# AlexNet's own convolutions and poolings (§3.5): input side, kernel, stride, padding, C, F, groups
ALEXNET_CONVS = [
    ("conv1 227->55", 227, 11, 4, "valid", 3, 96, 1),
    ("conv2 27->27", 27, 5, 1, "same", 96, 256, 2),
    ("conv3 13->13", 13, 3, 1, 1, 256, 384, 1),
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
    expected = keras_grouped_conv(x, w, b, stride, padding if isinstance(padding, str) else "same", groups)
    actual = conv2d(x, w, b, stride=stride, padding=padding, groups=groups)
    assert actual.dtype == np.float32
    assert_close(actual, expected)
    if groups == 1:
        assert_close(actual, tf.nn.conv2d(x, w, stride, tf_padding(padding)).numpy() + b)


@pytest.mark.parametrize("side, expected_side", [(55, 27), (27, 13), (13, 6)])
def test_max_pool2d_matches_tensorflow_on_alexnet_layers(side, expected_side):
    x = random(np.random.default_rng(side), 2, side, side, 96)
    actual = max_pool2d(x, size=3, stride=2)
    assert actual.shape == (2, expected_side, expected_side, 96)
    np.testing.assert_array_equal(actual, tf.nn.max_pool2d(x, 3, 2, "VALID").numpy())


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
        assert_close(actual, expected)


def test_grouped_conv2d_matches_keras_on_random_shapes():
    rng = np.random.default_rng(7)
    for trial in range(12):
        groups = int(rng.integers(1, 5))
        channels, filters = groups * rng.integers(1, 4, size=2)
        kernel, stride = int(rng.integers(1, 5)), int(rng.integers(1, 4))
        padding = "same" if trial % 2 else "valid"
        x = random(rng, 2, int(rng.integers(kernel, 16)), int(rng.integers(kernel, 16)), channels)
        w = random(rng, kernel, kernel, channels // groups, filters)
        b = random(rng, filters)
        actual = conv2d(x, w, b, stride=stride, padding=padding, groups=groups)
        assert_close(actual, keras_grouped_conv(x, w, b, stride, padding, groups))


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


def test_conv2d_loop_matches_vectorized():
    rng = np.random.default_rng(5)
    x, w, b = random(rng, 2, 23, 23, 3), random(rng, 11, 11, 3, 4), random(rng, 4)
    assert_close(conv2d_loop(x, w, b, stride=4), conv2d(x, w, b, stride=4))


def test_max_pool2d_matches_tensorflow_on_random_shapes():
    rng = np.random.default_rng(11)
    for trial in range(30):
        size, stride = int(rng.integers(1, 5)), int(rng.integers(1, 4))
        padding = "same" if trial % 2 else "valid"
        x = random(rng, 2, int(rng.integers(size, 20)), int(rng.integers(size, 20)), int(rng.integers(1, 5)))
        expected = tf.nn.max_pool2d(x, size, stride, padding.upper()).numpy()
        np.testing.assert_array_equal(max_pool2d(x, size, stride, padding), expected)


def test_overlapping_and_non_overlapping_pooling_shapes():
    x = np.zeros((1, 55, 55, 1), np.float32)
    assert max_pool2d(x, 3, 2).shape == (1, 27, 27, 1)
    assert max_pool2d(x, 2, 2).shape == (1, 27, 27, 1)
    assert max_pool2d(x[:, :13, :13], 3, 2).shape == (1, 6, 6, 1)


def test_dense_relu_softmax_match_keras_and_tensorflow():
    rng = np.random.default_rng(4)
    x, w, b = random(rng, 8, 9216), random(rng, 9216, 64) * 0.01, random(rng, 64)
    layer = keras.layers.Dense(64)
    layer.build(x.shape)
    layer.set_weights([w, b])
    assert_close(dense(x, w, b), keras.ops.convert_to_numpy(layer(x)))
    np.testing.assert_array_equal(relu(x), tf.nn.relu(x).numpy())
    logits = random(rng, 5, 1000) * 30
    assert_close(softmax(logits), tf.nn.softmax(logits).numpy())
    assert_close(softmax(logits, axis=0), tf.nn.softmax(logits, axis=0).numpy())


def test_softmax_is_stable_on_huge_logits():
    logits = np.array([[1000.0, 1001.0, 1002.0], [-1e4, 0.0, 1e4]], dtype=np.float32)
    out = softmax(logits)
    assert np.all(np.isfinite(out))
    assert_close(out, tf.nn.softmax(logits).numpy())
    np.testing.assert_allclose(out.sum(axis=-1), 1.0, rtol=1e-6)


@pytest.mark.parametrize("shape", [(2, 55, 55, 96), (2, 27, 27, 256), (3, 5, 5, 7), (1, 4, 4, 2)])
def test_lrn_matches_tensorflow_with_the_papers_parameters(shape):
    x = random(np.random.default_rng(shape[-1]), *shape) * 20  # large activations make the sum matter
    expected = tf.nn.local_response_normalization(x, depth_radius=2, bias=2.0, alpha=1e-4, beta=0.75)
    assert_close(local_response_normalization(x), expected.numpy())


def test_lrn_alpha_is_not_divided_by_n():
    """One channel with value a and zero neighbours: b = a / (2 + 1e-4 * a^2)^0.75 by §3.3's formula."""
    x = np.zeros((1, 1, 1, 5), np.float64)
    x[..., 2] = 100.0
    expected = 100.0 / (2.0 + 1e-4 * 100.0**2) ** 0.75  # with alpha / n the denominator would be 2.4
    assert local_response_normalization(x)[0, 0, 0, 2] == pytest.approx(expected, rel=1e-12)


def test_lrn_other_window_sizes_match_tensorflow():
    x = random(np.random.default_rng(0), 2, 6, 6, 16) * 10
    for n in (1, 3, 7):
        expected = tf.nn.local_response_normalization(x, depth_radius=n // 2, bias=1.0, alpha=1e-3, beta=0.5)
        assert_close(local_response_normalization(x, k=1.0, n=n, alpha=1e-3, beta=0.5), expected.numpy())


def test_inverted_dropout_matches_keras_in_expectation_and_at_test_time():
    rng = np.random.default_rng(0)
    x = np.ones((200, 500), np.float32)
    out = dropout(x, 0.5, rng, training=True)
    assert set(np.unique(out)) == {0.0, 2.0}  # kept units scaled by 1 / (1 - rate), like Keras
    assert out.mean() == pytest.approx(1.0, abs=0.01)
    assert (out == 0).mean() == pytest.approx(0.5, abs=0.01)
    keras_out = keras.ops.convert_to_numpy(keras.layers.Dropout(0.5)(x, training=True))
    assert set(np.unique(keras_out)) == {0.0, 2.0}
    np.testing.assert_array_equal(dropout(x, 0.5, rng, training=False), x)


def test_papers_dropout_scales_at_test_time():
    rng = np.random.default_rng(0)
    x = np.full((100, 1000), 3.0)
    train = dropout(x, 0.5, rng, training=True, scale_at="test")
    assert set(np.unique(train)) == {0.0, 3.0}
    test = dropout(x, 0.5, rng, training=False, scale_at="test")  # §4.2: multiply the outputs by 0.5
    np.testing.assert_array_equal(test, 1.5)
    assert train.mean() == pytest.approx(test.mean(), rel=0.01)


@pytest.mark.parametrize(
    "call, words",
    [
        (lambda: conv2d(np.zeros((8, 8, 3)), np.zeros((3, 3, 3, 4))), "(8, 8, 3)"),
        (lambda: conv2d(np.zeros((1, 8, 8, 3)), np.zeros((3, 3, 4, 4))), "(1, 8, 8, 3)"),
        (lambda: conv2d(np.zeros((1, 8, 8, 3)), np.zeros((11, 11, 3, 4))), "11x11 is larger than the padded"),
        (lambda: conv2d(np.zeros((1, 8, 8, 3)), np.zeros((3, 3, 1, 4)), groups=2), "x shape (1, 8, 8, 3)"),
        (lambda: conv2d(np.zeros((1, 8, 8, 6)), np.zeros((3, 3, 3, 5)), groups=2), "(3, 3, 3, 5)"),
        (lambda: conv2d(np.zeros((1, 8, 8, 3)), np.zeros((3, 3, 3, 4)), stride=0), "stride"),
        (lambda: max_pool2d(np.zeros((1, 2, 2, 3)), 3, 2), "3x3 is larger than the padded input 2x2"),
        (lambda: max_pool2d(np.zeros((2, 2, 3)), 3, 2), "(2, 2, 3)"),
        (lambda: dense(np.zeros((2, 10)), np.zeros((9, 4))), "(9, 4)"),
        (lambda: local_response_normalization(np.zeros((1, 2, 2, 8)), n=4), "odd"),
        (lambda: dropout(np.zeros(3), 1.0, np.random.default_rng(), True), "rate"),
    ],
)
def test_bad_input_raises_value_error_naming_the_shapes(call, words):
    with pytest.raises(ValueError) as error:
        call()
    assert words in str(error.value)
