"""Timing code fairly on a busy machine: the median of calls taken in turn.

``median_times`` is the book's one timing helper. Taught in
``book/03_convolution_shapes.ipynb`` (loop vs vectorized vs TensorFlow convolution); the
data chapter, 06, times its input pipeline with it;
also used by ``tests/benchmarks/bench_conv.py``; checked by
``tests/portable/test_timing.py``.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def median_times(functions: dict[str, Callable[[], object]], repeats: int = 15, *,
                 clock: Callable[[], float] = time.perf_counter) -> dict[str, float]:
    """Median seconds per call of each function, by name.

    Each function is called once to warm up (allocations, kernel selection), then
    ``repeats`` rounds call every function in turn, so that all of them share the
    machine's load; the median ignores the rounds another process disturbed.
    """
    if repeats < 1:
        raise ValueError(f"median_times: repeats must be at least 1, got {repeats}")
    for function in functions.values():
        function()
    times: dict[str, list[float]] = {name: [] for name in functions}
    for _ in range(repeats):
        for name, function in functions.items():
            start = clock()
            function()
            times[name].append(clock() - start)
    return {name: statistics.median(values) for name, values in times.items()}
