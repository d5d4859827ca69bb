"""The AlexNet builder on any Keras backend: counts against the paper, shapes against the
shape table, NumPy == Keras, variants, serialization and errors that say what to do.

The comparison of ``TowerConv2D`` with Keras' own ``Conv2D(groups=2)`` (a TensorFlow
reference) is in ``tests/test_model_tf.py``.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from helpers import layers as L
from helpers.lrn import LocalResponseNormalization
from helpers.model import (
    TowerConv2D,
    build_alexnet,
    layer_costs,
    numpy_forward,
    numpy_weights,
)
from helpers.seeding import set_seed
from helpers.shapes import alexnet_table

LAYER_NAMES = ["image", "conv1", "lrn1", "pool1", "conv2", "lrn2", "pool2", "conv3", "conv4",
               "conv5", "pool5", "flatten", "fc6", "drop6", "fc7", "drop7", "fc8"]
BIAS_ONE = ("conv2", "conv4", "conv5", "fc6", "fc7")  # §5


def numpy_of(x) -> np.ndarray:
    return keras.ops.convert_to_numpy(x)


@pytest.fixture(scope="module")
def paper() -> keras.Model:
    set_seed()
    return build_alexnet()


@pytest.fixture(scope="module")
def small_paper() -> keras.Model:
    """The paper's network on the smallest input it accepts, for the tests that run it."""
    set_seed()
    return build_alexnet(num_classes=10, input_size=67)


def test_parameter_counts_are_the_papers():
    # The two-GPU network (grouped conv2/4/5) and the one-tower network most ports build;
    # counted from the layers' weights, not from the model's own bookkeeping.
    for variant, expected in [("paper", 60_965_224), ("single_tower", 62_378_344)]:
        model = build_alexnet(variant=variant)
        assert sum(int(np.prod(w.shape)) for w in model.weights) == expected, variant
        assert model.count_params() == expected, variant


def test_layers_and_shapes_follow_the_shape_table(paper):
    assert [layer.name for layer in paper.layers] == LAYER_NAMES
    table = alexnet_table()
    for name, row in table.iterrows():
        assert tuple(paper.get_layer(name).output.shape[1:]) == row.output, name
    # Figure 2 / §3.5: 55x55x96, 27x27x256, 13x13x384, 13x13x384, 13x13x256 -> 9216.
    assert table.loc["conv1", "output"] == (55, 55, 96)
    assert table.loc["flatten", "output"] == (9216,)
    convs = ("conv1", "conv2", "conv3", "conv4", "conv5")
    assert [paper.get_layer(n).groups for n in convs] == [1, 2, 1, 2, 2]
    assert all(isinstance(paper.get_layer(n), TowerConv2D) for n in convs)
    assert [paper.get_layer(n).pool_size for n in ("pool1", "pool2", "pool5")] == [(3, 3)] * 3


def test_relu_after_every_weighted_layer_but_the_last(paper):
    hidden = ("conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7")
    assert all(paper.get_layer(n).activation.__name__ == "relu" for n in hidden)
    assert paper.get_layer("fc8").activation.__name__ == "linear"  # logits


def test_paper_initialisation(paper):
    # §5: weights N(0, 0.01); biases 1 in conv2, conv4, conv5, fc6, fc7 and 0 elsewhere.
    for name in ("conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8"):
        kernel, bias = (numpy_of(w) for w in paper.get_layer(name).weights)
        assert abs(kernel.std() - 0.01) < 0.0005 and abs(kernel.mean()) < 0.001, name
        assert np.all(bias == (1.0 if name in BIAS_ONE else 0.0)), name


def test_layer_costs_agree_with_the_shape_table_and_hand_counts(paper):
    costs = layer_costs(paper)
    table = alexnet_table()
    for column in ("parameters", "multiply_adds"):
        assert table.loc[costs.index, column].astype(int).tolist() == costs[column].tolist()
    assert costs["parameters"].sum() == 60_965_224
    # conv2: 27*27 positions x 256 kernels x 5*5*48 weights (one tower's 48 maps).
    assert costs.loc["conv2", "multiply_adds"] == 27 * 27 * 256 * 5 * 5 * 48
    fc = costs[costs["kind"] == "fc"]
    assert 95 < fc["parameters_pct"].sum() < 97  # "most of the 60 million parameters"
    assert fc["multiply_adds_pct"].sum() < 10  # ... but few of the multiply-adds


def test_modern_variant_uses_batch_norm_and_he_init():
    set_seed()
    model = build_alexnet(num_classes=10, input_size=99, variant="modern")
    names = [layer.name for layer in model.layers]
    assert "bn1" in names and "bn2" in names and not any(n.startswith("lrn") for n in names)
    assert names.index("bn1") == names.index("conv1") + 1
    assert all(model.get_layer(n).groups == 1 for n in ("conv2", "conv4", "conv5"))
    kernel, bias = (numpy_of(w) for w in model.get_layer("conv3").weights)
    he_std = np.sqrt(2 / (3 * 3 * 256))  # He normal: std sqrt(2 / fan_in)
    assert abs(kernel.std() - he_std) < 0.1 * he_std
    assert np.all(bias == 0)


@pytest.mark.parametrize("normalization, present", [("none", None), ("batchnorm", "bn")])
def test_normalization_override(normalization, present):
    model = build_alexnet(num_classes=5, input_size=67, normalization=normalization)
    names = [layer.name for layer in model.layers]
    assert not any(n.startswith("lrn") for n in names)
    if present:
        assert [n for n in names if n.startswith(present)] == [f"{present}1", f"{present}2"]


def test_non_overlapping_pooling_and_dropout_rate():
    model = build_alexnet(num_classes=5, input_size=99, pooling="non_overlapping",
                          dropout_rate=0.3)
    assert model.get_layer("pool1").pool_size == (2, 2)
    assert model.get_layer("pool1").strides == (2, 2)
    assert model.get_layer("drop6").rate == model.get_layer("drop7").rate == 0.3


def test_any_input_size_from_the_smallest_and_any_number_of_classes():
    model = build_alexnet(num_classes=7, input_size=99)
    assert model.output_shape == (None, 7)
    assert tuple(model(np.zeros((2, 99, 99, 3), np.float32)).shape) == (2, 7)
    build_alexnet(input_size=67)
    with pytest.raises(ValueError, match="use at least 67"):
        build_alexnet(input_size=66)


@pytest.mark.parametrize("kwargs, words", [
    (dict(variant="vgg"), "use one of paper, single_tower, modern"),
    (dict(normalization="layernorm"), "use one of lrn, batchnorm, none"),
    (dict(pooling="avg"), "use one of overlapping, non_overlapping"),
    (dict(num_classes=0), "positive int"),
    (dict(dropout_rate=1.0), r"\[0, 1\)"),
    (dict(input_size=66.5), "use at least"),
])
def test_bad_arguments_say_what_to_do(kwargs, words):
    with pytest.raises(ValueError, match=f"build_alexnet: .*{words}"):
        build_alexnet(**{"input_size": 67, **kwargs})


def test_tower_conv_equals_the_numpy_grouped_convolution():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 13, 13, 384)).astype(np.float32)
    layer = TowerConv2D(256, 3, padding="same", groups=2)  # conv5's shape (§3.5)
    layer.build(x.shape)
    kernel, bias = (rng.normal(size=w.shape).astype(np.float32) * 0.05 for w in layer.weights)
    layer.set_weights([kernel, bias])
    assert kernel.shape == (3, 3, 192, 256)  # half as deep: one tower's maps
    expected = L.conv2d(x, kernel, bias, padding="same", groups=2)
    assert L.relative_error(numpy_of(layer(x)), expected) < 1e-5


@pytest.mark.parametrize("variant, groups", [("paper", 2), ("single_tower", 1)])
def test_numpy_forward_equals_keras_logits(variant, groups, small_paper):
    set_seed()
    model = small_paper if variant == "paper" else build_alexnet(10, 67, variant)
    images = np.random.default_rng(2).normal(scale=50.0, size=(3, 67, 67, 3))
    keras_logits = numpy_of(model(images.astype(np.float32), training=False))
    numpy_logits = numpy_forward(numpy_weights(model), images, groups)
    assert L.relative_error(numpy_logits, keras_logits) < 1e-5
    # §5's small weights leave the logits mostly bias: compare what depends on the image.
    per_image = numpy_logits - numpy_logits.mean(axis=0)
    assert np.abs(per_image).max() > 1e-4
    assert L.relative_error(per_image, keras_logits - keras_logits.mean(axis=0)) < 1e-2
    with pytest.raises(ValueError, match="channel mismatch"):
        numpy_forward(numpy_weights(model), images, 3 - groups)  # the wrong number of towers


def test_logits_are_float32_under_mixed_precision():
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = build_alexnet(num_classes=4, input_size=67)
        images = np.random.default_rng(0).normal(size=(2, 67, 67, 3)).astype(np.float32)
        logits = model(images)
    finally:
        keras.mixed_precision.set_global_policy(previous)
    assert model.get_layer("conv1").compute_dtype == "float16"
    assert model.get_layer("lrn1").compute_dtype == "float16"
    assert keras.backend.standardize_dtype(logits.dtype) == "float32"
    assert np.all(np.isfinite(numpy_of(logits)))


def test_same_seed_same_weights():
    set_seed(7)
    first = numpy_of(build_alexnet(num_classes=3, input_size=67).get_layer("conv2").kernel)
    set_seed(7)
    second = numpy_of(build_alexnet(num_classes=3, input_size=67).get_layer("conv2").kernel)
    np.testing.assert_array_equal(first, second)


@pytest.mark.parametrize("variant", ["paper", "single_tower", "modern"])
def test_keras_file_round_trip(tmp_path, variant):
    set_seed()
    model = build_alexnet(num_classes=6, input_size=67, variant=variant)
    images = np.random.default_rng(1).normal(size=(3, 67, 67, 3)).astype(np.float32)
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in model.layers]
    assert loaded.count_params() == model.count_params()
    assert isinstance(loaded.get_layer("conv2"), TowerConv2D)
    if variant != "modern":
        assert isinstance(loaded.get_layer("lrn1"), LocalResponseNormalization)
    np.testing.assert_array_equal(numpy_of(loaded(images)), numpy_of(model(images)))
