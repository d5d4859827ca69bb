"""How fast a run reaches an error: Figure 1's measure (§3.1).

Figure 1 compares activations by "the number of epochs required to reach 25% training
error". ``epochs_to_threshold`` and ``seconds_to_threshold`` read that from a run's
history (one row per epoch, ``helpers.experiments.train_with_history``'s columns);
``common_threshold`` lowers the threshold to one every run reached, so a ratio is always
measured, never extrapolated; ``speedup_table`` puts the runs side by side.

Taught in ``book/02_relu_vs_tanh.ipynb`` and ``book/05_dropout.ipynb``; checked by
``tests/portable/test_thresholds.py``.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd


def epochs_to_threshold(errors: Sequence[float], threshold: float) -> int | None:
    """The first epoch (1-based) whose error is <= ``threshold``; None if never."""
    for epoch, error in enumerate(errors, start=1):
        if error <= threshold:
            return epoch
    return None


def seconds_to_threshold(history: pd.DataFrame, threshold: float,
                         column: str = "train_error") -> float | None:
    """Seconds until ``history[column]`` first reaches ``threshold``; or None."""
    epoch = epochs_to_threshold(history[column].to_numpy(), threshold)
    return None if epoch is None else float(history["seconds"].iloc[epoch - 1])


def common_threshold(histories: Sequence[pd.DataFrame], target: float,
                     column: str = "train_error") -> float:
    """``target`` if every run reaches it, else the lowest error all runs reached.

    That is the largest of the runs' best errors, so every run crosses the returned
    threshold and the epochs to reach it can be compared.
    """
    if not histories:
        raise ValueError("common_threshold: pass at least one history")
    reachable = max(float(history[column].min()) for history in histories)
    return target if reachable <= target else reachable


def speedup_table(histories: dict[str, pd.DataFrame], threshold: float,
                  column: str = "train_error") -> pd.DataFrame:
    """Epochs and seconds each run needed to reach ``threshold``, one row per run."""
    rows = {name: {"epochs": epochs_to_threshold(h[column].to_numpy(), threshold),
                   "seconds": seconds_to_threshold(h, threshold, column),
                   "final_" + column: float(h[column].iloc[-1])}
            for name, h in histories.items()}
    return pd.DataFrame.from_dict(rows, orient="index")
