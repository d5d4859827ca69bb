"""Ablations: what each of the paper's choices buys, one model per variant.

The paper reports the effect of several of its choices on ImageNet (``PAPER_EFFECTS``).
``run_ablation`` trains one AlexNet per entry of ``ABLATIONS`` with ``train_alexnet``
(same data, same recipe, one named difference each) and writes the table of validation
accuracies; ``ablation_results`` reads it back. On ImageNet-sized effects (a point or
two) it needs the full profile: ``python -m helpers.ablation`` with
``ALEXNET_PROFILE=full``, on a GPU.

Taught in ``book/08_training.ipynb``; checked by ``tests/test_train.py``.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from helpers.paths import artifacts_root

PAPER_EFFECTS = pd.DataFrame(
    [("LRN (vs none)", "§3.3", "top-1 -1.4, top-5 -1.2"),
     ("overlapping pooling (vs 2x2/2)", "§3.4", "top-1 -0.4, top-5 -0.3"),
     ("PCA colour augmentation", "§4.1", "top-1 over -1"),
     ("dropout", "§4.2", "without it: substantial overfitting")],
    columns=["choice", "paper", "reported effect on error (points)"],
).set_index("choice")
"""The effects the paper reports, with their sections (cited, not computed)."""

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


def _folder(profile_name: str, data_name: str) -> str:
    return f"ablation-{profile_name}-{data_name}"


def run_ablation(profile_name: str | None = None, data_name: str | None = None,
                 names: list[str] | None = None, verbose: int = 0) -> pd.DataFrame:
    """Train the paper's AlexNet once per entry of ``ABLATIONS`` (or ``names``).

    Sizes are the profile's ``ablation`` settings and the recipe is the profile's
    (``helpers.train.profile_recipe``; in the full profile a one-epoch warm-up, the
    plateau schedule and early stopping after ten epochs without a lower validation
    error); each run checkpoints and resumes like any other. The
    table (final and best validation top-1, epochs) is written to
    ``artifacts_root()/ablation-<profile>-<data>/results.csv`` and returned.
    """
    from helpers.data import load_dataset
    from helpers.profile import get_profile
    from helpers.train import profile_recipe, train_alexnet

    profile = get_profile(profile_name)
    settings = profile["ablation"]
    splits = load_dataset(data_name, image_size=settings.image_size,
                          subset_size=settings.subset_size)
    rows = {}
    for name in names or list(ABLATIONS):
        model_options, augment_options = ABLATIONS[name]
        run = train_alexnet(splits, settings, name="ablation", variant="paper",
                            model=model_options, augment=augment_options,
                            verbose=verbose,
                            **profile_recipe(profile.name, settings.epochs))
        h = run.history
        rows[name] = {"final val top-1 (%)": 100 * h["val_accuracy"].iloc[-1],
                      "best val top-1 (%)": 100 * h["val_accuracy"].max(),
                      "epochs": len(h)}
    table = pd.DataFrame(rows).T.round(2)
    folder = artifacts_root() / _folder(profile.name, splits.source.name)
    folder.mkdir(parents=True, exist_ok=True)
    table.to_csv(folder / "results.csv", index_label="variant")
    return table


def ablation_results(profile_name: str, data_name: str) -> pd.DataFrame | None:
    """The table ``run_ablation`` wrote for this profile and data, or ``None``."""
    path = artifacts_root() / _folder(profile_name, data_name) / "results.csv"
    return pd.read_csv(path, index_col="variant") if path.exists() else None


if __name__ == "__main__":  # python -m helpers.ablation  (ALEXNET_PROFILE=full, a GPU)
    print(run_ablation(verbose=1).to_string())
