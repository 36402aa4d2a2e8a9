"""Timing helpers shared by the benchmark scripts (run as ``python benchmarks/NAME.py``, so
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


def step_seconds(fn, params, device=None) -> float:
    """Wall seconds of ``fn().sum().backward()`` starting, as every optimisation step does
    (``optimizer.zero_grad(set_to_none=True)``, torch's default and the pipelines'), from
    no gradients on ``params``: autograd then hands each leaf its gradient instead of
    adding into a stale one. Clearing is not timed; on a CUDA ``device`` the clock reads
    after a synchronise."""
    for t in params:
        t.grad = None
    sync(device)
    t0 = time.perf_counter()
    fn().sum().backward()
    sync(device)
    return time.perf_counter() - t0


def sync(device) -> None:
    """Wait for ``device``'s queued work (a CUDA ``torch.device``; nothing to wait for
    elsewhere, None included)."""
    if device is not None and device.type == "cuda":
        import torch  # (imported here: scripts configure the process before torch loads)

        torch.cuda.synchronize(device)
