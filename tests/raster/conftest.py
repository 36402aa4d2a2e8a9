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


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    """The CPU is shared; one thread keeps the tests predictable."""
    yield
