"""Figure 1 at several training-set sizes and depths: what the ReLU speed-up depends on.

The quick build redoes the paper's Figure 1 (§3.1) on a few hundred photographs, where
both networks reach the threshold by memorising their images. The paper trained on all
50,000 CIFAR-10 images. This study reruns the chapter's experiment (the same network,
input, training loop and learning-rate search) on training sets of several sizes, or
with more convolutions, and writes every run's per-epoch history to
``book/data/<name>.csv`` with how it was run in ``<name>.json``; the chapter reads both
studies. On a 2-core CPU each takes about a quarter of an hour:

    python -m helpers.figure1_study        # figure1_by_size: 500 images to all
    python -m helpers.figure1_study --sizes 5000 --convolutions 5 \
        --name figure1_five_convolutions

Taught in ``book/02_relu_vs_tanh.ipynb``; checked by
``tests/portable/test_figure1_study.py``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

import pandas as pd

from helpers.experiments import (
    CUDA_CONVNET_STD,
    FIGURE1_RATES,
    HISTORY_COLUMNS,
    ExperimentData,
    learning_rate_sweep,
    load_experiment_data,
    paper_input,
    small_cnn,
)
from helpers.paths import BOOK_DATA, read_on_record
from helpers.profile import machine_record
from helpers.seeding import set_seed
from helpers.thresholds import speedup_table

STUDY_NAME = "figure1_by_size"
"""The study of the chapter: ``<name>.csv`` holds every run's history (size, activation,
learning_rate, best, then HISTORY_COLUMNS), ``<name>.json`` how it was run (threshold,
grids, epochs, batch, network, data, device, date)."""
DEEPER_NAME = "figure1_five_convolutions"
"""The same search with five convolutions instead of three, on one training-set size."""

def network(convolutions: int) -> dict:
    """``small_cnn`` arguments for Figure 1's net with ``convolutions`` convolutions.

    Three is cuda-convnet's net (32, 32 and 64 filters); every further convolution has
    64 filters, max pooling and, like conv2 and conv3, weights N(0, 0.01**2).
    """
    if convolutions < 1:
        raise ValueError(f"network: need at least one convolution, got {convolutions}")
    widths = (32, 32, 64)[:convolutions] + (64,) * max(0, convolutions - 3)
    return {"widths": widths, "pooling": ("max",) * convolutions,
            "kernel_std": CUDA_CONVNET_STD[:1] + (0.01,) * convolutions}


def run_study(sizes: Sequence[int | None], *, threshold: float, max_epochs: int,
              batch_size: int = 32, image_size: int = 32,
              rates: dict[str, Sequence[float]] = FIGURE1_RATES, convolutions: int = 3,
              load: Callable[[int, int | None], ExperimentData] = load_experiment_data,
              ) -> pd.DataFrame:
    """Figure 1's learning-rate search per activation, once per training-set size.

    ``sizes``: training images per run (``None``: all); ``convolutions``: the network's
    depth (``network``). Returns one row per epoch of
    every run; ``best`` marks the rate that reached ``threshold`` in the fewest epochs;
    ``attrs["data"]`` names the data set.
    """
    if not sizes:
        raise ValueError("run_study: pass at least one training-set size")
    frames = []
    for size in sizes:
        data = load(image_size, size)
        x, y = paper_input(data.x_train), data.y_train
        for activation, grid in rates.items():
            build = partial(small_cnn, x.shape[1:], int(y.max()) + 1, activation,
                            **network(convolutions))
            sweep = learning_rate_sweep(build, x, y, grid, threshold=threshold,
                                        max_epochs=max_epochs, batch_size=batch_size,
                                        eval_size=len(x) // 2)
            for rate, history in sweep.histories.items():
                frames.append(history.assign(size=len(x), activation=activation,
                                             learning_rate=rate,
                                             best=rate == sweep.best))
    columns = ["size", "activation", "learning_rate", "best", *HISTORY_COLUMNS]
    study = pd.concat(frames, ignore_index=True)[columns]
    study.attrs["data"] = data.name  # the same data set at every size
    return study


def speedup_by_size(study: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """Per size: each activation's best rate, epochs and seconds to ``threshold``.

    The ratio columns are tanh / ReLU, Figure 1's "times faster".
    """
    rows = {}
    for size, runs in study[study["best"]].groupby("size"):
        histories = {a: h for a, h in runs.groupby("activation")}
        table = speedup_table(histories, threshold)
        rows[size] = {**{f"{a}_rate": float(histories[a]["learning_rate"].iloc[0])
                         for a in histories},
                      **{f"{a}_epochs": table.loc[a, "epochs"] for a in histories},
                      "epoch_ratio": table.loc["tanh", "epochs"]
                      / table.loc["relu", "epochs"],
                      "second_ratio": table.loc["tanh", "seconds"]
                      / table.loc["relu", "seconds"]}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("training images")


def write_study(study: pd.DataFrame, settings: dict, folder: Path = BOOK_DATA,
                name: str = STUDY_NAME) -> None:
    """Write the histories (CSV) and the settings with the machine and date (JSON)."""
    folder.mkdir(parents=True, exist_ok=True)
    study.to_csv(folder / f"{name}.csv", index=False, float_format="%.6g")
    text = json.dumps({**settings, **machine_record()}, indent=2)
    (folder / f"{name}.json").write_text(text + "\n")


def read_study(folder: Path = BOOK_DATA,
               name: str = STUDY_NAME) -> tuple[pd.DataFrame, dict]:
    """The committed histories and settings; a clear error if the study is missing."""
    return read_on_record(folder / f"{name}.csv", "python -m helpers.figure1_study",
                          "minutes on a CPU; --help lists its options")


def processor_minutes(study: pd.DataFrame) -> float:
    """The processor time of all the runs of ``study`` (training only), in minutes."""
    runs = study.groupby(["size", "activation", "learning_rate"])["seconds"]
    return float(runs.max().sum() / 60)  # each run's time is cumulative


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m helpers.figure1_study",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", nargs="+", default=["500", "2000", "5000", "all"],
                        help="training-set sizes; 'all' for every image")
    parser.add_argument("--threshold", type=float, default=0.25,
                        help="training error to reach (default: Figure 1's 0.25)")
    parser.add_argument("--epochs", type=int, default=40, help="most epochs per run")
    parser.add_argument("--convolutions", type=int, default=3,
                        help="the network's convolutions (default 3, Figure 1's)")
    parser.add_argument("--out", type=Path, default=BOOK_DATA, help="output folder")
    parser.add_argument("--name", default=STUDY_NAME,
                        help=f"file names, <name>.csv and <name>.json (the chapter "
                             f"reads {STUDY_NAME} and, with --sizes 5000 "
                             f"--convolutions 5, {DEEPER_NAME})")
    args = parser.parse_args(argv)
    sizes = [None if s == "all" else int(s) for s in args.sizes]
    set_seed()
    study = run_study(sizes, threshold=args.threshold, max_epochs=args.epochs,
                      convolutions=args.convolutions, load=load_experiment_data)
    command = (f"python -m helpers.figure1_study --sizes {' '.join(args.sizes)} "
               f"--threshold {args.threshold} --epochs {args.epochs} "
               f"--convolutions {args.convolutions} --name {args.name}")
    settings = {"threshold": args.threshold, "max_epochs": args.epochs,
                "batch_size": 32, "image_size": 32, "rates": FIGURE1_RATES,
                "network": network(args.convolutions), "data": study.attrs["data"],
                "command": command}
    write_study(study, settings, args.out, args.name)
    print(speedup_by_size(study, args.threshold).round(2).to_string())


if __name__ == "__main__":
    main()
