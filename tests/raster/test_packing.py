"""pack_parameters: one leaf tensor per kind, read by the rasterizer as one view."""

from __future__ import annotations

import torch

from vecdistill.raster import pack_parameters, rasterize
from vecdistill.raster.packing import packed_span
from vecdistill.raster.testscenes import circles_scene


def _pair(n=12, size=48):
    make = lambda: circles_scene(n, size, generator=torch.Generator().manual_seed(7), stroke_width=1.5, dtype=torch.float64)  # noqa: E731
    return make(), make()


def test_packed_scene_renders_the_same_with_the_same_gradients():
    plain, packed = _pair()
    plain.requires_grad_(True, kinds=("points", "colors"))
    leaves = pack_parameters(packed)
    assert leaves["points"].shape == (sum(p.points.shape[0] for p in plain.paths()), 2)
    assert leaves["colors"].shape == (2 * 12, 4)  # fill and stroke of every path
    weights = torch.rand(3, 48, 48, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    a, b = rasterize(plain, 48, 48), rasterize(packed, 48, 48)
    assert torch.equal(a, b)
    (a * weights).sum().backward()
    (b * weights).sum().backward()
    paths = plain.paths()
    assert torch.allclose(leaves["points"].grad, torch.cat([p.points.grad for p in paths]), atol=1e-12)
    colors = torch.stack([c for p in paths for c in (p.fill.color.grad, p.stroke.color.grad)])
    assert torch.allclose(leaves["colors"].grad, colors, atol=1e-12)


def test_an_optimiser_step_on_the_leaves_moves_the_scene():
    plain, packed = _pair()
    leaves = pack_parameters(packed)
    opt = torch.optim.SGD(list(leaves.values()), lr=1.0)
    rasterize(packed, 48, 48).sum().backward()
    step = {k: v.grad.clone() for k, v in leaves.items()}
    opt.step()
    with torch.no_grad():
        start = 0
        for p in plain.paths():
            n = p.points.shape[0]
            p.points -= step["points"][start : start + n]
            start += n
        for k, c in enumerate(c for p in plain.paths() for c in (p.fill.color, p.stroke.color)):
            c -= step["colors"][k]
    assert torch.allclose(rasterize(packed, 48, 48), rasterize(plain, 48, 48), atol=1e-12)


def test_a_replaced_tensor_falls_back_to_the_general_path():
    plain, packed = _pair()
    pack_parameters(packed)
    moved = packed.paths()[3]
    moved.points = moved.points.detach() + 2.0  # no longer a view of the packed leaf
    assert packed_span([p.points for p in packed.paths()]) is None
    with torch.no_grad():
        plain.paths()[3].points += 2.0
    assert torch.allclose(rasterize(packed, 48, 48), rasterize(plain, 48, 48), atol=1e-12)


def test_packed_span_needs_consecutive_views_in_order():
    base = torch.arange(20.0).reshape(10, 2).clone()  # a tensor of its own, as pack_parameters makes
    span = packed_span([base[0:3], base[3:7], base[7:10]])
    assert span is not None and span[0] is base and span[1:] == (0, 10)
    assert packed_span([base[3:7], base[0:3]]) is None  # out of order
    assert packed_span([base[0:3], base[4:7]]) is None  # a gap
    assert packed_span([base[2], base[3]])[1:] == (2, 4)  # rows, as for colours
    assert packed_span([torch.zeros(3, 2)]) is None  # not a view
