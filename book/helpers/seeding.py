"""Reproducibility: one call seeds every random number generator the book uses."""

from __future__ import annotations

DEFAULT_SEED = 2012
"""The seed every chapter uses unless it says otherwise (the paper's year)."""


def set_seed(seed: int = DEFAULT_SEED, deterministic_ops: bool = True) -> int:
    """Seed Python's ``random``, NumPy and TensorFlow (through Keras) with ``seed``.

    With ``deterministic_ops`` TensorFlow also picks deterministic kernels, so the
    same seed on the same CPU gives the same numbers run after run (at some cost in
    speed on a GPU). Returns the seed, so a chapter can print what it used.
    """
    import keras
    import tensorflow as tf

    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"set_seed: seed must be a non-negative int, got {seed!r}")
    keras.utils.set_random_seed(seed)  # seeds random, numpy and tensorflow together
    if deterministic_ops:
        tf.config.experimental.enable_op_determinism()
    return seed
