"""Reproducibility: one call seeds every random number generator the book uses.

Checked by ``tests/portable/test_seeding.py``; every chapter calls it first.
"""

from __future__ import annotations

DEFAULT_SEED = 2012
"""The seed every chapter uses unless it says otherwise (the paper's year)."""


def set_seed(seed: int = DEFAULT_SEED, deterministic_ops: bool = True) -> int:
    """Seed Python's ``random``, NumPy and the Keras backend with ``seed``; returns it.

    With ``deterministic_ops`` the backend also picks deterministic kernels
    (TensorFlow's op determinism; PyTorch's deterministic algorithms; JAX is
    deterministic on a CPU), so the same seed on the same CPU gives the same numbers.
    """
    import keras

    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"set_seed: seed must be a non-negative int, got {seed!r}")
    keras.utils.set_random_seed(seed)  # random, NumPy and the backend together
    if deterministic_ops and keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
    elif deterministic_ops and keras.backend.backend() == "torch":
        import torch

        torch.use_deterministic_algorithms(True, warn_only=True)
    return seed
