"""Training the paper's way, with checkpoints that survive an interrupted run.

The recipe (§5 of the paper): stochastic gradient descent with batch size 128,
momentum 0.9 and weight decay 0.0005, learning rate 0.01 divided by 10 when the
validation loss stops improving (three times in the paper). ``train_model`` runs
it on any ``tf.data`` pair the data helpers return and keeps, under
``artifacts_root()/<run name>/``:

- ``state.json``: the completed epochs, the history rows, the learning-rate and
  early-stopping bookkeeping, and the name of the weights file; it is replaced
  atomically at the end of every epoch, so it is the single commit point;
- ``epoch-NNN.weights.h5``: the model's and the optimiser's variables (momentum
  included) after epoch NNN; ``best.weights.h5``: the lowest validation loss;
- ``history.csv``: one row per epoch (loss, accuracy, learning rate, time).

Run the same call again after a crash, a killed process or a closed notebook and
it continues at the first epoch not yet committed: no epoch lost or repeated.
"""

from __future__ import annotations

import functools
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import pandas as pd
from keras import ops

from helpers.paths import artifacts_root

STATE_FILE = "state.json"
HISTORY_FILE = "history.csv"
BEST_WEIGHTS = "best.weights.h5"


@dataclass
class PlateauSchedule:
    """Divide the learning rate by ``factor`` when the validation loss stops improving.

    §5: "divide the learning rate by 10 when the validation error rate stopped
    improving with the current learning rate ... reduced three times prior to
    termination". ``update`` takes the epoch's validation loss and learning rate
    and returns the rate for the next epoch. Plain data, so it goes into the checkpoint.
    """

    patience: int = 2
    factor: float = 0.1  # §5: divided by 10
    max_reductions: int = 3  # §5: reduced three times
    min_delta: float = 1e-4
    best: float = math.inf
    wait: int = 0
    reductions: int = 0

    def update(self, val_loss: float, learning_rate: float) -> float:
        if val_loss < self.best - self.min_delta:
            self.best, self.wait = val_loss, 0
            return learning_rate
        self.wait += 1
        if self.wait >= self.patience and self.reductions < self.max_reductions:
            self.wait, self.reductions = 0, self.reductions + 1
            return learning_rate * self.factor
        return learning_rate

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PlateauSchedule:
        return cls(**data)


@dataclass
class EarlyStopper:
    """Stop after ``patience`` epochs without a lower validation loss (``patience=None``: never)."""

    patience: int | None = None
    min_delta: float = 1e-4
    best: float = math.inf
    wait: int = 0
    should_stop: bool = False

    def update(self, val_loss: float) -> bool:
        """Record one epoch; returns True when it is the best so far."""
        if val_loss < self.best - self.min_delta:
            self.best, self.wait = val_loss, 0
            return True
        self.wait += 1
        self.should_stop = self.patience is not None and self.wait >= self.patience
        return False

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EarlyStopper:
        return cls(**data)


@keras.saving.register_keras_serializable(package="alexnet")
class PaperSGD(keras.optimizers.SGD):
    """SGD with momentum and the paper's weight decay (§5, the update rule).

    The paper updates ``v <- 0.9 v - 0.0005 lr w - lr dL/dw`` and ``w <- w + v``:
    the L2 gradient ``weight_decay * w`` is added to the loss gradient *before* the
    momentum update, so it is carried by the velocity like any other gradient.
    Keras' ``SGD(weight_decay=...)`` instead subtracts ``lr * wd * w`` from the
    weights directly (decoupled, outside the momentum) and decays every variable.

    Choice about biases: only variables with two or more dimensions (convolution
    and dense kernels) are decayed; biases and normalisation scales are not, as in
    the reference Caffe AlexNet (``decay_mult: 0`` on biases). The paper's rule is
    written for the weights ``w``; set ``decay_all=True`` to decay every variable.
    """

    def __init__(
        self,
        learning_rate: float = 0.01,  # §5: initial learning rate 0.01
        momentum: float = 0.9,  # §5: momentum 0.9
        l2: float = 5e-4,  # §5: weight decay 0.0005
        decay_all: bool = False,
        name: str = "paper_sgd",
        **kwargs: Any,
    ) -> None:
        if l2 < 0:
            raise ValueError(f"PaperSGD: l2 must be >= 0 (the paper uses 5e-4), got {l2}")
        super().__init__(learning_rate=learning_rate, momentum=momentum, nesterov=False, name=name, **kwargs)
        self.l2 = float(l2)
        self.decay_all = bool(decay_all)

    def decays(self, variable: Any) -> bool:
        """Whether ``variable`` receives weight decay (kernels: rank >= 2)."""
        return self.l2 > 0 and (self.decay_all or len(variable.shape) >= 2)

    def update_step(self, gradient: Any, variable: Any, learning_rate: Any) -> None:
        if self.decays(variable):
            gradient = ops.add(ops.cast(gradient, variable.dtype), ops.multiply(self.l2, variable))
        super().update_step(gradient, variable, learning_rate)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.pop("nesterov", None)
        config.update(l2=self.l2, decay_all=self.decay_all)
        return config


@dataclass(frozen=True)
class TrainingResult:
    """What ``train_model`` returns.

    ``history`` has one row per epoch (``epoch`` counts from 1) with the losses,
    accuracies, the learning rate used in that epoch, ``seconds`` and
    ``images_per_s``; ``resumed_at`` is the first epoch this call ran (1 for a
    fresh run; ``epochs + 1`` when everything was already done).
    """

    model: keras.Model
    history: pd.DataFrame
    directory: Path
    resumed_at: int
    stopped_early: bool = False
    notes: list[str] = field(default_factory=list)


def accelerator_visible() -> bool:
    """True when TensorFlow sees a GPU (mixed precision and XLA are used only then)."""
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


def build_on_device(build_model: Callable[[], keras.Model],
                    mixed_precision: bool | None = None) -> keras.Model:
    """Call ``build_model()`` under float16 mixed precision on a GPU, float32 elsewhere.

    The policy is set only while the layers are created, then restored, so nothing
    global changes for the caller.
    """
    use_mixed = accelerator_visible() if mixed_precision is None else mixed_precision
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16" if use_mixed else "float32")
    try:
        return build_model()
    finally:
        keras.config.set_dtype_policy(previous)


def compile_paper(model: keras.Model, *, learning_rate: float = 0.01, momentum: float = 0.9, l2: float = 5e-4,
                  jit_compile: bool | None = None) -> keras.Model:
    """Compile ``model`` (which outputs logits) with ``PaperSGD``, cross-entropy, top-1 and top-5."""
    num_classes = int(model.output_shape[-1])
    metrics: list[Any] = [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
    if num_classes > 5:
        metrics.append(keras.metrics.SparseTopKCategoricalAccuracy(k=5, name="top5"))  # §4.1: top-5 error
    model.compile(
        optimizer=PaperSGD(learning_rate=learning_rate, momentum=momentum, l2=l2),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=metrics,
        jit_compile=accelerator_visible() if jit_compile is None else jit_compile,
    )
    return model


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def read_state(directory: Path) -> dict[str, Any] | None:
    """The committed state of the run in ``directory`` (``None`` when it has none)."""
    path = Path(directory) / STATE_FILE
    return json.loads(path.read_text()) if path.exists() else None


def history_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """History rows as a DataFrame indexed by nothing, one row per epoch."""
    return pd.DataFrame(rows) if rows else pd.DataFrame(columns=["epoch"])


class _Checkpointer(keras.callbacks.Callback):
    """Times each epoch, steps the schedule, early stopping, and commits the epoch."""

    def __init__(self, directory: Path, state: dict[str, Any], num_train: int | None, verbose: int) -> None:
        super().__init__()
        self.directory, self.state, self.num_train, self.verbose = directory, state, num_train, verbose
        self.schedule = PlateauSchedule.from_dict(state["schedule"])
        self.stopper = EarlyStopper.from_dict(state["early_stopping"])
        self._start = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        seconds = time.perf_counter() - self._start
        optimizer = self.model.optimizer
        lr_used = float(ops.convert_to_numpy(optimizer.learning_rate))
        row = {"epoch": epoch + 1, **{k: float(v) for k, v in (logs or {}).items() if k != "learning_rate"}}
        row.update(learning_rate=lr_used, seconds=seconds,
                   images_per_s=self.num_train / seconds if self.num_train else math.nan)
        val_loss = row.get("val_loss", row.get("loss"))
        improved = self.stopper.update(val_loss)
        new_lr = self.schedule.update(val_loss, lr_used)
        if new_lr != lr_used:
            optimizer.learning_rate = new_lr
        if improved:
            self.model.save_weights(self.directory / BEST_WEIGHTS)
        self._commit(epoch + 1, row, new_lr)
        if self.stopper.should_stop:
            self.model.stop_training = True
        if self.verbose:
            skip = ("epoch", "seconds", "images_per_s", "learning_rate")
            shown = "  ".join(f"{k} {v:.3f}" for k, v in row.items() if k not in skip)
            print(f"epoch {epoch + 1:>3}/{self.params.get('epochs')}  {shown}  lr {lr_used:.0e}  "
                  f"{seconds:.1f} s  {row['images_per_s']:.0f} img/s", flush=True)

    def _commit(self, epochs_done: int, row: dict[str, Any], next_learning_rate: float) -> None:
        weights = f"epoch-{epochs_done:03d}.weights.h5"
        self.model.save_weights(self.directory / weights)
        previous = self.state.get("weights")
        self.state.update(epochs_done=epochs_done, weights=weights, next_learning_rate=next_learning_rate,
                          history=[*self.state["history"], row],
                          schedule=self.schedule.to_dict(), early_stopping=self.stopper.to_dict(),
                          stopped_early=self.stopper.should_stop)
        _write_atomic(self.directory / STATE_FILE, json.dumps(self.state, indent=1))  # the commit point
        history_frame(self.state["history"]).to_csv(self.directory / HISTORY_FILE, index=False)
        if previous and previous != weights:
            (self.directory / previous).unlink(missing_ok=True)


def _with_known_length(dataset: Any) -> Any:
    """``dataset`` with its number of batches known to Keras (counted once if tf.data cannot tell)."""
    import tensorflow as tf

    if dataset is None or int(dataset.cardinality()) != int(tf.data.UNKNOWN_CARDINALITY):
        return dataset
    batches = sum(1 for _ in dataset)
    return dataset.apply(tf.data.experimental.assert_cardinality(batches))


def restore(model: keras.Model, directory: Path, weights: str | None = None) -> keras.Model:
    """Load the committed weights (model and optimiser) of the run in ``directory`` into ``model``.

    ``model`` must be compiled with the same optimiser; ``weights`` defaults to the
    last committed epoch (pass ``BEST_WEIGHTS`` for the lowest validation loss).
    """
    state = read_state(directory)
    if state is None or not state.get("weights"):
        raise ValueError(f"restore: no committed epoch in {directory}; run train_model first")
    model.optimizer.build(model.trainable_variables)  # create the momentum slots the file fills
    model.load_weights(Path(directory) / (weights or state["weights"]))
    return model


def train_model(
    build_model: Callable[[], keras.Model],
    train: Any,
    val: Any,
    *,
    run_name: str,
    epochs: int,
    learning_rate: float = 0.01,  # §5
    momentum: float = 0.9,  # §5
    weight_decay: float = 5e-4,  # §5
    lr_patience: int = 2,
    early_stopping_patience: int | None = None,
    num_train: int | None = None,
    directory: Path | None = None,
    resume: bool = True,
    callbacks: list[keras.callbacks.Callback] | None = None,
    verbose: int = 1,
) -> TrainingResult:
    """Train ``build_model()`` on ``train`` (validating on ``val``) with the paper's recipe.

    ``build_model``: returns a fresh, uncompiled model whose output is logits
    ``(B, classes)``; it is called under mixed precision on a GPU. ``train``/``val``:
    ``tf.data`` datasets of ``(images (B, S, S, 3), labels (B,))``. Checkpoints go to
    ``directory`` (default ``artifacts_root()/run_name``); with ``resume`` an earlier
    run there continues at its first uncommitted epoch, otherwise it starts afresh.
    ``verbose=1`` prints one line per epoch. ``callbacks`` run after the
    checkpointing one.
    """
    if epochs < 1:
        raise ValueError(f"train_model: epochs must be >= 1, got {epochs}")
    directory = Path(directory or artifacts_root() / run_name)
    directory.mkdir(parents=True, exist_ok=True)
    recipe = {"learning_rate": learning_rate, "momentum": momentum, "weight_decay": weight_decay}
    state = read_state(directory) if resume else None
    if state is not None and state.get("recipe") != recipe:
        raise ValueError(f"train_model: {directory} holds a run with recipe {state.get('recipe')}, "
                         f"not {recipe}; "
                         "pick another run_name or pass resume=False to start afresh")
    if state is None:
        for old in directory.glob("*.weights.h5"):
            old.unlink()
        state = {"recipe": recipe, "epochs_done": 0, "weights": None, "history": [], "stopped_early": False,
                 "schedule": PlateauSchedule(patience=lr_patience).to_dict(),
                 "early_stopping": EarlyStopper(patience=early_stopping_patience).to_dict()}
    model = compile_paper(build_on_device(build_model), learning_rate=learning_rate, momentum=momentum,
                          l2=weight_decay)
    done = int(state["epochs_done"])
    if done:
        restore(model, directory)
        model.optimizer.learning_rate = state["next_learning_rate"]
    notes = [f"resumed after epoch {done} from the checkpoint in {directory.name}/"] if done else []
    if verbose and notes:
        print(notes[0], flush=True)
    if done < epochs and not state.get("stopped_early"):
        train, val = _with_known_length(train), _with_known_length(val)
        keeper = _Checkpointer(directory, state, num_train, verbose)
        model.fit(train, validation_data=val, initial_epoch=done, epochs=epochs, verbose=0, shuffle=False,
                  callbacks=[keeper, *(callbacks or [])])
        state = keeper.state
    return TrainingResult(model=model, history=history_frame(state["history"]), directory=directory,
                          resumed_at=done + 1, stopped_early=bool(state.get("stopped_early")), notes=notes)


# What the paper reports each choice buys on ILSVRC (error-rate reductions, percentage points).
PAPER_EFFECTS = pd.DataFrame(
    [("LRN (vs none)", "§3.3", "top-1 -1.4, top-5 -1.2"),
     ("overlapping pooling (vs 2x2/2)", "§3.4", "top-1 -0.4, top-5 -0.3"),
     ("PCA colour augmentation", "§4.1", "top-1 over -1"),
     ("dropout", "§4.2", "without it: substantial overfitting")],
    columns=["choice", "paper", "reported effect on error (points)"],
).set_index("choice")

ABLATIONS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    # name: (build_alexnet keyword arguments, load_dataset keyword arguments)
    "paper": ({}, {}),
    "batch norm instead of LRN": ({"normalization": "batchnorm"}, {}),
    "no normalisation": ({"normalization": "none"}, {}),
    "non-overlapping pooling": ({"pooling": "non_overlapping"}, {}),
    "no dropout": ({"dropout_rate": 0.0}, {}),
    "no PCA colour": ({}, {"pca_color": False}),
}


def run_ablation(profile_name: str | None = None, data_name: str | None = None,
                 names: list[str] | None = None) -> pd.DataFrame:
    """Train one AlexNet per entry of ``ABLATIONS`` with the profile's ``ablation`` settings.

    Each run checkpoints (and resumes) like any other; the table of final and best
    validation top-1 accuracy is written to ``artifacts_root()/ablation-<profile>-<data>/results.csv``.
    """
    from helpers.data import load_dataset
    from helpers.model import build_alexnet
    from helpers.profile import get_profile

    profile = get_profile(profile_name)
    s = profile["ablation"]
    rows, folder = {}, None
    for name in names or list(ABLATIONS):
        model_kwargs, data_kwargs = ABLATIONS[name]
        data = load_dataset(data_name, image_size=s.image_size, batch_size=s.batch_size,
                            subset_size=s.subset_size, **data_kwargs)
        folder = artifacts_root() / f"ablation-{profile.name}-{data.source.name}"
        build = functools.partial(build_alexnet, len(data.class_names), s.image_size, "paper", **model_kwargs)
        run = train_model(build,
                          data.train, data.val, run_name=name, directory=folder / name.replace(" ", "-"),
                          epochs=s.epochs, num_train=data.num_train, early_stopping_patience=10, verbose=0)
        h = run.history
        rows[name] = {"final val top-1 (%)": 100 * h["val_accuracy"].iloc[-1],
                      "best val top-1 (%)": 100 * h["val_accuracy"].max(), "epochs": len(h)}
    table = pd.DataFrame(rows).T.round(2)
    if folder is not None:
        table.to_csv(folder / "results.csv", index_label="variant")
    return table


def ablation_results(folder_name: str) -> pd.DataFrame | None:
    """The table ``run_ablation`` wrote under ``artifacts_root()/folder_name`` (``None``: not run yet)."""
    path = artifacts_root() / folder_name / "results.csv"
    return pd.read_csv(path, index_col="variant") if path.exists() else None


if __name__ == "__main__":  # python -m helpers.train ablation  (from book/, ALEXNET_PROFILE=full)
    import sys

    if sys.argv[1:2] != ["ablation"]:
        raise SystemExit("usage: python -m helpers.train ablation")
    print(run_ablation().to_string())
