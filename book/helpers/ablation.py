"""Ablations: what each of the paper's choices buys, one model per variant.

The paper reports the effect of several of its choices on ImageNet (``CHOICES``).
``run_ablation`` trains one AlexNet per entry of ``ABLATIONS`` with ``train_alexnet``
(same data, same recipe, one named difference each) and writes one row per run
(``ablation_row``); ``ablation_effects`` compares each variant with the paper's network
seed by seed, against the spread of the paper network's own runs. Effects of a point or
two need the full profile, on a GPU::

    ALEXNET_PROFILE=full python -m helpers.ablation --out book/data

writes ``full_profile_ablation.csv`` (the table), ``full_profile_ablation-history.csv``
(every variant's epochs) and ``full_profile_ablation.json`` (where, when, how) after
each variant, so a stopped run keeps the variants it finished; ``--seed`` adds another
seed's runs to the same files. Chapter 08 shows the
committed table (``committed_ablation``); the claims ledger reads it through
``ablation_claims``.

Taught in ``book/08_training.ipynb``; checked by ``tests/test_train.py`` and
``tests/test_full_profile_runs.py``.
"""

from __future__ import annotations

import argparse
import datetime
import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pandas as pd

from helpers.claims import VERDICTS, FullValue
from helpers.paths import BOOK_DATA, artifacts_root, read_on_record, write_text_atomic

ABLATIONS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    # name: (build_alexnet keyword arguments, PaperAugmentation keyword arguments)
    "paper": ({}, {}),
    "batch norm instead of LRN": ({"normalization": "batchnorm"}, {}),
    "no normalisation": ({"normalization": "none"}, {}),
    "non-overlapping pooling": ({"pooling": "non_overlapping"}, {}),
    "no dropout": ({"dropout_rate": 0.0}, {}),
    "no PCA colour": ({}, {"pca_color": False}),
}
"""One variant per row: the paper's network with one choice changed."""


TOP1, TOP5, GAP = ("best val top-1 (%)", "val top-5 at best (%)",
                   "train - val top-1 (points)")
"""The table's columns that ``ablation_effects`` compares."""


def _folder(profile_name: str, data_name: str) -> str:
    return f"ablation-{profile_name}-{data_name}"


def ablation_row(history: pd.DataFrame, seed: int) -> dict[str, float]:
    """One run's line of the table, from its history (``helpers.train``'s columns).

    The train-minus-validation gap is the last epoch's: training accuracy is averaged
    over that epoch's augmented batches with dropout on, as Keras reports it. The rate
    divisions say how far the plateau schedule (§5) got before the run ended.
    """
    from helpers.train import learning_rate_drops

    best = history.loc[history["val_accuracy"].idxmax()]
    last = history.iloc[-1]
    return {"seed": seed, TOP1: 100 * best["val_accuracy"],
            TOP5: 100 * best["val_top5"],
            "final val top-1 (%)": 100 * last["val_accuracy"],
            GAP: 100 * (last["accuracy"] - last["val_accuracy"]),
            "epochs": len(history),
            "rate divisions": len(learning_rate_drops(history)),
            "training s": history["seconds"].sum()}


def _merged(path: Path, new: pd.DataFrame) -> pd.DataFrame:
    """``new``, after the rows of the table at ``path`` of another variant or seed."""
    if not path.is_file():
        return new
    old = pd.read_csv(path)
    replaced = set(zip(new["variant"], new["seed"], strict=True))
    kept = [key not in replaced
            for key in zip(old["variant"], old["seed"], strict=True)]
    return pd.concat([old[kept], new], ignore_index=True)


def _merged_record(path: Path, record: dict[str, Any], run: dict[str, Any]
                   ) -> dict[str, Any]:
    """The record at ``path`` with ``run`` added (or updated, if one with its
    ``started`` is there); refused if that record's runs were made otherwise."""
    old = json.loads(path.read_text()) if path.is_file() else {}
    for key in ("profile", "settings", "recipe", "data"):
        if key in old and old[key] != record[key]:
            raise ValueError(f"{path} holds runs made with another {key} "
                             f"({old[key]!r}); write these to another --out folder")
    runs = [r for r in old.get("runs", []) if r["started"] != run["started"]] + [run]
    seeds = list(dict.fromkeys(r["seed"] for r in runs))
    return {**old, **record, "seeds": seeds, "runs": runs}


def ablation_name(profile_name: str) -> str:
    """The stem of an ablation's files: ``full_profile_ablation`` and so on."""
    return f"{profile_name}_profile_ablation"


def _save(folder: Path, stem: str, table: pd.DataFrame, history: pd.DataFrame,
          record: dict[str, Any] | None = None, run: dict[str, Any] | None = None
          ) -> None:
    """Add these runs to ``folder/<stem>.csv``, ``<stem>-history.csv`` and (with a
    ``record``) ``<stem>.json``, keeping the runs of other variants and seeds there;
    each file is replaced whole. One process per folder at a time."""
    texts = {f"{stem}.csv": _merged(folder / f"{stem}.csv", table).round(3)
             .to_csv(index=False),
             f"{stem}-history.csv": _merged(folder / f"{stem}-history.csv", history)
             .to_csv(index=False, float_format="%.6g")}
    if record is not None and run is not None:  # refused before anything is written
        merged = _merged_record(folder / f"{stem}.json", record, run)
        texts[f"{stem}.json"] = json.dumps(merged, indent=2) + "\n"
    for name, text in texts.items():
        write_text_atomic(folder / name, text)


def run_ablation(profile_name: str | None = None, data_name: str | None = None,
                 names: list[str] | None = None, verbose: int = 0,
                 out: Path | None = None, seed: int = 2012) -> pd.DataFrame:
    """Train the paper's AlexNet once per entry of ``ABLATIONS`` (or ``names``).

    Sizes are the profile's ``ablation`` settings and the recipe is the profile's
    (``helpers.train.profile_recipe``; in the full profile a one-epoch warm-up, the
    plateau schedule and early stopping after ten epochs without a lower validation
    error); each run checkpoints and resumes like any other. ``seed`` seeds the weights,
    the dropout and the batches (``helpers.train.train_model``); on a GPU two runs of
    one seed still differ (its sums run in no fixed order). After every variant the
    runs are added to ``artifacts_root()/ablation-<profile>-<data>/results.csv`` and,
    with ``out``, to ``out/<profile>_profile_ablation.*`` (see the module's docstring),
    next to the runs of other seeds there. Returns this call's rows.
    """
    from helpers.data import load_dataset
    from helpers.profile import get_profile, machine_record, training_precision
    from helpers.train import profile_recipe, train_alexnet

    profile = get_profile(profile_name)
    settings = profile["ablation"]
    splits = load_dataset(data_name, image_size=settings.image_size,
                          subset_size=settings.subset_size)
    recipe = profile_recipe(profile.name, settings.epochs)
    folder = artifacts_root() / _folder(profile.name, splits.source.name)
    folder.mkdir(parents=True, exist_ok=True)
    record = {"profile": profile.name, "settings": asdict(settings), "recipe": recipe,
              "data": splits.source.description, "train_images": splits.num_train,
              "classes": len(splits.class_names), **machine_record(),
              "precision": training_precision(),
              "command": f"ALEXNET_PROFILE={profile.name} python -m helpers.ablation "
                         "--seed SEED --out DIR"}
    started = datetime.datetime.now(datetime.UTC).isoformat(timespec="microseconds")
    run = {"seed": seed, "variants": [], "started": started}
    stem = ablation_name(profile.name)
    if out is not None:  # refuse a folder of other runs before training, not after
        out.mkdir(parents=True, exist_ok=True)
        _merged_record(out / f"{stem}.json", record, run)
    rows, histories = [], []
    for name in names or list(ABLATIONS):
        model_options, augment_options = ABLATIONS[name]
        trained = train_alexnet(splits, settings, name="ablation", variant="paper",
                                model=model_options, augment=augment_options,
                                verbose=verbose, seed=seed, **recipe)
        rows.append({"variant": name, **ablation_row(trained.history, seed)})
        histories.append(trained.history.assign(variant=name, seed=seed))
        run["variants"].append(name)
        run["date"] = machine_record()["date"]
        table, history = pd.DataFrame(rows), pd.concat(histories)
        _save(folder, "results", table, history)
        if out is not None:
            _save(out, stem, table, history, record, run)
    return table


def committed_ablation(profile_name: str = "full", folder: Path = BOOK_DATA
                       ) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The ablation the book keeps (``<profile>_profile_ablation.*``): one row per
    variant and seed (``ablation_row``'s columns), and the record of where it ran."""
    return read_on_record(folder / f"{ablation_name(profile_name)}.csv",
                          f"ALEXNET_PROFILE={profile_name} python -m helpers.ablation "
                          f"--out {folder}", "on a GPU, minutes a variant")


def committed_ablation_histories(profile_name: str = "full", folder: Path = BOOK_DATA
                                 ) -> pd.DataFrame:
    """Every epoch of the committed ablation's runs, with their ``variant`` and
    ``seed`` (``helpers.train``'s history columns)."""
    return pd.read_csv(folder / f"{ablation_name(profile_name)}-history.csv")


TRAINED_ABOVE = 20.0
"""Best validation top-1 (%) a run must pass to count as trained (chance: 10%)."""

CHOICES = {  # the paper's choice: (the variant without it, the column, the paper)
    "LRN vs none: top-1": ("no normalisation", TOP1, "+1.4 (§3.3)"),
    "LRN vs none: top-5": ("no normalisation", TOP5, "+1.2 (§3.3)"),
    "LRN vs batch norm: top-1": ("batch norm instead of LRN", TOP1, "(after 2012)"),
    "overlapping pooling: top-1": ("non-overlapping pooling", TOP1, "+0.4 (§3.4)"),
    "overlapping pooling: top-5": ("non-overlapping pooling", TOP5, "+0.3 (§3.4)"),
    "PCA colour: top-1": ("no PCA colour", TOP1, "over +1 (§4.1)"),
    "dropout: less overfitting": ("no dropout", GAP, "substantial (§4.2)"),
    "overlapping pooling: less overfitting": ("non-overlapping pooling", GAP,
                                              "slightly (§3.4)"),
}
"""What each row of ``ablation_effects`` compares: the paper's network against one
variant, on accuracy (what the choice gains, in points) or on the train - validation
gap (how much less the paper's network overfits), and what the paper reports."""

CLAIMS = {"lrn_gain": ["LRN vs none: top-1", "LRN vs none: top-5"],
          "overlap_gain": ["overlapping pooling: top-1", "overlapping pooling: top-5"],
          "pca_gain": ["PCA colour: top-1"],
          "dropout_overfit": ["dropout: less overfitting"],
          "overlap_overfit": ["overlapping pooling: less overfitting"]}
"""The claims of ``book/data/paper_claims.csv`` the ablation measures, and its rows."""


def paired_effects(table: pd.DataFrame, variant: str, column: str) -> pd.Series:
    """Per seed, by how much the paper's network beats ``variant`` in ``column``:
    paper minus variant for an accuracy, variant minus paper for the gap, so that a
    positive effect is the one the paper reports. Seeds where either run did not
    train (``TRAINED_ABOVE``) are left out."""
    trained = table[table[TOP1] > TRAINED_ABOVE]
    runs = trained.pivot(index="seed", columns="variant", values=column)
    if variant not in runs or "paper" not in runs:
        return pd.Series(dtype=float)
    effect = runs["paper"] - runs[variant]
    return (-effect if column == GAP else effect).dropna()


def run_spread(table: pd.DataFrame, column: str) -> float:
    """How far apart the paper network's runs (one recipe, several seeds) lie in
    ``column``: the noise an effect must beat."""
    paper = table.loc[table["variant"] == "paper", column]
    return float(paper.max() - paper.min())


def effect_verdict(effects: pd.Series, spread: float) -> str:
    """"reproduced" when every seed's effect points the paper's way by more than the
    spread of the paper's own runs; "direction reproduced" when their mean points that
    way; else "not reproduced" (verdicts of ``helpers.claims``)."""
    if effects.empty or effects.mean() <= 0:
        return "not reproduced"
    return "reproduced" if (effects > spread).all() else "direction reproduced"


def ablation_effects(table: pd.DataFrame) -> pd.DataFrame:
    """One row per entry of ``CHOICES``: what the paper reports, the seeds compared,
    the effect per seed (points), its mean, the spread of the paper's runs and the
    verdict."""
    rows = {}
    for choice, (variant, column, reported) in CHOICES.items():
        effects = paired_effects(table, variant, column)
        spread = run_spread(table, column)
        rows[choice] = {"paper": reported,
                        "seeds": ", ".join(str(seed) for seed in effects.index),
                        "per seed": ", ".join(f"{e:+.2f}" for e in effects),
                        "mean": effects.mean(), "paper runs' spread": spread,
                        "verdict": effect_verdict(effects, spread)}
    return pd.DataFrame(rows).T.astype({"mean": float, "paper runs' spread": float})


def ablation_claims(table: pd.DataFrame) -> dict[str, FullValue]:
    """What the ablation measured of the paper's claims, by claim id (``CLAIMS``):
    values for the claims ledger's full-profile column, each with its verdict (the
    weakest of its rows')."""
    effects = ablation_effects(table)
    claims = {}
    for claim, choices in CLAIMS.items():
        rows = effects.loc[choices]
        labels = [choice.split(": ")[1].replace("less overfitting",
                                                "smaller train-val gap")
                  for choice in choices]
        measured = "; ".join(f"{label} {per_seed}"
                             for label, per_seed in zip(labels, rows["per seed"],
                                                        strict=True))
        spreads = " / ".join(f"{s:.2f}" for s in rows["paper runs' spread"])
        weakest = max(rows["verdict"], key=VERDICTS.index)
        gain = "gain from the paper's choice (positive: it helped)"
        claims[claim] = FullValue(f"{gain}, per seed ({rows['seeds'].iloc[0]}): "
                                  f"{measured} points (its own runs spread {spreads})",
                                  weakest)
    return claims


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m helpers.ablation",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--names", nargs="+", choices=list(ABLATIONS), default=None,
                        help="which variants (default: all)")
    parser.add_argument("--seed", type=int, default=2012,
                        help="seed of every variant's run (default: 2012)")
    parser.add_argument("--out", type=Path, default=None,
                        help=f"also write <profile>_profile_ablation.* here "
                             f"(the committed table lives in {BOOK_DATA})")
    args = parser.parse_args(argv)
    table = run_ablation(names=args.names, verbose=1, out=args.out, seed=args.seed)
    print(table.round(2).to_string(index=False))


if __name__ == "__main__":
    main()
