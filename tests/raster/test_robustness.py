"""Degenerate input: no NaN or Inf in images or gradients, clear errors for bad input."""

from __future__ import annotations

import pytest
import torch
from conftest import scene_of, solid

from vecdistill.errors import InputError
from vecdistill.raster import rasterize
from vecdistill.svg.scene import Path, Solid

pytestmark = pytest.mark.usefixtures("cpu_path")  # every test on both CPU paths (conftest.py)


def _check(path: Path, size=16):
    path.fill = path.fill or solid(0.2, 0.4, 0.6, 0.8)
    path.stroke = solid(0.9, 0.1, 0.1, 0.7)
    path.stroke_width = torch.tensor(1.5, dtype=torch.float64)
    scene = scene_of(path, size=(size, size))
    scene.requires_grad_(True)
    img = rasterize(scene, size, size)
    assert torch.isfinite(img).all() and float(img.detach().min()) >= 0 and float(img.detach().max()) <= 1
    if img.requires_grad:  # nothing drawn: the image does not depend on the path
        img.square().sum().backward()
    for t in scene.parameters():
        if t.grad is not None:
            assert torch.isfinite(t.grad).all()
    return img.detach()


def _cubic(pts, closed=True, **kw):
    pts = torch.tensor(pts, dtype=torch.float64)
    nseg = pts.shape[0] // 3 if closed else (pts.shape[0] - 1) // 3
    return Path(pts, torch.full((nseg,), 2), [(nseg, closed)], **kw)


@pytest.mark.parametrize("linecap", ["butt", "round", "square"])
@pytest.mark.parametrize("linejoin", ["miter", "round", "bevel"])
def test_coincident_points(linecap, linejoin):
    p = _cubic([[5, 5]] * 6)
    p.linecap, p.linejoin = linecap, linejoin
    img = _check(p)
    # no fill area; the stroke of a zero-length subpath is a dot unless the cap is butt
    painted = float((img != 1).any(0).sum())
    assert painted == 0 if linecap == "butt" else painted > 0
    q = _cubic([[5, 5]] * 4, closed=False)
    q.linecap, q.linejoin = linecap, linejoin
    _check(q)


def test_zero_length_segments_and_repeated_points():
    pts = [[2, 2], [2, 2], [9, 2], [9, 2], [9, 2], [9, 9], [2, 9], [2, 9], [2, 2]]
    p = Path.polygon(torch.tensor(pts, dtype=torch.float64), closed=True)
    img = _check(p)
    ref = Path.polygon(torch.tensor([[2, 2], [9, 2], [9, 9], [2, 9]], dtype=torch.float64), closed=True)
    assert torch.allclose(img, _check(ref), atol=1e-9)


def test_collinear_control_points_and_cusps():
    _check(_cubic([[2, 8], [6, 8], [10, 8], [14, 8]], closed=False))  # a straight cubic
    _check(_cubic([[2, 8], [14, 8], [2, 8], [14, 8]], closed=False))  # doubles back on itself
    _check(_cubic([[2, 2], [14, 14], [2, 14], [14, 2]], closed=False))  # a cusp / loop


def test_self_intersecting_paths():
    bowtie = Path.polygon(torch.tensor([[2, 2], [14, 14], [14, 2], [2, 14]], dtype=torch.float64))
    _check(bowtie)
    star = Path.polygon(
        torch.tensor([[8, 1], [12, 15], [1, 6], [15, 6], [4, 15]], dtype=torch.float64), fill_rule="evenodd"
    )
    img = _check(star)
    assert float(img[:, 8, 8].sum()) > 2.99  # the centre pentagon is a hole under even-odd


def test_geometry_far_outside_and_huge_coordinates():
    p = _cubic([[-1e7, -1e7], [3e7, 0], [0, 3e7], [1e7, 1e7], [5, 8], [8, 5]])
    _check(p)
    q = Path.polygon(torch.tensor([[1e8, 1e8], [1e8 + 1, 1e8], [1e8, 1e8 + 1]], dtype=torch.float64))
    img = _check(q)
    assert torch.allclose(img, torch.ones_like(img))


def test_thousands_of_overlapping_shapes():
    # 1200 circles over the same pixels (diffvg fails past 256 overlaps)
    g = torch.Generator().manual_seed(0)
    colors = torch.rand(1200, 4, generator=g, dtype=torch.float64)
    colors[:, 3] = 0.05 + 0.9 * colors[:, 3]
    paths = []
    for c in colors:
        p = Path.circle((8, 8), 3.0)
        p.points = p.points.double()
        p.fill = Solid(c.clone())
        paths.append(p)
    scene = scene_of(*paths)
    scene.requires_grad_(True)
    img = rasterize(scene, 16, 16)
    assert torch.isfinite(img).all()
    # a pixel inside every circle is the sequential "over" of all the colours
    ref = torch.ones(3, dtype=torch.float64)
    for c in colors:
        ref = ref * (1 - c[3]) + c[:3] * c[3]
    assert torch.allclose(img[:, 8, 8].detach(), ref, atol=1e-7)
    img.sum().backward()
    for t in scene.parameters():
        if t.grad is not None:
            assert torch.isfinite(t.grad).all()


def test_colours_out_of_range_are_clamped_not_nan():
    p = Path.polygon(torch.tensor([[2, 2], [9, 2], [9, 9]], dtype=torch.float64), fill=solid(1.5, -0.3, 0.5, 1.7))
    img = _check(p)
    assert float(img.max()) <= 1 and float(img.min()) >= 0


def test_bad_input_raises_clear_errors():
    p = Path.polygon(torch.tensor([[2, 2], [float("nan"), 2], [9, 9]], dtype=torch.float64), fill=solid(0, 0, 0))
    with pytest.raises(InputError, match="non-finite"):
        rasterize(scene_of(p), 16, 16)
    ok = Path.polygon(torch.tensor([[2, 2], [9, 2], [9, 9]], dtype=torch.float64), fill=solid(0, 0, 0))
    with pytest.raises(InputError, match="canvas size"):
        rasterize(scene_of(ok), 0, 16)
    with pytest.raises(InputError, match="background"):
        rasterize(scene_of(ok), 16, 16, background=(1, 1))
    broken = Path(torch.zeros(3, 2, dtype=torch.float64), torch.tensor([2, 2]), [(2, True)], fill=solid(0, 0, 0))
    with pytest.raises(InputError, match="points"):
        rasterize(scene_of(broken), 16, 16)


def test_empty_scene_is_the_background():
    scene = scene_of()
    img = rasterize(scene, 8, 6, background=(0.2, 0.3, 0.4))
    assert img.shape == (3, 6, 8)
    assert torch.allclose(img, torch.tensor([0.2, 0.3, 0.4]).view(3, 1, 1).expand(3, 6, 8))
