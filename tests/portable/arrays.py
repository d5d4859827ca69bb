"""Random test inputs shared by the layer tests (portable and TensorFlow-only)."""

from __future__ import annotations

import numpy as np


def random(rng: np.random.Generator, *shape: int, dtype=np.float32) -> np.ndarray:
    """Standard-normal values of ``shape`` drawn from ``rng``, cast to ``dtype``."""
    return rng.standard_normal(shape).astype(dtype)
