"""helpers.train, helpers.optim and helpers.ablation against independent references.

PaperSGD is checked against §5's rule written as an L2 penalty that TensorFlow
differentiates; checkpoints and exact resumption are checked on every backend in
``tests/portable/test_train.py``.
"""

from __future__ import annotations

from types import SimpleNamespace

import helpers.data
import helpers.train
import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from helpers.ablation import ABLATIONS, PAPER_EFFECTS, ablation_results, run_ablation
from helpers.data import ImageBatches, Split
from helpers.model import build_alexnet
from helpers.optim import PaperSGD
from helpers.train import profile_recipe, train_model


def test_paper_sgd_equals_momentum_sgd_on_an_l2_penalty():
    """Decay inside the momentum = the gradient of (l2 / 2) * ||w||^2 added to the loss."""
    rng = np.random.default_rng(0)
    w0 = rng.normal(size=(5, 4)).astype(np.float32)
    x = rng.normal(size=(16, 5)).astype(np.float32)
    lr, mu, l2 = 0.05, 0.9, 0.01
    w_paper, w_ref = tf.Variable(w0), tf.Variable(w0)
    paper = PaperSGD(learning_rate=lr, momentum=mu, l2=l2)
    reference = tf.keras.optimizers.SGD(learning_rate=lr, momentum=mu)
    for _ in range(5):
        with tf.GradientTape() as tape:
            data_loss = tf.reduce_mean(tf.square(x @ w_paper))
        paper.apply_gradients([(tape.gradient(data_loss, w_paper), w_paper)])
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(x @ w_ref)) + 0.5 * l2 * tf.reduce_sum(
                tf.square(w_ref))
        reference.apply_gradients([(tape.gradient(loss, w_ref), w_ref)])
    np.testing.assert_allclose(w_paper.numpy(), w_ref.numpy(), rtol=1e-5, atol=1e-6)


def test_the_recipe_learns_a_learnable_task_well_above_chance(tmp_path):
    """Class = which colour channel is brightest: the recipe must find it in seconds."""
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 3, 300).astype(np.int32)
    images = rng.integers(0, 120, size=(300, 12, 12, 3))
    images[np.arange(300), :, :, labels] += 120
    split = Split(images.astype(np.uint8), labels, [])

    def build() -> keras.Model:
        inputs = keras.Input((12, 12, 3), dtype="uint8")
        x = keras.layers.Rescaling(1 / 255)(inputs)
        x = keras.layers.Conv2D(8, 3, activation="relu")(x)
        x = keras.layers.GlobalAveragePooling2D()(x)
        return keras.Model(inputs, keras.layers.Dense(3)(x))

    keras.utils.set_random_seed(0)
    result = train_model(build, ImageBatches(split, 16, shuffle=True),
                         ImageBatches(split, 100, shuffle=False), run_name="learn",
                         directory=tmp_path, epochs=6, learning_rate=0.05, verbose=0)
    assert result.history["val_accuracy"].max() >= 0.8, result.history  # chance: 1/3


def test_every_ablation_builds_the_variant_it_names():
    layers = {}
    for name, (model_options, augment_options) in ABLATIONS.items():
        model = build_alexnet(10, 67, "paper", **model_options)
        layers[name] = {layer.name: layer for layer in model.layers}
        assert set(augment_options) <= {"pca_color", "flip"}
    assert "lrn1" in layers["paper"] and "bn1" in layers["batch norm instead of LRN"]
    assert not {"lrn1", "bn1"} & set(layers["no normalisation"])
    assert layers["non-overlapping pooling"]["pool1"].pool_size == (2, 2)
    assert layers["paper"]["pool1"].pool_size == (3, 3)
    assert layers["no dropout"]["drop6"].rate == 0.0
    assert layers["paper"]["drop6"].rate == 0.5
    assert ABLATIONS["no PCA colour"][1] == {"pca_color": False}
    assert set(PAPER_EFFECTS["paper"]) == {"§3.3", "§3.4", "§4.1", "§4.2"}


def test_ablation_results_are_read_back(tmp_path, monkeypatch):
    monkeypatch.setenv("ALEXNET_ARTIFACTS", str(tmp_path))
    assert ablation_results("full", "imagenette2-160") is None
    folder = tmp_path / "ablation-full-imagenette2-160"
    folder.mkdir()
    (folder / "results.csv").write_text("variant,final val top-1 (%)\npaper,61.5\n")
    table = ablation_results("full", "imagenette2-160")
    assert table.loc["paper", "final val top-1 (%)"] == pytest.approx(61.5)


def test_the_ablation_trains_with_the_profiles_recipe(tmp_path, monkeypatch):
    """The full profile's warm-up included: without it the paper's network diverges."""
    monkeypatch.setenv("ALEXNET_ARTIFACTS", str(tmp_path))
    splits = SimpleNamespace(source=SimpleNamespace(name="tiny"))
    monkeypatch.setattr(helpers.data, "load_dataset", lambda *args, **kwargs: splits)
    calls = []

    def train_alexnet(splits, settings, **options):
        calls.append((settings, options))
        return SimpleNamespace(history=pd.DataFrame({"val_accuracy": [0.4, 0.5]}))

    monkeypatch.setattr(helpers.train, "train_alexnet", train_alexnet)
    table = run_ablation("full", names=["paper", "no dropout"])
    assert list(table.index) == ["paper", "no dropout"]
    for settings, options in calls:
        recipe = profile_recipe("full", settings.epochs)
        assert {k: options[k] for k in recipe} == recipe and recipe["warmup_epochs"] > 0
    assert calls[1][1]["model"] == ABLATIONS["no dropout"][0]
