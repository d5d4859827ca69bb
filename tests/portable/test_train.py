"""Training with checkpoints on every backend: commit, reload, resume exactly.

An interrupted run (an exception after an epoch, as a killed process leaves it) resumed
by the same call must end with the same history and the same weights as a run that was
never interrupted, having seen the same batches.
"""

from __future__ import annotations

import json

import keras
import numpy as np
import pandas as pd
import pytest
from helpers.augment import PaperAugmentation
from helpers.checkpoints import BEST_WEIGHTS, HISTORY_FILE, STATE_FILE, read_state
from helpers.data import ImageBatches
from helpers.train import TimeLimit, learning_rate_drops, train_alexnet, train_model

from .arrays import TOY_EIGENVALUES, TOY_EIGENVECTORS, noise_split, noise_splits

RNG = np.random.default_rng(0)
SPLIT = noise_split(RNG, 48, 12, 3)
IMAGES, LABELS = SPLIT.images, SPLIT.labels


def _build() -> keras.Model:
    """A tiny network behind the book's input stage (augmentation, dropout: randomness)."""
    inputs = keras.Input((12, 12, 3), dtype="uint8")
    stage = PaperAugmentation(10, 12, seed=1).set_statistics(
        IMAGES.mean(0), TOY_EIGENVALUES, TOY_EIGENVECTORS)
    x = keras.layers.Conv2D(4, 3, activation="relu", name="conv1")(stage(inputs))
    x = keras.layers.Dropout(0.5, seed=2)(keras.layers.Flatten()(x))
    return keras.Model(inputs, keras.layers.Dense(3, name="fc8")(x))


def _data() -> tuple[ImageBatches, ImageBatches]:
    return ImageBatches(SPLIT, 8, shuffle=True, seed=5), ImageBatches(SPLIT, 16,
                                                                       shuffle=False)


class _Interrupt(keras.callbacks.Callback):
    """Raises after epoch ``after`` has been committed, as a crash would."""

    def __init__(self, after: int) -> None:
        super().__init__()
        self.after = after

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == self.after:
            raise KeyboardInterrupt("simulated crash")


class _Recorded(ImageBatches):
    """Training batches that record the labels of every batch they serve to ``fit``."""

    served: list

    def __getitem__(self, index):
        images, labels = super().__getitem__(index)
        self.served.append((self.epoch, index, tuple(labels)))
        return images, labels


def _epochs_served(batches: _Recorded) -> dict[int, list]:
    """What each epoch served, in order (the last fetch of each index wins)."""
    epochs: dict[int, dict] = {}
    for epoch, index, labels in batches.served:
        epochs.setdefault(epoch, {})[index] = labels
    return {e: [served[i] for i in sorted(served)] for e, served in epochs.items()}


def _weights(model: keras.Model) -> list[np.ndarray]:
    return [np.asarray(keras.ops.convert_to_numpy(v)) for v in model.variables]


def test_an_interrupted_run_resumes_to_the_same_history_and_weights(tmp_path):
    keras.utils.set_random_seed(0)
    train, val = _data()
    whole = train_model(_build, train, val, run_name="r", directory=tmp_path / "whole",
                        epochs=3, learning_rate=0.001, verbose=0)
    keras.utils.set_random_seed(0)
    train, val = _data()
    with pytest.raises(KeyboardInterrupt):
        train_model(_build, train, val, run_name="r", directory=tmp_path / "cut",
                    epochs=3, learning_rate=0.001, verbose=0, callbacks=[_Interrupt(2)])
    assert read_state(tmp_path / "cut")["epochs_done"] == 2
    keras.utils.set_random_seed(123)  # a new process: other global seeds
    train, val = _data()  # a new data object, at epoch 0
    resumed = train_model(_build, train, val, run_name="r", directory=tmp_path / "cut",
                          epochs=3, learning_rate=0.001, verbose=0)
    assert resumed.resumed_at == 3 and resumed.notes
    columns = ["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "learning_rate"]
    np.testing.assert_allclose(resumed.history[columns].to_numpy(),
                               whole.history[columns].to_numpy(), rtol=1e-5, atol=1e-6)
    for a, b in zip(_weights(resumed.model), _weights(whole.model), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_a_resumed_run_sees_the_batches_an_uninterrupted_run_sees(tmp_path):
    def data():
        train = _Recorded(SPLIT, 8, shuffle=True, seed=5)
        train.served = []
        return train, ImageBatches(SPLIT, 16, shuffle=False)

    whole, val = data()
    train_model(_build, whole, val, run_name="r", directory=tmp_path / "a", epochs=3,
                verbose=0)
    cut, val = data()
    with pytest.raises(KeyboardInterrupt):
        train_model(_build, cut, val, run_name="r", directory=tmp_path / "b", epochs=3,
                    verbose=0, callbacks=[_Interrupt(1)])
    resumed, val = data()
    train_model(_build, resumed, val, run_name="r", directory=tmp_path / "b", epochs=3,
                verbose=0)
    served = _epochs_served(whole)
    assert set(served) == {0, 1, 2}
    assert _epochs_served(cut)[0] == served[0]
    again = _epochs_served(resumed)
    assert {e: served[e] for e in (1, 2)} == {e: again[e] for e in (1, 2)}
    assert served[0] != served[1]  # each epoch has its own order
    assert sorted(sum(served[0], ())) == sorted(LABELS.tolist())


def test_checkpoint_files_history_and_reload(tmp_path):
    train, val = _data()
    result = train_model(_build, train, val, run_name="r", directory=tmp_path, epochs=2,
                         verbose=0)
    history = result.history
    assert list(history["epoch"]) == [1, 2] and result.resumed_at == 1
    expected = {"loss", "accuracy", "val_loss", "val_accuracy", "learning_rate",
                "seconds", "cpu_s", "images_per_s", "checkpoint_s"}
    assert expected <= set(history)
    assert (history["checkpoint_s"] > 0).all()
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == sorted([BEST_WEIGHTS, "epoch-002.weights.h5", HISTORY_FILE,
                            STATE_FILE])
    state = json.loads((tmp_path / STATE_FILE).read_text())
    best_epoch = int(np.argmax(history["val_accuracy"])) + 1  # first best
    best_is_last = (tmp_path / BEST_WEIGHTS).stat().st_ino == \
        (tmp_path / "epoch-002.weights.h5").stat().st_ino
    assert best_is_last == (best_epoch == 2)  # a hard link, not a copy
    assert state["history"][-1]["checkpoint_s"] == history["checkpoint_s"].iloc[-1]
    again = train_model(_build, train, val, run_name="r", directory=tmp_path, epochs=2,
                        verbose=0)
    assert again.resumed_at == 3 and len(again.history) == 2
    for a, b in zip(_weights(again.model), _weights(result.model), strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_different_recipe_in_the_same_folder_is_refused(tmp_path):
    train, val = _data()
    train_model(_build, train, val, run_name="r", directory=tmp_path, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="another run_name"):
        train_model(_build, train, val, run_name="r", directory=tmp_path, epochs=2,
                    learning_rate=0.1, verbose=0)
    fresh = train_model(_build, train, val, run_name="r", directory=tmp_path, epochs=1,
                        learning_rate=0.1, resume=False, verbose=0)
    assert fresh.resumed_at == 1
    assert read_state(tmp_path)["recipe"]["learning_rate"] == 0.1


def test_fixed_reduction_and_warmup_are_recorded(tmp_path):
    train, val = _data()
    result = train_model(_build, train, val, run_name="r", directory=tmp_path, epochs=3,
                         learning_rate=0.001, reduce_at=(2,), warmup_epochs=1.0,
                         verbose=0)
    np.testing.assert_allclose(result.history["learning_rate"], [0.001, 0.001, 0.0001],
                               rtol=1e-6)
    assert result.model.optimizer.warmup_steps == len(train)
    assert read_state(tmp_path)["schedule"]["reductions"] == 1


def test_train_alexnet_names_the_run_and_reloads_it(tmp_path, monkeypatch):
    from helpers.profile import ExperimentSettings

    monkeypatch.setenv("ALEXNET_ARTIFACTS", str(tmp_path))
    rng = np.random.default_rng(1)
    splits = noise_splits(noise_split(rng, 16, 77, 2), tmp_path, 67, ["a", "b"])
    settings = ExperimentSettings(67, None, 8, 1, "modern", 0.001)
    first = train_alexnet(splits, settings, verbose=0, augment={"flip": "none"})
    assert first.directory.name == ("alexnet-modern-tiny-67px-n16-v16-b8-flip=none"
                                    "-learning_rate=0.001")
    assert first.model.get_layer("augment").flip == "none"
    again = train_alexnet(splits, settings, verbose=0, augment={"flip": "none"},
                          callbacks=[TimeLimit(3600)])  # stops, trains nothing else
    assert again.resumed_at == 2 and again.directory == first.directory


def test_checkpointing_every_few_epochs_commits_only_there_and_resumes_there(tmp_path):
    train, val = _data()
    with pytest.raises(KeyboardInterrupt):
        train_model(_build, train, val, run_name="r", directory=tmp_path, epochs=5,
                    verbose=0, checkpoint_every=2, callbacks=[_Interrupt(3)])
    state = read_state(tmp_path)
    assert state["epochs_done"] == 2 and len(state["history"]) == 2  # epoch 3 not kept
    assert sorted(p.name for p in tmp_path.glob("epoch-*")) == ["epoch-002.weights.h5"]
    train, val = _data()
    resumed = train_model(_build, train, val, run_name="r", directory=tmp_path, epochs=5,
                          verbose=0, checkpoint_every=2)
    assert resumed.resumed_at == 3 and list(resumed.history["epoch"]) == [1, 2, 3, 4, 5]
    committed = resumed.history["checkpoint_s"].notna().tolist()
    assert committed == [False, True, False, True, True]  # epochs 2, 4 and the last


@pytest.mark.parametrize("every", [1, 3])
def test_a_time_limit_stops_after_a_committed_epoch_and_the_run_resumes(tmp_path, every):
    train, val = _data()
    limit = TimeLimit(0.0)  # no second epoch fits
    stopped = train_model(_build, train, val, run_name="r", directory=tmp_path, epochs=4,
                          verbose=0, checkpoint_every=every, callbacks=[limit])
    assert limit.stopped_after == 1 and list(stopped.history["epoch"]) == [1]
    assert read_state(tmp_path)["epochs_done"] == 1  # committed between checkpoints too
    train, val = _data()
    limit = TimeLimit(3600.0)
    resumed = train_model(_build, train, val, run_name="r", directory=tmp_path, epochs=4,
                          verbose=0, checkpoint_every=every, callbacks=[limit])
    assert limit.stopped_after is None and resumed.resumed_at == 2
    assert list(resumed.history["epoch"]) == [1, 2, 3, 4]


def test_learning_rate_drops_name_the_first_epoch_at_each_lower_rate():
    history = pd.DataFrame({"epoch": [1, 2, 3, 4, 5, 6],
                            "learning_rate": [0.01, 0.01, 1e-3, 1e-3, 1e-4, 1e-4]})
    assert learning_rate_drops(history) == [3, 5]
    assert learning_rate_drops(history.iloc[:2]) == []
