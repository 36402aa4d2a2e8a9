"""cairo_render: the reference renderer others measure against."""

import pytest
import torch

from vecdistill.svg.export import cairo_render, cairo_render_rgba
from vecdistill.svg.scene import Group, Path, Scene, Solid


def _red_disc_scene():
    disc = Path.circle((50, 50), 30, segments=4, fill=Solid(torch.tensor([1.0, 0.0, 0.0, 1.0])))
    return Scene(Group([disc]), 100, 100)


def test_cairo_render_shape_range_and_colours():
    img = cairo_render(_red_disc_scene(), 40, 30)
    assert img.shape == (3, 30, 40) and img.dtype == torch.float32
    assert float(img.min()) >= 0 and float(img.max()) <= 1
    assert torch.allclose(img[:, 15, 20], torch.tensor([1.0, 0.0, 0.0]))  # centre: red
    assert torch.allclose(img[:, 0, 0], torch.tensor([1.0, 1.0, 1.0]))  # corner: background


def test_cairo_render_background_and_alpha():
    img = cairo_render(_red_disc_scene(), 20, 20, background=(0.0, 0.0, 1.0))
    assert torch.allclose(img[:, 0, 0], torch.tensor([0.0, 0.0, 1.0]))
    rgba = cairo_render_rgba(_red_disc_scene(), 20, 20)
    assert rgba.shape == (4, 20, 20)
    assert float(rgba[3, 0, 0]) == 0.0 and float(rgba[3, 10, 10]) == 1.0


def test_cairo_render_accepts_svg_text_and_letterboxes():
    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 200 100">'
        '<rect width="200" height="100" fill="#00ff00"/></svg>'
    )
    img = cairo_render(svg, 20, 20)
    # a 2:1 viewBox in a square canvas: green band in the middle, white above and below
    assert torch.allclose(img[:, 10, 10], torch.tensor([0.0, 1.0, 0.0]))
    assert torch.allclose(img[:, 1, 10], torch.tensor([1.0, 1.0, 1.0]))


def test_cairo_render_supersampled_is_the_pixels_area_coverage():
    # a black square covering columns 0-1 wholly, column 2 by a quarter, rows 0-3 by 0.4
    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4" viewBox="0 0 4 4">'
        '<rect x="0" y="0" width="2.25" height="3.4" fill="#000"/></svg>'
    )
    fine = cairo_render(svg, 4, 4, supersample=20)
    assert fine.shape == (3, 4, 4)
    expected = torch.tensor([1.0, 1.0, 0.25, 0.0]).view(1, 4) * torch.tensor([1.0, 1.0, 1.0, 0.4]).view(4, 1)
    assert torch.allclose(fine[0], 1 - expected, atol=2e-3)
    # over an image background, each pixel keeps its own colour where nothing covers it
    bg = torch.rand(3, 4, 4)
    on_image = cairo_render(svg, 4, 4, background=bg, supersample=4)
    assert torch.allclose(on_image[:, :, 3], bg[:, :, 3], atol=1e-6)


def test_cairo_render_rejects_a_supersample_below_one():
    with pytest.raises(ValueError, match="supersample must be a positive integer"):
        cairo_render(_red_disc_scene(), 8, 8, supersample=0)
