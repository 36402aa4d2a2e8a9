"""The exact pass of :mod:`.exact_cells` as one compiled loop over the pixels (Numba).

:func:`.exact_cells.resolve_numpy` pads the pixels' pieces into arrays and runs about 150
NumPy calls per size class; in optimisation loops, where paths tangle (SDS moves them
freely), that pass took 18 of a 64^2 render's 42 ms (ad hoc; 256 paths of the embedded preset
after a few steps: 714 crossed pixels of 8236 pieces). Here each pixel is one iteration:
the same check (:func:`.exact_cells._tangled`: arcs from side to side that neither touch
nor run along a side, alternating crossings of the boundary), then the same sweep (the
left side's winding from ``A``, slabs at every end point and crossing, the pieces sorted by
``x`` in each slab, the gaps' windings; horizontal pieces cut where the others meet their
line) and the same effective integrals for the gradient, all in float64 with the NumPy
version's formulas. Sums run in another order (the results agree to rounding); ties of
sort keys are broken by piece order in both (stable sorts), which matters where pieces
coincide (a path drawn twice over itself, a stroke's outline doubling back): the first of
them takes the gradient of the winding step they make together. Used by
:func:`.exact_cells.resolve` when :func:`.jit.available`.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

_KEY = 2.0**40 - 1  # x in [0, 1] to 2^-40 in a slab's sort key (as exact_cells._sweep)


@njit(cache=True, nogil=True)
def _stable_order(keys):  # pragma: no cover - compiled
    """The indices that sort ``keys`` [n], equal keys in index order (a bottom-up merge
    sort: Numba's own sorts cost seconds of compilation each)."""
    n = keys.shape[0]
    a = np.arange(n)
    b = np.empty(n, np.int64)
    width = 1
    while width < n:
        for lo in range(0, n, 2 * width):
            mid, hi = min(lo + width, n), min(lo + 2 * width, n)
            i, j = lo, mid
            for k in range(lo, hi):
                if j < hi and (i >= mid or keys[a[j]] < keys[a[i]]):
                    b[k] = a[j]
                    j += 1
                else:
                    b[k] = a[i]
                    i += 1
        a, b = b, a
        width *= 2
    return a


@njit(cache=True, nogil=True)
def _sorted(values):  # pragma: no cover - compiled
    """A sorted copy of ``values`` [n], by :func:`_stable_order`."""
    order = _stable_order(values)
    out = np.empty_like(values)
    for k in range(order.shape[0]):
        out[k] = values[order[k]]
    return out


@njit(cache=True, nogil=True, inline="always")
def _covered(w, evenodd):  # pragma: no cover - compiled
    if evenodd:
        return 1.0 if w - 2.0 * math.floor(w * 0.5) == 1.0 else 0.0
    return 1.0 if w != 0.0 else 0.0


@njit(cache=True, nogil=True, inline="always")
def _sign(v):  # pragma: no cover - compiled
    return 1.0 if v > 0.0 else (-1.0 if v < 0.0 else 0.0)


@njit(cache=True, nogil=True, inline="always")
def _clip01(v):  # pragma: no cover - compiled
    return min(max(v, 0.0), 1.0)


@njit(cache=True, nogil=True, inline="always")
def _part(ua, ub, q, f_lo, f_hi, beta, e):  # pragma: no cover - compiled
    """A part ``[f_lo, f_hi]`` of piece ``q`` (fractions of it) with weight ``beta``: its
    parameter interval's two transport integrals added to ``e[:, q]``."""
    a0, a1 = ua[q], ub[q]
    v_lo, v_hi = a0 + f_lo * (a1 - a0), a0 + f_hi * (a1 - a0)
    v1, v2 = min(v_lo, v_hi), max(v_lo, v_hi)
    j1 = (v2 * v2 - v1 * v1) * 0.5
    e[0, q] += beta * ((v2 - v1) - j1)
    e[1, q] += beta * j1


@njit(cache=True, nogil=True)
def _tangled(q0, n, xa, ya, xb, yb):  # pragma: no cover - compiled
    """Whether the ``n`` pieces from ``q0`` may leave ``min(|A|, 1)`` inexact
    (:func:`.exact_cells._tangled`)."""
    pos = np.empty(2 * n)
    turn = np.empty(2 * n)
    for i in range(n):
        q = q0 + i
        dx, dy = xb[q] - xa[q], yb[q] - ya[q]
        live = dx != 0.0 or dy != 0.0
        if live and ((ya[q] == 0.0 and yb[q] == 0.0) or (ya[q] == 1.0 and yb[q] == 1.0)
                     or (xa[q] == 0.0 and xb[q] == 0.0) or (xa[q] == 1.0 and xb[q] == 1.0)):
            return True  # a piece along a side
        for end in range(2):
            x = xa[q] if end == 0 else xb[q]
            y = ya[q] if end == 0 else yb[q]
            if y == 0.0:
                p, t = x, dy
            elif x == 1.0:
                p, t = 1.0 + y, -dx
            elif y == 1.0:
                p, t = 3.0 - x, -dy
            elif x == 0.0:
                p, t = 4.0 - y, dx
            else:
                p, t = math.inf, 0.0
            pos[end * n + i] = p
            turn[end * n + i] = _sign(t) if live else 0.0
    # walked clockwise around the boundary, the winding may take only two adjacent values
    order = _stable_order(pos)
    walk = hi = lo = 0.0
    for k in order:
        walk += turn[k]
        hi = max(hi, walk)
        lo = min(lo, walk)
    if hi - lo > 1.0:
        return True
    # no two pieces may cross or touch, other than consecutive ones
    for i in range(n):
        qi = q0 + i
        rx, ry = xb[qi] - xa[qi], yb[qi] - ya[qi]
        if rx == 0.0 and ry == 0.0:
            continue
        for j in range(i + 1, n):
            qj = q0 + j
            sx, sy = xb[qj] - xa[qj], yb[qj] - ya[qj]
            if sx == 0.0 and sy == 0.0:
                continue
            qx, qy = xa[qj] - xa[qi], ya[qj] - ya[qi]
            den = rx * sy - ry * sx
            un = qx * ry - qy * rx
            if den != 0.0:
                t = (qx * sy - qy * sx) / den
                u = un / den
                meet = 0.0 <= t <= 1.0 and 0.0 <= u <= 1.0
            else:
                meet = un == 0.0
            if meet and not ((xb[qi] == xa[qj] and yb[qi] == ya[qj]) or (xa[qi] == xb[qj] and ya[qi] == yb[qj])):
                return True
    return False


@njit(cache=True, nogil=True)
def _sweep(q0, n, xa, ya, xb, yb, ua, ub, area, evenodd, e):  # pragma: no cover - compiled
    """The covered area of the pixel of the ``n`` pieces from ``q0`` (winding integral
    ``area``); the effective integrals of its pieces added to ``e[:, q]``
    (:func:`.exact_cells._sweep` and ``_flat_parts``)."""
    # 1. the winding along the left side, at its top: A less the pieces' own areas, less
    # the steps where pieces leave (+1) or enter (-1) through that side
    own = 0.0
    steps = 0.0
    for i in range(n):
        q = q0 + i
        own += (yb[q] - ya[q]) * (1.0 - (xa[q] + xb[q]) * 0.5)
        if xa[q] == 0.0:
            steps -= 1.0 - ya[q]
        if xb[q] == 0.0:
            steps += 1.0 - yb[q]
    w_top = float(round((area - own) - steps))  # (an integer up to rounding)
    # 2. slabs between all end points and the crossings strictly inside two pieces
    ev = np.empty(2 + 2 * n + n * (n - 1) // 2)
    ev[0], ev[1] = 0.0, 1.0
    m = 2
    for i in range(n):
        q = q0 + i
        ev[m], ev[m + 1] = _clip01(ya[q]), _clip01(yb[q])
        m += 2
    for i in range(n):
        qi = q0 + i
        rx, ry = xb[qi] - xa[qi], yb[qi] - ya[qi]
        for j in range(i + 1, n):
            qj = q0 + j
            sx, sy = xb[qj] - xa[qj], yb[qj] - ya[qj]
            den = rx * sy - ry * sx
            if den == 0.0:
                continue
            qx, qy = xa[qj] - xa[qi], ya[qj] - ya[qi]
            t = (qx * sy - qy * sx) / den
            u = (qx * ry - qy * rx) / den
            if 0.0 < t < 1.0 and 0.0 < u < 1.0:
                ev[m] = _clip01(ya[qi] + t * ry)
                m += 1
    ev = _sorted(ev[:m])
    bounds = np.empty(m)
    nb = 0
    for k in range(m):
        if ev[k] < 1.0 and (nb == 0 or ev[k] != bounds[nb - 1]):
            bounds[nb] = ev[k]
            nb += 1
    bounds[nb] = 1.0
    S = nb
    # the left side's winding in each slab: its steps at or above the slab's top
    w_left = np.empty(S)
    c0 = np.empty(S)
    cov = 0.0
    for s in range(S):
        w = w_top
        for i in range(n):
            q = q0 + i
            if xa[q] == 0.0 and ya[q] <= bounds[s]:
                w -= 1.0
            if xb[q] == 0.0 and yb[q] <= bounds[s]:
                w += 1.0
        w_left[s] = w
        c0[s] = _covered(w, evenodd)
        cov += c0[s] * (bounds[s + 1] - bounds[s])
    # 3. the (slab, piece) entries where a piece spans a slab, sorted by slab and x
    span = np.zeros((n, 2), np.int64)  # each piece's slabs [first, last): bounds below its ends
    total = 0
    for i in range(n):
        q = q0 + i
        if yb[q] != ya[q]:
            lo, hi = min(ya[q], yb[q]), max(ya[q], yb[q])
            for s in range(S + 1):
                if bounds[s] < lo:
                    span[i, 0] += 1
                if bounds[s] < hi:
                    span[i, 1] += 1
            total += span[i, 1] - span[i, 0]
    key = np.empty(total, np.int64)
    slot = np.empty(total, np.int64)
    slab = np.empty(total, np.int64)
    f0 = np.empty(total)
    f1 = np.empty(total)
    xm = np.empty(total)
    k = 0
    for i in range(n):
        q = q0 + i
        dy = yb[q] - ya[q]
        if dy == 0.0:
            continue
        for s in range(span[i, 0], span[i, 1]):
            f_lo = _clip01((bounds[s] - ya[q]) / dy)
            f_hi = _clip01((bounds[s + 1] - ya[q]) / dy)
            x_mid = xa[q] + (f_lo + f_hi) * 0.5 * (xb[q] - xa[q])
            key[k] = (s << 40) + int(_clip01(x_mid) * _KEY)
            slot[k], slab[k], f0[k], f1[k], xm[k] = q, s, f_lo, f_hi, x_mid
            k += 1
    order = _stable_order(key[:k])
    extra = 0.0
    w = c_prev = 0.0
    s_prev = -1
    for o in order:
        s, q = slab[o], slot[o]
        if s != s_prev:
            w, c_prev, s_prev = w_left[s], c0[s], s
        sign = _sign(yb[q] - ya[q])
        w += sign
        c = _covered(w, evenodd)
        delta = c - c_prev
        extra += delta * (bounds[s + 1] - bounds[s]) * (1.0 - xm[o])
        beta = delta * sign
        if beta != 0.0:
            _part(ua, ub, q, f0[o], f1[o], beta, e)
        c_prev = c
    cov += extra
    # horizontal pieces: the windings just above and below them, from a slab beside them
    for i in range(n):
        q = q0 + i
        if ya[q] != yb[q] or xa[q] == xb[q]:
            continue
        y0 = ya[q]
        below = y0 < 1.0
        sl = -1
        for s in range(S + 1):
            if bounds[s] < y0 or (below and bounds[s] == y0):
                sl += 1
        sl = min(max(sl, 0), S - 1)
        top, bot = bounds[sl], bounds[sl + 1]
        mid = (top + bot) * 0.5
        line = top if below else bot
        lo_x, hi_x = min(xa[q], xb[q]), max(xa[q], xb[q])
        cuts = np.empty(n + 2)
        x_at = np.empty(n)
        s_at = np.zeros(n)
        cuts[0] = lo_x
        for j in range(n):
            r = q0 + j
            x_at[j] = 0.0
            if min(ya[r], yb[r]) < mid < max(ya[r], yb[r]):
                dyr = yb[r] - ya[r]
                x_at[j] = xa[r] + _clip01((line - ya[r]) / dyr) * (xb[r] - xa[r])
                s_at[j] = _sign(dyr)
                cuts[j + 1] = min(max(x_at[j], lo_x), hi_x)
            else:
                cuts[j + 1] = hi_x
        cuts[n + 1] = hi_x
        cuts[1 : n + 1] = _sorted(cuts[1 : n + 1])
        step = _sign(xb[q] - xa[q])  # the winding above less the one below
        run = xb[q] - xa[q]
        for j in range(n + 1):
            a, b = cuts[j], cuts[j + 1]
            if a == b:  # (a part of no length: nothing to integrate)
                continue
            mid_x = (a + b) * 0.5
            side = w_left[sl]
            for r in range(n):
                if s_at[r] != 0.0 and x_at[r] < mid_x:
                    side += s_at[r]
            other = side + step if below else side - step
            beta = _covered(max(side, other), evenodd) - _covered(min(side, other), evenodd)
            if beta != 0.0:
                _part(ua, ub, q, (a - xa[q]) / run, (b - xa[q]) / run, beta, e)
    return cov


@njit(cache=True, nogil=True)
def _resolve(starts, counts, xa, ya, xb, yb, ua, ub, area, evenodd, force, cov, done, e):  # pragma: no cover - compiled
    for c in range(starts.shape[0]):
        q0, n = starts[c], counts[c]
        if force[q0] or _tangled(q0, n, xa, ya, xb, yb):
            cov[c] = min(max(_sweep(q0, n, xa, ya, xb, yb, ua, ub, area[q0], evenodd[q0], e), 0.0), 1.0)
            done[c] = True


def resolve(p, max_pieces: int):
    """:func:`.exact_cells.resolve_numpy`'s result (a :class:`.exact_cells.Resolved`) for
    the pieces ``p`` (a :class:`.exact_cells.CellPieces`), computed pixel by pixel."""
    from .exact_cells import Resolved, pixel_runs

    Q = p.cell.shape[0]
    starts, counts = pixel_runs(p.cell, max_pieces)
    C = starts.shape[0]
    cov, done, e = np.zeros(C), np.zeros(C, dtype=np.bool_), np.zeros((2, Q))
    force = np.zeros(Q, dtype=np.bool_) if p.force is None else np.ascontiguousarray(p.force, dtype=np.bool_)
    f64 = lambda a: np.ascontiguousarray(a, dtype=np.float64)  # noqa: E731
    _resolve(starts.astype(np.int64), counts.astype(np.int64), f64(p.xa), f64(p.ya), f64(p.xb), f64(p.yb), f64(p.ua), f64(p.ub),
             f64(p.area), np.ascontiguousarray(p.evenodd, dtype=np.bool_), force, cov, done, e)
    kept = np.flatnonzero(done)
    n = counts[kept]
    pixel = np.repeat(np.arange(kept.shape[0]), n)
    piece = np.repeat(starts[kept] - (np.cumsum(n) - n), n) + np.arange(pixel.shape[0])
    real = p.real[piece]
    return Resolved(starts[kept], cov[kept], piece, pixel, e[0, piece] * real, e[1, piece] * real)


def compile_for(dtype=None) -> bool:
    """Compile (or load) the kernel on a two-piece pixel (a figure eight's crossing), so a
    failure shows before a render relies on it (:func:`.jit.compiled`; float64 whatever
    ``dtype``)."""
    from .exact_cells import CellPieces

    one = np.ones(2)
    resolve(CellPieces(np.zeros(2, np.int64), np.array([0.0, 1.0]), np.array([0.0, 0.0]), np.array([1.0, 0.0]),
                       np.array([1.0, 1.0]), np.zeros(2), one, one, np.zeros(2), np.zeros(2, bool), np.ones(2, bool)), 64)
    return True
