"""The bundled fonts, and loading any font by bundled name or by TTF/OTF path.

The bundled fonts live in ``vecdistill/fonts/`` (installed as package data), each beside
its licence file (the Debian package's copyright file, with the full licence text).
"""

from __future__ import annotations

import functools
import os
import struct
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError

FONTS_DIR = Path(__file__).resolve().parent.parent / "fonts"


@dataclass(frozen=True)
class FontInfo:
    """A bundled font: ``name`` (what ``--font`` takes), ``file`` (under ``FONTS_DIR``),
    ``licence`` (its licence file there), ``outlines`` ("quadratic" TrueType or "cubic"
    CFF) and a one-line ``description``."""

    name: str
    file: str
    licence: str
    outlines: str
    description: str

    @property
    def path(self) -> Path:
        return FONTS_DIR / self.file


BUNDLED_FONTS: dict[str, FontInfo] = {
    f.name: f
    for f in (
        FontInfo("quicksand", "Quicksand-Bold.ttf", "Quicksand-LICENSE.txt", "quadratic",
                 "Quicksand Bold: rounded geometric sans (SIL OFL 1.1); the paper's font family"),
        FontInfo("cantarell", "Cantarell-Bold.otf", "Cantarell-LICENSE.txt", "cubic",
                 "Cantarell Bold: humanist sans, CFF outlines (SIL OFL 1.1)"),
        FontInfo("liberation-serif", "LiberationSerif-Bold.ttf", "LiberationSerif-LICENSE.txt",
                 "quadratic", "Liberation Serif Bold: Times-metric serif (SIL OFL 1.1)"),
        FontInfo("roboto", "Roboto-Bold.ttf", "Roboto-LICENSE.txt", "quadratic",
                 "Roboto Bold: neo-grotesque sans (Apache 2.0)"),
    )
}

DEFAULT_FONT = "quicksand"


def list_fonts() -> list[FontInfo]:
    """The bundled fonts, in a stable order (the default first)."""
    return sorted(BUNDLED_FONTS.values(), key=lambda f: (f.name != DEFAULT_FONT, f.name))


def resolve_font(font: str | os.PathLike | None) -> Path:
    """The file of ``font``: a bundled name (case-insensitive), or a path to a TTF/OTF file;
    None is the default font. Raises :class:`InputError` when it is neither."""
    if font is None:
        return BUNDLED_FONTS[DEFAULT_FONT].path
    key = str(font).strip().lower()
    if key in BUNDLED_FONTS:
        return BUNDLED_FONTS[key].path
    path = Path(font).expanduser()
    if path.is_file():
        return path
    names = ", ".join(f.name for f in list_fonts())
    raise InputError(
        f"unknown font {str(font)!r}: give a bundled font name ({names}) or the path of a "
        "TTF/OTF file"
    )


def load_font(font: str | os.PathLike | None = None):
    """Open ``font`` (bundled name, TTF/OTF path, or None for the default) as a
    ``fontTools.ttLib.TTFont``. Collections (.ttc) open their first font. The
    object is cached and shared: treat it as read-only.

    Raises :class:`InputError` for a missing or unreadable file or a font without outlines.
    """
    path = resolve_font(font)
    stat = path.stat()
    return _open_font(str(path.resolve()), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=8)
def _open_font(path: str, mtime_ns: int, size: int):
    """Open and check a font file (cached per file version; callers only read it)."""
    from fontTools.ttLib import TTFont, TTLibError

    try:
        tt = TTFont(path, fontNumber=0)
        tt.getBestCmap()
    except (TTLibError, OSError, AssertionError, ValueError, KeyError, IndexError, TypeError, struct.error) as exc:
        raise InputError(f"cannot read font {path}: {exc}; give a valid TTF or OTF file") from None
    if "glyf" not in tt and "CFF " not in tt and "CFF2" not in tt:
        raise InputError(f"font {path} has no glyph outlines (no glyf/CFF table); choose another font")
    if "cmap" not in tt or tt.getBestCmap() is None:
        raise InputError(f"font {path} has no Unicode character map; choose another font")
    return tt
