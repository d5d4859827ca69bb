"""helpers.figure1_study: Figure 1's search at several sizes, and the committed study."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import figure1_study
from helpers.experiments import CUDA_CONVNET_STD, ExperimentData, paper_input
from helpers.figure1_study import (
    DEEPER_NAME,
    STUDY_NAME,
    network,
    processor_minutes,
    read_study,
    run_study,
    speedup_by_size,
    write_study,
)


def tiny_data(image_size: int, size: int | None) -> ExperimentData:
    """Two classes told apart by brightness, ``size`` training images (None: 24)."""
    rng = np.random.default_rng(0)
    n = size or 24
    labels = (np.arange(n) % 2).astype("int32")
    images = rng.uniform(0, 0.5, (n, image_size, image_size, 3)) + 0.5 * labels[
        :, None, None, None]
    images = images.astype("float32")
    return ExperimentData(images, labels, images[:4], labels[:4], "Tiny, test data")


def history(errors: list[float]) -> pd.DataFrame:
    epochs = np.arange(1, len(errors) + 1)
    return pd.DataFrame({"epoch": epochs, "train_loss": 1.0, "train_error": errors,
                         "val_error": np.nan, "seconds": 2.0 * epochs})


def test_paper_input_is_pixels_minus_the_mean_image():
    images = np.stack([np.full((2, 2, 3), 0.2), np.full((2, 2, 3), 0.6)])
    x = paper_input(images)
    np.testing.assert_allclose(x[:, 0, 0, 0], [-51.0, 51.0], rtol=1e-6)
    np.testing.assert_allclose(x.mean(axis=0), 0.0, atol=1e-5)
    assert x.dtype == np.float32


def test_network_is_figure1s_with_three_convolutions_and_grows_in_depth():
    assert network(3) == {"widths": (32, 32, 64), "pooling": ("max",) * 3,
                          "kernel_std": CUDA_CONVNET_STD}
    deeper = network(5)
    assert deeper["widths"] == (32, 32, 64, 64, 64) and len(deeper["kernel_std"]) == 6
    assert deeper["kernel_std"][0] == 1e-4 and set(deeper["kernel_std"][1:]) == {0.01}
    with pytest.raises(ValueError, match="at least one"):
        network(0)


def test_run_study_marks_one_best_rate_per_size_and_activation():
    study = run_study([12, None], threshold=0.9, max_epochs=2, batch_size=4,
                      image_size=8, rates={"relu": (0.001, 0.01), "tanh": (0.01,)},
                      load=tiny_data)
    assert sorted(study["size"].unique()) == [12, 24]
    runs = study.groupby(["size", "activation", "learning_rate"])["best"].first()
    assert runs.groupby(level=["size", "activation"]).sum().eq(1).all()
    assert len(runs) == 6 and study.attrs["data"] == "Tiny"
    assert list(study.columns[:4]) == ["size", "activation", "learning_rate", "best"]
    with pytest.raises(ValueError, match="at least one"):
        run_study([], threshold=0.5, max_epochs=1, load=tiny_data)


def test_speedup_by_size_divides_tanh_by_relu_at_the_best_rates():
    runs = {("relu", 0.01, True): [0.6, 0.4], ("relu", 0.1, False): [0.9, 0.9],
            ("tanh", 0.05, True): [0.7, 0.6, 0.55, 0.45]}
    study = pd.concat([history(errors).assign(size=100, activation=a, learning_rate=r,
                                              best=b)
                       for (a, r, b), errors in runs.items()])
    table = speedup_by_size(study, threshold=0.5)
    row = table.loc[100]
    assert (row["relu_epochs"], row["tanh_epochs"]) == (2, 4)
    assert row["epoch_ratio"] == 2.0 and row["second_ratio"] == 2.0
    assert (row["relu_rate"], row["tanh_rate"]) == (0.01, 0.05)


def test_write_then_read_gives_the_histories_and_the_settings(tmp_path):
    study = pd.concat([history([0.6, 0.4]).assign(size=10, activation="relu",
                                                  learning_rate=0.01, best=True)])
    write_study(study, {"threshold": 0.5}, tmp_path)
    again, settings = read_study(tmp_path)
    assert settings["threshold"] == 0.5 and "device" in settings and "date" in settings
    pd.testing.assert_frame_equal(again, study.reset_index(drop=True),
                                  check_like=True, check_dtype=False)
    with pytest.raises(FileNotFoundError, match="python -m helpers.figure1_study"):
        read_study(tmp_path / "missing")


def test_the_command_writes_the_study_and_prints_the_ratios(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(figure1_study, "load_experiment_data", tiny_data)
    figure1_study.main(["--sizes", "12", "all", "--threshold", "0.9", "--epochs", "1",
                        "--convolutions", "2", "--name", "deep", "--out", str(tmp_path)])
    study, settings = read_study(tmp_path, "deep")
    assert sorted(study["size"].unique()) == [12, 24] and settings["data"] == "Tiny"
    assert settings["network"]["widths"] == [32, 32]
    assert settings["command"].endswith("--sizes 12 all --threshold 0.9 --epochs 1 "
                                        "--convolutions 2 --name deep")
    assert "epoch_ratio" in capsys.readouterr().out


@pytest.mark.parametrize("name, convolutions", [(STUDY_NAME, 3), (DEEPER_NAME, 5)])
def test_the_committed_studies_measure_a_ratio_at_every_size(name, convolutions):
    study, settings = read_study(name=name)
    assert settings["image_size"] == 32 and f"--name {name}" in settings["command"]
    assert len(settings["network"]["widths"]) == convolutions
    table = speedup_by_size(study, settings["threshold"])
    assert table[["relu_epochs", "tanh_epochs"]].notna().all().all()  # both reach it
    for activation, rates in settings["rates"].items():
        tried = study.loc[study["activation"] == activation, "learning_rate"]
        assert set(tried) <= set(rates)


def test_the_size_study_runs_up_to_every_training_image():
    study, settings = read_study()
    table = speedup_by_size(study, settings["threshold"])
    assert len(table) >= 3 and table.index.max() > 9000


def test_processor_minutes_adds_the_last_epoch_of_every_run():
    import pandas as pd

    study = pd.DataFrame({"size": [500] * 5, "activation": ["relu"] * 3 + ["tanh"] * 2,
                          "learning_rate": [0.01] * 5,
                          "seconds": [10.0, 20.0, 30.0, 40.0, 90.0]})  # cumulative
    assert processor_minutes(study) == (30 + 90) / 60
