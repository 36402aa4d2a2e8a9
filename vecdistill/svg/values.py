"""Numbers, lengths and the loader's limits.

Every number the loader reads goes through :func:`parse_number` so that NaN, infinities,
garbage and values beyond :attr:`Limits.max_abs` are refused with one-line
:class:`~vecdistill.errors.SVGError` messages (Python's ``float()`` accepts ``"nan"``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from ..errors import SVGError

NUMBER_RE = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_LENGTH_RE = re.compile(r"\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*([a-zA-Z%]*)\s*\Z")
_NONFINITE_RE = re.compile(r"nan|inf", re.IGNORECASE)

# CSS absolute units in px (96 dpi); em/ex use the default 16 px font size
UNITS = {
    "": 1.0,
    "px": 1.0,
    "pt": 96.0 / 72.0,
    "pc": 16.0,
    "mm": 96.0 / 25.4,
    "cm": 96.0 / 2.54,
    "q": 96.0 / 101.6,
    "in": 96.0,
    "em": 16.0,
    "rem": 16.0,
    "ex": 8.0,
}


@dataclass(frozen=True)
class Limits:
    """What the loader accepts; beyond these a file is refused with an SVGError.

    ``max_bytes``: file size (also after un-gzipping an .svgz); ``max_elements``: XML
    elements in the file, and elements drawn once ``<use>`` is expanded; ``max_depth``: element nesting (``<use>`` chains
    count); ``max_points``: path control points in the whole scene; ``max_abs``: absolute
    value of any coordinate, length or transform entry, in user units.
    """

    max_bytes: int = 20_000_000
    max_elements: int = 100_000
    max_depth: int = 100
    max_points: int = 5_000_000
    max_abs: float = 1e9


DEFAULT_LIMITS = Limits()


def check_finite(value: float, what: str, limits: Limits = DEFAULT_LIMITS) -> float:
    if not math.isfinite(value):
        raise SVGError(f"{what} is not a finite number; fix the file")
    if abs(value) > limits.max_abs:
        raise SVGError(f"{what} = {value:g} exceeds the limit of {limits.max_abs:g} user units")
    return value


def parse_number(text: str, what: str, limits: Limits = DEFAULT_LIMITS) -> float:
    """A plain number (no unit). Raises SVGError on garbage, NaN/Inf or huge values."""
    s = text.strip()
    m = NUMBER_RE.fullmatch(s)
    if m is None:
        if _NONFINITE_RE.search(s):
            raise SVGError(f"{what} is not a finite number ({_short(s)}); fix the file")
        raise SVGError(f"{what} is not a number: {_short(s)!r}")
    return check_finite(float(s), what, limits)


def parse_length(
    text: str, what: str, percent_of: float | None = None, limits: Limits = DEFAULT_LIMITS
) -> float:
    """A length with an optional unit, in px/user units. ``%`` needs ``percent_of``
    (the reference length); without one a percentage is an error."""
    m = _LENGTH_RE.match(text)
    if m is None:
        if _NONFINITE_RE.search(text):
            raise SVGError(f"{what} is not a finite number ({_short(text)}); fix the file")
        raise SVGError(f"{what} is not a length: {_short(text)!r}")
    value = float(m.group(1))
    unit = m.group(2).lower()
    if unit == "%":
        if percent_of is None:
            raise SVGError(f"{what} cannot be a percentage here: {_short(text)!r}")
        value = value / 100.0 * percent_of
    elif unit in UNITS:
        value *= UNITS[unit]
    else:
        raise SVGError(f"{what} has an unknown unit {m.group(2)!r}; use px, pt, mm, cm, in, em or %")
    return check_finite(value, what, limits)


def parse_number_list(text: str, what: str, limits: Limits = DEFAULT_LIMITS) -> list[float]:
    """Numbers separated by whitespace and/or commas (``points``, ``viewBox``)."""
    s = text.replace(",", " ")
    tokens = NUMBER_RE.findall(s)
    rest = NUMBER_RE.sub(" ", s).strip()
    if rest:
        if _NONFINITE_RE.search(rest):
            raise SVGError(f"{what} contains a non-finite number; fix the file")
        raise SVGError(f"{what} contains something that is not a number: {_short(rest)!r}")
    out = [float(t) for t in tokens]
    for v in out:
        check_finite(v, what, limits)
    return out


def _short(text: str, n: int = 40) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 3] + "..."
