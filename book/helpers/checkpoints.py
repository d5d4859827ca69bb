"""A training run's commit point: weights and state after every epoch, atomically.

Under a run's folder (``artifacts_root()/<run name>/``, ``helpers.train.train_model``):

- ``state.json``: completed epochs, history rows, schedule and early-stopping state and
  the name of the weights file; replaced atomically at the end of every epoch: the
  commit point;
- ``epoch-NNN.weights.h5``: the model's and the optimiser's variables (momentum, step
  count and the random generators' states included) after the last committed epoch;
  ``best.weights.h5``: a hard link to the epoch file with the lowest validation error
  (no second copy of the model is written);
- ``history.csv``: one row per epoch (wall and CPU seconds, images/s, the checkpoint's
  own seconds ``checkpoint_s``).

``Checkpointer`` writes them after each epoch (stepping the plateau schedule and early
stopping, whose state is part of the commit); ``restore`` loads them, so a run killed at
any moment resumes at its first uncommitted epoch with the same batches.

Taught in ``book/08_training.ipynb``; checked by ``tests/portable/test_train.py`` (on
every backend) and ``tests/test_train.py``.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pandas as pd
from keras import ops

from helpers.optim import PlateauSchedule
from helpers.paths import write_text_atomic

STATE_FILE, HISTORY_FILE, BEST_WEIGHTS = "state.json", "history.csv", "best.weights.h5"


@dataclass
class EarlyStopper:
    """Stop after ``patience`` epochs without a lower error (None: never)."""

    patience: int | None = None
    min_delta: float = 1e-4
    best: float = float("inf")
    wait: int = 0
    should_stop: bool = False

    def update(self, error: float) -> bool:
        """Record one epoch; True when it is the best so far."""
        if error < self.best - self.min_delta:
            self.best, self.wait = error, 0
            return True
        self.wait += 1
        self.should_stop = self.patience is not None and self.wait >= self.patience
        return False


def read_state(directory: Path) -> dict[str, Any] | None:
    """The committed state of the run in ``directory`` (``None`` when it has none)."""
    path = Path(directory) / STATE_FILE
    return json.loads(path.read_text()) if path.exists() else None


def _seed_states(model: keras.Model) -> list[Any]:
    """The random generators' states (dropout, augmentation): not in weights files."""
    return [v for v in model.variables if v.path.endswith("seed_generator_state")]


def _link_best(directory: Path, weights: str) -> None:
    """Make ``best.weights.h5`` the file ``weights``: a hard link (else a copy)."""
    tmp = directory / (BEST_WEIGHTS + ".tmp")
    tmp.unlink(missing_ok=True)
    try:
        os.link(directory / weights, tmp)
    except OSError:  # file systems without hard links (some network drives)
        shutil.copyfile(directory / weights, tmp)
    os.replace(tmp, directory / BEST_WEIGHTS)


class Checkpointer(keras.callbacks.Callback):
    """After every epoch: time it, step the schedule, commit weights and state.

    ``state`` is the run's ``state.json`` (``fresh_state`` or ``read_state``); the
    schedule and early stopping live in it, so a resumed run goes on where they were.
    """

    def __init__(self, directory: Path, state: dict[str, Any], train: Any,
                 verbose: int, every: int = 1) -> None:
        super().__init__()
        self.directory, self.state, self.verbose = directory, state, verbose
        self.every, self.pending = every, []  # rows of epochs not yet committed
        self.train, self.num_train = train, _num_images(train)
        self.schedule = PlateauSchedule.from_dict(state["schedule"])
        self.stopper = EarlyStopper(**state["early_stopping"])
        self.reduce_at = set(state["recipe"].get("reduce_at", []))
        self._start = self._cpu = 0.0

    @property
    def finished(self) -> bool:
        """Early stopping fired, or the schedule made its last reduction (§5)."""
        return self.stopper.should_stop or self.schedule.finished

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        if hasattr(self.train, "set_epoch"):  # epoch e's batches, resumed or not
            self.train.set_epoch(epoch)
        self._start, self._cpu = time.perf_counter(), time.process_time()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        seconds = time.perf_counter() - self._start
        lr_used = float(ops.convert_to_numpy(self.model.optimizer.learning_rate))
        row = {"epoch": epoch + 1, **{k: float(v) for k, v in (logs or {}).items()
                                      if k != "learning_rate"}}
        row.update(learning_rate=lr_used, seconds=seconds,
                   cpu_s=time.process_time() - self._cpu,
                   images_per_s=self.num_train / seconds)
        error = 1.0 - row.get("val_accuracy", row.get("accuracy", 0.0))  # §5
        improved = self.stopper.update(error)
        next_lr = self.schedule.update(error, lr_used)
        if epoch + 1 in self.reduce_at and next_lr == lr_used:  # fixed, not a plateau
            next_lr = self.schedule.reduce(lr_used)
        self.model.optimizer.learning_rate = next_lr
        self.pending.append(row)
        stop = self.finished
        last = epoch + 1 == self.params.get("epochs")
        if (epoch + 1) % self.every == 0 or last or stop:
            self._commit(epoch + 1, next_lr, improved)
        if stop:
            self.model.stop_training = True
        if self.verbose:
            self._print(row, lr_used)

    def on_train_end(self, logs: dict | None = None) -> None:
        if self.pending:  # stopped between checkpoints (e.g. by a TimeLimit): commit
            next_lr = float(ops.convert_to_numpy(self.model.optimizer.learning_rate))
            self._commit(self.pending[-1]["epoch"], next_lr, self.stopper.wait == 0)

    def _commit(self, epochs_done: int, next_lr: float, improved: bool) -> None:
        weights = f"epoch-{epochs_done:03d}.weights.h5"
        previous = self.state.get("weights")
        start = time.perf_counter()
        self.model.save_weights(self.directory / weights)
        if improved:
            _link_best(self.directory, weights)
        rows, self.pending = self.pending, []
        rows[-1]["checkpoint_s"] = time.perf_counter() - start
        seeds = [ops.convert_to_numpy(v).tolist() for v in _seed_states(self.model)]
        self.state.update(epochs_done=epochs_done, weights=weights, seed_states=seeds,
                          next_learning_rate=next_lr, stopped_early=self.finished,
                          history=[*self.state["history"], *rows],
                          schedule=self.schedule.to_dict(),
                          early_stopping=asdict(self.stopper))
        text = json.dumps(self.state, indent=1)
        write_text_atomic(self.directory / STATE_FILE, text)  # the commit
        history = pd.DataFrame(self.state["history"])
        history.to_csv(self.directory / HISTORY_FILE, index=False)
        if previous and previous != weights:
            (self.directory / previous).unlink(missing_ok=True)  # best has its link

    def _print(self, row: dict[str, Any], lr_used: float) -> None:
        shown = ("loss", "accuracy", "val_loss", "val_accuracy", "val_top5")
        values = "  ".join(f"{k} {row[k]:.3f}" for k in shown if k in row)
        print(f"epoch {row['epoch']:>3}/{self.params.get('epochs')}  {values}  "
              f"base lr {lr_used:.0e}  {row['seconds']:.0f} s  "  # before any warm-up
              f"{row['images_per_s']:.0f} img/s", flush=True)


def restore(model: keras.Model, directory: Path,
            weights: str | None = None) -> keras.Model:
    """Load the committed weights (model and optimiser) of the run in ``directory``.

    ``model`` must be compiled with the same optimiser; ``weights`` defaults to the last
    committed epoch (pass ``BEST_WEIGHTS`` for the lowest validation error).
    """
    state = read_state(directory)
    if state is None or not state.get("weights"):
        raise ValueError(f"restore: no committed epoch in {directory}; run "
                         "train_model first")
    model.optimizer.build(model.trainable_variables)  # the slots the file fills
    model.load_weights(Path(directory) / (weights or state["weights"]))
    for variable, value in zip(_seed_states(model), state.get("seed_states", []),
                               strict=False):
        variable.assign(np.asarray(value, variable.dtype))  # the same random draws
    return model


def fresh_state(directory: Path, recipe: dict[str, Any], lr_patience: int,
                early_stopping_patience: int | None) -> dict[str, Any]:
    """The state of a run that has trained no epoch (older weights files removed)."""
    for old in directory.glob("*.weights.h5"):
        old.unlink()
    return {"recipe": recipe, "epochs_done": 0, "weights": None, "history": [],
            "stopped_early": False,
            "schedule": PlateauSchedule(patience=lr_patience).to_dict(),
            "early_stopping": asdict(EarlyStopper(patience=early_stopping_patience))}


def _num_images(batches: Any) -> int:
    """How many images one epoch of ``batches`` holds."""
    split = getattr(batches, "split", None)
    return len(split) if split is not None else len(batches) * batches[0][0].shape[0]
