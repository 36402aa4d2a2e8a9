"""Glyph outlines of a whole word as Scene paths, one path per letter.

Font outlines come through fontTools pens: TrueType contours become quadratic segments,
CFF/CFF2 contours cubic ones, straight edges lines; composite glyphs are decomposed.
Font units (y up, baseline at 0) are mapped to SVG user units (y down): a glyph point
``(u, v)`` of the letter whose pen position is ``pen_x`` lands at
``(origin_x + (pen_x + u) * scale, baseline - v * scale)``, ``scale = size / unitsPerEm``.

Both TrueType and CFF fill with the nonzero winding rule (their outer and inner contours
run in opposite directions), so the paths use ``fill_rule="nonzero"``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import torch
from fontTools.pens.basePen import BasePen

from ..errors import InputError
from ..svg.scene import Group, Path, Scene, Solid
from .fonts import load_font, resolve_font


class _SegmentPen(BasePen):
    """Collects contours as lists of ``(n_controls, [points...])`` segments, in font units.

    Each contour is ``(start, segments)`` where a segment is ``(controls, end)``: 0 controls
    for a line, 1 for a quadratic, 2 for a cubic. Closing adds a line back to the start when
    the last segment does not already end there."""

    def __init__(self, glyph_set):
        super().__init__(glyph_set)
        self.contours: list[tuple[tuple[float, float], list, bool]] = []
        self._start = None
        self._segs: list = []

    def _moveTo(self, pt):
        self._flush(closed=False)
        self._start = pt
        self._segs = []

    def _lineTo(self, pt):
        self._segs.append(((), pt))

    def _qCurveToOne(self, pt1, pt2):
        self._segs.append(((pt1,), pt2))

    def _curveToOne(self, pt1, pt2, pt3):
        self._segs.append(((pt1, pt2), pt3))

    def _closePath(self):
        self._flush(closed=True)

    def _endPath(self):
        self._flush(closed=False)

    def _flush(self, closed: bool) -> None:
        if self._start is not None and self._segs:
            self.contours.append((self._start, self._segs, closed))
        self._start = None
        self._segs = []


def _contours_to_path_data(contours, to_user) -> tuple[list, list[int], list[tuple[int, bool]]]:
    """Contours (font units) -> (points in user units, segment kinds, subpaths) in the
    Scene layout: a closed subpath does not repeat its first anchor."""
    points: list[tuple[float, float]] = []
    kinds: list[int] = []
    subpaths: list[tuple[int, bool]] = []
    for start, segs, closed in contours:
        segs = list(segs)
        if closed:
            if segs[-1][1] != start:
                segs.append(((), start))
            # a closed contour whose only segment returns to the start is empty
            if len(segs) == 1 and not segs[0][0]:
                continue
        pts = [start]
        for i, (controls, end) in enumerate(segs):
            pts.extend(controls)
            if not (closed and i == len(segs) - 1):
                pts.append(end)
            kinds.append(len(controls))
        points.extend(to_user(p) for p in pts)
        subpaths.append((len(segs), closed))
    return points, kinds, subpaths


def glyph_path(glyph_set, glyph_name: str, pen_x: float, scale: float, origin_x: float,
               baseline: float, path_id: str | None = None, color=(0.0, 0.0, 0.0, 1.0)) -> Path | None:
    """The outline of ``glyph_name`` as a filled :class:`Path` placed at pen position
    ``pen_x`` (font units); None for a glyph without outline (a space).

    ``scale``: user units per font unit; ``origin_x``/``baseline``: user-unit position of
    the pen origin and of the baseline. Points are float32 ``[P, 2]``."""
    pen = _SegmentPen(glyph_set)
    glyph_set[glyph_name].draw(pen)

    def to_user(p):
        return (origin_x + (pen_x + p[0]) * scale, baseline - p[1] * scale)

    points, kinds, subpaths = _contours_to_path_data(pen.contours, to_user)
    if not subpaths:
        return None
    return Path(
        torch.tensor(points, dtype=torch.float32),
        torch.tensor(kinds, dtype=torch.long),
        subpaths,
        fill=Solid(torch.tensor(color, dtype=torch.float32)),
        stroke=None,
        stroke_width=0.0,
        fill_rule="nonzero",
        id=path_id,
    )


# --------------------------------------------------------------------------------------
# Layout: advances and pair kerning
# --------------------------------------------------------------------------------------


def _kern_lookups(tt) -> list:
    """GPOS lookups referenced by any 'kern' feature (pair adjustment, maybe extension)."""
    if "GPOS" not in tt:
        return []
    gpos = tt["GPOS"].table
    if gpos.FeatureList is None or gpos.LookupList is None:
        return []
    indices: set[int] = set()
    for rec in gpos.FeatureList.FeatureRecord:
        if rec.FeatureTag == "kern":
            indices.update(rec.Feature.LookupListIndex)
    return [gpos.LookupList.Lookup[i] for i in sorted(indices)]


def _pair_subtables(lookup):
    for sub in lookup.SubTable:
        if lookup.LookupType == 9:  # extension positioning wraps the real subtable
            if getattr(sub, "ExtensionLookupType", None) != 2:
                continue
            sub = sub.ExtSubTable
        elif lookup.LookupType != 2:
            continue
        yield sub


def _x_advance(value) -> int:
    return int(getattr(value, "XAdvance", 0) or 0) if value is not None else 0


def _pair_adjustment(sub, left: str, right: str) -> int | None:
    """The left glyph's x-advance adjustment for (left, right) in one PairPos subtable,
    or None if the subtable does not cover the pair."""
    glyphs = sub.Coverage.glyphs
    if left not in glyphs:
        return None
    if sub.Format == 1:
        pair_set = sub.PairSet[glyphs.index(left)]
        for rec in pair_set.PairValueRecord:
            if rec.SecondGlyph == right:
                return _x_advance(rec.Value1)
        return None
    if sub.Format == 2:
        c1 = sub.ClassDef1.classDefs.get(left, 0) if sub.ClassDef1 else 0
        c2 = sub.ClassDef2.classDefs.get(right, 0) if sub.ClassDef2 else 0
        return _x_advance(sub.Class1Record[c1].Class2Record[c2].Value1)
    return None


def pair_kerning(tt, left: str, right: str, lookups=None) -> int:
    """Kerning in font units between glyphs ``left`` and ``right``: GPOS 'kern' pair
    adjustments (formats 1 and 2; first matching subtable per lookup), else the legacy
    'kern' table."""
    lookups = _kern_lookups(tt) if lookups is None else lookups
    total, found = 0, False
    for lookup in lookups:
        for sub in _pair_subtables(lookup):
            adj = _pair_adjustment(sub, left, right)
            if adj is not None:
                total += adj
                found = True
                break
    if found:
        return total
    if "kern" in tt:
        for table in getattr(tt["kern"], "kernTables", []):
            pairs = getattr(table, "kernTable", None)
            if pairs and (left, right) in pairs:
                return int(pairs[(left, right)])
    return 0


@dataclass
class WordLayout:
    """A word laid out in one font.

    ``text``: the characters. ``glyphs``: glyph name per character. ``pen_x``: pen position
    per character in font units (advances plus kerning so far). ``advance_width``: the
    word's total advance (font units). ``units_per_em``, ``ascent``, ``descent`` (font
    units, descent negative). ``font``: what the user gave (name or path); ``font_file``:
    the file used; ``family``: the font's family name."""

    text: str
    glyphs: list[str]
    pen_x: list[float]
    kerning: list[float]
    advance_width: float
    units_per_em: int
    ascent: int
    descent: int
    font: str
    font_file: str
    family: str
    extra: dict = field(default_factory=dict)


def layout_word(text: str, font: str | os.PathLike | None = None, kerning: bool = True, tt=None) -> WordLayout:
    """Lay out ``text`` on one line: one glyph per character (no ligatures, so every letter
    stays its own shape), hmtx advances plus pair kerning when ``kerning``.

    Raises :class:`InputError` for empty text, a line break, or a character the font lacks.
    """
    if not text or not text.strip():
        raise InputError("the text is empty; give at least one letter, e.g. vecdistill word CAT out.svg")
    if "\n" in text or "\r" in text:
        raise InputError("the text has a line break; word lays out one line, give one word or phrase")
    tt = load_font(font) if tt is None else tt
    cmap = tt.getBestCmap()
    missing = sorted({c for c in text if ord(c) not in cmap and not c.isspace()})
    if missing:
        shown = ", ".join(repr(c) for c in missing)
        raise InputError(f"font {font or 'default'} has no glyph for {shown}; choose another font with --font")
    space = cmap.get(ord(" "))
    glyphs = [cmap.get(ord(c), space) or ".notdef" for c in text]
    hmtx = tt["hmtx"].metrics
    lookups = _kern_lookups(tt) if kerning else []
    pen, pen_x, kerns = 0.0, [], []
    for i, name in enumerate(glyphs):
        k = 0.0
        if kerning and i > 0:
            k = float(pair_kerning(tt, glyphs[i - 1], name, lookups))
            pen += k
        kerns.append(k)
        pen_x.append(pen)
        pen += hmtx[name][0]
    hhea = tt["hhea"]
    family = tt["name"].getDebugName(1) or ""
    return WordLayout(
        text=text,
        glyphs=glyphs,
        pen_x=pen_x,
        kerning=kerns,
        advance_width=pen,
        units_per_em=int(tt["head"].unitsPerEm),
        ascent=int(hhea.ascent),
        descent=int(hhea.descent),
        font=str(font) if font is not None else "",
        font_file=str(resolve_font(font)),
        family=family,
    )


def letter_id(index: int, char: str) -> str:
    """The path id of letter ``index``: ``letter-{index}-{char}``, the character spelled as
    ``uXXXX`` when it is not an ASCII letter or digit (ids must be valid XML names)."""
    tag = char if (char.isascii() and char.isalnum()) else f"u{ord(char):04X}"
    return f"letter-{index}-{tag}"


def word_scene(text: str, font: str | os.PathLike | None = None, size: float = 100.0,
               margin: float = 0.1, kerning: bool = True,
               color=(0.0, 0.0, 0.0, 1.0)) -> tuple[Scene, WordLayout]:
    """The word ``text`` as a :class:`Scene`: one filled path per visible letter, id
    ``letter-{i}-{char}`` (``i`` its index in ``text``), left to right, black on no
    background.

    ``size``: the em size in user units. ``margin``: blank border around the ink, as a
    fraction of ``size``. The viewBox starts at (0, 0) and is the ink's bounding box plus
    the margin. Returns the scene and its :class:`WordLayout` (``extra["letters"]`` maps
    text index -> path id, for letters with an outline; ``extra["cubic"]``: whether the
    font's outlines are cubic (CFF) rather than quadratic (TrueType)).
    """
    if size <= 0:
        raise InputError(f"size must be positive, got {size}")
    tt = load_font(font)
    layout = layout_word(text, font, kerning=kerning, tt=tt)
    glyph_set = tt.getGlyphSet()
    scale = size / layout.units_per_em
    paths: list[Path] = []
    letters: dict[int, str] = {}
    for i, (char, name, px) in enumerate(zip(text, layout.glyphs, layout.pen_x)):
        path = glyph_path(glyph_set, name, px, scale, 0.0, 0.0, letter_id(i, char), color)
        if path is not None:
            paths.append(path)
            letters[i] = path.id
    if not paths:
        raise InputError(f"no letter of {text!r} has an outline in this font; give visible letters")
    allpts = torch.cat([p.points for p in paths])
    lo, hi = allpts.min(0).values.tolist(), allpts.max(0).values.tolist()
    pad = margin * size
    # whole-ish numbers for the canvas: shift by a value rounded to 1/1000 of a unit
    shift_xy = [round(pad - lo[0], 3), round(pad - lo[1], 3)]
    shift = torch.tensor(shift_xy, dtype=torch.float32)
    for p in paths:
        p.points = p.points + shift
    width = round(hi[0] + shift_xy[0] + pad, 3)
    height = round(hi[1] + shift_xy[1] + pad, 3)
    layout.extra["letters"] = letters
    layout.extra["scale"] = scale
    layout.extra["cubic"] = "CFF " in tt or "CFF2" in tt  # CFF outlines are cubic
    layout.extra["origin"] = shift_xy  # user position of pen 0, baseline
    scene = Scene(Group(children=list(paths), id="word"), width=width, height=height,
                  view_box=(0.0, 0.0, width, height))
    return scene, layout
