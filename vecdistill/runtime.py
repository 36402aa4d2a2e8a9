"""Process-wide settings that make torch's CPU kernels fast, applied on ``import vecdistill``.

Both are measured (``benchmarks/raster_bench.py``) and can be turned off:

- ``OMP_WAIT_POLICY=PASSIVE`` (unless the user set it): OpenMP threads that spin while waiting
  collapse torch's CPU speed 10-30x as soon as another process shares the cores (a 64 px render
  went from 10 ms to 127 ms with 2 threads). Passive waiting has its own cost: every
  operation split across threads first wakes the sleeping ones, which for a chain of
  hundreds of 10^5-element operations costs more than the split saves; the rasterizer
  therefore runs small renders on one thread (:mod:`vecdistill.raster.threads`). It only
  takes effect if torch's OpenMP runtime is not loaded yet.
- glibc ``mallopt``: keep freed memory in the heap (mmap threshold 32 MiB, no trimming).
  glibc's defaults hand every large tensor's memory back to the kernel when it is freed, so
  each optimisation step page-faults its temporaries in again; keeping them made the
  rasterizer's forward + backward about 14 % faster on CPU (2188 page faults a step
  without, none with). The process keeps its peak heap
  instead of shrinking after it. ``VECDISTILL_MALLOPT=0`` leaves the allocator alone.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_MMAP_THRESHOLD = 32 * 2**20  # glibc's largest allowed value on 64-bit
_TRIM_THRESHOLD = 2**30

_configured = False
allocator_tuned = False  # whether configure_process applied the mallopt settings


def libc_function(name: str):
    """The C library's function ``name`` through ctypes (Linux only), or None where there is
    no such function (other systems, or a C library without it, e.g. musl's mallopt)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return getattr(ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6"), name)
    except (OSError, AttributeError):
        return None


def tune_allocator() -> bool:
    """Apply the ``mallopt`` settings above (Linux with glibc only). Returns whether they were
    applied."""
    mallopt = None if os.environ.get("VECDISTILL_MALLOPT", "1") == "0" else libc_function("mallopt")
    if mallopt is None:
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD))


def configure_process() -> None:
    """Apply both settings once per process (called by ``import vecdistill``)."""
    global _configured
    if _configured:
        return
    global allocator_tuned
    _configured = True
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    allocator_tuned = tune_allocator()
