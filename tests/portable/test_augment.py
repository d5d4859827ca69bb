"""The paper's augmentation (§4.1) and preprocessing (§2) in keras.ops, on every backend.

References are NumPy slicing and NumPy statistics; ``tests/test_augment.py`` checks the
same functions against TensorFlow's image ops.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from helpers import augment
from helpers.shapes import resize_size
from keras import ops

from .arrays import TOY_EIGENVALUES, TOY_EIGENVECTORS

RNG = np.random.default_rng(0)
IMAGES = RNG.uniform(-100, 100, size=(4, 9, 9, 3)).astype(np.float32)


def _np(x):
    return np.asarray(ops.convert_to_numpy(x))


def test_crop_and_flip_is_numpy_slicing():
    tops, lefts = np.array([0, 3, 1, 2]), np.array([3, 0, 2, 1])
    flips = np.array([False, True, True, False])
    out = _np(augment.crop_and_flip(IMAGES, 6, tops, lefts, flips))
    for b in range(4):
        window = IMAGES[b, tops[b] : tops[b] + 6, lefts[b] : lefts[b] + 6]
        np.testing.assert_array_equal(out[b], window[:, ::-1] if flips[b] else window)


def _window_offset(image: np.ndarray, crop: np.ndarray) -> tuple[int, int, bool] | None:
    size = crop.shape[0]
    for top in range(image.shape[0] - size + 1):
        for left in range(image.shape[1] - size + 1):
            window = image[top : top + size, left : left + size]
            for mirrored, candidate in ((False, window), (True, window[:, ::-1])):
                if np.array_equal(candidate, crop):
                    return top, left, mirrored
    return None


def test_augment_batch_reaches_every_position_and_mirrors_about_half():
    image = np.repeat(IMAGES[:1], 200, axis=0)  # one image, 200 independent draws
    out = _np(augment.augment_batch(image, 6, seed=3))
    found = [_window_offset(IMAGES[0], crop) for crop in out]
    assert None not in found
    assert {(t, lf) for t, lf, _ in found} == {(t, lf) for t in range(4) for lf in range(4)}
    mirrored = sum(m for *_, m in found)
    assert 60 <= mirrored <= 140  # Binomial(200, 1/2): five standard deviations


@pytest.mark.parametrize("flip, expected", [("always", True), ("none", False)])
def test_flip_modes(flip, expected):
    out = _np(augment.augment_batch(IMAGES, 6, seed=1, flip=flip))
    assert all(_window_offset(IMAGES[b], out[b])[2] is expected for b in range(4))
    with pytest.raises(ValueError, match="flip"):
        augment.augment_batch(IMAGES, 6, seed=1, flip="sometimes")


def test_pca_shift_is_one_colour_per_image_with_the_papers_statistics():
    values = np.array([0.04, 0.004, 0.0004], np.float32)
    vectors = np.linalg.qr(RNG.normal(size=(3, 3)))[0].astype(np.float32)
    images = np.repeat(IMAGES[:1], 2000, axis=0)
    plain = _np(augment.augment_batch(images, 6, seed=5))
    shifted = _np(augment.augment_batch(images, 6, seed=5, eigenvalues=values,
                                        eigenvectors=vectors))
    offsets = (shifted - plain).reshape(len(images), -1, 3)  # same seed: same crops
    np.testing.assert_allclose(offsets, offsets[:, :1].repeat(36, axis=1), atol=1e-3)
    alphas = offsets[:, 0] / 255.0 @ vectors / values  # undo [p1 p2 p3][a1 l1 ...]^T
    assert np.all(np.abs(alphas.mean(0)) < 0.01)  # §4.1: alpha ~ N(0, 0.1)
    np.testing.assert_allclose(alphas.std(0), 0.1, rtol=0.08)
    correlations = np.corrcoef(alphas.T)[np.triu_indices(3, 1)]
    assert np.all(np.abs(correlations) < 0.1)  # drawn independently


def test_pca_color_shift_is_the_papers_formula():
    alphas = RNG.normal(size=(5, 3)).astype(np.float32)
    values = np.array([3.0, 2.0, 1.0], np.float32)
    vectors = np.linalg.qr(RNG.normal(size=(3, 3)))[0].astype(np.float32)
    expected = np.stack([sum(vectors[:, i] * a[i] * values[i] for i in range(3))
                         for a in alphas])
    got = _np(augment.pca_color_shift(alphas, values, vectors))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_rgb_pca_matches_numpy_covariance():
    mix = np.array([[3.0, 0, 0], [1, 2, 0], [0.5, 0.5, 1]])
    pixels = RNG.normal(size=(5000, 3)) @ mix
    values, vectors = augment.rgb_pca(pixels.mean(0), pixels.T @ pixels / len(pixels))
    ref_values, ref_vectors = np.linalg.eigh(np.cov(pixels.T, bias=True))
    np.testing.assert_allclose(values, ref_values[::-1], rtol=1e-5)
    for k in range(3):  # eigenvectors up to sign
        assert abs(float(vectors[:, k] @ ref_vectors[:, 2 - k])) == pytest.approx(1, abs=1e-5)


def test_ten_views_are_corners_centre_and_mirrors():
    images = RNG.uniform(size=(2, 11, 13, 3)).astype(np.float32)
    views = _np(augment.ten_views(images, 8))
    assert views.shape == (2, 10, 8, 8, 3)
    corners = [(0, 0), (0, 5), (3, 0), (3, 5), (1, 2)]  # VIEW_NAMES order
    for k, (top, left) in enumerate(corners):
        window = images[:, top : top + 8, left : left + 8]
        np.testing.assert_array_equal(views[:, k], window)
        np.testing.assert_array_equal(views[:, 5 + k], window[:, :, ::-1])
    np.testing.assert_array_equal(views[:, 4], _np(augment.center_crop(images, 8)))
    with pytest.raises(ValueError, match="larger"):
        augment.ten_views(images, 12)


MEAN = RNG.uniform(0, 255, size=(9, 9, 3)).astype(np.float32)


def _stage(**kwargs) -> augment.PaperAugmentation:
    stage = augment.PaperAugmentation(6, 9, seed=7, **kwargs)
    return stage.set_statistics(MEAN, TOY_EIGENVALUES, TOY_EIGENVECTORS)


def test_the_input_stage_subtracts_the_mean_and_crops():
    uint8 = RNG.integers(0, 256, size=(4, 9, 9, 3), dtype=np.uint8)
    stage = _stage()
    centred = uint8.astype(np.float32) - _np(stage.mean_image)
    inference = _np(stage(uint8, training=False))
    np.testing.assert_allclose(inference, centred[:, 1:7, 1:7], atol=1e-4)
    views = _np(stage.views(uint8)).reshape(4, 10, 6, 6, 3)
    np.testing.assert_allclose(views[:, 4], inference, atol=1e-4)  # view 4: the centre
    trained = _np(_stage(pca_color=False)(uint8, training=True))
    for b in range(4):  # every training view is a window of the centred image
        assert _window_offset(centred[b], trained[b]) is not None
    assert not np.allclose(_np(stage(uint8, training=True)), inference)


def test_flip_always_mirrors_validation_too_and_config_round_trips():
    uint8 = RNG.integers(0, 256, size=(2, 9, 9, 3), dtype=np.uint8)
    always, plain = _stage(flip="always"), _stage(flip="none")
    np.testing.assert_allclose(_np(always(uint8, training=False)),
                               _np(plain(uint8, training=False))[:, :, ::-1], atol=1e-4)
    config = keras.saving.serialize_keras_object(always)
    again = keras.saving.deserialize_keras_object(config)
    assert (again.crop_size, again.resized_size, again.flip) == (6, 9, "always")
    assert again.name == "augment"
    with pytest.raises(ValueError, match="resize_size"):
        augment.PaperAugmentation(10, 9)


def test_augmentation_factor_counts_as_the_paper_and_every_position():
    assert augment.augmentation_factor() == 2048  # §4.1
    assert augment.augmentation_factor(every_position=True) == 33**2 * 2
    assert augment.augmentation_factor(resize_size(67), 67) == 10**2 * 2
    assert augment.augmentation_factor(224, 224) == 0
    with pytest.raises(ValueError, match="does not fit"):
        augment.augmentation_factor(224, 227)
