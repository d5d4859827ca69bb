"""The paper's preprocessing and data augmentation (§2, §4.1), on batches, in keras.ops.

- §2: images are rescaled so that the shorter side is 256 and the central 256 x 256
  patch is kept (done once, when the images are decoded: ``helpers.data``); "the mean
  activity over the training set" is subtracted from each pixel.
- §4.1, first form: random 224 x 224 patches and their horizontal reflections; at test
  time ten patches (four corners and the centre, and their reflections).
- §4.1, second form: PCA colour augmentation, adding ``[p1 p2 p3] [a1 l1, a2 l2, a3
  l3]^T`` to every pixel, with ``p_i, l_i`` the eigenvectors and eigenvalues of the
  training set's 3 x 3 RGB covariance and ``a_i ~ N(0, 0.1)`` drawn once per image per
  presentation. The paper does not say on which scale the covariance is taken; as is
  common, we take pixel values in [0, 1] and scale the shift back to 0-255.
- The paper gives no probability for the reflections; 1/2 is the standard reading.

Everything here is written with ``keras.ops`` and ``keras.random``, so it runs on the
TensorFlow, JAX and PyTorch backends alike, and ``PaperAugmentation`` runs it inside the
compiled training step (on the GPU when there is one): the input pipeline only gathers
``uint8`` images. Sizes scale with the profile: for a network input of ``S`` pixels the
images are resized to ``helpers.shapes.resize_size(S) = round(S * 256 / 224)``, as 256
is to 224.

Taught in ``book/06_data_augmentation.ipynb``; checked by ``tests/test_augment.py``
(against TensorFlow's image ops) and ``tests/portable/test_augment.py`` (every backend).
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import ops

PCA_ALPHA_STD = 0.1  # §4.1: "Gaussian with mean zero and standard deviation 0.1"
FLIP_MODES = ("random", "always", "none")
VIEW_NAMES = ("top left", "top right", "bottom left", "bottom right", "centre")


def augmentation_factor(image_side: int = 256, crop: int = 224, *,
                        every_position: bool = False) -> int:
    """How many training images crops and reflections make of one image (§4.1: 2048).

    The paper counts (256 - 224)^2 crop positions times 2 reflections; a window can in
    fact sit at one more position per axis, (256 - 224 + 1)^2 x 2 = 2178 with
    ``every_position``. The PCA colour shift is continuous and not counted.
    """
    if not 0 < crop <= image_side:
        raise ValueError(f"a {crop}-pixel crop does not fit a {image_side}-pixel image")
    positions = image_side - crop + (1 if every_position else 0)
    return positions**2 * 2


def rgb_pca(pixel_mean: np.ndarray,
            pixel_sq_mean: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues ``(3,)`` and eigenvectors ``(3, 3)`` (columns) of the RGB covariance.

    ``pixel_mean``: ``(3,)`` E[x]; ``pixel_sq_mean``: ``(3, 3)`` E[x x^T], both over
    every pixel of the training set, with x in [0, 1]. Eigenvalues in decreasing order.
    """
    mean = np.asarray(pixel_mean, np.float64)
    covariance = np.asarray(pixel_sq_mean, np.float64) - np.outer(mean, mean)
    values, vectors = np.linalg.eigh(covariance)
    order = np.argsort(values)[::-1]
    return values[order].astype(np.float32), vectors[:, order].astype(np.float32)


def _check_flip(flip: str) -> None:
    if flip not in FLIP_MODES:
        raise ValueError(f"flip must be one of {FLIP_MODES}, got {flip!r}")


def crop_and_flip(images: Any, size: int, tops: Any, lefts: Any, flips: Any) -> Any:
    """One ``size`` x ``size`` patch per image, at its own position, mirrored if asked.

    ``images: (B, R, R, C)``; ``tops, lefts: (B,)`` int; ``flips: (B,)`` bool. Returns
    ``(B, size, size, C)``. One gather: each output pixel names the pixel it copies.
    """
    batch, height, width, channels = ops.shape(images)
    steps = ops.arange(size, dtype="int32")
    rows = ops.expand_dims(ops.cast(tops, "int32"), 1) + steps  # (B, S)
    cols = ops.expand_dims(ops.cast(lefts, "int32"), 1) + steps
    cols = ops.where(ops.expand_dims(flips, 1), ops.flip(cols, axis=1), cols)  # mirror
    first = ops.arange(batch, dtype="int32") * (height * width)  # image b starts here
    pixel = first[:, None, None] + rows[:, :, None] * width + cols[:, None, :]
    return ops.take(ops.reshape(images, (-1, channels)), pixel, axis=0)


def pca_color_shift(alphas: Any, eigenvalues: Any, eigenvectors: Any) -> Any:
    """§4.1: each image's RGB offset ``(B, 3)``: ``[p1 p2 p3] [a1 l1, a2 l2, a3 l3]^T``.

    ``alphas: (B, 3)`` drawn from N(0, 0.1); ``eigenvalues (3,)`` and ``eigenvectors
    (3, 3)`` (columns) of pixel values in [0, 1]. The offset is in those units.
    """
    alphas = ops.convert_to_tensor(alphas)
    scaled = alphas * ops.convert_to_tensor(eigenvalues, alphas.dtype)  # a_i * l_i
    vectors = ops.convert_to_tensor(eigenvectors, alphas.dtype)
    return ops.matmul(scaled, ops.transpose(vectors))


def augment_batch(images: Any, size: int, seed: Any, *, flip: str = "random",
                  eigenvalues: Any = None, eigenvectors: Any = None) -> Any:
    """§4.1 on mean-subtracted images ``(B, R, R, 3)`` (0-255) -> ``(B, S, S, 3)``.

    A random ``size``-pixel patch per image, mirrored with probability 1/2
    (``flip="random"``), every image mirrored (``"always"``) or none (``"none"``), plus
    the PCA colour shift when the eigen-decomposition is given. ``seed``: an int or a
    ``keras.random.SeedGenerator``.
    """
    _check_flip(flip)
    seed = keras.random.SeedGenerator(seed) if isinstance(seed, int) else seed
    batch, room = ops.shape(images)[0], ops.shape(images)[1] - size + 1
    tops = keras.random.randint((batch,), 0, room, seed=seed)
    lefts = keras.random.randint((batch,), 0, room, seed=seed)
    coins = keras.random.uniform((batch,), seed=seed) < 0.5  # the paper gives no odds
    flips = coins if flip == "random" else ops.full((batch,), flip == "always", "bool")
    views = crop_and_flip(images, size, tops, lefts, flips)
    if eigenvalues is None:
        return views
    alphas = keras.random.normal((batch, 3), stddev=PCA_ALPHA_STD, seed=seed)
    shift = 255.0 * pca_color_shift(alphas, eigenvalues, eigenvectors)
    return views + ops.cast(shift[:, None, None, :], views.dtype)


def center_crop(images: Any, size: int) -> Any:
    """The central ``size`` x ``size`` patch of ``images``: ``(..., H, W, C)``."""
    height, width = images.shape[-3], images.shape[-2]
    top, left = (height - size) // 2, (width - size) // 2
    return images[..., top : top + size, left : left + size, :]


def ten_views(images: Any, size: int) -> Any:
    """§4.1's ten test patches: ``(B, H, W, C) -> (B, 10, size, size, C)``.

    Order: the ``VIEW_NAMES`` (four corners, then the centre), then the same five
    mirrored.
    """
    height, width = images.shape[-3], images.shape[-2]
    if size > min(height, width):
        raise ValueError(f"ten_views: crop {size} is larger than the images "
                         f"({height}x{width}); resize them first (see "
                         "helpers.shapes.resize_size)")
    bottom, right = height - size, width - size
    corners = [(0, 0), (0, right), (bottom, 0), (bottom, right),
               (bottom // 2, right // 2)]
    five = [images[:, top : top + size, left : left + size, :] for top, left in corners]
    return ops.stack(five + [ops.flip(view, axis=2) for view in five], axis=1)


@keras.saving.register_keras_serializable(package="alexnet")
class PaperAugmentation(keras.layers.Layer):
    """The network's input stage: ``uint8`` images ``(B, R, R, 3)`` -> ``(B, S, S, 3)``.

    Subtracts the training set's mean image (§2); while training (and ``augment``),
    ``augment_batch`` (random patch, reflection, PCA colour, §4.1); otherwise the centre
    patch (mirrored too when ``flip="always"``, the bug some re-implementations have).
    The mean image and the RGB eigen-decomposition are non-trainable weights, so a
    checkpoint carries them.
    """

    def __init__(self, crop_size: int, resized_size: int, *, flip: str = "random",
                 pca_color: bool = True, augment: bool = True, seed: int | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**{"name": "augment", **kwargs})
        _check_flip(flip)
        if crop_size > resized_size:
            raise ValueError(f"PaperAugmentation: crop {crop_size} is larger than the "
                             f"images ({resized_size}); use "
                             "helpers.shapes.resize_size(crop_size)")
        self.crop_size, self.resized_size = crop_size, resized_size
        self.flip, self.pca_color, self.augment = flip, pca_color, augment
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        r = resized_size
        self.mean_image = self.add_weight((r, r, 3), initializer="zeros",
                                          trainable=False, name="mean_image",
                                          autocast=False)
        self.eigenvalues = self.add_weight((3,), initializer="zeros", trainable=False,
                                           name="eigenvalues", autocast=False)
        self.eigenvectors = self.add_weight((3, 3), initializer="identity",
                                            trainable=False, name="eigenvectors",
                                            autocast=False)

    def set_statistics(self, mean_image: np.ndarray, eigenvalues: np.ndarray,
                       eigenvectors: np.ndarray) -> PaperAugmentation:
        """Store the training set's mean image and RGB PCA (``helpers.data``)."""
        self.mean_image.assign(np.asarray(mean_image, np.float32))
        self.eigenvalues.assign(np.asarray(eigenvalues, np.float32))
        self.eigenvectors.assign(np.asarray(eigenvectors, np.float32))
        return self

    def call(self, images: Any, training: bool | None = None) -> Any:
        x = ops.cast(images, "float32") - self.mean_image
        if training and self.augment:
            pca = self.pca_color
            x = augment_batch(x, self.crop_size, self.seed_generator, flip=self.flip,
                              eigenvalues=self.eigenvalues if pca else None,
                              eigenvectors=self.eigenvectors if pca else None)
        else:
            x = center_crop(x, self.crop_size)
            x = ops.flip(x, axis=2) if self.flip == "always" else x
        return ops.cast(x, self.compute_dtype)

    def views(self, images: Any) -> Any:
        """The ten test views of uint8 ``images (B, R, R, 3)``: ``(B * 10, S, S, 3)``.

        View ``k`` of image ``b`` is row ``10 * b + k`` (order: ``ten_views``).
        """
        x = ops.cast(images, "float32") - self.mean_image
        x = ops.flip(x, axis=2) if self.flip == "always" else x
        s = self.crop_size
        return ops.cast(ops.reshape(ten_views(x, s), (-1, s, s, 3)), self.compute_dtype)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return (input_shape[0], self.crop_size, self.crop_size, input_shape[-1])

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "crop_size": self.crop_size,
                "resized_size": self.resized_size, "flip": self.flip,
                "pca_color": self.pca_color, "augment": self.augment, "seed": self.seed}
