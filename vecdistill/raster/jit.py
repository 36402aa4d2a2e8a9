"""CPU kernels compiled at run time by Numba: whether they may run, and what happens when
one cannot.

Numba (a pip wheel that carries its own LLVM: no compiler on the machine) compiles the
kernels of :mod:`.jit_coverage` and :mod:`.jit_composite` the first time a process uses
them and keeps the machine code in its cache (``__pycache__`` next to the module, or
Numba's user cache directory where that is read-only), so later processes load it instead
of compiling again. They replace whole-array torch passes by one loop over the edges, the
cells or the fragments, which on the CPU is bound by memory traffic rather than arithmetic
(``docs/raster.md``).

:func:`available`: Numba imports, ``VECDISTILL_JIT`` is not ``0`` and no kernel has failed
in this process. :func:`compiled` compiles (or loads) a kernel module's kernels for a dtype
before a render first relies on them. A kernel that cannot compile or run never stops a
render: :func:`attempt` catches the failure, :func:`give_up` warns once, and every later
render takes the per-operation path (the same sums in torch operations). :func:`disabled`
turns the kernels off within a block (the tests' and benchmarks' comparisons).
"""

from __future__ import annotations

import importlib.util
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

failed: str | None = None  # why a kernel could not run in this process (then none is used)
_off = 0  # depth of disabled() blocks
_ready: set = set()  # (module name, dtype) pairs whose kernels have compiled (or loaded) and run
#: Told (one line) when a compile is still running after NOTICE_AFTER seconds: a first use
#: compiles for seconds, a cached load takes a fraction of one. The command line sets it
#: when stderr is a terminal; library code leaves it None (silent).
notice: Callable[[str], None] | None = None
NOTICE_AFTER = 1.0


def installed() -> bool:
    """Whether Numba is importable (without importing it)."""
    return importlib.util.find_spec("numba") is not None


def available() -> bool:
    """Whether the CPU kernels may run (see the module docstring)."""
    return _off == 0 and failed is None and os.environ.get("VECDISTILL_JIT", "1") != "0" and installed()


def give_up(exc: BaseException) -> None:
    """After a kernel failed to compile or run: warn once and use the per-operation path for
    the rest of the process."""
    global failed
    if failed is None:
        from .kernel_gate import report_failure

        failed = report_failure(exc, "compiled CPU kernels", "VECDISTILL_JIT=0")


def attempt(run, *args, **kwargs):
    """``run(*args, **kwargs)`` (which must not return None), or None when it raised: then
    :func:`give_up` and the caller takes the per-operation path."""
    try:
        return run(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - any compile or run failure (Numba, llvmlite)
        give_up(exc)
        return None


def compiled(module, dtype) -> bool:
    """Whether the kernels of ``module`` (:mod:`.jit_composite`, :mod:`.jit_coverage`) are
    ready for ``dtype``: the first time, its ``compile_for(dtype)`` compiles (or loads) and
    runs them on a small example, through :func:`attempt` (False when that failed)."""
    key = (module.__name__, dtype)
    if key in _ready:
        return True
    timer = None
    if notice is not None and not _told:
        timer = threading.Timer(NOTICE_AFTER, _tell, args=(notice,))
        timer.daemon = True
        timer.start()
    try:
        done = attempt(module.compile_for, dtype)
    finally:
        if timer is not None:
            timer.cancel()
    if done is None:
        return False
    _ready.add(key)
    return True


_told = False  # whether the compile notice was given (one line per process)


def _tell(say: Callable[[str], None]) -> None:
    global _told
    if not _told:
        _told = True
        say("compiling the rasterizer's CPU kernels (first use; later runs load them from the cache)")


@contextmanager
def disabled() -> Iterator[None]:
    """Within the block, renders take the per-operation path (nestable)."""
    global _off
    _off += 1
    try:
        yield
    finally:
        _off -= 1
