"""The Keras LRN layer against the paper's formula (``lrn_loop``) and the NumPy layer.

Runs on every Keras backend; ``tests/test_lrn_tf.py`` compares with TensorFlow's
``tf.nn.local_response_normalization``.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from helpers.layers import local_response_normalization, lrn_loop, relative_error
from helpers.lrn import LocalResponseNormalization, band_matrix


def numpy_of(x) -> np.ndarray:
    return keras.ops.convert_to_numpy(x)


@pytest.fixture
def activations() -> np.ndarray:
    # ReLU outputs of a realistic scale: large enough that the normalization changes them.
    return np.abs(np.random.default_rng(0).normal(scale=40.0, size=(2, 5, 6, 16))).astype(np.float32)


def test_layer_equals_the_loop_and_the_numpy_layer(activations):
    got = numpy_of(LocalResponseNormalization()(activations))
    loop = lrn_loop(activations.astype(np.float64))  # §3.3 read literally, in float64
    assert relative_error(got, loop) < 1e-6
    assert relative_error(local_response_normalization(activations.astype(np.float64)), loop) < 1e-12
    # With k=2, beta=0.75 the output is at most 2**-0.75 of the input, and the sum matters.
    assert np.all(got <= activations * 2 ** -0.75 + 1e-6)
    assert relative_error(got, activations * 2 ** -0.75) > 1e-2


@pytest.mark.parametrize("params", [dict(k=1.0, n=3, alpha=1e-3, beta=0.5),
                                    dict(k=2.0, n=7, alpha=5e-4, beta=0.75),
                                    dict(k=1.0, n=1, alpha=1e-2, beta=1.0)])
def test_other_parameters_follow_the_formula(activations, params):
    got = numpy_of(LocalResponseNormalization(**params)(activations))
    assert relative_error(got, lrn_loop(activations.astype(np.float64), **params)) < 1e-6


def test_band_matrix_sums_the_n_neighbouring_maps():
    band = band_matrix(6, n=5)
    assert band.shape == (6, 6) and band.dtype == np.float32
    np.testing.assert_array_equal(band[0], [1, 1, 1, 0, 0, 0])  # fewer maps at the edge
    np.testing.assert_array_equal(band[3], [0, 1, 1, 1, 1, 1])
    np.testing.assert_array_equal(band, band.T)


def test_float16_inputs_are_normalized_in_float32(activations):
    layer = LocalResponseNormalization(dtype="mixed_float16")
    # 300**2 overflows float16 (max 65504); the layer must still give finite, exact values.
    big = (activations * 10.0).astype(np.float16)
    got = layer(keras.ops.convert_to_tensor(big))
    assert keras.backend.standardize_dtype(got.dtype) == "float16"
    assert np.all(np.isfinite(numpy_of(got)))
    expected = lrn_loop(big.astype(np.float64))
    np.testing.assert_allclose(numpy_of(got).astype(np.float64), expected, rtol=2e-3, atol=1e-2)


def test_mixed_precision_policy_in_a_model(activations):
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        inputs = keras.Input(shape=activations.shape[1:])
        model = keras.Model(inputs, LocalResponseNormalization()(inputs))
        got = model(activations)
    finally:
        keras.mixed_precision.set_global_policy(previous)
    assert keras.backend.standardize_dtype(got.dtype) == "float16"
    expected = lrn_loop(activations.astype(np.float64))
    np.testing.assert_allclose(numpy_of(got).astype(np.float64), expected, rtol=2e-3, atol=1e-3)


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
    np.testing.assert_array_equal(numpy_of(loaded(activations)), numpy_of(model(activations)))


@pytest.mark.parametrize("bad, words", [(dict(n=4), "positive odd int"), (dict(n=0), "n=5"),
                                        (dict(k=0.0), "k must be > 0")])
def test_bad_parameters_say_what_to_do(bad, words):
    with pytest.raises(ValueError, match=f"LocalResponseNormalization: .*{words}"):
        LocalResponseNormalization(**bad)


def test_rejects_inputs_that_are_not_images():
    with pytest.raises(ValueError, match=r"\(N, H, W, C\) inputs.*after a Conv2D"):
        LocalResponseNormalization()(np.ones((2, 8), dtype=np.float32))
