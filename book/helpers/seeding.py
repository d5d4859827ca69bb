"""Reproducibility: one call seeds every random number generator the book uses.

Checked by ``tests/portable/test_seeding.py``; every chapter calls it first.
"""

from __future__ import annotations

DEFAULT_SEED = 2012
"""The seed every chapter uses unless it says otherwise (the paper's year)."""


def set_seed(seed: int = DEFAULT_SEED, deterministic_ops: bool | None = None) -> int:
    """Seed Python's ``random``, NumPy and the Keras backend with ``seed``; returns it.

    ``deterministic_ops`` also makes the backend pick deterministic kernels
    (TensorFlow's op determinism; PyTorch's deterministic algorithms; JAX is
    deterministic on a CPU), so the same seed on the same CPU gives the same numbers.
    ``None`` (the default) turns them on on a CPU and leaves them off on a GPU: there
    they are slower, and TensorFlow would refuse to compile the training step with XLA.
    A GPU run repeats itself up to the order of its floating-point sums.
    """
    import keras

    from helpers.profile import accelerator_names

    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"set_seed: seed must be a non-negative int, got {seed!r}")
    keras.utils.set_random_seed(seed)  # random, NumPy and the backend together
    if deterministic_ops is None:
        deterministic_ops = not accelerator_names()
    if deterministic_ops and keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
    elif deterministic_ops and keras.backend.backend() == "torch":
        import torch

        torch.use_deterministic_algorithms(True, warn_only=True)
    return seed
