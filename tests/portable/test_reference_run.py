"""The reference run on every backend: what it trains, measures and writes.

A tiny data set and a two-epoch profile stand in for Imagenette and the full profile;
the run must make chapter 08's call (its recipe too), agree with its own history and
leave the four files the chapter and the closing note read.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import reference_run as reference
from helpers.claims import paper_claims
from helpers.data import DataSplits
from helpers.evaluate import tower_colour_shares
from helpers.profile import ExperimentSettings, Profile

from .arrays import noise_split, noise_splits


def _tiny_splits(tmp_path) -> DataSplits:
    rng = np.random.default_rng(3)
    return noise_splits(noise_split(rng, 24, 77, 6), tmp_path, 67, list("abcdef"))


def test_a_reference_run_writes_its_history_record_and_figures(tmp_path, monkeypatch):
    monkeypatch.setenv("ALEXNET_ARTIFACTS", str(tmp_path / "artifacts"))
    splits = _tiny_splits(tmp_path)
    settings = ExperimentSettings(67, None, 8, 2, "paper", 0.001)
    monkeypatch.setattr(reference, "load_dataset", lambda **_: splits)
    monkeypatch.setattr(reference, "get_profile",
                        lambda name: Profile(name, {"alexnet": settings}))
    out = tmp_path / "out"
    record = reference.reference_run("modern", out, profile_name="quick")
    name = "quick_profile_modern"
    assert sorted(p.name for p in out.iterdir()) == [
        f"{name}-conv1.npy", f"{name}-conv1.png", f"{name}-curves.png", f"{name}.csv",
        f"{name}.json"]
    assert np.load(out / f"{name}-conv1.npy").shape == (11, 11, 3, 96)
    history, stored = reference.read_reference("modern", "quick", folder=out)
    assert stored["results"] == record["results"] and list(history["epoch"]) == [1, 2]
    results = record["results"]
    # the quick recipe: warm-up, then one division before the last epoch
    assert results["learning_rate_drops"] == [2] and results["ended"] == "all epochs"
    assert stored["recipe"] == {"warmup_epochs": 1.0, "reduce_at": [1]}
    assert record["run"].startswith("alexnet-modern-tiny-67px-n24-v24-b8")
    # the centre crop is what fit validated on: the same accuracy as the last epoch
    last = 100 * history["val_accuracy"].iloc[-1]
    assert results["centre_top1"] == pytest.approx(last, abs=1e-3)
    assert 0 <= results["ten_view_top1"] <= results["ten_view_top5"] <= 100
    assert results["epochs"] == 2 and results["training_s"] > 0
    assert record["device"] and record["backend"].startswith("keras ")


def test_the_committed_paper_run_gives_the_ledger_its_claims():
    history, record = reference.read_reference("paper")
    claims = reference.reference_claims(history, record)
    assert set(claims) <= set(paper_claims().index)
    results = record["results"]
    drops = ", ".join(map(str, results["learning_rate_drops"]))
    assert all(verdict == "" for _, verdict in claims.values())  # values, no verdicts
    claims = {claim: value.measured for claim, value in claims.items()}
    assert claims["recipe"].startswith(f"rate divided by 10 before epochs {drops};")
    gain = results["ten_view_top1"] - results["centre_top1"]
    assert claims["ten_view_gain"].startswith(f"top-1 {gain:+.2f}, top-5 ")
    assert f"{results['best_val_top1']:.1f}% at best" in claims["bigger_longer"]
    minutes = results["training_s"] / 60
    assert claims["train_days"] == f"{minutes:.1f} minutes of training on one GPU"
    assert "gpu_specialisation" not in claims  # only with the kernels


def test_the_committed_paper_runs_kernels_give_the_colour_shares():
    history, record = reference.read_reference("paper")
    kernels = reference.read_reference_kernels("paper")
    assert kernels.shape == (11, 11, 3, 96) and np.isfinite(kernels).all()
    first, second, differ = tower_colour_shares(kernels)
    claim = reference.reference_claims(history, record, kernels)["gpu_specialisation"]
    assert claim.measured == f"colour share {first:.2f} vs {second:.2f}"
    assert claim.verdict == ("direction reproduced" if differ else "not reproduced")


def test_the_accelerator_is_named_without_count_or_index():
    one = {"device": "1 accelerator(s): NVIDIA H200 (cuda:0)"}
    two = {"device": "2 accelerator(s): NVIDIA H100 80GB HBM3 (cuda:0), TPU v4 (TPU_1)"}
    assert reference.accelerator(one) == "NVIDIA H200"
    assert reference.accelerator(two) == "NVIDIA H100 80GB HBM3, TPU v4"


def test_a_missing_reference_says_which_command_writes_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="python -m helpers.reference_run"):
        reference.read_reference("paper", folder=tmp_path)
