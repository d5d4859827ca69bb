"""``helpers.timing.median_times``: warm-up, calls in turn, medians (with a fake clock)."""

from __future__ import annotations

import pytest
from helpers.timing import median_times


class FakeClock:
    """A clock that the timed functions advance by a known amount."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_medians_warm_up_and_turns():
    clock, calls = FakeClock(), []

    def timed(name: str, costs: list[float]):
        def function():
            calls.append(name)
            clock.now += costs.pop(0)
        return function

    # The first call of each is the warm-up; one slow round of "a" must not move its median.
    functions = {"a": timed("a", [100.0, 1.0, 50.0, 1.0]), "b": timed("b", [9.0, 2.0, 2.0, 3.0])}
    times = median_times(functions, repeats=3, clock=clock)
    assert times == {"a": 1.0, "b": 2.0}
    assert calls == ["a", "b"] + ["a", "b"] * 3  # warm-up, then one of each per round


def test_repeats_must_be_positive():
    with pytest.raises(ValueError, match="repeats must be at least 1"):
        median_times({"a": lambda: None}, repeats=0)


def test_real_clock_measures_something():
    times = median_times({"sum": lambda: sum(range(10_000))}, repeats=3)
    assert 0.0 < times["sum"] < 1.0
