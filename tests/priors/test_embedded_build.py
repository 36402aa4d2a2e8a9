"""scripts/build_icon_set.py: coordinate rounding that keeps path data valid, selection and
outputs, on a tiny fake pair of npm packages."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from vecdistill.icon_render import render_svg_bytes
from vecdistill.priors.icons import IconSet

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "build_icon_set.py"


@pytest.fixture(scope="module")
def build():
    spec = importlib.util.spec_from_file_location("build_icon_set", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(("text", "expected"), [
    ("M1.2345 2.3456", "M1.23 2.35"),
    ("1.004.5", "1 .5"),  # rounds to an integer: keep the next token apart
    (".86.998.998", ".86 1 1"),  # rounds up: keep it apart from the previous token
    ("a1 1 0 011.5 2", "a1 1 0 011.5 2"),  # arc flags run together: untouched
    ("-0.004 3", "0 3"),
    ("1e5 2.5", "1e5 2.5"),
    ("10 20", "10 20"),
])
def test_rounding_keeps_tokens_apart(build, text, expected):
    assert build._round_numbers(text, 2) == expected


def test_minified_icons_render_like_the_originals(build):
    original = b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 36 36"><path fill="#DD2E44" d="M35.885 11.833c0-5.45-4.418-9.868-9.867-9.868-3.308 0-6.227 1.633-8.018 4.129-1.791-2.496-4.71-4.129-8.017-4.129-5.45 0-9.868 4.417-9.868 9.868 0 .772.098 1.52.266 2.241C1.751 22.587 11.216 31.568 18 34.034c6.783-2.466 16.249-11.447 17.617-19.959.17-.721.268-1.469.268-2.242z"/></svg>'
    small = build.minify_svg(original.decode(), 2).encode()
    assert len(small) < len(original)
    a = render_svg_bytes(original, 64).astype(float)
    b = render_svg_bytes(small, 64).astype(float)
    assert np.abs(a - b).mean() < 1.0


def _fake_packages(root: Path) -> tuple[Path, Path]:
    tw = root / "twemoji"
    tw.mkdir()
    (tw / "package.json").write_text(json.dumps({"name": "@twemoji/svg", "version": "0.0.1", "homepage": "h"}))
    (tw / "license").write_text("MIT License\nCopyright (c) test")
    svg = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 36 36"><circle fill="#{}" cx="18.0001" cy="18" r="16"/></svg>'
    for name, colour in (("2764", "DD2E44"), ("1f431", "FFCC4D"), ("1f1e6-1f1e8", "000000"), ("1f469-200d-1f4bb", "111111")):
        (tw / f"{name}.svg").write_text(svg.format(colour))
    eb = root / "emojibase"
    (eb / "en" / "shortcodes").mkdir(parents=True)
    (eb / "package.json").write_text(json.dumps({"name": "emojibase-data", "version": "0.0.2"}))
    (eb / "LICENSE").write_text("MIT License\nCopyright (c) test")
    entries = [
        {"label": "red heart", "hexcode": "2764", "tags": ["love"], "emoji": "x", "group": 0},
        {"label": "cat face", "hexcode": "1F431", "tags": ["kitten"], "emoji": "y", "group": 3},
        {"label": "flag: Ascension Island", "hexcode": "1F1E6-1F1E8", "tags": [], "emoji": "z", "group": 9},
        {"label": "woman technologist", "hexcode": "1F469-200D-1F4BB", "tags": [], "emoji": "w", "group": 1},
        {"label": "no svg", "hexcode": "1FAE8", "tags": [], "emoji": "v", "group": 7},
    ]
    (eb / "en" / "data.json").write_text(json.dumps(entries))
    (eb / "en" / "shortcodes" / "github.json").write_text(json.dumps({"2764": "heart", "1F431": ["cat", "cat2"]}))
    return tw, eb


def test_build_selects_captions_and_licenses(build, tmp_path):
    tw, eb = _fake_packages(tmp_path)
    out = tmp_path / "icons"
    stats = build.build(tw, eb, out, decimals=2, max_bytes=2500)
    assert stats["icons"] == 2 and stats["missing_svg"] == 1  # flags and people-ZWJ skipped
    icons = IconSet.load(out)
    assert [i.file for i in icons.icons] == ["2764.svg", "1f431.svg"]
    heart, cat = icons.icons
    assert heart.name == "red heart" and heart.unicode_names == ("heavy black heart",) and heart.aliases == ("heart",)
    assert cat.aliases == ("cat",) and cat.keywords == ("kitten",)  # numbered shortcode dropped
    assert all(icon.sha == icons.content_hash(icon) for icon in icons.icons)
    assert 'cx="18"' in (out / "svg" / "2764.svg").read_text()
    licence = (out / "LICENSE.md").read_text()
    assert "CC-BY 4.0" in licence and "@twemoji/svg@0.0.1" in licence and "emojibase-data@0.0.2" in licence
