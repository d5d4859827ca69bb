"""Fixtures shared by the portable tests (which run on every Keras backend)."""

from __future__ import annotations

import keras
import pytest


def deterministic_kernels_on() -> bool:
    """Whether TensorFlow's op determinism or PyTorch's deterministic algorithms are on."""
    if keras.backend.backend() == "tensorflow":
        from tensorflow.python.framework import config

        return config.is_op_determinism_enabled()
    import torch

    return torch.are_deterministic_algorithms_enabled()


@pytest.fixture
def no_deterministic_kernels():
    """Turn the backend's deterministic kernels off for one test, then restore them."""
    if keras.backend.backend() == "jax":  # JAX has no switch: nothing to turn off
        yield
        return
    was_on = deterministic_kernels_on()
    if keras.backend.backend() == "tensorflow":
        from tensorflow.python.framework import config

        config.disable_op_determinism()
        yield
        if was_on:
            config.enable_op_determinism()
    else:
        import torch

        torch.use_deterministic_algorithms(False)
        yield
        torch.use_deterministic_algorithms(was_on, warn_only=True)

