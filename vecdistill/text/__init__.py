"""Fonts and glyph outlines: turn a word in any TTF/OTF font into Scene paths.

- :mod:`vecdistill.text.fonts`: the bundled fonts and loading a font by name or path.
- :mod:`vecdistill.text.glyphs`: outlines (TrueType quadratics, CFF cubics) as Scene paths,
  laid out left to right with advances and pair kerning.
"""

from .fonts import BUNDLED_FONTS, DEFAULT_FONT, FontInfo, list_fonts, load_font
from .glyphs import WordLayout, glyph_path, layout_word, word_scene

__all__ = [
    "BUNDLED_FONTS",
    "DEFAULT_FONT",
    "FontInfo",
    "WordLayout",
    "glyph_path",
    "layout_word",
    "list_fonts",
    "load_font",
    "word_scene",
]
