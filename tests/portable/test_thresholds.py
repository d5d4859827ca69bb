"""helpers.thresholds: epochs and seconds to an error, on hand-made histories."""

from __future__ import annotations

import pandas as pd
import pytest
from helpers.thresholds import (
    common_threshold,
    epochs_to_threshold,
    seconds_to_threshold,
    speedup_table,
)


def history(errors, seconds=None):
    seconds = seconds or [float(i + 1) for i in range(len(errors))]
    return pd.DataFrame({"epoch": range(1, len(errors) + 1), "train_error": errors,
                         "seconds": seconds})


def test_epochs_to_threshold_is_the_first_epoch_at_or_below():
    assert epochs_to_threshold([0.9, 0.5, 0.25, 0.1], 0.25) == 3
    assert epochs_to_threshold([0.9, 0.2, 0.3], 0.25) == 2  # the first crossing counts
    assert epochs_to_threshold([0.9, 0.5], 0.25) is None


def test_seconds_to_threshold_reads_the_cumulative_time():
    assert seconds_to_threshold(history([0.9, 0.3, 0.2], [2.0, 5.0, 9.5]), 0.25) == 9.5
    assert seconds_to_threshold(history([0.9, 0.3]), 0.25) is None


def test_common_threshold_falls_back_to_the_lowest_error_every_run_reached():
    fast, slow = history([0.5, 0.2, 0.1]), history([0.8, 0.6, 0.4])
    assert common_threshold([fast, slow], 0.25) == pytest.approx(0.4)
    assert common_threshold([fast, history([0.6, 0.24])], 0.25) == 0.25
    table = speedup_table({"fast": fast, "slow": slow}, common_threshold([fast, slow], 0.25))
    assert table.loc["fast", "epochs"] == 2 and table.loc["slow", "epochs"] == 3
    with pytest.raises(ValueError, match="at least one"):
        common_threshold([], 0.25)
