"""The ``transform`` attribute: lists of matrix/translate/scale/rotate/skewX/skewY."""

from __future__ import annotations

import re

from ..errors import SVGError
from .scene import IDENTITY, Affine
from .values import DEFAULT_LIMITS, Limits, parse_number_list

_ITEM_RE = re.compile(r"\s*,?\s*([A-Za-z]+)\s*\(([^()]*)\)\s*,?")
_ARITY = {
    "matrix": (6,),
    "translate": (1, 2),
    "scale": (1, 2),
    "rotate": (1, 3),
    "skewx": (1,),
    "skewy": (1,),
}


def parse_transform(text: str, limits: Limits = DEFAULT_LIMITS) -> Affine:
    """The Affine of a transform list (applied right to left, as SVG says).

    Raises SVGError for unknown functions, wrong argument counts, or bad numbers.
    """
    result = IDENTITY
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = _ITEM_RE.match(text, pos)
        if m is None:
            raise SVGError(f"transform {text[:60]!r} cannot be read near {text[pos:pos + 20]!r}")
        name, body = m.group(1).lower(), m.group(2)
        pos = m.end()
        if name not in _ARITY:
            raise SVGError(f"unknown transform function {m.group(1)!r}")
        args = parse_number_list(body, f"transform {m.group(1)}()", limits)
        if len(args) not in _ARITY[name]:
            raise SVGError(f"transform {m.group(1)}() takes {' or '.join(map(str, _ARITY[name]))} numbers, got {len(args)}")
        if name == "matrix":
            t = Affine(*args)
        elif name == "translate":
            t = Affine.translate(*args)
        elif name == "scale":
            t = Affine.scale(*args)
        elif name == "rotate":
            t = Affine.rotate(*args)
        elif name == "skewx":
            t = Affine.skew_x(args[0])
        else:
            t = Affine.skew_y(args[0])
        result = result @ t
    return result
