"""The paper's augmentation (§4.1) and preprocessing (§2), checked against TensorFlow and statistics."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from helpers import augment

RNG = np.random.default_rng(0)
IMAGE = RNG.uniform(-100, 100, size=(37, 37, 3)).astype(np.float32)


def test_resize_size_scales_like_256_to_224():
    assert augment.resize_size(224) == 256  # §2/§4.1: 256 x 256 images, 224 x 224 crops
    assert augment.resize_size(227) == 259
    assert augment.resize_size(99) == 113
    with pytest.raises(ValueError, match="positive"):
        augment.resize_size(0)


def test_center_crop_matches_tensorflow():
    expected = tf.image.resize_with_crop_or_pad(IMAGE, 32, 32).numpy()  # crops centrally when smaller
    np.testing.assert_array_equal(augment.center_crop(tf.constant(IMAGE), 32).numpy(), expected)
    np.testing.assert_array_equal(augment.center_crop(IMAGE[None], 32)[0], expected)  # NumPy batches too


def _window_offset(image: np.ndarray, crop: np.ndarray) -> tuple[int, int] | None:
    size = crop.shape[0]
    for top in range(image.shape[0] - size + 1):
        for left in range(image.shape[1] - size + 1):
            if np.array_equal(image[top : top + size, left : left + size], crop):
                return top, left
    return None


def test_random_crop_is_a_window_of_the_right_size_at_every_position():
    offsets = set()
    for i in range(300):
        crop = augment.random_crop(tf.constant(IMAGE), 32, tf.constant([i, 7])).numpy()
        assert crop.shape == (32, 32, 3)
        offset = _window_offset(IMAGE, crop)
        assert offset is not None
        offsets.add(offset)
    assert len(offsets) == 36  # 6 x 6 possible positions, all of them reached


def test_random_flip_mirrors_about_half_of_the_images():
    image = tf.constant(IMAGE)
    mirrored = tf.image.flip_left_right(image).numpy()
    flipped = 0
    for i in range(1000):
        out = augment.random_flip(image, tf.constant([i, 1])).numpy()
        is_mirror = np.array_equal(out, mirrored)
        assert is_mirror or np.array_equal(out, IMAGE)
        flipped += is_mirror
    assert 450 <= flipped <= 550  # Binomial(1000, 1/2): 5 standard deviations


def test_rgb_pca_matches_numpy_covariance():
    pixels = RNG.normal(size=(5000, 3)) @ np.array([[3.0, 0, 0], [1, 2, 0], [0.5, 0.5, 1]])
    values, vectors = augment.rgb_pca(pixels.mean(0), pixels.T @ pixels / len(pixels))
    reference_values, reference_vectors = np.linalg.eigh(np.cov(pixels.T, bias=True))
    np.testing.assert_allclose(values, reference_values[::-1], rtol=1e-5)
    for k in range(3):  # eigenvectors up to sign
        assert abs(float(vectors[:, k] @ reference_vectors[:, 2 - k])) == pytest.approx(1, abs=1e-5)


def test_pca_color_shift_has_the_papers_statistics():
    values = tf.constant([400.0, 40.0, 4.0])
    vectors = tf.constant(np.linalg.qr(RNG.normal(size=(3, 3)))[0], tf.float32)
    shifts = np.stack(
        [augment.pca_color_shift(values, vectors, tf.constant([i, 3])).numpy() for i in range(2000)]
    )
    alphas = shifts @ vectors.numpy() / values.numpy()  # undo [p1 p2 p3][a1 l1, a2 l2, a3 l3]^T
    assert np.all(np.abs(alphas.mean(0)) < 0.01)  # §4.1: alpha ~ N(0, 0.1)
    np.testing.assert_allclose(alphas.std(0), 0.1, rtol=0.08)
    assert np.all(np.abs(np.corrcoef(alphas.T)[np.triu_indices(3, 1)]) < 0.1)  # drawn independently


def test_augment_image_flip_modes_and_colour_shift():
    image, seed = tf.constant(IMAGE), tf.constant([5, 5])
    plain = augment.augment_image(image, 32, seed, flip="none").numpy()
    always = augment.augment_image(image, 32, seed, flip="always").numpy()
    np.testing.assert_array_equal(always, plain[:, ::-1])
    values, vectors = tf.constant([100.0, 10.0, 1.0]), tf.eye(3)
    shifted = augment.augment_image(
        image, 32, seed, flip="none", eigenvalues=values, eigenvectors=vectors
    ).numpy()
    offset = (shifted - plain).reshape(-1, 3)
    np.testing.assert_allclose(
        offset, np.broadcast_to(offset[0], offset.shape), atol=1e-4
    )  # one colour per image
    assert np.abs(offset[0]).max() > 0
    with pytest.raises(ValueError, match="flip"):
        augment.augment_image(image, 32, seed, flip="sometimes")


def test_ten_views_are_corners_centre_and_mirrors():
    images = RNG.uniform(size=(2, 37, 41, 3)).astype(np.float32)
    views = augment.ten_views(images, 32).numpy()
    assert views.shape == (2, 10, 32, 32, 3)
    box = lambda top, left: tf.image.crop_to_bounding_box(images, top, left, 32, 32).numpy()  # noqa: E731
    expected = [box(0, 0), box(0, 9), box(5, 0), box(5, 9), box(2, 4)]
    for k, view in enumerate(expected):
        np.testing.assert_array_equal(views[:, k], view)
        np.testing.assert_array_equal(views[:, 5 + k], tf.image.flip_left_right(view).numpy())
    with pytest.raises(ValueError, match="larger"):
        augment.ten_views(images, 40)
