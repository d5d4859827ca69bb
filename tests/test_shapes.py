"""Shape arithmetic of ``helpers.shapes`` against TensorFlow's shapes, the paper and the Keras model."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest
import tensorflow as tf
from helpers.model import build_alexnet
from helpers.shapes import alexnet_table, conv_output_size


def test_conv_output_size_matches_tensorflow_on_random_cases():
    rng = np.random.default_rng(2012)
    for _ in range(60):
        kernel, stride, pad = int(rng.integers(1, 12)), int(rng.integers(1, 5)), int(rng.integers(0, 4))
        n = int(rng.integers(max(kernel - 2 * pad, 1), 40))
        x = tf.zeros((1, n, n, 1))
        w = tf.zeros((kernel, kernel, 1, 1))
        explicit = tf.nn.conv2d(x, w, stride, [[0, 0], [pad, pad], [pad, pad], [0, 0]]).shape[1]
        assert conv_output_size(n, kernel, stride, pad) == explicit, (n, kernel, stride, pad)
        assert conv_output_size(n, kernel, stride, "same") == tf.nn.conv2d(x, w, stride, "SAME").shape[1]
        if kernel <= n:
            valid = tf.nn.conv2d(x, w, stride, "VALID").shape[1]
            assert conv_output_size(n, kernel, stride, "valid") == valid


def test_conv_output_size_on_the_papers_layers():
    assert conv_output_size(227, 11, 4) == 55  # §3.5 / Figure 2: 55x55x96 after conv1
    assert conv_output_size(55, 3, 2) == 27
    assert conv_output_size(27, 5, 1, 2) == 27
    assert conv_output_size(27, 3, 2) == 13
    assert conv_output_size(13, 3, 2) == 6
    assert conv_output_size(224, 11, 4) == 54  # the paper's stated 224 does not give 55
    assert conv_output_size(224, 11, 4, 2) == 55  # torchvision pads conv1 by 2


def test_conv_output_size_rejects_a_kernel_larger_than_the_input():
    with pytest.raises(ValueError, match="kernel 11 is larger than the padded input 8"):
        conv_output_size(8, 11, 4)


def test_paper_totals():
    assert alexnet_table().parameters.sum() == 60_965_224
    assert alexnet_table(groups=1).parameters.sum() == 62_378_344
    assert alexnet_table(num_classes=10).loc["fc8", "parameters"] == 4096 * 10 + 10


def test_table_follows_figure_2():
    table = alexnet_table()
    assert table.loc["conv1", "output"] == (55, 55, 96)
    assert table.loc["conv2", "output"] == (27, 27, 256)
    assert table.loc["conv5", "output"] == (13, 13, 256)
    assert table.loc["flatten", "output"] == (6 * 6 * 256,)
    assert table.loc["conv1", "multiply_adds"] == 55 * 55 * 96 * 11 * 11 * 3
    assert table.loc["conv1", "activation_bytes"] == 55 * 55 * 96 * 4


def test_non_overlapping_pooling_shapes():
    table = alexnet_table(pooling="non_overlapping")
    assert [table.loc[name, "output"][0] for name in ("pool1", "pool2", "pool5")] == [27, 13, 6]
    assert alexnet_table(99, pooling="non_overlapping").loc["pool5", "output"] == (2, 2, 256)


def test_table_rejects_an_input_too_small():
    with pytest.raises(ValueError, match="too small for layer pool5"):
        alexnet_table(input_size=60)


@pytest.mark.parametrize(
    "variant, groups, input_size, num_classes, pooling",
    [
        ("paper", 2, 227, 1000, "overlapping"),
        ("single_tower", 1, 227, 1000, "overlapping"),
        ("paper", 2, 99, 10, "overlapping"),
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
    if num_classes == 1000:
        assert model.count_params() == {"paper": 60_965_224, "single_tower": 62_378_344}[variant]
