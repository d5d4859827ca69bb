"""helpers.evaluate against TensorFlow's own top-k and confusion-matrix operations.

The backend-neutral tests (every backend, NumPy and Keras references) are in
``tests/portable/test_evaluate.py``.
"""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from helpers.evaluate import confusion_matrix, top_k_accuracy


@pytest.mark.parametrize("k", [1, 5])
def test_top_k_matches_tensorflow_in_top_k(k):
    """§2's top-5: the correct label among the five highest scores."""
    rng = np.random.default_rng(k)
    scores = rng.normal(size=(500, 10)).astype(np.float32)
    labels = rng.integers(0, 10, 500).astype(np.int32)
    expected = tf.reduce_mean(tf.cast(tf.math.in_top_k(labels, scores, k), tf.float32))
    assert top_k_accuracy(scores, labels, k) == pytest.approx(float(expected), abs=1e-6)


def test_confusion_matrix_matches_tensorflow():
    rng = np.random.default_rng(2)
    labels, predictions = rng.integers(0, 5, 300), rng.integers(0, 5, 300)
    expected = tf.math.confusion_matrix(labels, predictions, num_classes=5).numpy()
    got = confusion_matrix(labels, predictions, list("abcde")).to_numpy()
    np.testing.assert_array_equal(got, expected)
