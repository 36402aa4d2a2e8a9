"""How many torch threads the rasterizer's CPU work runs on.

A render is a few hundred torch operations on tensors of 10^4-10^6 elements. Torch splits
each operation above 32768 elements across its OpenMP threads, and with
``OMP_WAIT_POLICY=PASSIVE`` (which ``import vecdistill`` sets: spinning threads collapse
torch's speed when another process shares the cores, see :mod:`vecdistill.runtime`) every
split first wakes the sleeping threads. On the 2-core build machine that wake-up cost more
than the split saved: forward + backward of 256 paths at 256^2 took about twice as long on
2 threads as on 1, and the crossover lay between 0.6 and 2.2 million fragments
(``python benchmarks/raster_bench.py --thread-policy`` prints both for several scenes).

So a render whose previous render (same scenes structure, same canvas: one render plan)
made fewer than :data:`SERIAL_BELOW` fragments runs its forward on one thread, and the
analytic backward of coverage and compositing runs on the thread count its forward ran
on; the caller's count is restored after each. A first render counts as small. Set
``vecdistill.raster.threads.SERIAL_BELOW = 0`` to leave torch's thread count alone. Only
CPU renders are affected; the rest of a program (a diffusion model's forward) keeps the
count it set.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

SERIAL_BELOW = 1_000_000  # fragments


def render_threads(device: torch.device, previous_fragments: int) -> int | None:
    """The thread count a CPU render should use (1), or None to leave torch's alone: on CPU,
    when the previous render of the same plan made fewer than :data:`SERIAL_BELOW`
    fragments (0 for a first render)."""
    if device.type != "cpu" or previous_fragments >= SERIAL_BELOW:
        return None
    return 1


@contextmanager
def at_most(threads: int | None) -> Iterator[None]:
    """Run the block on at most ``threads`` torch threads (None: unchanged), restoring the
    caller's count after it, even on an exception."""
    before = torch.get_num_threads()
    if threads is None or before <= threads:
        yield
        return
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)
