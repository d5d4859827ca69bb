"""The Keras LRN layer against TensorFlow, the paper's formula and the NumPy layer."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from helpers.lrn import LocalResponseNormalization


def paper_formula(a: np.ndarray, k: float = 2.0, n: int = 5, alpha: float = 1e-4,
                  beta: float = 0.75) -> np.ndarray:
    """§3.3 written out channel by channel, in float64 (the independent reference)."""
    channels = a.shape[-1]
    b = np.empty_like(a, dtype=np.float64)
    for i in range(channels):
        lo, hi = max(0, i - n // 2), min(channels - 1, i + n // 2)
        b[..., i] = a[..., i] / (k + alpha * np.sum(a[..., lo:hi + 1] ** 2, axis=-1)) ** beta
    return b


@pytest.fixture
def activations() -> np.ndarray:
    # ReLU outputs of a realistic scale: large enough that the normalization changes them.
    return np.abs(np.random.default_rng(0).normal(scale=40.0, size=(2, 5, 6, 16))).astype(np.float32)


def test_equals_tf_nn_with_paper_parameters(activations):
    expected = tf.nn.local_response_normalization(activations, depth_radius=2, bias=2.0, alpha=1e-4,
                                                  beta=0.75)
    got = LocalResponseNormalization()(activations)
    np.testing.assert_allclose(np.asarray(got), np.asarray(expected), rtol=1e-5, atol=1e-6)


def test_equals_the_paper_formula_and_actually_normalizes(activations):
    got = np.asarray(LocalResponseNormalization()(activations))
    np.testing.assert_allclose(got, paper_formula(activations.astype(np.float64)), rtol=1e-5, atol=1e-6)
    # With k=2, beta=0.75 the output is at most 2**-0.75 of the input, and the sum of squares matters.
    assert np.all(got <= activations * 2 ** -0.75 + 1e-6)
    assert not np.allclose(got, activations * 2 ** -0.75, rtol=1e-3)


@pytest.mark.parametrize("params", [dict(k=1.0, n=3, alpha=1e-3, beta=0.5),
                                    dict(k=2.0, n=7, alpha=5e-4, beta=0.75)])
def test_other_parameters_follow_the_formula(activations, params):
    got = np.asarray(LocalResponseNormalization(**params)(activations))
    expected = paper_formula(activations.astype(np.float64), **params)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_equals_the_numpy_layer(activations):
    layers = pytest.importorskip("helpers.layers")
    expected = layers.local_response_normalization(activations.astype(np.float64), k=2.0, n=5, alpha=1e-4,
                                                   beta=0.75)
    got = np.asarray(LocalResponseNormalization()(activations))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_gradient_matches_tf_nn(activations):
    x = tf.constant(activations)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        ours = tf.reduce_sum(LocalResponseNormalization()(x) ** 2)
        reference = tf.reduce_sum(tf.nn.local_response_normalization(x, 2, 2.0, 1e-4, 0.75) ** 2)
    np.testing.assert_allclose(tape.gradient(ours, x), tape.gradient(reference, x), rtol=1e-4, atol=1e-6)


def test_config_round_trip():
    layer = LocalResponseNormalization(k=1.5, n=3, alpha=2e-4, beta=0.5, name="norm")
    clone = LocalResponseNormalization.from_config(layer.get_config())
    assert (clone.k, clone.n, clone.alpha, clone.beta, clone.name) == (1.5, 3, 2e-4, 0.5, "norm")
    # Registered under the "alexnet" package, so deserialize finds it by name alone.
    config = keras.saving.serialize_keras_object(layer)
    assert config["registered_name"] == "alexnet>LocalResponseNormalization"
    assert isinstance(keras.saving.deserialize_keras_object(config), LocalResponseNormalization)


def test_saving_and_loading_a_keras_file(tmp_path, activations):
    inputs = keras.Input(shape=activations.shape[1:])
    model = keras.Model(inputs, LocalResponseNormalization(k=1.0, alpha=1e-3, name="lrn")(inputs))
    path = tmp_path / "lrn.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded.get_layer("lrn"), LocalResponseNormalization)
    assert loaded.get_layer("lrn").get_config() == model.get_layer("lrn").get_config()
    np.testing.assert_array_equal(np.asarray(loaded(activations)), np.asarray(model(activations)))


def test_float16_inputs_are_normalized_in_float32(activations):
    layer = LocalResponseNormalization(dtype="mixed_float16")
    # 300**2 overflows float16 (max 65504); the layer must still give finite, accurate values.
    big = activations * 10.0
    got = layer(tf.constant(big, dtype=tf.float16))
    assert got.dtype == tf.float16
    assert np.all(np.isfinite(np.asarray(got)))
    expected = paper_formula(big.astype(np.float16).astype(np.float64))
    np.testing.assert_allclose(np.asarray(got, dtype=np.float64), expected, rtol=2e-3, atol=1e-2)


def test_mixed_precision_policy_in_a_model(activations):
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        inputs = keras.Input(shape=activations.shape[1:])
        model = keras.Model(inputs, LocalResponseNormalization()(inputs))
        got = model(activations)
    finally:
        keras.mixed_precision.set_global_policy(previous)
    assert got.dtype == tf.float16
    expected = paper_formula(activations.astype(np.float64))
    np.testing.assert_allclose(np.asarray(got, dtype=np.float64), expected,
                               rtol=2e-3, atol=1e-3)


@pytest.mark.parametrize("bad", [dict(n=4), dict(n=0), dict(k=0.0)])
def test_bad_parameters_say_what_to_do(bad):
    with pytest.raises(ValueError, match="LocalResponseNormalization"):
        LocalResponseNormalization(**bad)


def test_rejects_inputs_that_are_not_images():
    with pytest.raises(ValueError, match=r"\(N, H, W, C\)"):
        LocalResponseNormalization()(np.ones((2, 8), dtype=np.float32))
