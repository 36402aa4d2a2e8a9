"""Subdivision adds control points without changing the letter."""

from __future__ import annotations

import pytest
import torch

from vecdistill.svg.export import cairo_render
from vecdistill.svg.write import to_svg_string
from vecdistill.text import word_scene
from vecdistill.text.subdivide import subdivide_path


@pytest.mark.parametrize("font, degree", [("roboto", 1), ("cantarell", 2)])
def test_subdivision_keeps_the_outline_and_densifies_points(font, degree):
    scene, _ = word_scene("AkS", font, size=80)
    w, h = int(scene.width), int(scene.height)
    before = cairo_render(to_svg_string(scene, precision=4), w, h)
    old = scene.paths()
    scene.root.children = [subdivide_path(p, 8.0, degree=degree + 1) for p in old]
    after = cairo_render(to_svg_string(scene, precision=4), w, h)
    assert sum(p.points.shape[0] for p in scene.paths()) > 2 * sum(p.points.shape[0] for p in old)
    assert (before - after).abs().mean() < 1e-3
    for o, n in zip(old, scene.paths()):
        assert n.id == o.id and n.fill is o.fill and n.subpaths[0][1]
        assert n.points.shape[0] > o.points.shape[0]
        # no line segments are left: every piece can bend, in the asked (the font's) degree
        assert set(n.segments.tolist()) == {degree}
        # every control polygon is now short
        for _, pts, _closed in n.subpath_ranges():
            p = n.points[pts]
            assert float((torch.roll(p, -1, 0) - p).norm(dim=-1).max()) <= 8.0 + 1e-4


def test_zero_length_means_no_change():
    path = word_scene("o", "quicksand")[0].paths()[0]
    same = subdivide_path(path, 0.0)
    assert torch.equal(same.points, path.points) and torch.equal(same.segments, path.segments)


def test_default_degree_is_the_paths_own():
    path = word_scene("S", "cantarell")[0].paths()[0]
    assert set(subdivide_path(path, 5.0).segments.tolist()) == {2}
