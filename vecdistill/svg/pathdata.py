"""Path data (the ``d`` attribute) -> flat control-point arrays in the Scene's layout.

All commands, absolute and relative, implicit repeats, smooth curves (S/T reflect the
previous control point), arcs (converted to cubics, at most 90 degrees each: the radial
error is below 2.7e-4 x radius, i.e. < 0.07 px for a 256 px radius), and subpaths open or
closed. Anything that is not valid path data raises SVGError (browsers render up to the
error; we refuse, so that a broken file is noticed).

svgpathtools' parser is not used here: it flattens subpaths (their open/closed state is
lost) and skips characters it cannot read (``"L nan 3"`` is read as an arc command); the
tests cross-check our geometry against svgpathtools on the committed icons instead.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from ..errors import SVGError
from .values import DEFAULT_LIMITS, Limits

_TOKEN_RE = re.compile(
    r"[\s,]*(?:([MmZzLlHhVvCcSsQqTtAa])|([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?))"
)
_COMMANDS = frozenset("MmZzLlHhVvCcSsQqTtAa")
_ARGS = {"M": 2, "L": 2, "H": 1, "V": 1, "C": 6, "S": 4, "Q": 4, "T": 2, "A": 7, "Z": 0}


@dataclass
class PathGeometry:
    """``points``: [P, 2] float64; ``segments``: control points per segment (0/1/2);
    ``subpaths``: (number of segments, closed) each; layout as in :class:`Scene.Path`."""

    points: np.ndarray
    segments: list[int]
    subpaths: list[tuple[int, bool]]


def _tokens(d: str) -> list[str]:
    """Commands (1-char strings) and numbers (as written). Raises SVGError on anything else."""
    out: list = []
    pos = 0
    n = len(d)
    match = _TOKEN_RE.match
    while pos < n:
        m = match(d, pos)
        if m is None or m.end() == pos:
            rest = d[pos:].strip(" \t\r\n,")
            if not rest:
                break
            raise SVGError(f"bad path data near {rest[:20]!r} (character {pos})")
        cmd, num = m.group(1), m.group(2)
        out.append(cmd if cmd is not None else num)
        pos = m.end()
    return out


def _flag(tokens: list, i: int) -> tuple[float, int]:
    """Read an arc flag at ``tokens[i]`` (flags may be written without separators:
    ``a1 1 0 011 1`` -> 0, 1, 1 1). Returns (flag, index of next token)."""
    tok = tokens[i]
    if tok[0] in "01":
        if len(tok) > 1:
            tokens[i] = tok[1:]  # the rest of the token is read next
            return float(tok[0]), i
        return float(tok), i + 1
    raise SVGError(f"bad arc flag {tok!r} in path data (must be 0 or 1)")


def arc_to_cubics(
    x1: float, y1: float, rx: float, ry: float, phi_deg: float, large: bool, sweep: bool, x2: float, y2: float
) -> list[float]:
    """An SVG elliptical arc as cubic Beziers: a flat list of (c1, c2, end) coordinates,
    6 numbers per cubic, each cubic spanning at most 90 degrees. Endpoint parameterisation
    -> centre parameterisation per SVG 1.1 appendix F.6 (radii scaled up if too small)."""
    rx, ry = abs(rx), abs(ry)
    phi = math.radians(phi_deg % 360.0)
    cos_p, sin_p = math.cos(phi), math.sin(phi)
    dx, dy = (x1 - x2) / 2, (y1 - y2) / 2
    xp = cos_p * dx + sin_p * dy
    yp = -sin_p * dx + cos_p * dy
    lam = (xp * xp) / (rx * rx) + (yp * yp) / (ry * ry)
    if lam > 1:
        s = math.sqrt(lam)
        rx, ry = rx * s, ry * s
    num = rx * rx * ry * ry - rx * rx * yp * yp - ry * ry * xp * xp
    den = rx * rx * yp * yp + ry * ry * xp * xp
    coef = math.sqrt(max(num, 0.0) / den) if den > 0 else 0.0
    if large == sweep:
        coef = -coef
    cxp, cyp = coef * rx * yp / ry, -coef * ry * xp / rx
    cx = cos_p * cxp - sin_p * cyp + (x1 + x2) / 2
    cy = sin_p * cxp + cos_p * cyp + (y1 + y2) / 2
    ux, uy = (xp - cxp) / rx, (yp - cyp) / ry
    vx, vy = (-xp - cxp) / rx, (-yp - cyp) / ry
    theta1 = math.atan2(uy, ux)
    dtheta = math.atan2(vy, vx) - theta1
    if sweep and dtheta < 0:
        dtheta += 2 * math.pi
    elif not sweep and dtheta > 0:
        dtheta -= 2 * math.pi
    return ellipse_cubics(cx, cy, rx, ry, phi, theta1, dtheta, (x2, y2))


def ellipse_cubics(
    cx: float,
    cy: float,
    rx: float,
    ry: float,
    phi: float,
    theta1: float,
    dtheta: float,
    end: tuple[float, float] | None = None,
) -> list[float]:
    """Cubics along an ellipse (centre, radii, rotation ``phi`` in radians) from angle
    ``theta1`` by ``dtheta`` radians; at most 90 degrees per cubic. ``end`` pins the last
    anchor exactly (so a path continues from the arc's true end point)."""
    n = max(1, math.ceil(abs(dtheta) / (math.pi / 2) - 1e-9))
    step = dtheta / n
    k = 4.0 / 3.0 * math.tan(step / 4)
    cos_p, sin_p = math.cos(phi), math.sin(phi)

    def at(t: float) -> tuple[float, float, float, float]:
        c, s = math.cos(t), math.sin(t)
        x, y = rx * c, ry * s
        dx, dy = -rx * s, ry * c
        return (
            cx + cos_p * x - sin_p * y,
            cy + sin_p * x + cos_p * y,
            cos_p * dx - sin_p * dy,
            sin_p * dx + cos_p * dy,
        )

    out: list[float] = []
    x0, y0, dx0, dy0 = at(theta1)
    for i in range(1, n + 1):
        x3, y3, dx3, dy3 = at(theta1 + i * step)
        if i == n and end is not None:
            x3, y3 = end
        out += [x0 + k * dx0, y0 + k * dy0, x3 - k * dx3, y3 - k * dy3, x3, y3]
        x0, y0, dx0, dy0 = x3, y3, dx3, dy3
    return out


def parse_path_data(d: str, limits: Limits = DEFAULT_LIMITS) -> PathGeometry:
    """Parse a ``d`` attribute. Subpaths without segments (a lone moveto) are skipped."""
    toks = _tokens(d)
    pts: list[float] = []  # flat x, y
    kinds: list[int] = []
    subpaths: list[tuple[int, bool]] = []
    if toks and toks[0] not in ("M", "m"):
        raise SVGError("bad path data: it must start with a moveto (M or m)")

    cx = cy = 0.0  # current point
    sx = sy = 0.0  # subpath start
    sub_start_pt = 0  # index (in points) of the current subpath's first anchor
    sub_nseg = 0
    last_ctrl: tuple[float, float] | None = None  # previous cubic c2 / quad control
    last_cmd = ""
    in_subpath = False

    def finish(closed: bool) -> None:
        nonlocal sub_nseg, in_subpath
        if in_subpath:
            if sub_nseg == 0:
                del pts[2 * sub_start_pt :]
            else:
                subpaths.append((sub_nseg, closed))
        sub_nseg = 0
        in_subpath = False

    def begin(x: float, y: float) -> None:
        nonlocal sub_start_pt, in_subpath, sx, sy
        sub_start_pt = len(pts) // 2
        pts.extend((x, y))
        in_subpath = True
        sx, sy = x, y

    def ensure_started() -> None:
        if not in_subpath:  # a drawing command right after Z starts at the last start point
            begin(sx, sy)

    i = 0
    n = len(toks)
    cmd = ""
    while i < n:
        tok = toks[i]
        if tok in _COMMANDS:
            cmd = tok
            i += 1
            if cmd in "Zz":
                if in_subpath and sub_nseg > 0:
                    if (cx, cy) != (sx, sy):
                        kinds.append(0)
                        sub_nseg += 1
                    else:
                        del pts[-2:]  # the last segment already ends at the start
                finish(True)
                cx, cy = sx, sy
                last_cmd, last_ctrl = "Z", None
                if i < n and toks[i] not in _COMMANDS:
                    raise SVGError("bad path data: numbers after a closepath (Z)")
                continue
            if i >= n or toks[i] in _COMMANDS:
                raise SVGError(f"bad path data: command {cmd!r} without numbers")
        up = cmd.upper()
        rel = cmd != up
        need = _ARGS[up]
        if up != "A":
            try:
                a = [float(t) for t in toks[i : i + need]]  # a command letter fails here
            except ValueError:
                a = []
            if len(a) != need:
                raise SVGError(f"bad path data: command {cmd!r} needs {need} numbers")
            i += need
        else:
            a = []
            j = i
            for k in range(7):
                if j >= n or toks[j] in _COMMANDS:
                    raise SVGError(f"bad path data: command {cmd!r} needs 7 numbers")
                if k in (3, 4):
                    v, j = _flag(toks, j)
                    a.append(v)
                else:
                    try:
                        a.append(float(toks[j]))
                    except ValueError:  # the rest of a split flag that is not a number
                        raise SVGError(f"bad path data near {toks[j][:20]!r} in an arc") from None
                    j += 1
            i = j
            if not all(math.isfinite(v) for v in a):
                raise SVGError("path data contains a number too large to represent; fix the file")
        ox, oy = (cx, cy) if rel else (0.0, 0.0)
        if up == "M":
            finish(False)
            cx, cy = a[0] + ox, a[1] + oy
            begin(cx, cy)
            cmd = "l" if rel else "L"
            last_ctrl = None
            last_cmd = "M"
            continue
        ensure_started()
        if up in "LHV":
            if up == "L":
                cx, cy = a[0] + ox, a[1] + oy
            elif up == "H":
                cx = a[0] + ox
            else:
                cy = a[0] + oy
            pts.extend((cx, cy))
            kinds.append(0)
            last_ctrl = None
        elif up in "CS":
            if up == "C":
                c1 = (a[0] + ox, a[1] + oy)
                c2 = (a[2] + ox, a[3] + oy)
                e = (a[4] + ox, a[5] + oy)
            else:
                c1 = (2 * cx - last_ctrl[0], 2 * cy - last_ctrl[1]) if last_cmd in "CS" and last_ctrl else (cx, cy)
                c2 = (a[0] + ox, a[1] + oy)
                e = (a[2] + ox, a[3] + oy)
            pts.extend((c1[0], c1[1], c2[0], c2[1], e[0], e[1]))
            kinds.append(2)
            last_ctrl = c2
            cx, cy = e
        elif up in "QT":
            if up == "Q":
                c = (a[0] + ox, a[1] + oy)
                e = (a[2] + ox, a[3] + oy)
            else:
                c = (2 * cx - last_ctrl[0], 2 * cy - last_ctrl[1]) if last_cmd in "QT" and last_ctrl else (cx, cy)
                e = (a[0] + ox, a[1] + oy)
            pts.extend((c[0], c[1], e[0], e[1]))
            kinds.append(1)
            last_ctrl = c
            cx, cy = e
        else:  # arc
            ex, ey = a[5] + ox, a[6] + oy
            if (ex, ey) == (cx, cy):
                last_cmd = up
                last_ctrl = None
                continue  # an arc to the current point is omitted
            if a[0] == 0 or a[1] == 0:
                pts.extend((ex, ey))
                kinds.append(0)
                sub_nseg += 1
            else:
                # before the conversion: huge radii, start or end points overflow its squares
                _check_magnitude(max(abs(a[0]), abs(a[1]), abs(cx), abs(cy), abs(ex), abs(ey)), limits)
                seg = arc_to_cubics(cx, cy, a[0], a[1], a[2], bool(a[3]), bool(a[4]), ex, ey)
                pts.extend(seg)
                kinds.extend([2] * (len(seg) // 6))
                sub_nseg += len(seg) // 6
            cx, cy = ex, ey
            last_ctrl = None
            last_cmd = up
            continue
        sub_nseg += 1
        last_cmd = up
    finish(False)

    arr = np.asarray(pts, dtype=np.float64).reshape(-1, 2)
    if arr.size:
        if not np.isfinite(arr).all():
            raise SVGError("path data contains a number too large to represent; fix the file")
        _check_magnitude(float(np.abs(arr).max()), limits)
    return PathGeometry(arr, kinds, subpaths)


def _check_magnitude(big: float, limits) -> None:
    """SVGError when a coordinate's magnitude ``big`` is past ``limits.max_abs``."""
    if not math.isfinite(big):
        raise SVGError("path data contains a number too large to represent; fix the file")
    if big > limits.max_abs:
        raise SVGError(f"path data coordinate {big:g} exceeds the limit of {limits.max_abs:g} user units")
