"""The same rasterizer on CUDA: images and gradients match the CPU's (skipped without a
GPU; run them when one is lent: ``python -m pytest tests/raster/test_cuda.py``)."""

from __future__ import annotations

from pathlib import Path as FsPath

import pytest
import torch

from vecdistill.raster import rasterize, rasterize_batch
from vecdistill.raster.testscenes import circles_scene
from vecdistill.svg.parse import load_svg

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")

HANDMADE = FsPath(__file__).resolve().parents[1] / "data" / "icons" / "handmade"


def _grads(scene, size, views=None):
    """Image and the gradients of a fixed weighted sum, for the scene's points and colours."""
    scene.requires_grad_(True, kinds=("points", "colors", "widths", "opacities"))
    params = [t for t in scene.parameters() if t.requires_grad]
    if views is None:
        img = rasterize(scene, size, size)
    else:
        img = rasterize_batch(scene, size, size, views=views)
    w = torch.linspace(0, 1, img.numel(), dtype=img.dtype, device=img.device).view_as(img)
    grads = torch.autograd.grad((img * w).sum(), params, allow_unused=True)
    return img.detach().cpu(), [None if g is None else g.cpu() for g in grads]


def _assert_same(a, b):
    img_a, g_a = a
    img_b, g_b = b
    assert torch.allclose(img_a, img_b, atol=1e-4)
    for x, y in zip(g_a, g_b):
        assert (x is None) == (y is None)
        if x is not None:
            assert torch.allclose(x, y, rtol=1e-3, atol=1e-3 * (1 + float(y.abs().max())))


@pytest.mark.parametrize("name", ["shapes.svg", "strokes.svg", "gradients.svg", "clip.svg"])
def test_cuda_renders_and_differentiates_svg_features_like_the_cpu(name):
    cpu = load_svg(HANDMADE / name)
    _assert_same(_grads(cpu.to("cuda"), 64), _grads(cpu, 64))


def test_cuda_batched_views_match_the_cpu():
    scene = circles_scene(64, 128, generator=torch.Generator().manual_seed(1))
    views = torch.eye(3).repeat(4, 1, 1)
    views[:, 0, 0] = views[:, 1, 1] = torch.tensor([1.0, 1.1, 1.2, 1.3])
    views[:, :2, 2] = -5.0
    _assert_same(_grads(scene.to("cuda"), 128, views.cuda()), _grads(scene, 128, views))


def test_cuda_fused_kernels_match_the_per_operation_path(monkeypatch):
    """On CUDA the flattening, coverage and compositing run as Triton kernels
    (vecdistill/raster/fused*.py) when Triton is there; VECDISTILL_FUSED=0 selects the
    per-operation path: same image and gradients (strokes included: the flattening kernel
    then evaluates local vertices too)."""
    pytest.importorskip("triton")
    scene = circles_scene(64, 128, generator=torch.Generator().manual_seed(2), stroke_width=1.5)
    gpu = scene.to("cuda")
    fused = _grads(gpu, 128)
    monkeypatch.setenv("VECDISTILL_FUSED", "0")
    _assert_same(fused, _grads(gpu, 128))
