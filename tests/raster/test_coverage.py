"""Exact area coverage of fills and the two fill rules."""

from __future__ import annotations

import math

import pytest
import torch
from conftest import poly_path, scene_of, solid

from vecdistill.raster import rasterize
from vecdistill.raster.coverage import flat_nonzero, rasterize_layers

pytestmark = pytest.mark.usefixtures("cpu_path")  # every test on both CPU paths (conftest.py)


def coverage_image(points, w=12, h=10, evenodd=False):
    """Coverage [H, W] of one polygon drawn black on white."""
    p = poly_path(points, fill=solid(0, 0, 0), fill_rule="evenodd" if evenodd else "nonzero")
    return 1 - rasterize(scene_of(p, size=(w, h)), w, h)[0]


def rect_coverage(x0, y0, x1, y1, w, h):
    """Exact pixel coverage of an axis-aligned rectangle."""
    xs = torch.arange(w, dtype=torch.float64)
    ys = torch.arange(h, dtype=torch.float64)
    cx = (torch.minimum(xs + 1, torch.tensor(x1)) - torch.maximum(xs, torch.tensor(x0))).clamp_min(0)
    cy = (torch.minimum(ys + 1, torch.tensor(y1)) - torch.maximum(ys, torch.tensor(y0))).clamp_min(0)
    return cy[:, None] * cx[None, :]


def test_rectangle_coverage_is_exact():
    img = coverage_image([[1.3, 2.25], [7.6, 2.25], [7.6, 8.9], [1.3, 8.9]])
    assert torch.allclose(img, rect_coverage(1.3, 2.25, 7.6, 8.9, 12, 10), atol=1e-12)


def test_orientation_does_not_matter():
    pts = [[1.3, 2.25], [7.6, 2.25], [7.6, 8.9], [1.3, 8.9]]
    a = coverage_image(pts)
    b = coverage_image(pts[::-1])
    assert torch.allclose(a, b, atol=1e-12)


def test_triangle_pixel_areas_sum_to_polygon_area_and_match_halfplane():
    # a right triangle whose hypotenuse crosses pixels diagonally: each pixel is exact
    img = coverage_image([[0, 0], [8, 0], [0, 8]], w=10, h=10)
    assert abs(float(img.sum()) - 32.0) < 1e-9
    assert abs(float(img[0, 7]) - 0.5) < 1e-12  # cut through the diagonal
    assert abs(float(img[3, 3]) - 1.0) < 1e-12
    assert abs(float(img[4, 4])) < 1e-12 and abs(float(img[3, 4]) - 0.5) < 1e-12


def test_random_simple_polygon_area():
    g = torch.Generator().manual_seed(3)
    ang = torch.sort(torch.rand(9, generator=g, dtype=torch.float64) * 2 * math.pi).values
    rad = 2 + 3 * torch.rand(9, generator=g, dtype=torch.float64)
    pts = torch.stack([8 + rad * torch.cos(ang), 7 + rad * torch.sin(ang)], -1)
    img = coverage_image(pts.tolist(), w=16, h=14)
    x, y = pts[:, 0], pts[:, 1]
    area = 0.5 * abs(float((x * y.roll(-1) - x.roll(-1) * y).sum()))
    assert abs(float(img.sum()) - area) < 1e-9
    assert float(img.min()) >= 0 and float(img.max()) <= 1


def _two_squares(second_reversed: bool, evenodd: bool):
    a = [[1, 1], [6, 1], [6, 6], [1, 6]]
    b = [[3, 3], [8, 3], [8, 8], [3, 8]]
    if second_reversed:
        b = b[::-1]
    pts = torch.tensor(a + b, dtype=torch.float64)
    from vecdistill.svg.scene import Path

    p = Path(
        pts,
        torch.zeros(8, dtype=torch.long),
        [(4, True), (4, True)],
        fill=solid(0, 0, 0),
        fill_rule="evenodd" if evenodd else "nonzero",
    )
    return 1 - rasterize(scene_of(p, size=(10, 10)), 10, 10)[0]


def test_fill_rules_with_overlapping_contours():
    # same orientation: nonzero fills the overlap (winding 2), even-odd leaves a hole
    nz = _two_squares(False, evenodd=False)
    eo = _two_squares(False, evenodd=True)
    assert float(nz[4, 4]) == 1.0 and float(eo[4, 4]) == 0.0
    assert float(nz[2, 2]) == 1.0 and float(eo[2, 2]) == 1.0
    assert abs(float(nz.sum()) - (25 + 25 - 9)) < 1e-9
    assert abs(float(eo.sum()) - (25 + 25 - 18)) < 1e-9
    # opposite orientation: the overlap has winding 0 under both rules
    nz_r = _two_squares(True, evenodd=False)
    eo_r = _two_squares(True, evenodd=True)
    assert torch.allclose(nz_r, eo_r) and float(nz_r[4, 4]) == 0.0


def test_overlapping_contours_fractional_edges():
    # fractional edges: every pixel is exact, the two where the edges cross (windings 0, 1
    # and 2 inside one pixel) included (tests/raster/test_crossings.py has more)
    a = [[1.5, 1.5], [5.5, 1.5], [5.5, 5.5], [1.5, 5.5]]
    b = [[3.25, 3.25], [7.25, 3.25], [7.25, 7.25], [3.25, 7.25]]
    from vecdistill.svg.scene import Path

    p = Path(torch.tensor(a + b, dtype=torch.float64), torch.zeros(8, dtype=torch.long), [(4, True), (4, True)], fill=solid(0, 0, 0))
    img = 1 - rasterize(scene_of(p, size=(10, 10)), 10, 10)[0]
    ra = rect_coverage(1.5, 1.5, 5.5, 5.5, 10, 10)
    rb = rect_coverage(3.25, 3.25, 7.25, 7.25, 10, 10)
    rab = rect_coverage(3.25, 3.25, 5.5, 5.5, 10, 10)
    exact = ra + rb - rab
    assert float((img - exact).abs().max()) < 1e-12


def test_geometry_far_outside_the_canvas():
    # a huge square around the canvas covers everything; one far away covers nothing
    big = coverage_image([[-1e6, -1e6], [1e6, -1e6], [1e6, 1e6], [-1e6, 1e6]])
    assert torch.allclose(big, torch.ones_like(big))
    away = coverage_image([[1e5, 1e5], [1e5 + 3, 1e5], [1e5, 1e5 + 3]])
    assert float(away.abs().max()) == 0.0
    # a shape whose left part is outside the canvas keeps its winding inside
    half = coverage_image([[-50.5, 2], [4.5, 2], [4.5, 6], [-50.5, 6]])
    assert torch.allclose(half, rect_coverage(0, 2, 4.5, 6, 12, 10), atol=1e-9)


def test_layers_are_independent_and_cover_only_their_boxes():
    e1 = torch.tensor([[1, 1, 3, 1], [3, 1, 3, 3], [3, 3, 1, 3], [1, 3, 1, 1]], dtype=torch.float64)
    e2 = e1 + 4
    f = rasterize_layers(
        torch.cat([e1, e2]).t(), torch.tensor([0] * 4 + [1] * 4), torch.tensor([0, 0]), torch.tensor([False, False]), 8, 8
    )
    assert sorted(f.pixel[f.layer == 0].tolist()) == [9, 10, 17, 18]
    assert sorted(f.pixel[f.layer == 1].tolist()) == [45, 46, 53, 54]
    assert torch.allclose(f.cov, torch.ones_like(f.cov))


def _accumulate(f, layers, pixels):
    out = torch.zeros(layers, pixels, dtype=f.cov.dtype)
    out.index_put_((f.layer, f.pixel), f.cov, accumulate=True)
    return out


@pytest.mark.parametrize("layout", ["flat", "padded"])
def test_layers_in_one_call_match_each_layer_alone(layout):
    # boxes of very different sizes, two images, one layer partly outside the canvas
    g = torch.Generator().manual_seed(5)
    edges, layers = [], []
    for k, (cx, cy, r) in enumerate([(10, 10, 8), (30, 5, 2), (20, 25, 5.5), (-3, 15, 6)]):
        ang = torch.linspace(0, 2 * math.pi, 40, dtype=torch.float64)[:-1]
        rad = r * (1 + 0.2 * torch.rand(39, generator=g, dtype=torch.float64))
        pts = torch.stack([cx + rad * torch.cos(ang), cy + rad * torch.sin(ang)], -1)
        edges.append(torch.cat([pts, pts.roll(-1, 0)], 1))
        layers += [k] * 39
    batch = torch.tensor([0, 0, 1, 1])
    evenodd = torch.tensor([False, True, False, False])
    together = rasterize_layers(torch.cat(edges).t(), torch.tensor(layers), batch, evenodd, 32, 30, layout=layout)
    a = _accumulate(together, 4, 2 * 32 * 30)
    for k in range(4):
        alone = rasterize_layers(edges[k].t(), torch.zeros(39, dtype=torch.long), batch[k : k + 1], evenodd[k : k + 1], 32, 30, layout="flat")
        assert torch.allclose(a[k], _accumulate(alone, 1, 2 * 32 * 30)[0], atol=1e-12)
    assert float(a.sum()) > 100 and float(a[3, 32 * 30 :].sum()) > 10


def _clip_area(poly: list[tuple[float, float]], x0: float, y0: float, x1: float, y1: float) -> float:
    """Area of a simple polygon inside the box [x0, x1] x [y0, y1] (Sutherland-Hodgman)."""
    def clip(pts, inside, cut):
        out = []
        for i, p in enumerate(pts):
            q = pts[i - 1]
            if inside(p):
                if not inside(q):
                    out.append(cut(q, p))
                out.append(p)
            elif inside(q):
                out.append(cut(q, p))
        return out

    def at_x(x):
        return lambda q, p: (x, q[1] + (p[1] - q[1]) * (x - q[0]) / (p[0] - q[0]))

    def at_y(y):
        return lambda q, p: (q[0] + (p[0] - q[0]) * (y - q[1]) / (p[1] - q[1]), y)

    pts = list(poly)
    for inside, cut in ((lambda p: p[0] >= x0, at_x(x0)), (lambda p: p[0] <= x1, at_x(x1)),
                        (lambda p: p[1] >= y0, at_y(y0)), (lambda p: p[1] <= y1, at_y(y1))):
        pts = clip(pts, inside, cut) if pts else pts
    return abs(sum(p[0] * q[1] - q[0] * p[1] for p, q in zip(pts, pts[1:] + pts[:1]))) / 2


@pytest.mark.parametrize("layout", ["flat", "padded"])
def test_shapes_reaching_far_outside_every_side(layout):
    # long edges wholly left of the canvas across many rows (a wall on the box's left
    # side), wholly above, below and right of it, and long edges crossing into it
    w, h = 12, 10
    shapes = [
        [(-40.0, 1.3), (8.5, 4.7), (-40.0, 9.2)],
        [(3.2, -30.0), (50.0, 5.5), (4.1, 40.0), (-25.0, 6.25)],
        [(-7.5, 2.5), (6.75, -9.0), (6.75, 7.5)],
    ]
    edges, layers = [], []
    for k, pts in enumerate(shapes):
        p = torch.tensor(pts, dtype=torch.float64)
        edges.append(torch.cat([p, p.roll(-1, 0)], 1))
        layers += [k] * len(pts)
    f = rasterize_layers(torch.cat(edges).t(), torch.tensor(layers), torch.zeros(3, dtype=torch.long),
                         torch.zeros(3, dtype=torch.bool), w, h, layout=layout)
    got = _accumulate(f, 3, w * h).view(3, h, w)
    for k, pts in enumerate(shapes):
        ref = torch.tensor([[_clip_area(pts, x, y, x + 1, y + 1) for x in range(w)] for y in range(h)], dtype=torch.float64)
        assert torch.allclose(got[k], ref, atol=1e-9), (k, (got[k] - ref).abs().max())


def test_flat_nonzero_matches_torch_on_every_kind_of_mask():
    # the CPU path goes through NumPy: positions in order, int64, for bool and numeric
    # masks, strided views and empty or all-false masks, as torch's nonzero gives them
    g = torch.Generator().manual_seed(3)
    x = torch.rand(1000, generator=g)
    masks = [x > 0.4, (x > 0.4).float(), (x > 0.6)[::3], torch.zeros(7, dtype=torch.bool), torch.ones(0, dtype=torch.bool), x.view(10, 100)[:, 5] > 0.5]
    for m in masks:
        got = flat_nonzero(m)
        assert got.dtype == torch.int64
        assert torch.equal(got, m.nonzero().squeeze(-1))


def test_layer_boxes_do_not_depend_on_edge_order():
    # each layer's box is that of its polygon's vertices (read from the edges' start
    # points), in any edge order; layers 2 and 5 have no edges
    from vecdistill.raster.coverage import _layer_extents

    g = torch.Generator().manual_seed(5)
    polys = {0: 5, 1: 7, 3: 4, 4: 9}  # layer -> vertices of a closed polygon
    cols, layers = [], []
    for layer, n in polys.items():
        v = torch.rand(n, 2, generator=g, dtype=torch.float64) * 20 + layer
        cols.append(torch.cat([v, v.roll(-1, 0)], 1).t())
        layers.append(torch.full((n,), layer))
    edges, edge_layer = torch.cat(cols, 1), torch.cat(layers)
    L = 6
    ordered = _layer_extents(edges, edge_layer, L)
    perm = torch.randperm(edges.shape[1], generator=g)
    shuffled = _layer_extents(edges[:, perm], edge_layer[perm], L)
    assert torch.equal(ordered, shuffled)
    for layer in range(L):
        pts = edges[:2, edge_layer == layer]
        if pts.numel() == 0:
            assert torch.isinf(ordered[:, layer]).all()
        else:
            assert torch.equal(ordered[:, layer], torch.cat([pts.amin(1), -pts.amax(1)]))
    a = rasterize_layers(edges, edge_layer, torch.zeros(L, dtype=torch.long), torch.zeros(L, dtype=torch.bool), 32, 32)
    b = rasterize_layers(edges[:, perm], edge_layer[perm], torch.zeros(L, dtype=torch.long), torch.zeros(L, dtype=torch.bool), 32, 32)
    assert torch.equal(a.layer, b.layer) and torch.equal(a.pixel, b.pixel)
    assert torch.allclose(a.cov, b.cov, atol=1e-12)
