"""Helpers shared by the rasterizer tests."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from vecdistill.svg.scene import Group, Path, Scene, Solid


def poly_path(points, closed=True, dtype=torch.float64, **kw) -> Path:
    return Path.polygon(torch.tensor(points, dtype=dtype), closed=closed, **kw)


def scene_of(*paths, size=(16, 16)) -> Scene:
    return Scene(Group(list(paths)), float(size[0]), float(size[1]))


def solid(r, g, b, a=1.0, dtype=torch.float64) -> Solid:
    return Solid(torch.tensor([r, g, b, a], dtype=dtype))


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float(((a.double() - b.double()) ** 2).mean())
    return 99.0 if mse == 0 else -10 * math.log10(mse)


@pytest.fixture(params=["compiled", "per-operation"])
def cpu_path(request, monkeypatch):
    """Each test once per CPU path: with the compiled kernels (:mod:`vecdistill.raster.jit`,
    Numba; skipped where they are not available), which are checked not to have failed, and with the
    per-operation path (the reference, and what a GPU render without Triton runs). Modules
    whose renders should hold on both use it for all their tests
    (``pytestmark = pytest.mark.usefixtures("cpu_path")``)."""
    from vecdistill.raster import jit

    if request.param == "per-operation":
        with jit.disabled():
            yield request.param
        return
    monkeypatch.setattr(jit, "failed", None)
    if not jit.available():  # (no Numba, or VECDISTILL_JIT=0: the compiled run would be a second per-operation one)
        pytest.skip("the compiled CPU kernels are not available here")
    yield request.param
    assert jit.failed is None, jit.failed


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    """The CPU is shared; one thread keeps the tests predictable."""
    yield


def finite_difference_errors(loss, tensors, grads, eps: float = 1e-6) -> torch.Tensor:
    """Relative errors of the autograd gradients ``grads`` of ``loss()`` with respect to
    ``tensors`` (float64 leaves, changed in place and restored) against central finite
    differences, one per element: ``|g - fd| / max(|fd|, 1e-3)``."""
    errs = []
    with torch.no_grad():
        for t, g in zip(tensors, grads):
            for k in range(t.numel()):
                old = float(t.view(-1)[k])
                t.view(-1)[k] = old + eps
                up = float(loss())
                t.view(-1)[k] = old - eps
                down = float(loss())
                t.view(-1)[k] = old
                fd = (up - down) / (2 * eps)
                errs.append(abs(float(g.reshape(-1)[k]) - fd) / max(abs(fd), 1e-3))
    return torch.tensor(errs)


# scenes whose pixels hand the exact pass real work (tests of the compiled passes)


def tangled_scene(seed: int, n: int = 40, size: int = 24, evenodd: bool = False) -> str:
    """``n`` random polygons of 9 vertices each over a ``size`` px canvas: most cross
    themselves, some several times in one pixel."""
    g = np.random.default_rng(seed)
    rule = ' fill-rule="evenodd"' if evenodd else ""
    paths = []
    for _ in range(n):
        c = g.uniform(2, size - 2, 2)
        pts = c + g.normal(0, 2.5, (9, 2))
        paths.append('<path d="M' + " L".join(f"{x:.4f} {y:.4f}" for x, y in pts) + f' Z" fill="#102030" fill-opacity="0.5"{rule}/>')
    return f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {size} {size}">' + "".join(paths) + "</svg>"


STROKES = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16">'
    '<path d="M2.5 2.5 L13.5 13.5 L13.5 2.5 L2.5 13.5 Z" fill="none" stroke="#000" stroke-width="2.2"/>'
    '<path d="M2.1 13.2 C 17 -1, 17 17, 1.7 3.4" fill="none" stroke="#000" stroke-width="0.9"/>'
    '<path d="M5.15 5.2 L5.85 5.3 L5.2 5.5 L5.85 5.7 L5.15 5.85" fill="none" stroke="#000" stroke-width="0.5" stroke-linejoin="round" stroke-linecap="round"/>'
    '<path d="M1 4 H 15 V 6 H 1 Z M1 5 H 15" fill="none" stroke="#000" stroke-width="1"/></svg>'
)


def star_svg(n: int = 71, k: int = 35, r: float = 3.0, c: float = 8.5) -> str:
    """The star polygon {n/k} about (c, c), filled even-odd: every edge passes near the
    centre, whose pixel holds all n edges and their crossings (201 pieces)."""
    import math

    pts = [(c + r * math.cos(2 * math.pi * k * i / n), c + r * math.sin(2 * math.pi * k * i / n)) for i in range(n)]
    return ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><path d="M' + " L".join(f"{x:.6f} {y:.6f}" for x, y in pts)
            + ' Z" fill="#000" fill-rule="evenodd"/></svg>')


# a triangle drawn twice over itself: every boundary pixel holds coincident pieces (ties of
# the sweep's sort: the first in piece order takes the winding step's gradient, in both)
DOUBLED = ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16">'
           '<path d="M2.3 2.2 L13.6 4.1 L5.2 13.7 Z M2.3 2.2 L13.6 4.1 L5.2 13.7 Z" fill="#000"/></svg>')
