"""Training the paper's way, with checkpoints that survive an interrupted run.

``train_model`` compiles a model with ``PaperSGD`` (§5), trains it with ``fit`` on any
backend, steps ``PlateauSchedule`` on the validation error after every epoch, and
commits every epoch's weights and state (``helpers.checkpoints``). Run the same call
again after a crash, a killed process or a closed notebook and it goes on at the first
epoch not yet committed, with the same batches: no epoch lost or repeated.
``learning_rate_drops`` reads the schedule's divisions from the history;
``train_alexnet`` is the one call the chapters use to train (or reload) AlexNet.

Taught in ``book/08_training.ipynb``; checked by ``tests/portable/test_train.py`` (on
every backend) and ``tests/test_train.py``.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import pandas as pd

from helpers.checkpoints import Checkpointer, fresh_state, read_state, restore
from helpers.optim import PaperSGD
from helpers.paths import artifacts_root
from helpers.profile import accelerator_names, training_precision


@dataclass(frozen=True)
class TrainingResult:
    """What ``train_model`` returns.

    ``model`` (with the last committed epoch's weights), ``history`` (one row per
    epoch, ``epoch`` from 1), the run's ``directory``, ``resumed_at`` (the first epoch
    this call ran; ``epochs + 1`` when all was loaded), ``stopped_early``, ``notes``.
    """

    model: keras.Model
    history: pd.DataFrame
    directory: Path
    resumed_at: int
    stopped_early: bool = False
    notes: list[str] = field(default_factory=list)


def compile_paper(model: keras.Model, *, learning_rate: float = 0.01,
                  momentum: float = 0.9, l2: float = 5e-4,
                  warmup_steps: int = 0) -> keras.Model:
    """Compile ``model`` (logits out) with ``PaperSGD``, cross-entropy, top-1 and top-5.

    ``jit_compile="auto"``: XLA on a GPU and on JAX; on a CPU, TensorFlow's own kernels.
    Loss and metrics average over the sample weights where a batch has them (all 1 but
    for the padding of ``helpers.distribute.DeviceBatches``, weight 0): the plain batch
    mean otherwise.
    """
    metrics: list[Any] = [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
    if int(model.output_shape[-1]) > 5:  # §2: the top-5 error rate
        metrics.append(keras.metrics.SparseTopKCategoricalAccuracy(k=5, name="top5"))
    optimizer = PaperSGD(learning_rate=learning_rate, momentum=momentum, l2=l2,
                         warmup_steps=warmup_steps)
    model.compile(optimizer=optimizer, weighted_metrics=metrics, jit_compile="auto",
                  loss=keras.losses.SparseCategoricalCrossentropy(
                      from_logits=True, reduction="mean_with_sample_weight"))
    return model


def build_on_device(build_model: Callable[[], keras.Model]) -> keras.Model:
    """``build_model()`` under the precision of ``helpers.profile.training_precision``.

    float16 mixed precision on a GPU, bfloat16 on a CPU with bfloat16 units, float32
    elsewhere; the policy is set only while the layers are created, then restored.
    """
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(training_precision())
    try:
        return build_model()
    finally:
        keras.config.set_dtype_policy(previous)


def learning_rate_drops(history: pd.DataFrame) -> list[int]:
    """The epochs that first trained at a lower learning rate than the epoch before."""
    rates = history["learning_rate"].to_numpy()
    epochs = history["epoch"].to_numpy()
    return [int(e) for e, before, now in zip(epochs[1:], rates[:-1], rates[1:],
                                             strict=True) if now < before * 0.999]


class TimeLimit(keras.callbacks.Callback):
    """Stop after the last epoch that fits in ``seconds`` (from the start of ``fit``).

    An epoch fits when it would end in time if it took as long as the one before it.
    ``train_model`` commits the epoch it stops at (also between checkpoints), and the
    same call later resumes at the next epoch. ``stopped_after`` is the last epoch
    trained when the limit stopped the run (else ``None``).
    """

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds, self.stopped_after = seconds, None
        self._start = self._epoch_start = 0.0

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._start = time.perf_counter()

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch_start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        now = time.perf_counter()
        if now - self._start + (now - self._epoch_start) > self.seconds:
            self.stopped_after = epoch + 1
            self.model.stop_training = True


def train_model(build_model: Callable[[], keras.Model], train: Any, val: Any, *,
                run_name: str, epochs: int, learning_rate: float = 0.01,
                momentum: float = 0.9, weight_decay: float = 5e-4, lr_patience: int = 2,
                early_stopping_patience: int | None = None, warmup_epochs: float = 0.0,
                reduce_at: tuple[int, ...] = (), directory: Path | None = None,
                resume: bool = True, callbacks: list | None = None, seed: int = 2012,
                data_parallel: bool | None = None, checkpoint_every: int = 1,
                verbose: int = 1) -> TrainingResult:
    """Train ``build_model()`` on ``train``, validating on ``val``, the paper's way.

    ``build_model`` returns a fresh, uncompiled model that outputs logits; ``train`` and
    ``val`` are ``helpers.data.ImageBatches`` (or any ``PyDataset`` of ``(images,
    labels)``). The recipe is §5's; not in the paper, and off by default:
    ``warmup_epochs`` raises the learning rate linearly over the first epochs, and
    ``reduce_at`` divides it by ten after the listed epochs whatever the validation
    error did. Checkpoints go to ``directory`` (default ``artifacts_root()/run_name``);
    with ``resume`` an earlier run there continues at its first uncommitted epoch,
    otherwise it starts afresh. ``callbacks`` are passed on to ``fit``. The random
    generators are seeded with ``seed`` before the model is built, so the same call
    trains the same network whatever ran before it. With ``data_parallel`` the model is
    built, compiled and trained on every visible device (``helpers.distribute``); by
    default (``None``) wherever Keras sees several GPUs or TPUs, on TensorFlow or JAX.
    ``checkpoint_every`` commits every that many epochs (and after the last): for runs
    whose epochs take seconds, where writing the model would cost a good share of them.
    """
    if epochs < 1:
        raise ValueError(f"train_model: epochs must be >= 1, got {epochs}")
    directory = Path(directory or artifacts_root() / run_name)
    directory.mkdir(parents=True, exist_ok=True)
    recipe = {"learning_rate": learning_rate, "momentum": momentum,
              "weight_decay": weight_decay, "warmup_epochs": warmup_epochs,
              "reduce_at": sorted(reduce_at)}
    state = read_state(directory) if resume else None
    if state is not None and state.get("recipe") != recipe:
        raise ValueError(f"train_model: {directory} holds a run with recipe "
                         f"{state.get('recipe')}, not {recipe}; pick another run_name "
                         "or pass resume=False to start afresh")
    if state is None:
        state = fresh_state(directory, recipe, lr_patience, early_stopping_patience)
    keras.utils.set_random_seed(seed)  # the same initial weights, dropout, batches
    if data_parallel is None:
        data_parallel = _several_accelerators()
    if data_parallel:
        from helpers.distribute import split_evenly

        train, val = split_evenly(train, val)
    with _devices(data_parallel):
        model = compile_paper(build_on_device(build_model), learning_rate=learning_rate,
                              momentum=momentum, l2=weight_decay,
                              warmup_steps=round(warmup_epochs * len(train)))
        done = int(state["epochs_done"])
        if done:
            restore(model, directory)
            model.optimizer.learning_rate = state["next_learning_rate"]
        if verbose and done and done < epochs:
            print(f"resumed after epoch {done} from {directory.name}/", flush=True)
        if done < epochs and not state.get("stopped_early"):
            keeper = Checkpointer(directory, state, train, verbose, checkpoint_every)
            model.fit(train, validation_data=val, initial_epoch=done, epochs=epochs,
                      shuffle=False,  # the batches shuffle themselves: (seed, epoch)
                      verbose=0, callbacks=[keeper, *(callbacks or [])])
            state = keeper.state
    notes = [f"resumed after epoch {done} from the checkpoint in {directory.name}/"] \
        if done else []
    return TrainingResult(model, pd.DataFrame(state["history"]), directory, done + 1,
                          bool(state.get("stopped_early")), notes)


def _several_accelerators() -> bool:
    """More than one GPU (or TPU), on a backend with a data-parallel engine."""
    backend = keras.backend.backend()
    return backend in ("tensorflow", "jax") and len(accelerator_names()) > 1


def _devices(data_parallel: bool) -> Any:
    """Every visible device (``helpers.distribute.data_parallel``), or just this one."""
    if not data_parallel:
        return contextlib.nullcontext()
    from helpers.distribute import data_parallel as every_device

    return every_device()


def run_name_of(splits: Any, settings: Any, name: str, variant: str, batch: int,
                options: dict[str, Any]) -> str:
    """The folder name of a run: what was trained, on what, and how."""
    suffix = "".join(f"-{k}={v}" for k, v in sorted(options.items()))
    return (f"{name}-{variant}-{splits.source.name}-{settings.image_size}px"
            f"-n{splits.num_train}-v{splits.num_val}-b{batch}{suffix}")


def profile_recipe(profile_name: str, epochs: int) -> dict[str, Any]:
    """What ``train_alexnet`` adds to §5's recipe in each profile (08 and 09 use it).

    ``"full"``: the plateau schedule on the validation error (it stops after the third
    reduction), early stopping after ten epochs without a lower error, a one-epoch
    warm-up (measured on one GPU: without it both variants diverge in the first epoch
    and stay at chance, in float16 and float32 alike; with it the paper's network
    reaches 77% on Imagenette) and a checkpoint every five epochs
    (an epoch takes about a second there, as long as writing the checkpoint).
    ``"quick"`` (a few CPU epochs, which never reach a plateau; not in the paper): the
    learning rate rises over the first epoch and is divided by ten once, before the
    last epoch.
    """
    if profile_name == "full":
        return {"early_stopping_patience": 10, "warmup_epochs": 1.0,
                "checkpoint_every": 5}
    return {"warmup_epochs": 1.0, "reduce_at": (epochs - 1,) if epochs > 1 else ()}


def train_alexnet(splits: Any, settings: Any, *, name: str = "alexnet",
                  variant: str | None = None, augment: dict[str, Any] | None = None,
                  model: dict[str, Any] | None = None, batch_size: int | None = None,
                  verbose: int = 1, **recipe: Any) -> TrainingResult:
    """Train (or reload) AlexNet on ``splits`` (``helpers.data.DataSplits``).

    ``settings``: an ``ExperimentSettings`` (image size, batch, epochs, variant,
    learning rate). ``augment`` goes to ``splits.augmentation`` (flip, pca_color,
    augment), ``model`` to ``build_alexnet`` (normalization, pooling, dropout_rate),
    ``recipe`` to ``train_model`` (momentum, warmup_epochs, ...). The run's name says
    what was trained, so a later chapter that makes the same call reloads the run.
    """
    from helpers.model import build_alexnet

    variant = variant or settings.model_variant
    batch = batch_size or settings.batch_size
    recipe.setdefault("learning_rate", settings.learning_rate)
    # callbacks (a time limit, a logger) change when a run stops, and data_parallel
    # where it runs, not what it trains: a run resumes on one device or several
    not_trained = ("callbacks", "data_parallel")
    trains = {k: v for k, v in recipe.items() if k not in not_trained}
    options = {**(augment or {}), **(model or {}), **trains}
    run_name = run_name_of(splits, settings, name, variant, batch, options)

    def build() -> keras.Model:
        stage = splits.augmentation(**(augment or {}))
        return build_alexnet(len(splits.class_names), settings.image_size, variant,
                             input_stage=stage, **(model or {}))

    train, val = splits.batches("train", batch), splits.batches("val", 250)
    return train_model(build, train, val, run_name=run_name, epochs=settings.epochs,
                       verbose=verbose, **recipe)
