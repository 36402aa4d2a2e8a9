"""CSS colours: names, ``#rgb``/``#rgba``/``#rrggbb``/``#rrggbbaa``, ``rgb()``/``rgba()``
(numbers or percentages, comma or space syntax), ``hsl()``/``hsla()``, ``transparent``.

``currentColor`` and ``none`` are handled by the caller (they depend on context).
"""

from __future__ import annotations

import colorsys
import re

from PIL import ImageColor

RGBA = tuple[float, float, float, float]

_NAMED: dict[str, RGBA] = {}
for _name, _hex in ImageColor.colormap.items():
    if isinstance(_hex, str) and _hex.startswith("#") and len(_hex) == 7:
        _NAMED[_name] = (int(_hex[1:3], 16) / 255, int(_hex[3:5], 16) / 255, int(_hex[5:7], 16) / 255, 1.0)
_NAMED["transparent"] = (0.0, 0.0, 0.0, 0.0)

_HEX_RE = re.compile(r"#([0-9a-fA-F]{3,4}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})\Z")
_FUNC_RE = re.compile(r"(rgba?|hsla?)\(\s*([^()]*)\)\Z", re.IGNORECASE)
_ARG_RE = re.compile(r"([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)(%|deg)?\Z")


def _clamp(v: float) -> float:
    return 0.0 if v < 0 else 1.0 if v > 1 else v


def _args(body: str) -> list[tuple[float, str]] | None:
    body = body.replace("/", " ").replace(",", " ")
    out = []
    for tok in body.split():
        m = _ARG_RE.match(tok)
        if m is None:
            return None
        out.append((float(m.group(1)), m.group(2) or ""))
    return out


def parse_color(text: str) -> RGBA | None:
    """RGBA in [0, 1] for a CSS colour, or None if ``text`` is not one."""
    s = text.strip()
    low = s.lower()
    if low in _NAMED:
        return _NAMED[low]
    m = _HEX_RE.match(s)
    if m:
        h = m.group(1)
        if len(h) <= 4:
            h = "".join(c * 2 for c in h)
        vals = [int(h[i : i + 2], 16) / 255 for i in range(0, len(h), 2)]
        return (vals[0], vals[1], vals[2], vals[3] if len(vals) == 4 else 1.0)
    m = _FUNC_RE.match(s)
    if not m:
        return None
    args = _args(m.group(2))
    if args is None or len(args) not in (3, 4):
        return None
    alpha = 1.0
    if len(args) == 4:
        a, unit = args[3]
        alpha = _clamp(a / 100 if unit == "%" else a)
    if m.group(1).lower().startswith("rgb"):
        rgb = [_clamp(v / 100 if unit == "%" else v / 255) for v, unit in args[:3]]
        return (rgb[0], rgb[1], rgb[2], alpha)
    (h, _), (sat, su), (light, lu) = args[:3]
    if su != "%" or lu != "%":
        return None
    r, g, b = colorsys.hls_to_rgb((h / 360.0) % 1.0, _clamp(light / 100), _clamp(sat / 100))
    return (r, g, b, alpha)
