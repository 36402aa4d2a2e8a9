"""load_svg: what a user relies on when reading real SVG files."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from vecdistill.errors import SVGError, UnsupportedFeatureError
from vecdistill.svg.color import parse_color
from vecdistill.svg.parse import SVGFeatureWarning, load_svg
from vecdistill.svg.pathdata import parse_path_data
from vecdistill.svg.scene import Affine, Group, LinearGradient, Path, RadialGradient, Solid
from vecdistill.svg.transform import parse_transform

from .compare import SAMPLES, distance_to_polyline, sample_path, svgpathtools_polyline


def svg(body: str, attrs: str = 'viewBox="0 0 100 100"') -> str:
    return f'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" {attrs}>{body}</svg>'


def load(text: str, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("error", SVGFeatureWarning)  # no silent drops in these tests
        return load_svg(text, **kw)


# -- size, viewBox, units -------------------------------------------------------------


@pytest.mark.parametrize(
    "attrs, size, view_box",
    [
        ('width="1in" height="2cm"', (96.0, 96 / 2.54 * 2), (0, 0, 96.0, 96 / 2.54 * 2)),
        ('width="12pt" height="3mm" viewBox="0 0 4 2"', (16.0, 3 * 96 / 25.4), (0, 0, 4, 2)),
        ('width="2em" height="10px"', (32.0, 10.0), (0, 0, 32, 10)),
        ('viewBox="-5 -5 40 20"', (40.0, 20.0), (-5, -5, 40, 20)),
        ('width="100%" height="100%" viewBox="0 0 24 12"', (24.0, 12.0), (0, 0, 24, 12)),
        ('width="48" viewBox="0 0 24 12"', (48.0, 24.0), (0, 0, 24, 12)),
        ("", (300.0, 150.0), (0, 0, 300, 150)),
    ],
)
def test_size_and_view_box_with_units(attrs, size, view_box):
    scene = load(svg("", attrs))
    assert scene.width == pytest.approx(size[0]) and scene.height == pytest.approx(size[1])
    assert scene.view_box == pytest.approx(view_box)


def test_preserve_aspect_ratio_is_kept_and_invalid_values_fall_back():
    assert load(svg("", 'viewBox="0 0 2 1" preserveAspectRatio="xMinYMax  slice"')).preserve_aspect_ratio == "xMinYMax slice"
    assert load(svg("", 'viewBox="0 0 2 1" preserveAspectRatio="bogus"')).preserve_aspect_ratio == "xMidYMid meet"
    assert load(svg("", 'viewBox="0 0 2 1" preserveAspectRatio=" "')).preserve_aspect_ratio == "xMidYMid meet"


# -- transforms and colours -----------------------------------------------------------


def test_transform_lists_compose_left_to_right_like_svg():
    t = parse_transform("translate(10,20) rotate(90 5 5), scale(2) skewX(45) skewY(0) matrix(1 0 0 1 1 1)")
    expected = (
        Affine.translate(10, 20) @ Affine.rotate(90, 5, 5) @ Affine.scale(2) @ Affine.skew_x(45) @ Affine.translate(1, 1)
    )
    assert t.as_tuple() == pytest.approx(expected.as_tuple())
    # rotate about a centre leaves the centre fixed
    r = parse_transform("rotate(33 7 -3)")
    assert r.apply(torch.tensor([7.0, -3.0])).tolist() == pytest.approx([7.0, -3.0], abs=1e-5)


@pytest.mark.parametrize("bad", ["rotate(1 2)", "bogus(1)", "scale()", "translate(1 nan)", "matrix(1 2 3)", "translate(1,2"])
def test_bad_transforms_raise_svg_error(bad):
    with pytest.raises(SVGError):
        parse_transform(bad)


@pytest.mark.parametrize(
    "text, rgba",
    [
        ("red", (1, 0, 0, 1)),
        ("RebeccaPurple", (102 / 255, 51 / 255, 153 / 255, 1)),
        ("#0f8", (0, 1, 136 / 255, 1)),
        ("#0f88", (0, 1, 136 / 255, 136 / 255)),
        ("#102030", (16 / 255, 32 / 255, 48 / 255, 1)),
        ("#10203040", (16 / 255, 32 / 255, 48 / 255, 64 / 255)),
        ("rgb(255, 0, 51)", (1, 0, 0.2, 1)),
        ("rgb(100%, 50%, 0%)", (1, 0.5, 0, 1)),
        ("rgba(0,0,255,0.25)", (0, 0, 1, 0.25)),
        ("rgb(0 0 255 / 50%)", (0, 0, 1, 0.5)),
        ("rgb(300, -5, 0)", (1, 0, 0, 1)),
        ("hsl(120, 100%, 25%)", (0, 0.5, 0, 1)),
        ("hsla(0, 100%, 50%, .5)", (1, 0, 0, 0.5)),
        ("transparent", (0, 0, 0, 0)),
    ],
)
def test_colour_syntaxes(text, rgba):
    assert parse_color(text) == pytest.approx(rgba, abs=1e-6)


@pytest.mark.parametrize("bad", ["#12", "#zzzzzz", "rgb(1,2)", "notacolor", "url(#a)", "hsl(1,2,3)", ""])
def test_non_colours_are_rejected(bad):
    assert parse_color(bad) is None


# -- path data ------------------------------------------------------------------------

PATHS = [
    "M10 10 L20 10 l0 10 H5 h2 V3 v2 Z",
    "m5 5 10 0 0 10z m20 0 l5 5",  # implicit lineto after moveto, second subpath relative
    "M0 0 C10 0 10 10 20 10 S30 20 40 20 s10 10 20 0",
    "M0 0 Q10 10 20 0 T40 0 t20 0",
    "M10 50 A30 20 0 0 1 70 50 A30 20 0 1 0 10 50",
    "M10 10 a20 10 30 1 1 30 20 a5 5 0 0 0 10 0",
    "M1,1a1 1 0 011 1",  # flags written without separators
    "M3-4.5.5.5L-1e1 2E0",  # numbers without separators, exponents
    "M0 0 A40 10 0 0 1 100 0",  # radii too small: scaled up (a half ellipse)
]


def _our_samples(d: str, n: int) -> np.ndarray:
    g = parse_path_data(d)
    return sample_path(Path(torch.from_numpy(g.points), torch.tensor(g.segments), g.subpaths), n)


def _agree_with_svgpathtools(d: str, n: int, tol: float, n_theirs: int = 257) -> None:
    """Every sampled point of our curves lies on svgpathtools' curves (within ``tol``
    times the drawing's size), and every anchor of theirs lies on ours."""
    theirs = svgpathtools_polyline(d, n_theirs)
    ours = _our_samples(d, n)
    scale = max(1.0, float(np.abs(np.concatenate(theirs)).max()))
    dist = distance_to_polyline(ours, np.concatenate(theirs))
    assert dist.max() < tol * scale, d[:40]
    ours_fine = _our_samples(d, 65)
    anchors = np.array([seg[0] for seg in theirs] + [theirs[-1][-1]])
    back = distance_to_polyline(anchors, ours_fine)
    assert back.max() < tol * scale, d[:40]


@pytest.mark.parametrize("d", PATHS)
def test_path_geometry_matches_svgpathtools(d):
    _agree_with_svgpathtools(d, 33, 1e-3)


def test_subpaths_keep_open_and_closed_state():
    g = parse_path_data("M0 0L10 0L10 10Z M20 20L30 30 M40 40L50 50L40 40Z M60 60")
    assert g.subpaths == [(3, True), (1, False), (2, True)]  # a lone moveto is dropped
    # a closed subpath does not repeat its first anchor; Z after returning adds no segment
    assert g.points.shape == (3 + 2 + 2, 2)
    g = parse_path_data("M0 0L5 5zl1 0")  # drawing after Z starts at the subpath start
    assert g.subpaths == [(2, True), (1, False)]
    assert g.points[-2:].tolist() == [[0, 0], [1, 0]]


def test_arcs_become_few_accurate_cubics():
    g = parse_path_data("M100 0 A100 100 0 1 1 -100 0 A100 100 0 1 1 100 0")
    assert set(g.segments) == {2} and len(g.segments) == 4  # two half circles, 2 cubics each
    path = Path(torch.from_numpy(g.points), torch.tensor(g.segments), g.subpaths)
    radius = np.linalg.norm(sample_path(path, 101), axis=1)
    assert np.abs(radius - 100).max() < 100 * 3e-4  # < 0.03 units on a radius of 100


@pytest.mark.parametrize(
    "d",
    ["L 1 2", "M 1 2 L nan 3", "M0 0 A1 1 0 1e9990 1 1", "M0 0 A1e400 1 0 0 1 1 1", "M1 2 L 3", "M 0 0 Z 3", "M1 1 a1 1 0 2 0 1 1", "M 1e400 0 L1 1", "M0 0 L1 1 #", "M 0 0 C 1 1 2"],
)
def test_bad_path_data_raises_one_line_svg_error(d):
    with pytest.raises(SVGError) as info:
        load(svg(f'<path d="{d}"/>'))
    assert "\n" not in str(info.value)


def test_huge_coordinates_are_refused():
    with pytest.raises(SVGError, match="limit"):
        load(svg('<path d="M0 0 L 1e12 0 L 0 1Z"/>'))


# -- shapes ---------------------------------------------------------------------------


def test_basic_shapes_become_paths():
    scene = load(
        svg(
            '<rect x="1" y="2" width="30" height="10"/>'
            '<rect x="0" y="0" width="20" height="10" rx="50"/>'  # rx clamped, ry = rx (auto)
            '<rect width="0" height="5"/>'  # zero size: not rendered
            '<circle cx="50" cy="50" r="10"/>'
            '<ellipse cx="50" cy="50" rx="20" ry="5"/>'
            '<line x1="0" y1="0" x2="10" y2="10" stroke="black"/>'
            '<polyline points="0,0 10,0 10,10 5"/>'  # odd number: last coordinate ignored
            '<polygon points="0 0 10 0 10 10"/>'
        )
    )
    paths = scene.paths()
    assert len(paths) == 7
    rect, rounded, circle, ellipse, line, polyline, polygon = paths
    assert rect.points.tolist() == [[1, 2], [31, 2], [31, 12], [1, 12]] and rect.subpaths == [(4, True)]
    pts = sample_path(rounded, 17)
    assert pts[:, 0].min() == pytest.approx(0) and pts[:, 1].max() == pytest.approx(10, abs=1e-5)
    # rx clamped to w/2=10, ry = min(auto rx=50, h/2=5): the corners are 10 x 5 ellipses
    assert not ((pts[:, 0] < 1e-3) & (pts[:, 1] < 4.9)).any()
    r = np.linalg.norm(sample_path(circle, 33) - 50, axis=1)
    assert np.abs(r - 10).max() < 10 * 3e-4 and circle.subpaths == [(4, True)]
    e = sample_path(ellipse, 33)
    assert e[:, 0].min() == pytest.approx(30, abs=1e-4) and e[:, 1].max() == pytest.approx(55, abs=1e-4)
    assert line.subpaths == [(1, False)]
    assert polyline.points.shape == (3, 2) and polyline.subpaths == [(2, False)]
    assert polygon.subpaths == [(3, True)]


# -- styles ---------------------------------------------------------------------------


def test_presentation_attributes_style_and_inheritance():
    scene = load(
        svg(
            '<style>.a { stroke: #00f } #b { fill: #0f0 }</style>'
            '<g fill="red" stroke-width="3" stroke-linecap="round" fill-rule="evenodd" color="#808080">'
            '<path d="M0 0h10v10z"/>'
            '<path class="a" d="M0 0h10v10z" style="fill: blue; stroke-opacity: .5" fill="yellow"/>'
            '<path id="b" d="M0 0h10v10z" fill="black"/>'
            '<path d="M0 0h10v10z" fill="currentColor" stroke="inherit"/>'
            '<path d="M0 0h10v10z" fill="bogus"/>'  # invalid value ignored: inherits red
            '<path d="M0 0h10v10z" display="none"/>'
            '<path d="M0 0h10v10z" visibility="hidden"/>'
            '<path d="M0 0h10v10z" fill="none" stroke="#123" stroke-linejoin="bevel" stroke-miterlimit="7"/>'
            "</g>"
        )
    )
    p = scene.paths()
    assert len(p) == 6  # display:none and visibility:hidden paths are not drawn
    red = [1, 0, 0, 1]
    assert p[0].fill.color.tolist() == red and p[0].stroke is None
    assert p[0].fill_rule == "evenodd" and p[0].linecap == "round" and float(p[0].stroke_width) == 3
    assert p[1].fill.color.tolist() == [0, 0, 1, 1]  # style="" beats the attribute
    assert p[1].stroke.color.tolist() == [0, 0, 1, 1] and float(p[1].stroke_opacity) == 0.5
    assert p[2].fill.color.tolist() == [0, 1, 0, 1]  # #id rule beats the attribute
    assert p[3].fill.color.tolist() == pytest.approx([128 / 255] * 3 + [1])
    assert p[4].fill.color.tolist() == red
    assert p[5].fill is None and p[5].linejoin == "bevel" and p[5].miterlimit == 7


def test_opacities():
    scene = load(
        svg('<g opacity="0.5"><path d="M0 0h1v1z" opacity=".25" fill-opacity="40%" stroke="red" stroke-opacity="2"/></g>')
    )
    group = scene.root.children[0]
    assert isinstance(group, Group) and float(group.opacity) == 0.5
    path = group.children[0]
    assert float(path.opacity) == 0.25 and float(path.fill_opacity) == pytest.approx(0.4)
    assert float(path.stroke_opacity) == 1.0  # clamped


def test_ids_and_unknown_attributes_are_kept():
    scene = load(svg('<g id="layer" data-name="x" class="c"><path id="p1" d="M0 0h1v1z" aria-label="box"/></g>'))
    g = scene.find("layer")
    assert isinstance(g, Group) and g.attrs == {"data-name": "x", "class": "c"}
    assert scene.find("p1").attrs == {"aria-label": "box"}


# -- use, symbol, nested svg ----------------------------------------------------------


def test_use_with_href_xlink_href_and_offsets():
    scene = load(
        svg(
            '<defs><path id="p" d="M0 0h4v4h-4z" fill="blue"/></defs>'
            '<use id="u1" href="#p" x="10" y="20"/>'
            '<use xlink:href="#p" transform="scale(2)" x="1"/>'
            '<use href="#missing"/>'
        )
    )
    items = list(scene.walk())
    assert len(items) == 2  # defs content is not drawn by itself; a missing reference draws nothing
    assert items[0].transform.as_tuple() == pytest.approx(Affine.translate(10, 20).as_tuple())
    assert items[1].transform.as_tuple() == pytest.approx((Affine.scale(2) @ Affine.translate(1, 0)).as_tuple())
    assert items[0].path.id is None  # instances do not duplicate the referenced id
    assert scene.find("u1") is not None


def test_use_inherits_style_from_the_use_element():
    scene = load(svg('<defs><path id="p" d="M0 0h4v4z"/></defs><use href="#p" fill="green" stroke="red"/>'))
    path = scene.paths()[0]
    assert path.fill.color.tolist() == pytest.approx([0, 128 / 255, 0, 1]) and path.stroke is not None


def test_symbol_view_box_maps_into_the_use_viewport():
    scene = load(
        svg('<symbol id="s" viewBox="0 0 10 10"><path d="M0 0h10v10h-10z"/></symbol><use href="#s" x="5" y="5" width="20" height="40"/>')
    )
    item = next(scene.walk())
    corners = item.transform.apply(torch.tensor([[0.0, 0.0], [10.0, 10.0]]))
    # 10x10 viewBox into a 20x40 viewport, xMidYMid meet: scale 2, centred vertically
    assert corners.flatten().tolist() == pytest.approx([5, 15, 25, 35])


def test_recursive_use_terminates():
    scene = load(svg('<g id="a"><path d="M0 0h1v1z"/><use href="#a"/></g><use id="self" href="#self"/>'))
    assert 1 <= scene.num_paths() <= 2


def test_use_explosion_is_refused():
    body = '<path id="l0" d="M0 0h1v1z"/>' + "".join(
        f'<g id="l{i}"><use href="#l{i - 1}"/><use href="#l{i - 1}"/></g>' for i in range(1, 22)
    )
    from vecdistill.svg.values import Limits

    with pytest.raises(SVGError, match="more than 5000"):
        load(svg(f"<defs>{body}</defs><use href='#l21'/>"), limits=Limits(max_elements=5000))


# -- gradients ------------------------------------------------------------------------


def test_gradients_with_href_chains_units_and_transforms():
    scene = load(
        svg(
            '<linearGradient id="base" x2="0.5" spreadMethod="reflect">'
            '<stop offset="0" stop-color="red"/><stop offset="120%" stop-color="blue" stop-opacity="0.5"/></linearGradient>'
            '<linearGradient id="u" href="#base" gradientUnits="userSpaceOnUse" x1="10" x2="50%" gradientTransform="rotate(90)"/>'
            '<radialGradient id="r" fx="0.2"><stop offset=".3" style="stop-color: #0f0"/><stop offset=".1" stop-color="#00f"/></radialGradient>'
            '<linearGradient id="one"><stop stop-color="#abc"/></linearGradient>'
            '<linearGradient id="none"/>'
            '<path d="M0 0h10v10z" fill="url(#u)" stroke="url(#base)"/>'
            '<path d="M0 0h10v10z" fill="url(#r)"/>'
            '<path d="M0 0h10v10z" fill="url(#one)" stroke="url(#none)"/>'
            '<path d="M0 0h10v10z" fill="url(#nothere) #f00"/>'
            '<path d="M0 0h10v10z" fill="url(#u)"/>'
        )
    )
    p = scene.paths()
    u, base = p[0].fill, p[0].stroke
    assert isinstance(u, LinearGradient) and u.id == "u" and u.units == "userSpaceOnUse"
    assert u.spread == "reflect"  # inherited through href
    assert u.start.tolist() == [10, 0] and u.end.tolist() == [50, 0]  # 50% of the viewport
    assert u.transform.as_tuple() == pytest.approx(Affine.rotate(90).as_tuple())
    assert u.offsets.tolist() == [0, 1]  # offsets clamped to [0, 1]
    assert u.colors.tolist() == [[1, 0, 0, 1], [0, 0, 1, 0.5]]  # stops inherited, stop-opacity folded in
    assert base.units == "objectBoundingBox" and base.end.tolist() == [0.5, 0]
    r = p[1].fill
    assert isinstance(r, RadialGradient) and r.center.tolist() == [0.5, 0.5] and float(r.radius) == 0.5
    assert r.focal.tolist() == pytest.approx([0.2, 0.5])
    assert r.offsets.tolist() == pytest.approx([0.3, 0.3])  # offsets never decrease
    assert isinstance(p[2].fill, Solid) and p[2].stroke is None  # one stop: solid; no stops: none
    assert p[3].fill.color.tolist() == [1, 0, 0, 1]  # fallback colour of a broken reference
    assert p[4].fill is u  # one gradient object per id (an optimiser sees one tensor)


# -- clip paths -----------------------------------------------------------------------


def test_clip_paths_on_paths_and_groups():
    scene = load(
        svg(
            '<defs><rect id="r" width="5" height="5"/></defs>'
            '<clipPath id="c" clip-rule="evenodd" transform="translate(1 2)">'
            '<path d="M0 0h10v10h-10z M2 2h6v6h-6z"/><use href="#r" x="20"/><text>x</text></clipPath>'
            '<clipPath id="b" clipPathUnits="objectBoundingBox"><circle cx=".5" cy=".5" r=".5" clip-path="url(#c)"/></clipPath>'
            '<g clip-path="url(#c)"><path d="M0 0h50v50z"/></g>'
            '<path d="M0 0h50v50z" clip-path="url(#b)"/>'
            '<path d="M0 0h50v50z" clip-path="url(#unknown)"/>'
        )
        .replace("<text>x</text>", "")
    )
    group = scene.root.children[0]
    clip = group.clip_path
    assert clip.id == "c" and clip.units == "userSpaceOnUse"
    assert clip.transform.as_tuple() == pytest.approx(Affine.translate(1, 2).as_tuple())
    assert [c.fill_rule for c in clip.children] == ["evenodd", "evenodd"]
    assert clip.children[1].transform.as_tuple() == pytest.approx(Affine.translate(20, 0).as_tuple())
    bbox_clip = scene.root.children[1].clip_path
    assert bbox_clip.units == "objectBoundingBox" and bbox_clip.children[0].clip_path is clip
    assert scene.root.children[2].clip_path is None


# -- dropped features -----------------------------------------------------------------

DROPPING = svg(
    '<text x="1" y="1">hi</text><image href="x.png" width="1" height="1"/>'
    '<filter id="f"/><mask id="m"/><pattern id="pt" width="1" height="1"/>'
    '<path d="M0 0h1v1z" filter="url(#f)"/><path d="M0 0h1v1z" mask="url(#m)" fill="url(#pt)"/>'
    '<path d="M0 0h1" stroke="red" marker-end="url(#x)" stroke-dasharray="1 1" paint-order="stroke"/><animate/>'
)


def test_dropped_features_are_listed_with_exactly_one_warning():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scene = load_svg(DROPPING)
    ours = [w for w in caught if issubclass(w.category, SVGFeatureWarning)]
    assert len(ours) == 1
    expected = ["animation", "filter", "image", "marker", "mask", "paint-order", "pattern", "stroke-dasharray", "text"]
    assert scene.dropped == expected
    assert all(name in str(ours[0].message) for name in expected)
    assert scene.num_paths() == 3  # the shapes themselves are kept


def test_strict_turns_dropped_features_into_an_error():
    with pytest.raises(UnsupportedFeatureError, match="text"):
        load_svg(DROPPING, strict=True)
    load(svg('<path d="M0 0h1v1z"/>'), strict=True)  # nothing to drop: fine


# -- malformed input ------------------------------------------------------------------

MALFORMED = {
    "truncated": svg('<path d="M0 0h1v1z"/>')[:-10],
    "not svg": "<html><body/></html>",
    "zero width": svg("", 'width="0" height="10"'),
    "negative height": svg("", 'width="10" height="-1"'),
    "zero viewBox": svg("", 'viewBox="0 0 0 10"'),
    "bad viewBox": svg("", 'viewBox="0 0 10"'),
    "nan width": svg("", 'width="NaN" height="10"'),
    "inf in rect": svg('<rect width="inf" height="1"/>'),
    "nan in circle": svg('<circle r="nan"/>'),
    "nan opacity": svg('<path d="M0 0h1v1z" opacity="nan"/>'),
    "huge viewBox": svg("", 'viewBox="0 0 1e300 1"'),
    "garbage length": svg('<rect width="abc" height="1"/>'),
    "bad unit": svg('<rect width="3parsecs" height="1"/>'),
    "entities": '<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY a "aaaa">]><svg xmlns="http://www.w3.org/2000/svg">&a;</svg>',
    "undefined entity": '<svg xmlns="http://www.w3.org/2000/svg">&nope;</svg>',
    "deep": svg("<g>" * 300 + "</g>" * 300),
    "empty": "   ",
    "null byte": svg("") + "\0",
    "text without markup start": 'svg xmlns="http://www.w3.org/2000/svg">\n</svg>',
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_inputs_raise_one_line_svg_errors(name):
    text = MALFORMED[name]
    with pytest.raises(SVGError) as info:
        load_svg(text.encode() if name == "empty" else text)
    message = str(info.value)
    assert message and "\n" not in message


def test_file_errors(tmp_path):
    with pytest.raises(SVGError, match="no such file"):
        load_svg(tmp_path / "missing.svg")
    with pytest.raises(SVGError, match="folder"):
        load_svg(tmp_path)
    big = tmp_path / "big.svg"
    big.write_text(svg('<path d="M0 0h1v1z"/>' * 50))
    from vecdistill.svg.values import Limits

    with pytest.raises(SVGError, match="bytes"):
        load_svg(big, limits=Limits(max_bytes=1000))
    with pytest.raises(SVGError, match="elements"):
        load_svg(big, limits=Limits(max_elements=20))
    with pytest.raises(SVGError, match="points"):
        load_svg(big, limits=Limits(max_points=100))


def test_svgz_and_bytes_are_read(tmp_path):
    import gzip

    text = svg('<path d="M0 0h1v1z"/>')
    f = tmp_path / "a.svgz"
    f.write_bytes(gzip.compress(text.encode()))
    assert load_svg(f).num_paths() == 1
    assert load_svg(text.encode()).num_paths() == 1


# -- real icons -----------------------------------------------------------------------


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_committed_icon_loads_without_drops(path):
    scene = load(path)
    assert scene.num_paths() > 0 and scene.dropped == []
    for p in scene.paths():
        assert torch.isfinite(p.points).all() and p.points.dtype == torch.float32
        assert p.points.shape[0] == sum(k + 1 for k in p.segments.tolist()) + sum(1 for _, c in p.subpaths if not c)


def test_icon_paths_match_svgpathtools():
    """Cross-check our path reader on every <path d> of the committed icons."""
    import xml.etree.ElementTree as ET

    checked = 0
    for file in SAMPLES:
        for el in ET.parse(file).iter():
            d = el.get("d")
            if el.tag.endswith("}path") and d and 0 < len(parse_path_data(d).segments) <= 60:
                _agree_with_svgpathtools(d, 5, 3e-3, n_theirs=17)
                checked += 1
    assert checked > 50
