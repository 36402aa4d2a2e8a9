"""Helpers shared by the rasterizer tests."""

from __future__ import annotations

import math

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

