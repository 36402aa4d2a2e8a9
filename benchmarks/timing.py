"""Timing helper shared by the benchmark scripts (run as ``python benchmarks/NAME.py``, so
this folder is on ``sys.path``)."""

from __future__ import annotations

import statistics
import time


def median_ms(fn, repeats: int, clock=time.perf_counter) -> float:
    """Median milliseconds of ``fn()`` over ``repeats`` calls after one warm-up call, by
    ``clock`` (wall time by default; ``time.process_time`` for CPU time)."""
    fn()
    times = []
    for _ in range(repeats):
        start = clock()
        fn()
        times.append(clock() - start)
    return 1000 * statistics.median(times)
