"""helpers.train, helpers.optim and helpers.ablation against independent references.

PaperSGD is checked against §5's rule written as an L2 penalty that TensorFlow
differentiates; checkpoints and exact resumption are checked on every backend in
``tests/portable/test_train.py``.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import helpers.data
import helpers.train
import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from helpers.ablation import (
    ABLATIONS,
    CHOICES,
    ablation_claims,
    ablation_effects,
    effect_verdict,
    paired_effects,
    run_ablation,
)
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
    variants = {variant for variant, _, _ in CHOICES.values()}
    assert variants == set(ABLATIONS) - {"paper"}  # every variant answers a claim


def fake_training(monkeypatch, tmp_path) -> list:
    """run_ablation's data and training replaced by stand-ins; returns their calls."""
    monkeypatch.setenv("ALEXNET_ARTIFACTS", str(tmp_path))
    splits = SimpleNamespace(source=SimpleNamespace(name="tiny", description="tiny"),
                             num_train=64, class_names=["a", "b"])
    monkeypatch.setattr(helpers.data, "load_dataset", lambda *args, **kwargs: splits)
    calls = []

    def train_alexnet(splits, settings, **options):
        calls.append((settings, options))
        history = pd.DataFrame({"epoch": [1, 2], "accuracy": [0.3, 0.6],
                                "val_accuracy": [0.4, 0.5], "val_top5": [0.8, 0.9],
                                "learning_rate": [0.01, 0.001], "seconds": [2.0, 1.0]})
        return SimpleNamespace(history=history)

    monkeypatch.setattr(helpers.train, "train_alexnet", train_alexnet)
    return calls


def test_the_ablation_trains_with_the_profiles_recipe(tmp_path, monkeypatch):
    """The full profile's warm-up included: without it the paper's network diverges."""
    calls = fake_training(monkeypatch, tmp_path)
    table = run_ablation("full", names=["paper", "no dropout"], seed=7)
    assert list(table["variant"]) == ["paper", "no dropout"]
    assert list(table["seed"]) == [7, 7] and list(table["best val top-1 (%)"]) == [50, 50]
    assert list(table["rate divisions"]) == [1, 1] and list(table["epochs"]) == [2, 2]
    for settings, options in calls:
        recipe = profile_recipe("full", settings.epochs)
        assert {k: options[k] for k in recipe} == recipe and recipe["warmup_epochs"] > 0
        assert options["seed"] == 7
    assert calls[1][1]["model"] == ABLATIONS["no dropout"][0]


def test_each_seed_adds_its_runs_to_the_ablation_files(tmp_path, monkeypatch):
    fake_training(monkeypatch, tmp_path)
    out = tmp_path / "out"
    run_ablation("full", names=["paper", "no dropout"], seed=1, out=out)
    run_ablation("full", names=["paper"], seed=2, out=out)
    run_ablation("full", names=["paper"], seed=1, out=out)  # again: replaces seed 1's
    table = pd.read_csv(out / "full_profile_ablation.csv")
    assert sorted(zip(table["variant"], table["seed"], strict=True)) == [
        ("no dropout", 1), ("paper", 1), ("paper", 2)]
    history = pd.read_csv(out / "full_profile_ablation-history.csv")
    assert len(history) == 2 * len(table)  # two epochs a run
    record = json.loads((out / "full_profile_ablation.json").read_text())
    assert record["seeds"] == [1, 2] and len(record["runs"]) == 3
    assert record["recipe"] == profile_recipe("full", record["settings"]["epochs"])
    record["settings"]["epochs"] = 99  # runs made otherwise are not mixed in
    (out / "full_profile_ablation.json").write_text(json.dumps(record))
    with pytest.raises(ValueError, match="another settings .* another --out folder"):
        run_ablation("full", names=["paper"], seed=3, out=out)
    assert len(pd.read_csv(out / "full_profile_ablation.csv")) == 3  # left as it was


def ablation_table(rows: list[tuple[str, int, float, float]]) -> pd.DataFrame:
    """A table as run_ablation writes it, from (variant, seed, best top-1, gap) rows."""
    table = pd.DataFrame(rows, columns=["variant", "seed", "best val top-1 (%)",
                                        "train - val top-1 (points)"])
    return table.assign(**{"val top-5 at best (%)": 90.0})


def test_paired_effects_compare_the_same_seed_and_point_the_papers_way():
    table = ablation_table([("paper", 1, 78.0, 6.0), ("paper", 2, 77.0, 5.0),
                            ("no dropout", 1, 76.0, 15.0), ("no dropout", 2, 9.1, 1.0),
                            ("no PCA colour", 1, 79.0, 6.0),
                            ("no PCA colour", 2, 77.5, 6.0)])
    top1, gap = "best val top-1 (%)", "train - val top-1 (points)"
    # accuracy: paper minus variant; gap: variant minus paper; seed 2 did not train
    assert paired_effects(table, "no dropout", top1).to_dict() == {1: 2.0}
    assert paired_effects(table, "no dropout", gap).to_dict() == {1: 9.0}
    assert paired_effects(table, "no PCA colour", top1).to_dict() == {1: -1.0, 2: -0.5}
    assert paired_effects(table, "no normalisation", top1).empty


@pytest.mark.parametrize("effects, verdict", [
    ([2.0, 1.5], "reproduced"),  # every seed beyond the paper runs' spread of 1
    ([2.0, 0.5], "direction reproduced"),  # the mean, not every seed
    ([2.0, -2.5], "not reproduced"),
    ([], "not reproduced"),
])
def test_an_effect_is_reproduced_only_beyond_the_noise_of_the_papers_runs(effects, verdict):
    assert effect_verdict(pd.Series(effects, dtype=float), spread=1.0) == verdict


def test_the_ablation_claims_name_each_seeds_effect_and_the_weakest_verdict():
    rows = [("paper", 1, 78.0, 6.0), ("paper", 2, 77.0, 5.0)]
    for variant in {variant for variant, _, _ in CHOICES.values()}:
        rows += [(variant, 1, 75.0, 9.0), (variant, 2, 76.5, 4.0)]
    table = ablation_table(rows)
    effects = ablation_effects(table)
    assert effects.loc["PCA colour: top-1", "per seed"] == "+3.00, +0.50"
    assert effects.loc["PCA colour: top-1", "verdict"] == "direction reproduced"
    assert effects.loc["LRN vs none: top-5", "verdict"] == "not reproduced"  # all 90
    claims = ablation_claims(table)
    assert claims["pca_gain"] == (
        "gain from the paper's choice (positive: it helped), per seed (1, 2): top-1 "
        "+3.00, +0.50 points (its own runs spread 1.00)", "direction reproduced")
    assert claims["lrn_gain"].verdict == "not reproduced"  # top-5 decides
    assert claims["dropout_overfit"].measured.startswith(
        "gain from the paper's choice (positive: it helped), per seed (1, 2): "
        "smaller train-val gap +3.00, -1.00 points")
