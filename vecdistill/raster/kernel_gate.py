"""Which fused kernels a render uses: one gate for the stages that have them.

``kernels_for(stage, *tensors)`` gives the stage's kernel module (``"flattening"``:
:mod:`.fused_flatten`, ``"coverage"``: :mod:`.fused_coverage`, ``"compositing"``:
:mod:`.fused`) when its tensors are float32 on CUDA and the kernels may run
(:func:`.fused.available`: Triton imports, ``VECDISTILL_FUSED`` is not ``0``, no
determinism asked for, no kernel has failed here), else None. Triton and the kernel
modules are imported only then, so CPU renders never load them.

:func:`standing_in` lets chosen stages' kernels take CPU tensors too: how the tests run
them under Triton's interpreter (``TRITON_INTERPRET=1``) against the per-operation path, and
how ``benchmarks/raster_bench.py --fused-count`` counts a render's operations with their
launches stubbed.

``cpu_kernels_for(stage, *tensors)`` is the CPU counterpart: the stage's compiled CPU
kernels (``"coverage"``: :mod:`.jit_coverage`, ``"compositing"``: :mod:`.jit_composite`;
Numba) for float32 or float64 CPU tensors of one dtype when :func:`.jit.available` and
they have compiled for that dtype (:func:`.jit.compiled`), else None; Numba is imported
only then. :func:`cpu_module` is the same for a stage and dtype without tensors (the exact
pass, ``"exact"``: :mod:`.jit_exact`, works on host arrays in float64 whatever the render's
device).
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import torch

STAGES = {"flattening": "fused_flatten", "coverage": "fused_coverage", "compositing": "fused"}

CPU_STAGES = {"coverage": "jit_coverage", "compositing": "jit_composite", "exact": "jit_exact"}

_stand_in: frozenset[str] = frozenset()  # stages whose kernels take CPU tensors (tests, counts)


def report_failure(exc: BaseException, kernels: str, switch: str) -> str:
    """Warn that ``kernels`` (e.g. "fused GPU kernels") failed with ``exc`` and that renders
    take the per-operation path from now on (``switch``: the variable that skips them);
    returns the failure's first line (at most 300 characters), which the caller keeps. For
    the kernel modules' ``give_up``, which call it once per process."""
    reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
    warnings.warn(
        f"vecdistill: the {kernels} failed ({type(exc).__name__}: {reason}); rendering with the "
        f"per-operation path from now on ({switch} skips them)",
        RuntimeWarning,
        stacklevel=4,
    )
    return reason


def kernels_for(stage: str, *tensors: torch.Tensor | None):
    """The kernel module of ``stage`` for ``tensors`` (None entries ignored), or None (see
    the module docstring)."""
    given = [t for t in tensors if t is not None]
    if any(t.dtype != torch.float32 for t in given):
        return None
    if stage not in _stand_in and not all(t.is_cuda for t in given):
        return None
    from . import fused

    if not fused.available():
        return None
    return importlib.import_module(f".{STAGES[stage]}", __package__)


def cpu_kernels_for(stage: str, *tensors: torch.Tensor | None):
    """The compiled CPU kernel module of ``stage`` for ``tensors`` (None entries ignored), or
    None (see the module docstring; a module that fails to import or compile warns once,
    through :func:`.jit.give_up`, and no kernel is tried again)."""
    given = [t for t in tensors if t is not None]
    if stage not in CPU_STAGES or not given:
        return None
    if given[0].dtype not in (torch.float32, torch.float64) or any(t.dtype != given[0].dtype or t.device.type != "cpu" for t in given):
        return None
    return cpu_module(stage, given[0].dtype)


def cpu_module(stage: str, dtype: torch.dtype):
    """The compiled CPU kernel module of ``stage`` (a key of :data:`CPU_STAGES`), compiled
    (or loaded) for ``dtype``, when :func:`.jit.available`; else None (a module that fails
    to import or compile warns once, through :func:`.jit.give_up`)."""
    from . import jit

    if not jit.available():
        return None
    module = jit.attempt(importlib.import_module, f".{CPU_STAGES[stage]}", __package__)
    return module if module is not None and jit.compiled(module, dtype) else None


@contextmanager
def standing_in(*stages: str) -> Iterator[None]:
    """Within the block, the kernels of ``stages`` also take CPU tensors (all other
    conditions unchanged); the previous setting is restored after it."""
    global _stand_in
    unknown = set(stages) - set(STAGES)
    if unknown:
        raise ValueError(f"unknown stage(s) {sorted(unknown)}: choose from {sorted(STAGES)}")
    before, _stand_in = _stand_in, frozenset(stages)
    try:
        yield
    finally:
        _stand_in = before
