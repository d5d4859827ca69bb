"""The AlexNet builder: counts against the paper, variants, serialization, NumPy == Keras."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from helpers.lrn import LocalResponseNormalization
from helpers.model import build_alexnet, feature_extractor, layer_costs, minimum_input_size, numpy_forward
from helpers.seeding import set_seed

LAYER_NAMES = ["image", "conv1", "lrn1", "pool1", "conv2", "lrn2", "pool2", "conv3", "conv4", "conv5",
               "pool5",
               "flatten", "fc6", "drop6", "fc7", "drop7", "fc8"]


@pytest.fixture(scope="module")
def paper() -> keras.Model:
    set_seed()
    return build_alexnet()


@pytest.fixture(scope="module")
def small_paper() -> keras.Model:
    """The paper's network on the smallest input it accepts, for the tests that run it."""
    set_seed()
    return build_alexnet(num_classes=10, input_size=67)


@pytest.fixture(scope="module")
def single_tower() -> keras.Model:
    set_seed()
    return build_alexnet(variant="single_tower")


def test_parameter_counts(paper, single_tower):
    # The two-GPU network of the paper (grouped conv2/4/5) and the one-tower network most ports build.
    assert paper.count_params() == 60_965_224
    assert single_tower.count_params() == 62_378_344


def test_layers_and_shapes_of_figure_2(paper):
    assert [layer.name for layer in paper.layers] == LAYER_NAMES
    shapes = {layer.name: tuple(layer.output.shape[1:]) for layer in paper.layers}
    # Figure 2 / §3.5: 55x55x96, 27x27x256, 13x13x384, 13x13x384, 13x13x256, 6x6x256 -> 9216.
    assert shapes["conv1"] == (55, 55, 96)
    assert shapes["conv2"] == (27, 27, 256)
    assert shapes["conv3"] == shapes["conv4"] == (13, 13, 384)
    assert shapes["conv5"] == (13, 13, 256)
    assert shapes["pool5"] == (6, 6, 256) and shapes["flatten"] == (9216,)
    assert shapes["fc8"] == (1000,)
    convs = ("conv1", "conv2", "conv3", "conv4", "conv5")
    assert [paper.get_layer(n).groups for n in convs] == [1, 2, 1, 2, 2]
    assert [paper.get_layer(n).pool_size for n in ("pool1", "pool2", "pool5")] == [(3, 3)] * 3


def test_paper_initialisation(paper):
    # §5: weights N(0, 0.01); biases 1 in conv2, conv4, conv5, fc6, fc7 and 0 elsewhere.
    for name in ("conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8"):
        kernel, bias = (np.asarray(w) for w in paper.get_layer(name).get_weights())
        assert abs(kernel.std() - 0.01) < 0.0005 and abs(kernel.mean()) < 0.001, name
        expected_bias = 1.0 if name in ("conv2", "conv4", "conv5", "fc6", "fc7") else 0.0
        assert np.all(bias == expected_bias), name


def test_layer_costs_match_hand_counts(paper):
    costs = layer_costs(paper)
    assert costs["parameters"].sum() == 60_965_224
    # conv1: 55*55 positions x 96 kernels x 11*11*3 weights; conv2: 27*27 x 256 x 5*5*48 (one tower's maps).
    assert costs.loc["conv1", "multiply_adds"] == 55 * 55 * 96 * 11 * 11 * 3
    assert costs.loc["conv2", "multiply_adds"] == 27 * 27 * 256 * 5 * 5 * 48
    assert costs.loc["fc6", "multiply_adds"] == 9216 * 4096
    fc = costs[costs["kind"] == "fc"]
    assert 95 < fc["parameters_pct"].sum() < 97  # "most of the 60 million parameters"
    assert fc["multiply_adds_pct"].sum() < 10  # ... but few of the multiply-adds


def test_layer_costs_agree_with_the_shape_table(paper):
    shapes = pytest.importorskip("helpers.shapes")
    table = shapes.alexnet_table(input_size=227, num_classes=1000, groups=2)
    costs = layer_costs(paper)
    for column in ("parameters", "multiply_adds"):
        assert table.loc[costs.index, column].astype(int).tolist() == costs[column].tolist(), column
    assert [tuple(shape) for shape in table.loc[costs.index, "output"]] == costs["output"].tolist()


def test_modern_variant_uses_batch_norm_and_he_init():
    set_seed()
    model = build_alexnet(num_classes=10, input_size=99, variant="modern")
    names = [layer.name for layer in model.layers]
    assert "bn1" in names and "bn2" in names and not any(n.startswith("lrn") for n in names)
    assert names.index("bn1") == names.index("conv1") + 1
    assert all(model.get_layer(n).groups == 1 for n in ("conv2", "conv4", "conv5"))
    kernel, bias = (np.asarray(w) for w in model.get_layer("conv3").get_weights())
    fan_in = 3 * 3 * 256
    # He normal is a truncated normal with std sqrt(2 / fan_in).
    assert abs(kernel.std() - np.sqrt(2 / fan_in)) < 0.1 * np.sqrt(2 / fan_in)
    assert np.all(bias == 0)


@pytest.mark.parametrize("normalization, present, absent",
                         [("none", None, "lrn"), ("batchnorm", "bn", "lrn")])
def test_normalization_override(normalization, present, absent):
    model = build_alexnet(num_classes=5, input_size=67, normalization=normalization)
    names = [layer.name for layer in model.layers]
    assert not any(n.startswith(absent) for n in names)
    if present:
        assert [n for n in names if n.startswith(present)] == [f"{present}1", f"{present}2"]


def test_non_overlapping_pooling_and_dropout_rate():
    model = build_alexnet(num_classes=5, input_size=99, pooling="non_overlapping", dropout_rate=0.3)
    assert model.get_layer("pool1").pool_size == (2, 2) and model.get_layer("pool1").strides == (2, 2)
    assert model.get_layer("drop6").rate == model.get_layer("drop7").rate == 0.3


@pytest.mark.parametrize("size", [99, 128])
def test_smaller_inputs_and_any_number_of_classes(size):
    model = build_alexnet(num_classes=7, input_size=size)
    assert model.output_shape == (None, 7)
    assert model(np.zeros((2, size, size, 3), np.float32)).shape == (2, 7)


def test_minimum_input_size_is_the_smallest_that_builds():
    assert minimum_input_size() == 67
    with pytest.raises(ValueError, match="at least 67"):
        build_alexnet(input_size=66)


@pytest.mark.parametrize("kwargs", [dict(variant="vgg"), dict(normalization="layernorm"), dict(pooling="avg"),
                                    dict(num_classes=0), dict(dropout_rate=1.0)])
def test_bad_arguments_say_what_to_do(kwargs):
    with pytest.raises(ValueError, match="build_alexnet"):
        build_alexnet(input_size=67, **kwargs)


def test_logits_are_float32_under_mixed_precision():
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = build_alexnet(num_classes=4, input_size=67)
        logits = model(np.random.default_rng(0).normal(size=(2, 67, 67, 3)).astype(np.float32))
    finally:
        keras.mixed_precision.set_global_policy(previous)
    assert model.get_layer("conv1").compute_dtype == "float16"
    assert logits.dtype == "float32" and np.all(np.isfinite(np.asarray(logits)))


def test_same_seed_same_weights():
    set_seed(7)
    first = build_alexnet(num_classes=3, input_size=67).get_layer("conv2").get_weights()[0]
    set_seed(7)
    second = build_alexnet(num_classes=3, input_size=67).get_layer("conv2").get_weights()[0]
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
    if variant != "modern":
        assert isinstance(loaded.get_layer("lrn1"), LocalResponseNormalization)
    np.testing.assert_array_equal(np.asarray(loaded(images)), np.asarray(model(images)))


def test_fc7_features(small_paper):
    features = feature_extractor(small_paper)
    assert features.output_shape == (None, 4096)


@pytest.mark.parametrize("variant", ["paper", "modern"])
def test_numpy_forward_equals_keras(variant, small_paper):
    pytest.importorskip("helpers.layers")
    set_seed()
    if variant == "paper":
        model = small_paper
    else:
        model = build_alexnet(num_classes=10, input_size=67, variant=variant)
    if variant == "modern":  # non-trivial moving statistics, so batch norm is really tested
        for name in ("bn1", "bn2"):
            layer = model.get_layer(name)
            rng = np.random.default_rng(3)
            layer.set_weights([rng.uniform(0.5, 1.5, w.shape).astype(np.float32)
                               for w in layer.get_weights()])
    # Mean-subtracted pixels for the paper's small weights; unit-scale inputs for He initialisation,
    # whose logits are otherwise in the hundreds (float32 then carries only ~1e-4 absolute digits).
    scale = 50.0 if variant == "paper" else 0.05
    images = np.random.default_rng(2).normal(scale=scale, size=(2, 67, 67, 3)).astype(np.float32)
    keras_logits = np.asarray(model(images, training=False), dtype=np.float64)
    numpy_logits = numpy_forward(model, images)
    assert np.abs(keras_logits).std() > 1e-2  # the logits differ, so the comparison means something
    assert np.abs(numpy_logits - keras_logits).max() < 1e-4
