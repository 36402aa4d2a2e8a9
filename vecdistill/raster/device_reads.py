"""Count the places where the host reads tensor values (a device sync each on a GPU).

A development tool: on a GPU every such read waits for all queued work, so a render that
reads five times runs as five bursts of launches with the GPU idle between them. CUDA can
count real syncs (``torch.cuda.set_sync_debug_mode``), but only on a GPU; this counts the
same reads from the torch calls a function makes, on any device, so that the GPU path's
reads can be kept few (and checked) on a CPU machine. ``benchmarks/raster_bench.py``
prints the count with ``--fused-count``; ``tests/raster/test_fused.py`` checks it.

A read is a call that needs a tensor's values or a data-dependent size on the host:
``item``, ``tolist``, ``bool``/``int``/``float`` of a tensor, ``numpy``, a copy to the CPU,
``nonzero`` (``nonzero_static`` is not one), ``unique``, ``masked_select``, indexing with a
bool mask, and ``repeat_interleave`` with tensor repeats and no ``output_size``. One call of
the render plan's scalar read (:func:`.plan._read`: one transfer off the CPU, one ``item``
per scalar on it) counts as one read.
"""

from __future__ import annotations

import sys
import traceback
from collections import Counter

import torch
from torch.overrides import TorchFunctionMode

from . import plan as _plan

_READS = {"item", "tolist", "__bool__", "__int__", "__float__", "__index__", "numpy", "cpu", "nonzero", "unique", "unique_consecutive", "masked_select", "argwhere"}


def _is_read(name: str, args: tuple, kwargs: dict) -> bool:
    if name in _READS:
        return True
    if name == "repeat_interleave":
        repeats = args[1] if len(args) > 1 else kwargs.get("repeats")
        return isinstance(repeats, torch.Tensor) and kwargs.get("output_size") is None
    if name == "__getitem__" and len(args) > 1:
        index = args[1] if isinstance(args[1], tuple) else (args[1],)
        return any(isinstance(i, torch.Tensor) and i.dtype == torch.bool for i in index)
    if name == "to":
        target = list(args[1:]) + [kwargs.get("device")]
        return any(str(t) == "cpu" for t in target if isinstance(t, (str, torch.device))) and args[0].device.type != "cpu"
    return False


class DeviceReads(TorchFunctionMode):
    """A context in which every host read of tensor values (see the module docstring) is
    counted: ``total`` and ``sites`` (a Counter of ``"file:line function call"`` of the
    innermost frame of this package that made it; prefixed ``"exact pass: "`` inside the
    coverage's exact pass over crossed pixels, which works on the host by design)."""

    def __init__(self) -> None:
        super().__init__()
        self.sites: Counter = Counter()
        self._plan_read = None  # the frame of the plan's scalar read being counted

    @property
    def total(self) -> int:
        return sum(self.sites.values())

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = getattr(func, "__name__", "")
        if _is_read(name, args, kwargs):
            self._count(name)
        return func(*args, **kwargs)

    def _count(self, name: str) -> None:
        frame = sys._getframe(2)
        while frame is not None and frame.f_code is not _plan._read.__code__:
            frame = frame.f_back
        if frame is not None:  # inside the plan's scalar read: one read per call of it
            if frame is self._plan_read:
                return
            self._plan_read = frame
            self.sites["plan.py _read (one transfer)"] += 1
            return
        here = [f for f in traceback.extract_stack(sys._getframe(2)) if "vecdistill" in f.filename]
        site = f"{here[-1].filename.rsplit('/', 1)[-1]}:{here[-1].lineno} {here[-1].name}" if here else "outside vecdistill"
        if any(f.name in ("_needs_exact", "_drop_exact_already", "_resolve_crossed", "_kernel_edges_pieces") for f in here):  # (coverage's exact pass)
            site = f"exact pass: {site}"
        self.sites[f"{site} {name}"] += 1


def count_device_reads(fn) -> tuple[int, Counter]:
    """Run ``fn()`` and return ``(reads, sites)``: the host reads of tensor values it made
    (:class:`DeviceReads`)."""
    mode = DeviceReads()
    with mode:
        fn()
    mode._plan_read = None
    return mode.total, mode.sites
