"""The input pipeline on every backend: uint8 batches, reshuffled per epoch, and the
input stage built from a data set's statistics.

Finding, decoding and caching images does not depend on the backend: see
``tests/test_data.py``.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from helpers.data import DataSplits, ImageBatches
from helpers.datasets import DataSource
from helpers.shapes import resize_size

from .arrays import noise_split

RNG = np.random.default_rng(0)
SPLIT = noise_split(RNG, 10, 18, 10)
IMAGES, LABELS = SPLIT.images, SPLIT.labels


def _labels(batches: ImageBatches) -> list[int]:
    return [int(y) for i in range(len(batches)) for y in batches[i][1]]



@pytest.mark.parametrize("shuffle", [False, True])
def test_labels_in_order_are_the_batches_labels_without_the_images(shuffle):
    batches = ImageBatches(SPLIT, 4, shuffle=shuffle, seed=1)
    batches.set_epoch(2)
    assert batches.labels_in_order().tolist() == _labels(batches)

def test_batches_are_uint8_and_cover_the_split_once_per_epoch():
    batches = ImageBatches(SPLIT, 4, shuffle=True, seed=1)
    assert len(batches) == 3  # 4 + 4 + 2
    images, labels = batches[0]
    assert images.dtype == np.uint8 and images.shape == (4, 18, 18, 3)
    np.testing.assert_array_equal(images, IMAGES[labels])  # each image with its label
    first = _labels(batches)
    assert sorted(first) == list(range(10))
    batches.on_epoch_end()  # Keras calls this after every epoch
    second = _labels(batches)
    assert sorted(second) == list(range(10)) and second != first
    assert _labels(ImageBatches(SPLIT, 4, shuffle=False)) == list(range(10))
    with pytest.raises(ValueError, match="batch_size"):
        ImageBatches(SPLIT, 0, shuffle=True)


@pytest.mark.parametrize("index", [-1, 3])
def test_a_batch_past_the_end_is_an_index_error_not_an_empty_batch(index):
    batches = ImageBatches(SPLIT, 4, shuffle=False)  # 10 images: batches 0, 1, 2
    assert len(batches[2][1]) == 2
    with pytest.raises(IndexError, match=f"batch {index} of 3"):
        batches[index]


def test_the_order_of_an_epoch_depends_only_on_the_seed_and_the_epoch():
    a, b = ImageBatches(SPLIT, 3, shuffle=True, seed=7), ImageBatches(SPLIT, 3,
                                                                      shuffle=True, seed=7)
    for _ in range(3):
        a.on_epoch_end()
    b.set_epoch(3)  # a resumed run jumps to its epoch
    assert _labels(a) == _labels(b)
    assert _labels(ImageBatches(SPLIT, 3, shuffle=True, seed=8)) != _labels(
        ImageBatches(SPLIT, 3, shuffle=True, seed=7))


def test_the_input_stage_carries_the_statistics_and_trains_from_uint8_batches():
    source = DataSource("tiny", None, True, "tiny")
    mean = IMAGES.mean(0).astype(np.float32)
    splits = DataSplits(SPLIT, SPLIT, [str(i) for i in range(10)], source, 16, mean,
                        np.array([0.02, 0.002, 0.0002], np.float32), np.eye(3))
    assert resize_size(splits.image_size) == 18
    stage = splits.augmentation(flip="none")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(stage.mean_image), mean)
    keras.utils.set_random_seed(0)
    inputs = keras.Input((18, 18, 3), dtype="uint8")
    x = keras.layers.Flatten()(stage(inputs))
    model = keras.Model(inputs, keras.layers.Dense(10)(x))
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(splits.batches("train", 5), epochs=2, verbose=0, shuffle=False)
    assert len(history.history["loss"]) == 2
    assert np.isfinite(history.history["loss"]).all()
    out = keras.ops.convert_to_numpy(stage(IMAGES[:2], training=False))
    np.testing.assert_allclose(out, (IMAGES[:2] - mean)[:, 1:17, 1:17], atol=1e-4)
