"""How many torch threads the rasterizer's CPU work runs on.

A render is a few hundred torch operations on tensors of 10^4-10^6 elements. Torch splits
each operation above 32768 elements across its OpenMP threads, and with
``OMP_WAIT_POLICY=PASSIVE`` (which ``import vecdistill`` sets: spinning threads collapse
torch's speed when another process shares the cores, see :mod:`vecdistill.runtime`) every
split first wakes the sleeping threads. On the 2-core build machine that wake-up cost more
than the split saved: forward + backward of 256 paths at 256^2 took about twice as long on
2 threads as on 1, and even 1024 paths at 512^2 (2.1 million fragments) were no faster on
2 (``python benchmarks/raster_bench.py --thread-policy`` prints both for several scenes).

So a CPU render of fewer than :data:`SERIAL_BELOW` canvas pixels (summed over the images of
a batch: 2^20, e.g. one 1024^2 image or 16 views at 256^2) runs its forward on one thread,
and so does the rest of the backward pass from the render's output on
(:func:`gate_backward`: the render's inputs are the scene's leaves, so that is the render's
own backward plus whatever else the pass still has to do); the caller's count is restored
after each. The rule depends only on the call's arguments, so a run resumed from a
checkpoint makes the same choices as an uninterrupted one. Set
``vecdistill.raster.threads.SERIAL_BELOW = 0`` to leave torch's thread count alone. Only
CPU renders are affected; the rest of a program (a diffusion model's forward) keeps the
count it set.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

SERIAL_BELOW = 2**20  # a render's canvas pixels (batch x height x width), or values of other work


def threads_for(device: torch.device, size: int) -> int | None:
    """The thread count for CPU work made of many torch operations over ``size`` values
    each at most (a render: its B * H * W canvas pixels; the loop's optimiser step: the
    values of the optimised tensors): 1 on the CPU below :data:`SERIAL_BELOW`, else None
    (torch's count unchanged)."""
    if device.type != "cpu" or size >= SERIAL_BELOW:
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


_restore_to: int | None = None  # the count a backward pass limited and has not restored yet


class _BackwardThreads(torch.autograd.Function):
    """Identity whose backward limits torch's threads to ``threads`` for the rest of the
    backward pass and queues the restoring of the caller's count at its end (the autograd
    engine's final callback)."""

    @staticmethod
    def forward(ctx, x, threads):
        ctx.threads = threads
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        global _restore_to
        before = torch.get_num_threads()
        if before > ctx.threads:
            torch.set_num_threads(ctx.threads)
            _restore_to = before
            try:
                torch.autograd.Variable._execution_engine.queue_callback(restore)
            except (AttributeError, RuntimeError):  # no final callbacks here: do not limit
                restore()
        return grad, None


def restore() -> None:
    """Give torch back the thread count a backward pass limited (a no-op when none is
    pending). Runs at the end of that pass; the next render also calls it, in case the pass
    ended with an error (which skips the engine's final callbacks)."""
    global _restore_to
    if _restore_to is not None:
        torch.set_num_threads(_restore_to)
        _restore_to = None


def gate_backward(image: torch.Tensor, threads: int | None) -> torch.Tensor:
    """``image`` unchanged; when ``threads`` is set and ``image`` requires grad, the backward
    pass runs on at most ``threads`` threads from this point on (see the module docstring)."""
    if threads is None or not image.requires_grad:
        return image
    return _BackwardThreads.apply(image, threads)
