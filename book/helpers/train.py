"""Training the paper's way, with checkpoints that survive an interrupted run.

``train_model`` compiles a model with ``PaperSGD`` (§5), trains it with ``fit`` on any
backend, steps ``PlateauSchedule`` on the validation error after every epoch, and keeps,
under ``artifacts_root()/<run name>/``:

- ``state.json``: completed epochs, history rows, schedule and early-stopping state and the
  name of the weights file; replaced atomically at the end of every epoch: the commit point;
- ``epoch-NNN.weights.h5``: the model's and the optimiser's variables (momentum included)
  after the last committed epoch; ``best.weights.h5``: a hard link to the epoch file with
  the lowest validation error (no second copy of the model is written);
- ``history.csv``: one row per epoch.

Run the same call again after a crash, a killed process or a closed notebook and it goes on
at the first epoch not yet committed, with the same batches: no epoch lost or repeated.
``train_alexnet`` is the one call the chapters use to train (or reload) AlexNet.

Taught in ``book/08_training.ipynb``; checked by ``tests/test_train.py``.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import keras
import pandas as pd
from keras import ops

from helpers.optim import PaperSGD, PlateauSchedule
from helpers.paths import artifacts_root
from helpers.profile import accelerator_names

STATE_FILE, HISTORY_FILE, BEST_WEIGHTS = "state.json", "history.csv", "best.weights.h5"


@dataclass
class EarlyStopper:
    """Stop after ``patience`` epochs without a lower validation error (``None``: never)."""

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


@dataclass(frozen=True)
class TrainingResult:
    """What ``train_model`` returns: the model, one history row per epoch (``epoch`` from 1),
    the run's folder, the first epoch this call ran (``epochs + 1``: all loaded), notes."""

    model: keras.Model
    history: pd.DataFrame
    directory: Path
    resumed_at: int
    stopped_early: bool = False
    notes: list[str] = field(default_factory=list)


def compile_paper(model: keras.Model, *, learning_rate: float = 0.01, momentum: float = 0.9,
                  l2: float = 5e-4) -> keras.Model:
    """Compile ``model`` (which outputs logits) with ``PaperSGD``, cross-entropy, top-1 and top-5.

    ``jit_compile="auto"``: XLA on a GPU and on JAX; TensorFlow's CPU kernels (oneDNN) on a CPU.
    """
    metrics: list[Any] = [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
    if int(model.output_shape[-1]) > 5:  # §2: the top-5 error rate
        metrics.append(keras.metrics.SparseTopKCategoricalAccuracy(k=5, name="top5"))
    model.compile(optimizer=PaperSGD(learning_rate=learning_rate, momentum=momentum, l2=l2),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=metrics, jit_compile="auto")
    return model


def build_on_device(build_model: Callable[[], keras.Model]) -> keras.Model:
    """``build_model()`` under float16 mixed precision on a GPU, float32 elsewhere.

    The policy is set only while the layers are created, then restored.
    """
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16" if accelerator_names() else "float32")
    try:
        return build_model()
    finally:
        keras.config.set_dtype_policy(previous)


def read_state(directory: Path) -> dict[str, Any] | None:
    """The committed state of the run in ``directory`` (``None`` when it has none)."""
    path = Path(directory) / STATE_FILE
    return json.loads(path.read_text()) if path.exists() else None


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _link_best(directory: Path, weights: str) -> None:
    """Make ``best.weights.h5`` the file ``weights`` (a hard link; a copy where links fail)."""
    tmp = directory / (BEST_WEIGHTS + ".tmp")
    tmp.unlink(missing_ok=True)
    try:
        os.link(directory / weights, tmp)
    except OSError:  # file systems without hard links (some network drives)
        shutil.copyfile(directory / weights, tmp)
    os.replace(tmp, directory / BEST_WEIGHTS)


class _Checkpointer(keras.callbacks.Callback):
    """After every epoch: time it, step the schedule, commit weights and state."""

    def __init__(self, directory: Path, state: dict[str, Any], num_train: int, verbose: int) -> None:
        super().__init__()
        self.directory, self.state, self.num_train, self.verbose = directory, state, num_train, verbose
        self.schedule = PlateauSchedule.from_dict(state["schedule"])
        self.stopper = EarlyStopper(**state["early_stopping"])
        self._start = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        seconds = time.perf_counter() - self._start
        lr_used = float(ops.convert_to_numpy(self.model.optimizer.learning_rate))
        row = {"epoch": epoch + 1, **{k: float(v) for k, v in (logs or {}).items() if k != "learning_rate"}}
        row.update(learning_rate=lr_used, seconds=seconds, images_per_s=self.num_train / seconds)
        error = 1.0 - row.get("val_accuracy", row.get("accuracy", 0.0))  # §5: validation error
        improved = self.stopper.update(error)
        next_lr = self.schedule.update(error, lr_used)
        self.model.optimizer.learning_rate = next_lr
        start = time.perf_counter()
        self._commit(epoch + 1, row, next_lr, improved)
        self.state["history"][-1]["checkpoint_s"] = time.perf_counter() - start
        if self.stopper.should_stop or self.schedule.finished:
            self.model.stop_training = True
        if self.verbose:
            self._print(row, lr_used)

    def _commit(self, epochs_done: int, row: dict[str, Any], next_lr: float, improved: bool) -> None:
        weights, previous = f"epoch-{epochs_done:03d}.weights.h5", self.state.get("weights")
        self.model.save_weights(self.directory / weights)
        if improved:
            _link_best(self.directory, weights)
        self.state.update(epochs_done=epochs_done, weights=weights, next_learning_rate=next_lr,
                          history=[*self.state["history"], row],
                          schedule=self.schedule.to_dict(), early_stopping=asdict(self.stopper),
                          stopped_early=self.stopper.should_stop or self.schedule.finished)
        _write_atomic(self.directory / STATE_FILE, json.dumps(self.state, indent=1))  # commit
        pd.DataFrame(self.state["history"]).to_csv(self.directory / HISTORY_FILE, index=False)
        if previous and previous != weights:
            (self.directory / previous).unlink(missing_ok=True)  # best keeps its own link

    def _print(self, row: dict[str, Any], lr_used: float) -> None:
        skip = ("epoch", "seconds", "images_per_s", "learning_rate")
        shown = "  ".join(f"{k} {v:.3f}" for k, v in row.items() if k not in skip)
        print(f"epoch {row['epoch']:>3}/{self.params.get('epochs')}  {shown}  lr {lr_used:.0e}  "
              f"{row['seconds']:.1f} s  {row['images_per_s']:.0f} img/s", flush=True)


def restore(model: keras.Model, directory: Path, weights: str | None = None) -> keras.Model:
    """Load the committed weights (model and optimiser) of the run in ``directory`` into ``model``.

    ``model`` must be compiled with the same optimiser; ``weights`` defaults to the last
    committed epoch (pass ``BEST_WEIGHTS`` for the lowest validation error).
    """
    state = read_state(directory)
    if state is None or not state.get("weights"):
        raise ValueError(f"restore: no committed epoch in {directory}; run train_model first")
    model.optimizer.build(model.trainable_variables)  # create the momentum slots the file fills
    model.load_weights(Path(directory) / (weights or state["weights"]))
    return model


def _fresh_state(directory: Path, recipe: dict[str, float], lr_patience: int,
                 early_stopping_patience: int | None) -> dict[str, Any]:
    for old in directory.glob("*.weights.h5"):
        old.unlink()
    return {"recipe": recipe, "epochs_done": 0, "weights": None, "history": [], "stopped_early": False,
            "schedule": PlateauSchedule(patience=lr_patience).to_dict(),
            "early_stopping": asdict(EarlyStopper(patience=early_stopping_patience))}


def train_model(build_model: Callable[[], keras.Model], train: Any, val: Any, *, run_name: str,
                epochs: int, learning_rate: float = 0.01, momentum: float = 0.9,
                weight_decay: float = 5e-4, lr_patience: int = 2,
                early_stopping_patience: int | None = None, directory: Path | None = None,
                resume: bool = True, verbose: int = 1) -> TrainingResult:
    """Train ``build_model()`` on ``train`` (validating on ``val``) with the paper's recipe (§5).

    ``build_model`` returns a fresh, uncompiled model that outputs logits; ``train`` and ``val``
    are ``helpers.data.ImageBatches`` (or any ``PyDataset`` of ``(images, labels)``).
    Checkpoints go to ``directory`` (default ``artifacts_root()/run_name``); with ``resume``
    an earlier run there continues at its first uncommitted epoch, otherwise it starts afresh.
    """
    if epochs < 1:
        raise ValueError(f"train_model: epochs must be >= 1, got {epochs}")
    directory = Path(directory or artifacts_root() / run_name)
    directory.mkdir(parents=True, exist_ok=True)
    recipe = {"learning_rate": learning_rate, "momentum": momentum, "weight_decay": weight_decay}
    state = read_state(directory) if resume else None
    if state is not None and state.get("recipe") != recipe:
        raise ValueError(f"train_model: {directory} holds a run with recipe {state.get('recipe')}, "
                         f"not {recipe}; pick another run_name or pass resume=False to start afresh")
    state = state or _fresh_state(directory, recipe, lr_patience, early_stopping_patience)
    model = compile_paper(build_on_device(build_model), learning_rate=learning_rate,
                          momentum=momentum, l2=weight_decay)
    done = int(state["epochs_done"])
    if done:
        restore(model, directory)
        model.optimizer.learning_rate = state["next_learning_rate"]
    notes = [f"resumed after epoch {done} from the checkpoint in {directory.name}/"] if done else []
    if verbose and notes and done < epochs:
        print(notes[0], flush=True)
    if done < epochs and not state.get("stopped_early"):
        if hasattr(train, "set_epoch"):
            train.set_epoch(done)  # the batches an uninterrupted run would see
        keeper = _Checkpointer(directory, state, len(train.split), verbose)
        model.fit(train, validation_data=val, initial_epoch=done, epochs=epochs, verbose=0,
                  callbacks=[keeper])
        state = keeper.state
    return TrainingResult(model, pd.DataFrame(state["history"]), directory, done + 1,
                          bool(state.get("stopped_early")), notes)


def train_alexnet(splits: Any, settings: Any, *, name: str = "alexnet", variant: str | None = None,
                  augment: dict[str, Any] | None = None, model: dict[str, Any] | None = None,
                  batch_size: int | None = None, verbose: int = 1, **recipe: Any) -> TrainingResult:
    """Train (or reload) AlexNet on ``splits`` (``helpers.data.DataSplits``) at ``settings``' sizes.

    ``settings``: an ``ExperimentSettings`` (image size, batch, epochs, variant, learning
    rate). ``augment`` goes to ``splits.augmentation`` (flip, pca_color, augment), ``model``
    to ``build_alexnet`` (normalization, pooling, dropout_rate), ``recipe`` to ``train_model``.
    The run's name says what it trained, so a later chapter reloads the same run.
    """
    from helpers.model import build_alexnet

    variant = variant or settings.model_variant
    batch = batch_size or settings.batch_size
    options = {**(augment or {}), **(model or {}), **recipe}
    suffix = "".join(f"-{k}={v}" for k, v in sorted(options.items()))
    run_name = (f"{name}-{variant}-{splits.source.name}-{settings.image_size}px"
                f"-n{splits.num_train}-b{batch}{suffix}")
    recipe.setdefault("learning_rate", settings.learning_rate)
    build = lambda: build_alexnet(len(splits.class_names), settings.image_size, variant,  # noqa: E731
                                  input_stage=splits.augmentation(**(augment or {})), **(model or {}))
    return train_model(build, splits.batches("train", batch), splits.batches("val", 250),
                       run_name=run_name, epochs=settings.epochs, verbose=verbose, **recipe)
