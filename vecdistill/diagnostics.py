"""Environment checks behind ``vecdistill doctor`` (no printing here: a report dict)."""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import os
import platform
import time


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _importable(module: str) -> bool:
    try:
        importlib.import_module(module)
        return True
    except Exception:
        return False


def _fused_kernels(cuda: bool) -> str:
    """Whether CUDA renders will use the rasterizer's fused Triton kernels
    (:mod:`vecdistill.raster.fused`): Triton ships with CUDA builds of torch; without it,
    or with ``VECDISTILL_FUSED=0``, they take the per-operation path (same images, more
    kernel launches)."""
    if os.environ.get("VECDISTILL_FUSED", "1") == "0":
        return "off (VECDISTILL_FUSED=0): CUDA renders use the per-operation path"
    if importlib.util.find_spec("triton") is None:
        return "Triton not installed: CUDA renders would use the per-operation path"
    return "Triton found: used for float32 CUDA renders" if cuda else "Triton found (used on CUDA only)"


def _compiled_kernels() -> str:
    """Whether CPU renders will use the rasterizer's compiled kernels
    (:mod:`vecdistill.raster.jit`, Numba): when they may run, they are compiled (or loaded
    from Numba's cache) here, as a float32 render would, so a failure shows now;
    without Numba, with ``VECDISTILL_JIT=0`` or after a failure they take the
    per-operation path (same images, slower)."""
    from vecdistill.raster import jit

    if os.environ.get("VECDISTILL_JIT", "1") == "0":
        return "off (VECDISTILL_JIT=0): CPU renders use the per-operation path"
    if not jit.installed():
        return "Numba not installed: CPU renders use the per-operation path (pip install numba)"
    try:
        import torch

        from vecdistill.raster.kernel_gate import CPU_STAGES, cpu_module

        start = time.perf_counter()  # (the exact pass's kernels are float64 only)
        ready = all(cpu_module(stage, torch.float64 if stage == "exact" else torch.float32) is not None for stage in CPU_STAGES)
    except Exception as exc:  # torch broken: reported above
        return f"not checked ({type(exc).__name__})"
    if not ready:
        return f"failed ({jit.failed}): CPU renders use the per-operation path"
    return f"Numba {_version('numba')}: ready for CPU renders (coverage, compositing and the exact pass: {time.perf_counter() - start:.2f} s)"


def run_checks(load_prior: bool = True) -> dict:
    """Collect versions, devices, optional backends, the cache dir and an embedded-prior
    load test. Returns ``{"ok": bool, "problems": [str], "checks": {section: {name: value}}}``."""
    problems: list[str] = []
    versions = {"python": platform.python_version()}
    for dist in ("vecdistill", "torch", "diffusers", "transformers", "peft", "svgpathtools", "cairosvg", "click", "fonttools", "ray"):
        v = _version(dist)
        versions[dist] = v or "not installed"
        if v is None and dist not in ("ray",):
            problems.append(f"{dist} is not installed (pip install -e .)")

    devices: dict[str, str] = {"cpu": platform.processor() or platform.machine()}
    cuda = False
    try:
        import torch

        devices["torch threads"] = str(torch.get_num_threads())
        cuda = torch.cuda.is_available()
        if cuda:
            for i in range(torch.cuda.device_count()):
                devices[f"cuda:{i}"] = torch.cuda.get_device_name(i)
        else:
            devices["cuda"] = "not available (CPU only)"
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            devices["mps"] = "available"
    except Exception as exc:  # torch broken: report, do not crash
        problems.append(f"torch does not import: {exc}")

    backends = {
        "rasterizer (ours)": "ok" if _importable("vecdistill.raster") else "missing",
        "pydiffvg": "available" if _importable("pydiffvg") else "not installed (optional, --backend diffvg)",
        "ray": "available" if _importable("ray") else "not installed (optional: pip install vecdistill[ray])",
        "cairosvg": "ok" if _importable("cairosvg") else "missing (needs the cairo library)",
        "fused GPU kernels": _fused_kernels(cuda),
        "compiled CPU kernels": _compiled_kernels(),
    }
    if backends["cairosvg"] != "ok":
        problems.append("cairosvg cannot load the cairo library (apt-get install libcairo2)")

    prior: dict[str, str] = {}
    try:
        from .cache import cache_dir

        prior["cache dir"] = str(cache_dir())
    except Exception as exc:
        prior["cache dir"] = f"unknown ({exc})"
    if load_prior:
        try:
            start = time.perf_counter()
            from .priors import load_prior as _load

            p = _load(None)
            prior["embedded prior"] = f"ok ({p.describe().get('name')}, {time.perf_counter() - start:.2f} s)"
        except Exception as exc:
            prior["embedded prior"] = f"failed: {exc}"
            problems.append(f"the embedded prior does not load: {exc}")
    return {
        "ok": not problems,
        "problems": problems,
        "checks": {"versions": versions, "devices": devices, "backends": backends, "prior": prior},
    }
