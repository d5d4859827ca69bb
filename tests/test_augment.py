"""The paper's augmentation (§4.1) and preprocessing (§2) against TensorFlow's image ops.

The backend-neutral tests (every backend, NumPy references and statistics) are in
``tests/portable/test_augment.py``.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
from helpers import augment

RNG = np.random.default_rng(0)
IMAGES = RNG.uniform(-100, 100, size=(5, 37, 37, 3)).astype(np.float32)


def test_center_crop_matches_tensorflow():
    expected = tf.image.resize_with_crop_or_pad(IMAGES, 32, 32).numpy()
    np.testing.assert_array_equal(augment.center_crop(IMAGES, 32), expected)


def test_crop_and_flip_matches_crop_to_bounding_box_and_flip_left_right():
    tops, lefts = RNG.integers(0, 6, 5), RNG.integers(0, 6, 5)
    flips = np.array([True, False, True, True, False])
    got = augment.crop_and_flip(tf.constant(IMAGES), 32, tops, lefts, flips).numpy()
    for b in range(5):
        box = tf.image.crop_to_bounding_box(IMAGES[b], tops[b], lefts[b], 32, 32)
        expected = tf.image.flip_left_right(box) if flips[b] else box
        np.testing.assert_array_equal(got[b], expected.numpy())


def test_ten_views_match_tensorflow_crops():
    images = RNG.uniform(size=(2, 37, 41, 3)).astype(np.float32)
    views = augment.ten_views(tf.constant(images), 32).numpy()
    spots = [(0, 0), (0, 9), (5, 0), (5, 9), (2, 4)]  # corners, then the centre
    for k, (top, left) in enumerate(spots):
        box = tf.image.crop_to_bounding_box(images, top, left, 32, 32)
        np.testing.assert_array_equal(views[:, k], box.numpy())
        np.testing.assert_array_equal(views[:, 5 + k], tf.image.flip_left_right(box))


def test_the_input_stage_runs_inside_a_compiled_tensorflow_function():
    stage = augment.PaperAugmentation(32, 37, seed=4).set_statistics(
        np.zeros((37, 37, 3)), np.array([0.01, 0.001, 0.0001]), np.eye(3))
    uint8 = tf.constant(RNG.integers(0, 256, size=(3, 37, 37, 3), dtype=np.uint8))
    step = tf.function(lambda x: stage(x, training=True), jit_compile=False)
    out = step(uint8).numpy()
    assert out.shape == (3, 32, 32, 3) and out.dtype == np.float32
    assert not np.array_equal(out, step(uint8).numpy())  # new draws on every call
