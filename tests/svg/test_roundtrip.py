"""Writing: load -> save -> load gives the same scene, and cairosvg renders the saved file
like the original.

PSNR threshold: 35 dB (RMS error < 1.8 % of full scale) at 96 px. Writing rounds user
units to 3 decimals (< 0.005 px at this size) and colours are 8-bit in both files, so what
remains is cairo drawing arcs and circles natively while the saved file has our cubic
approximation (< 2.7e-4 x radius) plus anti-aliasing noise at edges; the committed icons
measure 40-50 dB. A wrong colour, lost shape, transform or clip costs far more (a 10x10 px
shape lost at 96 px is ~20 dB).
"""

from __future__ import annotations

import re
import warnings

import pytest
import torch

from vecdistill.errors import NumericalError, OutputError
from vecdistill.svg.export import cairo_render
from vecdistill.svg.parse import load_svg
from vecdistill.svg.scene import ClipPath, Group, LinearGradient, Path, RadialGradient, Scene, Solid
from vecdistill.svg.write import fmt, save_svg, to_svg_string

from .compare import SAMPLES, assert_scenes_close, psnr

PSNR_DB = 35.0
SIZE = 96


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_icon_round_trip_keeps_scene_and_picture(path):
    scene = load_svg(path)
    text = to_svg_string(scene)
    again = load_svg(text)
    assert_scenes_close(scene, again, atol=1e-3)
    original = cairo_render(path.read_bytes(), SIZE, SIZE)
    saved = cairo_render(text, SIZE, SIZE)
    assert psnr(original, saved) >= PSNR_DB


def test_a_lost_shape_would_fail_the_picture_check():
    """The PSNR threshold is tight enough to notice one small missing shape."""
    path = next(p for p in SAMPLES if p.name == "shapes.svg")
    scene = load_svg(path)
    scene.root.children.pop(3)  # the red circle (r = 7 of 64 units)
    assert psnr(cairo_render(path.read_bytes(), SIZE, SIZE), cairo_render(scene, SIZE, SIZE)) < PSNR_DB


def test_numbers_have_the_requested_precision_and_no_trailing_zeros():
    assert [fmt(v, 3) for v in (1.0, -0.0004, 2.5, 1 / 3, -12.3456789, 1e-9, 100.0)] == [
        "1", "0", "2.5", "0.333", "-12.346", "0", "100"
    ]
    disc = Path.circle((10.123456, 20.0), 5.5, fill=Solid(torch.tensor([1.0, 0.0, 0.0, 1.0])))
    scene = Scene(Group([disc]), 40, 40)
    for precision in (0, 1, 3, 5):
        d = re.search(r' d="([^"]*)"', to_svg_string(scene, precision)).group(1)
        numbers = re.findall(r"-?\d+(?:\.\d+)?", d)
        assert numbers and all(len(n.partition(".")[2]) <= precision for n in numbers)
        assert not any(n.endswith("0") and "." in n for n in numbers)
        again = load_svg(to_svg_string(scene, precision)).paths()[0]
        assert (again.points - disc.points).abs().max() <= 0.5 * 10**-precision + 1e-4


def test_tiny_view_boxes_keep_their_geometry():
    text = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 0.01 0.002"><circle cx=".005" cy=".001" r=".0008"/></svg>'
    scene = load_svg(text)
    again = load_svg(to_svg_string(scene))
    assert again.view_box == pytest.approx(scene.view_box)
    assert_scenes_close(scene, again, atol=1e-6)


def test_gradients_are_written_once_with_ids_kept_or_given():
    shared = LinearGradient(torch.tensor([0.0, 1.0]), torch.tensor([[1.0, 0, 0, 1], [0, 0, 1, 0.5]]), id="sky")
    anonymous = RadialGradient(
        torch.tensor([0.0, 1.0]), torch.tensor([[1.0, 1, 1, 1], [0, 0, 0, 1]]), units="userSpaceOnUse",
        center=torch.tensor([5.0, 5.0]), radius=torch.tensor(4.0), spread="repeat",
    )
    paths = [Path.circle((5, 5), 4, fill=shared), Path.circle((15, 5), 4, fill=shared, stroke=anonymous)]
    text = to_svg_string(Scene(Group(paths), 20, 10))
    assert text.count("<linearGradient") == 1 and 'id="sky"' in text
    assert text.count("<radialGradient") == 1 and re.search(r'<radialGradient id="vd-g\d+"', text)
    again = load_svg(text).paths()
    assert again[0].fill is again[1].fill  # still one gradient object
    assert again[1].stroke.spread == "repeat" and again[1].stroke.units == "userSpaceOnUse"
    assert again[0].fill.colors[1].tolist() == pytest.approx([0, 0, 1, 0.5])


def test_object_bounding_box_clips_are_written_in_user_space():
    clip = ClipPath([Path.circle((0.5, 0.5), 0.5)], units="objectBoundingBox")
    square = Path.polygon(torch.tensor([[10.0, 10], [30, 10], [30, 20], [10, 20]]), fill=Solid(torch.tensor([0.0, 0, 0, 1])))
    square.clip_path = clip
    scene = Scene(Group([square]), 40, 40)
    text = to_svg_string(scene)
    assert "objectBoundingBox" not in text
    img = cairo_render(text, 40, 40)
    assert img[:, 15, 20].tolist() == [0, 0, 0]  # centre of the box: inside the ellipse
    assert img[:, 11, 11].tolist() == [1, 1, 1]  # corner of the box: clipped away


def test_group_structure_ids_transforms_and_opacity_survive():
    path = next(p for p in SAMPLES if p.name == "use-symbol.svg")
    scene = load_svg(path)
    again = load_svg(to_svg_string(scene))
    assert [type(n).__name__ for n in again.root.children] == [type(n).__name__ for n in scene.root.children]
    assert float(again.root.children[1].opacity) == pytest.approx(0.7)


def test_optimised_tensors_can_be_written():
    scene = load_svg(next(p for p in SAMPLES if p.name == "gradients.svg")).requires_grad_(True)
    loss = sum(p.sum() for p in scene.parameters())
    loss.backward()
    assert "<svg" in to_svg_string(scene)


def test_non_finite_geometry_is_refused_not_written(tmp_path):
    scene = load_svg(SAMPLES[0])
    scene.paths()[0].points[0, 0] = float("nan")
    with pytest.raises(NumericalError):
        save_svg(scene, tmp_path / "x.svg")
    assert not (tmp_path / "x.svg").exists()


def test_save_svg_is_atomic_and_reports_bad_folders(tmp_path):
    scene = load_svg(SAMPLES[0])
    out = tmp_path / "out.svg"
    save_svg(scene, out, precision=2)
    assert load_svg(out).num_paths() == scene.num_paths()
    assert [p.name for p in tmp_path.iterdir()] == ["out.svg"]  # no temporary file left
    with pytest.raises(OutputError):
        save_svg(scene, tmp_path / "missing" / "out.svg")


def test_written_svg_has_no_dropped_features_and_loads_silently():
    text = to_svg_string(load_svg(next(p for p in SAMPLES if p.name == "styles.svg")))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_svg(text).dropped == []
