"""One seeding function makes Python, NumPy and the Keras backend repeat themselves."""

from __future__ import annotations

import random

import keras
import numpy as np
import pytest
from helpers.seeding import set_seed

from .conftest import deterministic_kernels_on


def draw() -> tuple[float, np.ndarray, np.ndarray]:
    backend_draw = keras.ops.convert_to_numpy(keras.random.uniform((3,)))
    return random.random(), np.random.rand(3), backend_draw


def test_same_seed_same_numbers():
    set_seed(7)
    first = draw()
    set_seed(7)
    second = draw()
    assert first[0] == second[0]
    np.testing.assert_array_equal(first[1], second[1])
    np.testing.assert_array_equal(first[2], second[2])


def test_different_seeds_differ():
    set_seed(1)
    first = draw()
    set_seed(2)
    second = draw()
    assert first[0] != second[0]
    assert not np.array_equal(first[2], second[2])


def test_same_seed_same_keras_initialisation():
    weights = []
    for _ in range(2):
        set_seed(3)
        layer = keras.layers.Dense(4)
        layer.build((None, 5))
        weights.append(keras.ops.convert_to_numpy(layer.kernel))
    np.testing.assert_array_equal(*weights)


@pytest.mark.parametrize("bad", [-1, 1.5, "1"])
def test_bad_seed_is_refused(bad):
    with pytest.raises(ValueError, match="non-negative int"):
        set_seed(bad)


def test_deterministic_kernels_on_a_cpu(no_deterministic_kernels, monkeypatch):
    if keras.backend.backend() == "jax":
        pytest.skip("JAX has no switch for deterministic kernels")
    monkeypatch.setattr("helpers.profile.accelerator_names", lambda: [])
    set_seed(5)
    assert deterministic_kernels_on()


def test_no_deterministic_kernels_on_a_gpu(no_deterministic_kernels, monkeypatch):
    """On a GPU they cost speed, and TensorFlow would then refuse XLA for the step."""
    if keras.backend.backend() == "jax":
        pytest.skip("JAX has no switch for deterministic kernels")
    monkeypatch.setattr("helpers.profile.accelerator_names", lambda: ["GPU:0"])
    set_seed(5)
    assert not deterministic_kernels_on()
    set_seed(5, deterministic_ops=True)  # asked for explicitly, they are on
    assert deterministic_kernels_on()
