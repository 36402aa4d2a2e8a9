"""Fonts and glyph outlines: bundled fonts and font files become legible, well-placed letters."""

from __future__ import annotations

import shutil

import pytest
import torch
from fontTools.pens.svgPathPen import SVGPathPen

from vecdistill.errors import InputError
from vecdistill.svg.export import cairo_render
from vecdistill.svg.write import to_svg_string
from vecdistill.text import BUNDLED_FONTS, layout_word, list_fonts, load_font, word_scene
from vecdistill.text.fonts import FONTS_DIR

ALL_FONTS = [f.name for f in list_fonts()]


def ink(image: torch.Tensor) -> torch.Tensor:
    """[3, H, W] render on white -> [H, W] darkness in [0, 1]."""
    return 1.0 - image.mean(0)


def fonttools_reference_svg(text: str, font, scene, layout) -> str:
    """The same word drawn by fontTools' own SVG pen (an independent outline conversion),
    placed with the layout's pen positions, scale and origin."""
    tt = load_font(font)
    gs = tt.getGlyphSet()
    s = layout.extra["scale"]
    ox, oy = layout.extra["origin"]
    paths = []
    for name, px in zip(layout.glyphs, layout.pen_x):
        pen = SVGPathPen(gs)
        gs[name].draw(pen)
        d = pen.getCommands()
        if d:
            paths.append(f'<path transform="matrix({s} 0 0 {-s} {ox + px * s} {oy})" d="{d}"/>')
    w, h = scene.width, scene.height
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
            f'viewBox="0 0 {w} {h}">{"".join(paths)}</svg>')


def test_bundled_fonts_have_their_licences_and_stay_small():
    assert len(BUNDLED_FONTS) >= 2
    total = 0
    for info in list_fonts():
        assert info.path.is_file(), info.path
        licence = (FONTS_DIR / info.licence).read_text()
        assert "Open Font License" in licence or "Apache License" in licence
        total += info.path.stat().st_size
    assert total < 3_000_000
    # both outline flavours are bundled: TrueType quadratics and CFF cubics
    assert {f.outlines for f in list_fonts()} == {"quadratic", "cubic"}


@pytest.mark.parametrize("font", ALL_FONTS)
def test_word_outlines_match_fonttools_own_drawing(font):
    text = "Rag8&"
    scene, layout = word_scene(text, font, size=60)
    w, h = int(round(scene.width)), int(round(scene.height))
    ours = cairo_render(to_svg_string(scene), w, h)
    ref = cairo_render(fonttools_reference_svg(text, font, scene, layout), w, h)
    assert ink(ref).sum() > 0.1 * w * h * 0.2  # the reference is not blank
    assert (ours - ref).abs().mean() < 0.004
    assert (ours - ref).abs().max() < 0.3


@pytest.mark.parametrize("font", ALL_FONTS)
def test_letter_A_has_ink_at_apex_and_feet_and_none_between_the_legs(font):
    scene, _ = word_scene("A", font, size=100, margin=0.0)
    w, h = int(round(scene.width)), int(round(scene.height))
    dark = ink(cairo_render(to_svg_string(scene), w, h))
    top, bottom = dark[: h // 8], dark[-max(h // 10, 1):]
    assert top[:, w // 2 - w // 10 : w // 2 + w // 10].mean() > 0.5  # apex
    assert top[:, : w // 8].mean() < 0.05 and top[:, -w // 8 :].mean() < 0.05  # top corners blank
    assert bottom[:, : w // 6].mean() > 0.3 and bottom[:, -w // 6 :].mean() > 0.3  # both feet
    assert bottom[:, w // 2 - w // 12 : w // 2 + w // 12].mean() < 0.05  # between the legs


def test_a_font_file_path_works_like_a_bundled_name(tmp_path):
    copy = tmp_path / "MyFont.ttf"
    shutil.copy(BUNDLED_FONTS["roboto"].path, copy)
    by_path, _ = word_scene("Hi", str(copy))
    by_name, _ = word_scene("Hi", "Roboto")  # names are case-insensitive
    assert [p.id for p in by_path.paths()] == ["letter-0-H", "letter-1-i"]
    for a, b in zip(by_path.paths(), by_name.paths()):
        assert torch.equal(a.points, b.points)


def test_truetype_gives_quadratics_and_cff_gives_cubics():
    kinds_ttf = torch.cat([p.segments for p in word_scene("Sop", "quicksand")[0].paths()])
    kinds_cff = torch.cat([p.segments for p in word_scene("Sop", "cantarell")[0].paths()])
    assert 1 in kinds_ttf.tolist() and 2 not in kinds_ttf.tolist()
    assert 2 in kinds_cff.tolist() and 1 not in kinds_cff.tolist()
    for p in word_scene("Sop", "cantarell")[0].paths():
        assert p.fill_rule == "nonzero" and all(closed for _, closed in p.subpaths)


def test_letters_are_laid_out_left_to_right_without_overlap():
    scene, layout = word_scene("HELLO W0RLD", "liberation-serif")
    paths = scene.paths()
    ids = [p.id for p in paths]
    assert ids == ["letter-0-H", "letter-1-E", "letter-2-L", "letter-3-L", "letter-4-O",
                   "letter-6-W", "letter-7-0", "letter-8-R", "letter-9-L", "letter-10-D"]
    spans = [(float(p.points[:, 0].min()), float(p.points[:, 0].max())) for p in paths]
    for (_, right), (left, _) in zip(spans, spans[1:]):
        assert right < left
    # the space advances the pen: the gap O..W is wider than any gap between letters
    gaps = [b[0] - a[1] for a, b in zip(spans, spans[1:])]
    assert gaps[4] == max(gaps) and gaps[4] > 2 * sorted(gaps)[-2]
    # everything lies inside the viewBox
    pts = torch.cat([p.points for p in paths])
    assert pts.min() > 0 and float(pts[:, 0].max()) < scene.width and float(pts[:, 1].max()) < scene.height


def test_pair_kerning_pulls_AV_together():
    kerned = layout_word("AV", "roboto")
    plain = layout_word("AV", "roboto", kerning=False)
    advance_A = plain.pen_x[1]
    assert kerned.pen_x[1] < advance_A
    assert kerned.kerning[1] == kerned.pen_x[1] - advance_A
    # the kerned word is narrower on the page as well
    assert word_scene("AV", "roboto")[0].width < word_scene("AV", "roboto", kerning=False)[0].width


def test_ids_spell_non_ascii_letters_as_code_points():
    scene, _ = word_scene("Öl-", "roboto")
    assert [p.id for p in scene.paths()] == ["letter-0-u00D6", "letter-1-l", "letter-2-u002D"]


@pytest.mark.parametrize(
    "text, font, message",
    [
        ("", None, "empty"),
        ("   ", None, "empty"),
        ("two\nlines", None, "line break"),
        ("cat", "no-such-font", "unknown font"),
        ("猫", "quicksand", "no glyph"),
    ],
)
def test_bad_input_is_an_input_error_that_says_what_to_do(text, font, message):
    with pytest.raises(InputError, match=message):
        word_scene(text, font)


def test_a_file_that_is_not_a_font_is_an_input_error(tmp_path):
    bad = tmp_path / "broken.ttf"
    bad.write_bytes(b"this is not a font at all")
    with pytest.raises(InputError, match="cannot read font"):
        load_font(str(bad))
