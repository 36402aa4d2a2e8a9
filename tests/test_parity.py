"""3D parity: ONE objective instance drives both renderers, the SVG rasterizer and the
NeRF volume renderer, and both get finite, non-zero gradients on their own parameters.

The objective is SDS on the embedded icon prior (offline, exact); neither renderer knows
about diffusion, and the objective does not know which renderer made its x0."""

from __future__ import annotations

import pytest
import torch

from vecdistill.distill import build_objective
from vecdistill.nerf.cameras import OrbitConfig, sample_orbit
from vecdistill.nerf.field import FieldConfig, RadianceField
from vecdistill.nerf.renderer import RenderConfig, render
from vecdistill.priors import load_prior

raster = pytest.importorskip("vecdistill.raster", reason="the SVG rasterizer (vecdistill.raster) is not available")


def _grad_ok(tensors):
    grads = [t.grad for t in tensors if t.grad is not None]
    assert grads, "no parameter received a gradient"
    assert all(torch.isfinite(g).all() for g in grads)
    return sum(float(g.abs().sum()) for g in grads)


def test_one_objective_drives_the_rasterizer_and_the_volume_renderer(one_thread):
    from vecdistill.raster.testscenes import circles_scene

    prior = load_prior(None)
    objective = build_objective("sds", prior, "red apple", guidance_scale=30.0)
    g = torch.Generator().manual_seed(0)
    size = 32

    # 2D: SVG paths through the differentiable rasterizer
    svg = circles_scene(6, width=size, radius=0.2, generator=torch.Generator().manual_seed(1))
    svg.requires_grad_(True)
    svg_params = svg.parameters()
    image_2d = raster.rasterize(svg, size, size)[None]  # [1, 3, H, W]
    result_2d = objective(prior.encode(image_2d), 0.5, g)
    result_2d.loss.backward()
    assert _grad_ok(svg_params) > 0

    # 3D: a radiance field through the volume renderer, same objective object
    field = RadianceField(FieldConfig(levels=4, log2_hashmap_size=12, base_resolution=4, max_resolution=32, hidden=16),
                          generator=torch.Generator().manual_seed(2))
    cams = sample_orbit(1, OrbitConfig(), size, size, g).cameras
    image_3d = render(field, cams, RenderConfig(samples=16), generator=g).image
    assert image_3d.shape == image_2d.shape  # the same image convention
    result_3d = objective(prior.encode(image_3d), 0.5, g)
    result_3d.loss.backward()
    assert _grad_ok(list(field.parameters())) > 0

    # the objective's gradient is what reached each renderer's image
    assert torch.isfinite(result_2d.grad).all() and torch.isfinite(result_3d.grad).all()
    assert result_2d.grad.shape == result_3d.grad.shape
