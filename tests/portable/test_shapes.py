"""Shape arithmetic of ``helpers.shapes`` against Keras' shapes, the paper and the model.

Runs on every Keras backend; ``tests/test_shapes_tf.py`` checks the formula against
``tf.nn.conv2d`` as well.
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import pytest
from helpers.layers import conv2d
from helpers.model import build_alexnet
from helpers.shapes import (
    alexnet_layers,
    alexnet_table,
    conv_output_size,
    layer_table,
    minimum_input_size,
    resize_size,
)


def test_resize_size_scales_like_256_to_224():
    assert resize_size(224) == 256  # §2/§4.1: 256 x 256 images, 224 x 224 crops
    assert resize_size(227) == 259
    assert resize_size(67) == 77
    with pytest.raises(ValueError, match="positive"):
        resize_size(0)


def test_conv_output_size_matches_keras_and_the_numpy_layer_on_random_cases():
    rng = np.random.default_rng(2012)
    for _ in range(40):
        kernel, stride, pad = int(rng.integers(1, 12)), int(rng.integers(1, 5)), int(rng.integers(0, 4))
        n = int(rng.integers(max(kernel - 2 * pad, 1), 40))
        x, w = np.zeros((1, n, n, 1), np.float32), np.zeros((kernel, kernel, 1, 1), np.float32)
        assert conv_output_size(n, kernel, stride, pad) == conv2d(x, w, stride=stride, padding=pad).shape[1]
        for padding in ("valid", "same"):
            if padding == "valid" and kernel > n:
                continue
            layer = keras.layers.Conv2D(1, kernel, strides=stride, padding=padding)
            expected = layer.compute_output_shape((1, n, n, 1))[1]
            assert conv_output_size(n, kernel, stride, padding) == expected, (n, kernel, stride, padding)


def test_conv_output_size_on_the_papers_layers():
    assert conv_output_size(227, 11, 4) == 55  # §3.5 / Figure 2: 55x55x96 after conv1
    assert conv_output_size(55, 3, 2) == 27
    assert conv_output_size(27, 5, 1, 2) == 27
    assert conv_output_size(27, 3, 2) == 13
    assert conv_output_size(13, 3, 2) == 6
    assert conv_output_size(224, 11, 4) == 54  # the paper's stated 224 does not give 55
    assert conv_output_size(224, 11, 4, 2) == 55  # torchvision pads conv1 by 2


@pytest.mark.parametrize("args, words", [((8, 11, 4), "kernel 11 is larger than the padded input 8"),
                                         ((8, 3, 0), "must all be positive"),
                                         ((8, 3, 1, -1), "non-negative int")])
def test_conv_output_size_says_what_is_wrong(args, words):
    with pytest.raises(ValueError, match=words):
        conv_output_size(*args)


def test_paper_totals():
    assert alexnet_table().parameters.sum() == 60_965_224
    assert alexnet_table(groups=1).parameters.sum() == 62_378_344
    assert alexnet_table(num_classes=10).loc["fc8", "parameters"] == 4096 * 10 + 10


def test_table_follows_figure_2():
    table = alexnet_table()
    assert table.loc["conv1", "output"] == (55, 55, 96)
    assert table.loc["conv2", "output"] == (27, 27, 256)
    assert table.loc["conv3", "output"] == table.loc["conv4", "output"] == (13, 13, 384)
    assert table.loc["conv5", "output"] == (13, 13, 256)
    assert table.loc["flatten", "output"] == (6 * 6 * 256,)
    assert table.loc["conv1", "multiply_adds"] == 55 * 55 * 96 * 11 * 11 * 3
    assert table.loc["conv2", "parameters"] == 5 * 5 * 48 * 256 + 256  # one tower's 48 maps
    assert table.loc["conv1", "activation_bytes"] == 55 * 55 * 96 * 4


def test_non_overlapping_pooling_shapes():
    table = alexnet_table(pooling="non_overlapping")
    assert [table.loc[name, "output"][0] for name in ("pool1", "pool2", "pool5")] == [27, 13, 6]
    assert alexnet_table(99, pooling="non_overlapping").loc["pool5", "output"] == (2, 2, 256)


def test_layer_table_walks_any_list_of_layers():
    """The one-GPU baseline of §3.2: half the kernels in conv1-4, conv5 and fc as before."""
    half = {"conv1": 48, "conv2": 128, "conv3": 192, "conv4": 192}
    layers = [dataclasses.replace(spec, filters=half.get(spec.name, spec.filters))
              for spec in alexnet_layers(groups=1)]
    table = layer_table(layers)
    assert table.loc["conv3", "parameters"] == 3 * 3 * 128 * 192 + 192
    assert table.loc["conv5", "parameters"] == 3 * 3 * 192 * 256 + 256
    assert table.loc["flatten", "output"] == (9216,)


def test_table_rejects_an_input_too_small_and_names_the_layer():
    with pytest.raises(ValueError, match="too small for layer pool5"):
        alexnet_table(input_size=60)
    with pytest.raises(ValueError, match="pooling must be one of"):
        alexnet_table(pooling="average")
    with pytest.raises(ValueError, match="groups must be 2"):
        alexnet_table(groups=4)


def test_minimum_input_size_is_the_smallest_that_fits():
    for pooling in ("overlapping", "non_overlapping"):
        smallest = minimum_input_size(pooling)
        alexnet_table(smallest, pooling=pooling)
        with pytest.raises(ValueError):
            alexnet_table(smallest - 1, pooling=pooling)
    assert minimum_input_size() == 67


@pytest.mark.parametrize(
    "variant, groups, input_size, num_classes, pooling",
    [
        ("paper", 2, 131, 1000, "overlapping"),  # 227: tests/portable/test_model.py
        ("single_tower", 1, 99, 10, "overlapping"),
        ("paper", 2, 99, 10, "non_overlapping"),
        ("single_tower", 1, 67, 10, "non_overlapping"),
    ],
)
def test_table_matches_the_keras_model(variant, groups, input_size, num_classes, pooling):
    model = build_alexnet(num_classes=num_classes, input_size=input_size, variant=variant, pooling=pooling)
    table = alexnet_table(input_size=input_size, num_classes=num_classes, groups=groups, pooling=pooling)
    model_layers = [layer.name for layer in model.layers if layer.name in table.index]
    assert model_layers == list(table.index), "the table and the model must list the same layers in order"
    for name, row in table.iterrows():
        layer = model.get_layer(name)
        assert tuple(layer.output.shape[1:]) == row.output, name
        assert layer.count_params() == row.parameters, name
    assert table.parameters.sum() == model.count_params()
