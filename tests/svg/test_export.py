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
    # a disc: cairo's own render is off by up to ~0.01 per pixel (its 0.1-pixel flattening
    # tolerance); 20x supersampled it is within 0.003 of each pixel's covered area, which
    # is computed here on a 400 x 400 grid per pixel
    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg" width="6" height="6" viewBox="0 0 6 6">'
        '<circle cx="3" cy="3" r="1.3" fill="#000"/></svg>'
    )
    k = 400
    c = (torch.arange(6 * k, dtype=torch.float64) + 0.5) / k
    inside = (((c.view(-1, 1) - 3) ** 2 + (c.view(1, -1) - 3) ** 2) <= 1.3**2).double()
    area = torch.nn.functional.avg_pool2d(inside[None, None], k)[0, 0]
    fine = cairo_render(svg, 6, 6, supersample=20)
    assert fine.shape == (3, 6, 6)
    assert float(((1 - fine[0].double()) - area).abs().max()) < 0.003
    # over an image background, each pixel keeps its own colour where nothing covers it
    bg = torch.rand(3, 6, 6)
    on_image = cairo_render(svg, 6, 6, background=bg, supersample=4)
    assert torch.allclose(on_image[:, :, 0], bg[:, :, 0], atol=1e-6)


def test_cairo_render_rejects_a_supersample_below_one():
    with pytest.raises(ValueError, match="supersample must be a positive integer"):
        cairo_render(_red_disc_scene(), 8, 8, supersample=0)
