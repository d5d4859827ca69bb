"""The full profile's reference run: AlexNet trained the book's way, on record.

``python -m helpers.reference_run --variant paper --out DIR`` makes the call chapter 08
makes (``helpers.train.train_alexnet`` with the ``alexnet`` settings of the profile and
``profile_recipe``), on the best data set present, then evaluates the trained network on
the validation images (the centre crop and §4.1's ten views) and writes into ``DIR``:

- ``<name>.csv``: the history, one row per epoch (``helpers.train``'s columns);
- ``<name>.json``: when, on what (accelerator, backend, versions) and how (settings,
  recipe, precision) it ran, and what it reached (``summarize``);
- ``<name>-curves.png`` and ``<name>-conv1.png``: its learning curves, and conv1's
  kernels drawn as the paper's Figure 3 draws them; ``<name>-conv1.npy``: those kernels
  ``(11, 11, 3, 96)``, for measures such as chapter 09's colour share (the checkpoint,
  hundreds of megabytes, stays in the run's folder).

``--time-limit SECONDS`` ends training after the last epoch that fits
(``helpers.train.TimeLimit``); the same command later resumes from the checkpoint.
Chapter 08 plots the committed runs (``book/data/full_profile_*``) beside its own, and
shows ``quick_profile_paper.*`` (``--profile quick``: the paper's network trained the
quick profile's way, on a CPU); ``reference_claims`` gives the claims ledger
(chapter 12) what the full profile's paper run measured. ``read_reference`` reads them
back with ``helpers.paths.read_on_record``, the one reader of committed runs.
Checked by ``tests/portable/test_reference_run.py``; ``tests/test_full_profile_runs.py``
checks that the committed runs were made with the profile's present settings.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import keras
import matplotlib
import numpy as np
import pandas as pd

from helpers.claims import FullValue
from helpers.data import DataSplits, load_dataset
from helpers.evaluate import (
    predict,
    predict_ten_view,
    top_k_accuracy,
    tower_split_verdict,
)
from helpers.paths import BOOK_DATA, read_on_record
from helpers.profile import describe, get_profile, machine_record, training_precision
from helpers.seeding import set_seed
from helpers.train import (
    TimeLimit,
    TrainingResult,
    learning_rate_drops,
    profile_recipe,
    train_alexnet,
)


def reference_name(profile_name: str, variant: str) -> str:
    """File names of a reference run: ``full_profile_paper`` and so on."""
    return f"{profile_name}_profile_{variant}"


def peak_memory_bytes() -> int | None:
    """The most accelerator memory this process has held so far (None on a CPU)."""
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        device = jax.devices()[0]
        stats = device.memory_stats() if device.platform != "cpu" else None
        return int(stats["peak_bytes_in_use"]) if stats else None
    if backend == "torch":
        import torch

        return int(torch.cuda.max_memory_allocated()) if torch.cuda.is_available() \
            else None
    import tensorflow as tf

    if not tf.config.list_physical_devices("GPU"):
        return None
    return int(tf.config.experimental.get_memory_info("GPU:0")["peak"])


def evaluate_views(model: keras.Model, splits: DataSplits) -> dict[str, float]:
    """Validation top-1 and top-5 (%) with the centre crop and with ten views."""
    logits, labels = predict(model, splits.batches("val", 250))
    averaged, labels_ten = predict_ten_view(model, splits.batches("val", 50))
    return {"centre_top1": 100 * top_k_accuracy(logits, labels, 1),
            "centre_top5": 100 * top_k_accuracy(logits, labels, 5),
            "ten_view_top1": 100 * top_k_accuracy(averaged, labels_ten, 1),
            "ten_view_top5": 100 * top_k_accuracy(averaged, labels_ten, 5)}


def summarize(result: TrainingResult, limit: TimeLimit) -> dict[str, Any]:
    """What a run reached and how fast: the numbers the closing table of 08 quotes."""
    history = result.history
    best = history.loc[history["val_accuracy"].idxmax()]
    if limit.stopped_after is not None:
        ended = f"time limit after epoch {limit.stopped_after}"
    elif result.stopped_early:
        ended = "schedule finished or early stopping (§5)"
    else:
        ended = "all epochs"
    return {"epochs": int(history["epoch"].iloc[-1]), "ended": ended,
            "learning_rate_drops": learning_rate_drops(history),
            "best_epoch": int(best["epoch"]),
            "best_val_top1": 100 * float(best["val_accuracy"]),
            "images_per_s": float(history["images_per_s"].median()),
            "epoch_s": float(history["seconds"].median()),
            "first_epoch_s": float(history["seconds"].iloc[0]),
            "checkpoint_s": float(history["checkpoint_s"].median()),
            "training_s": float(history["seconds"].sum())}


def write_figures(result: TrainingResult, title: str, folder: Path, name: str) -> None:
    """``<name>-curves.png`` (learning curves), ``<name>-conv1.png`` (Figure 3) and
    ``<name>-conv1.npy`` (the kernels)."""
    import matplotlib.pyplot as plt

    from helpers.plots import image_grid, kernel_images, plot_history

    figure = plot_history({name: result.history}, title=title)
    figure.savefig(folder / f"{name}-curves.png", dpi=110)
    kernels = keras.ops.convert_to_numpy(result.model.get_layer("conv1").kernel)
    np.save(folder / f"{name}-conv1.npy", kernels.astype(np.float32))
    figure = image_grid(kernel_images(kernels), columns=16, size=0.8,
                        title=f"conv1's {kernels.shape[-1]} kernels ({title})")
    figure.savefig(folder / f"{name}-conv1.png", dpi=110)
    plt.close("all")


def reference_run(variant: str, out: Path, *, profile_name: str = "full",
                  time_limit: float | None = None, name: str | None = None,
                  recipe_changes: dict[str, Any] | None = None) -> dict[str, Any]:
    """Train, evaluate and write one reference run (see the module's docstring).

    ``recipe_changes`` replace parts of the profile's recipe (``lr_patience`` and the
    other arguments of ``helpers.train.train_model``): a candidate for the profile,
    written under its own ``name``.
    """
    started = time.perf_counter()
    set_seed()
    profile = get_profile(profile_name)
    settings = profile["alexnet"]
    splits = load_dataset(image_size=settings.image_size,
                          subset_size=settings.subset_size)
    print(describe(splits.source.description, profile), flush=True)
    recipe = {**profile_recipe(profile.name, settings.epochs), **(recipe_changes or {})}
    limit = TimeLimit(time_limit or float("inf"))
    result = train_alexnet(splits, settings, variant=variant, callbacks=[limit],
                           **recipe)
    name = name or reference_name(profile.name, variant)
    out.mkdir(parents=True, exist_ok=True)
    result.history.to_csv(out / f"{name}.csv", index=False, float_format="%.6g")
    write_figures(result, f"AlexNet ({variant}), {profile.name} profile", out, name)
    peak = peak_memory_bytes()  # of training: before the evaluation's larger batches
    record = {"name": name, "variant": variant, "profile": profile.name,
              "settings": asdict(settings), "recipe": recipe,
              "data": splits.source.description, "train_images": splits.num_train,
              "run": result.directory.name,
              **machine_record(), "precision": training_precision(), "results": {
                  **summarize(result, limit),
                  "peak_memory_gb": None if peak is None else peak / 2**30},
              "command": f"python -m helpers.reference_run --variant {variant} "
                         f"--profile {profile.name}" + "".join(
                             f" --recipe {k}={v}" for k, v in
                             (recipe_changes or {}).items())}
    path = out / f"{name}.json"
    path.write_text(json.dumps(record, indent=2) + "\n")  # the training, kept first
    record["results"].update(evaluate_views(result.model, splits),
                             wall_s=time.perf_counter() - started)
    path.write_text(json.dumps(record, indent=2) + "\n")
    return record


def read_reference(variant: str, profile_name: str = "full",
                   folder: Path = BOOK_DATA) -> tuple[pd.DataFrame, dict[str, Any]]:
    """A committed reference run: its history and its record (``<name>.json``)."""
    return read_on_record(
        folder / f"{reference_name(profile_name, variant)}.csv",
        f"python -m helpers.reference_run --variant {variant} --profile {profile_name} "
        f"--out {folder}", "on a GPU: minutes; see the module's docstring")


def accelerator(record: dict[str, Any]) -> str:
    """The accelerator(s) a run's record names, without count or device index:
    ``"NVIDIA H200"`` for ``"1 accelerator(s): NVIDIA H200 (cuda:0)"``."""
    names = record["device"].split(": ", 1)[-1]
    return re.sub(r" \([^()]*\)", "", names)


def read_reference_kernels(variant: str, profile_name: str = "full",
                           folder: Path = BOOK_DATA) -> np.ndarray:
    """conv1's kernels ``(11, 11, 3, 96)`` at the end of a committed reference run."""
    return np.load(folder / f"{reference_name(profile_name, variant)}-conv1.npy")


def reference_claims(history: pd.DataFrame, record: dict[str, Any],
                     kernels: np.ndarray | None = None) -> dict[str, FullValue]:
    """What a reference run measured of the paper's claims, by claim id
    (``book/data/paper_claims.csv``): the values the claims ledger shows for it.
    With the run's conv1 ``kernels``, also §6.1's colour specialisation."""
    results = record["results"]
    drops = ", ".join(str(epoch) for epoch in results["learning_rate_drops"])
    first = 100 * history["val_accuracy"].iloc[0]
    gain_top1 = results["ten_view_top1"] - results["centre_top1"]
    gain_top5 = results["ten_view_top5"] - results["centre_top5"]
    minutes = results["training_s"] / 60
    claims = {claim: FullValue(value) for claim, value in {
        "recipe": f"rate divided by 10 before epochs {drops}; "
                  f"{results['epochs']} epochs in all",
        "bigger_longer": f"{record['settings']['image_size']} px: val top-1 "
                         f"{first:.1f}% after epoch 1, {results['best_val_top1']:.1f}% "
                         f"at best (epoch {results['best_epoch']})",
        "ten_view_gain": f"top-1 {gain_top1:+.2f}, top-5 {gain_top5:+.2f} points of "
                         "accuracy",
        "train_days": f"{minutes:.1f} minutes of training on one GPU",
    }.items()}
    if kernels is not None:
        claims["gpu_specialisation"] = FullValue(*tower_split_verdict(kernels))
    return claims


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m helpers.reference_run",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--variant", default="paper", choices=["paper", "modern"],
                        help="which AlexNet (helpers.model.build_alexnet)")
    parser.add_argument("--profile", default="full", choices=["full", "quick"],
                        help="whose alexnet settings and recipe (default: full)")
    parser.add_argument("--out", type=Path, default=BOOK_DATA, help="output folder")
    parser.add_argument("--time-limit", type=float, default=None, metavar="SECONDS",
                        help="stop training after the last epoch that fits")
    parser.add_argument("--recipe", action="append", default=[], metavar="KEY=VALUE",
                        help="change the recipe, e.g. lr_patience=5 (a JSON value)")
    parser.add_argument("--name", default=None,
                        help="file names (default: <profile>_profile_<variant>)")
    args = parser.parse_args(argv)
    changes = {}
    for item in args.recipe:
        key, sep, value = item.partition("=")
        if not sep:
            parser.error(f"--recipe {item}: write KEY=VALUE, e.g. lr_patience=5")
        changes[key] = json.loads(value)
    matplotlib.use("Agg")
    record = reference_run(args.variant, args.out, profile_name=args.profile,
                           time_limit=args.time_limit, name=args.name,
                           recipe_changes=changes)
    print(json.dumps({k: record[k] for k in ("name", "device", "backend")}))
    print(json.dumps(record["results"], indent=1), flush=True)


if __name__ == "__main__":
    main()
