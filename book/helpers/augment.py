"""The paper's preprocessing and data augmentation (§2, §4.1), per image, in TensorFlow.

- §2: "we down-sampled the images to a fixed resolution of 256 x 256": shorter side to
  256, then the central 256 x 256 patch; the mean activity over the training set is
  subtracted from each pixel.
- §4.1, first form: random 224 x 224 patches and their horizontal reflections; at test
  time ten patches (four corners and the centre, and their reflections).
- §4.1, second form: PCA colour augmentation, adding ``[p1 p2 p3] [a1 l1, a2 l2, a3 l3]^T``
  to every pixel, with ``p_i, l_i`` the eigenvectors and eigenvalues of the training set's
  3 x 3 RGB covariance and ``a_i ~ N(0, 0.1)`` drawn once per image per presentation.
  The paper does not say on which scale the covariance is taken; as is common, we take
  pixel values in [0, 1] (on the 0-255 scale, eigenvalues in grey levels squared would
  shift colours by hundreds of grey levels) and scale the shift back to the images' range.

Sizes scale with the profile: for a network input of ``S`` pixels the image is resized
to ``resize_size(S) = round(S * 256 / 224)`` first, as 256 is to 224 in the paper.
All random functions are stateless (``seed``: int32 tensor of shape (2,)), so a seed
gives the same augmentation on every run.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

PCA_ALPHA_STD = 0.1  # §4.1: "Gaussian with mean zero and standard deviation 0.1"
FLIP_MODES = ("random", "always", "none")


def resize_size(image_size: int) -> int:
    """The side the images are resized and centre-cropped to before cropping ``image_size``.

    §2 and §4.1: 256 before 224-pixel crops; scaled: ``round(image_size * 256 / 224)``.
    """
    if image_size < 1:
        raise ValueError(f"resize_size: image_size must be positive, got {image_size}")
    return round(image_size * 256 / 224)


def rgb_pca(pixels_mean: np.ndarray, pixels_sq_mean: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues (3,) and eigenvectors (3, 3) (columns) of the RGB covariance, from running moments.

    ``pixels_mean``: (3,) E[x]; ``pixels_sq_mean``: (3, 3) E[x x^T], both over every
    pixel of the training set, with x in [0, 1] for ``augment_image``. Eigenvalues are
    sorted in decreasing order.
    """
    covariance = np.asarray(pixels_sq_mean, np.float64) - np.outer(pixels_mean, pixels_mean)
    values, vectors = np.linalg.eigh(covariance)
    order = np.argsort(values)[::-1]
    return values[order].astype(np.float32), vectors[:, order].astype(np.float32)


def pca_color_shift(eigenvalues: tf.Tensor, eigenvectors: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """The RGB offset (3,) one image gets: ``eigenvectors @ (alpha * eigenvalues)``, alpha ~ N(0, 0.1).

    The offset is in the units the eigenvalues were computed in (pixel values in [0, 1]).
    """
    alpha = tf.random.stateless_normal([3], seed=seed, stddev=PCA_ALPHA_STD)
    return tf.linalg.matvec(tf.cast(eigenvectors, tf.float32), alpha * tf.cast(eigenvalues, tf.float32))


def center_crop(image: tf.Tensor, size: int) -> tf.Tensor:
    """The central ``size`` x ``size`` patch of ``image``: (H, W, C) or (B, H, W, C)."""
    height, width = image.shape[-3], image.shape[-2]
    top, left = (height - size) // 2, (width - size) // 2
    return image[..., top : top + size, left : left + size, :]


def random_crop(image: tf.Tensor, size: int, seed: tf.Tensor) -> tf.Tensor:
    """A ``size`` x ``size`` patch of ``image`` (H, W, C) at a uniformly random position (§4.1)."""
    return tf.image.stateless_random_crop(image, [size, size, image.shape[-1]], seed=seed)


def random_flip(image: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """``image`` (H, W, C) mirrored left-right with probability 1/2 (§4.1)."""
    return tf.image.stateless_random_flip_left_right(image, seed=seed)


def augment_image(
    image: tf.Tensor,
    crop_size: int,
    seed: tf.Tensor,
    *,
    flip: str = "random",
    eigenvalues: tf.Tensor | None = None,
    eigenvectors: tf.Tensor | None = None,
    value_range: float = 255.0,
) -> tf.Tensor:
    """One training view of a mean-subtracted ``image`` (R, R, 3): crop, flip, PCA colour shift.

    ``flip``: "random" (the paper), "always" (mirror every image), "none". With
    ``eigenvalues``/``eigenvectors`` (of pixel values in [0, 1], see ``rgb_pca``) given,
    the PCA colour shift of §4.1 is added, times ``value_range`` (255 for 0-255 images).
    """
    if flip not in FLIP_MODES:
        raise ValueError(f"augment_image: flip must be one of {FLIP_MODES}, got {flip!r}")
    seeds = tf.random.experimental.stateless_split(seed, num=3)
    view = random_crop(image, crop_size, seeds[0])
    if flip == "random":
        view = random_flip(view, seeds[1])
    elif flip == "always":
        view = tf.reverse(view, axis=[-2])
    if eigenvalues is not None and eigenvectors is not None:
        view = view + value_range * pca_color_shift(eigenvalues, eigenvectors, seeds[2])
    return view


def ten_views(images: tf.Tensor | np.ndarray, crop_size: int) -> tf.Tensor:
    """The ten test patches of §4.1: (N, H, W, C) -> (N, 10, crop, crop, C).

    Order: top-left, top-right, bottom-left, bottom-right, centre, then the same five
    mirrored left-right.
    """
    images = tf.convert_to_tensor(images)
    height, width = images.shape[-3], images.shape[-2]
    if crop_size > min(height, width):
        raise ValueError(
            f"ten_views: crop {crop_size} is larger than the images ({height}x{width}); "
            "resize them first (see resize_size)"
        )
    s, bottom, right = crop_size, height - crop_size, width - crop_size
    corners = [(0, 0), (0, right), (bottom, 0), (bottom, right), (bottom // 2, right // 2)]
    five = [images[:, top : top + s, left : left + s, :] for top, left in corners]
    views = five + [tf.reverse(view, axis=[2]) for view in five]
    return tf.stack(views, axis=1)
