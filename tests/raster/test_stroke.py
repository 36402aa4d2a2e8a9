"""Strokes: widths, caps, joins, miter limits, open and closed subpaths."""

from __future__ import annotations

import math

import pytest
import torch
from conftest import poly_path, scene_of, solid
from test_coverage import rect_coverage

from vecdistill.raster import rasterize

pytestmark = pytest.mark.usefixtures("cpu_path")  # every test on both CPU paths (conftest.py)


def stroke_image(points, closed=False, width=2.0, cap="butt", join="miter", miterlimit=4.0, size=(16, 16)):
    p = poly_path(
        points,
        closed=closed,
        stroke=solid(0, 0, 0),
        stroke_width=torch.tensor(width, dtype=torch.float64),
        linecap=cap,
        linejoin=join,
        miterlimit=miterlimit,
    )
    return 1 - rasterize(scene_of(p, size=size), *size)[0]


def test_butt_and_square_caps_are_exact_rectangles():
    butt = stroke_image([[2.3, 5.5], [10.6, 5.5]], width=2.5)
    assert torch.allclose(butt, rect_coverage(2.3, 4.25, 10.6, 6.75, 16, 16), atol=1e-9)
    square = stroke_image([[2.3, 5.5], [10.6, 5.5]], width=2.5, cap="square")
    assert torch.allclose(square, rect_coverage(1.05, 4.25, 11.85, 6.75, 16, 16), atol=1e-9)


def test_round_cap_area():
    img = stroke_image([[4, 8], [11, 8.3]], width=3.0, cap="round")
    length = math.hypot(7, 0.3)
    # an inscribed arc polygon with sagitta <= tol loses at most 2/3 tol per unit of arc
    tol = 1 / 256
    assert abs(float(img.sum()) - (length * 3 + math.pi * 1.5**2)) < 2 / 3 * tol * 2 * math.pi * 1.5 + 1e-3


@pytest.mark.parametrize(
    "join,corner_loss",
    [("miter", 0.0), ("bevel", 0.5), ("round", 1 - math.pi / 4)],
)
def test_closed_square_joins(join, corner_loss):
    img = stroke_image([[3, 3], [12, 3], [12, 12], [3, 12]], closed=True, join=join)
    ring = rect_coverage(2, 2, 13, 13, 16, 16) - rect_coverage(4, 4, 11, 11, 16, 16)
    assert abs(float(img.sum()) - (float(ring.sum()) - 4 * corner_loss)) < 2 / 3 / 256 * 2 * math.pi + 1e-3
    # away from the corners the stroke is exact
    assert torch.allclose(img[5:10], ring[5:10], atol=1e-9)
    if join == "miter":
        assert torch.allclose(img, ring, atol=1e-9)


def test_miter_limit_falls_back_to_bevel():
    pts = [[2, 12], [8, 3], [14, 12]]  # sharp apex at (8, 3)
    long_ = stroke_image(pts, width=2, join="miter", miterlimit=10)
    cut = stroke_image(pts, width=2, join="miter", miterlimit=1.5)
    bevel = stroke_image(pts, width=2, join="bevel")
    assert float(long_[:3].sum()) > float(cut[:3].sum()) + 0.3  # the miter tip reaches higher
    assert torch.allclose(cut, bevel, atol=1e-9)


def test_curved_stroke_area_matches_annulus():
    from vecdistill.svg.scene import Path

    circle = Path.circle((16, 16), 9.0, segments=8)
    circle.points = circle.points.double()
    circle.stroke = solid(0, 0, 0)
    circle.stroke_width = torch.tensor(3.0, dtype=torch.float64)
    img = 1 - rasterize(scene_of(circle, size=(32, 32)), 32, 32)[0]
    # the 8-cubic circle lies outside the true circle by up to ~4e-6 r * 9 px, shifting the
    # ring outwards: the area matches the annulus to a few hundredths of a pixel
    assert abs(float(img.sum()) - math.pi * (10.5**2 - 7.5**2)) < 0.05


def test_inner_offset_of_a_thick_curve_has_no_overlap_artifacts():
    # stroke wider than the radius: the inner offset folds over; the disk must be solid
    from vecdistill.svg.scene import Path

    circle = Path.circle((16, 16), 4.0)
    circle.points = circle.points.double()
    circle.stroke = solid(0, 0, 0)
    circle.stroke_width = torch.tensor(12.0, dtype=torch.float64)
    img = 1 - rasterize(scene_of(circle, size=(32, 32)), 32, 32)[0]
    assert float(img[12:20, 12:20].min()) == pytest.approx(1.0, abs=1e-9)
    assert float(img.max()) <= 1.0
    assert abs(float(img.sum()) - math.pi * 10**2) < 0.05


def test_transformed_stroke_is_scaled_with_the_path():
    # a non-uniform scale stretches the stroke width too (SVG semantics)
    from vecdistill.svg.scene import Affine

    p = poly_path([[1, 2], [5, 2]], closed=False, stroke=solid(0, 0, 0), stroke_width=torch.tensor(1.0, dtype=torch.float64))
    p.transform = Affine.scale(2.0, 3.0)
    img = 1 - rasterize(scene_of(p, size=(16, 16)), 16, 16)[0]
    assert torch.allclose(img, rect_coverage(2, 4.5, 10, 7.5, 16, 16), atol=1e-9)


@pytest.mark.parametrize("cap,area", [("butt", 0.0), ("round", math.pi * 1.5**2), ("square", 9.0)])
def test_zero_length_subpath_paints_a_dot_with_round_and_square_caps(cap, area):
    img = stroke_image([[7.5, 7.5], [7.5, 7.5]], width=3.0, cap=cap)
    tol = 2 / 3 / 256 * 2 * math.pi * 1.5 + 1e-9
    assert abs(float(img.sum()) - area) < tol
