"""Exact coverage of the pixels that several contours cross.

The accumulation rasterizer (:mod:`.coverage`) gives each pixel the integral ``A`` of the
winding number over it; ``min(|A|, 1)`` (nonzero) and the even-odd triangle wave of ``|A|``
are exact only where the winding numbers inside the pixel are of one sign and take at most
two adjacent values. Where two contours (or two visits of one contour) pass through the
same pixel they need not be: at the crossing of a figure eight the lobes' windings +1 and -1
cancel in ``A`` (a pixel half covered reads as empty), nested or overlapping contours of one
orientation give windings 0, 1 and 2 (``A`` over-counts).

A pixel is *crossed more than once* when at least two of its edge pieces enter it (start on
its boundary and go inside; :func:`.coverage._short_pieces` flags them): a contour passing
through enters once. Those pixels are few in fills (in a scene of jittered circles, where
a circle's side leaves a pixel and comes back). Most of them are exact already: :func:`_tangled` checks that their pieces are arcs from side to side that
neither cross nor touch and whose crossings of the boundary alternate in direction, and
leaves those out. A loop that a contour closes inside a pixel it enters once enters no
side twice; such pixels are found by the vertices' turning (:func:`.coverage._loop_cells`)
and swept whatever their pieces look like. The others get their coverage exactly, by a
sweep inside each pixel:

1. the winding number along the pixel's left side is a step function of ``y``; its integral
   is ``A`` less the pixel's own pieces' areas, and its steps are where pieces leave or
   enter through that side, which fixes its value at the top;
2. the pixel is cut into horizontal slabs at every piece's end points and at every crossing
   of two pieces; inside a slab no two pieces cross, so sorted by ``x`` they bound gaps of
   one winding number each, and the covered area is the sum of the trapezoids of the gaps
   whose winding is non-zero (odd, for even-odd).

Gradients: the derivative of the covered area with respect to an edge's end points is the
transport integral (see :mod:`.coverage`) over the parts of its pieces that bound the
covered region, each weighted by ``[w+ covered] - [w+ - 1 covered]`` (``w+`` the winding on
the piece's positive side, the higher of its two sides): per piece, two effective integrals
of ``1 - u`` and ``u`` that the coverage's backward applies as it does for other pieces.

The pixels hold a handful of pieces each, so the check and the sweep run in NumPy
(float64) on the host, whose calls on such small arrays cost less than torch's: pixels of
similar piece counts padded to one size, checked in chunks, the tangled ones swept in parts
of similar slab counts (sorted by them, so that a busy pixel does not pad the others).
Pixels with more than :data:`MAX_PIECES` pieces (:data:`MAX_PIECES_ALL` in renders with
``exact="all"``; pieces of no length are not given: :func:`.coverage._crossed_pieces`
leaves them out) keep the approximation (the sweep's cost grows with the slabs, up to the
square of the pieces, times the pieces: a pixel holding a whole small drawing).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: pixels with more pieces than this keep the ``min(|A|, 1)`` approximation: renders with
#: ``exact="auto"`` (the default, optimisation loops) and ``exact="all"`` (one-shot renders)
MAX_PIECES = 64
MAX_PIECES_ALL = 256
#: at most this many (pixel, slab, piece) entries per chunk of the sweep
_CHUNK = 1 << 19
#: up to this many pixels of at most 32 pieces are padded to one size together
_MERGE_BELOW = 256


@dataclass
class CellPieces:
    """The pieces of the pixels to resolve, one entry per piece, sorted by pixel; NumPy
    arrays [Q]. ``cell``: int64 pixel key (equal for the pieces of one pixel); ``xa, ya,
    xb, yb``: float64 end points in the pixel's own coordinates (``[0, 1]^2``), in the edge's
    direction; ``ua, ub``: the piece's parameter interval on its edge; ``real``: 1.0 for
    pieces of the edge itself, 0.0 for parts clamped onto the layer's box (no gradient);
    ``area``: the winding integral ``A`` of the piece's pixel; ``evenodd``: bool, the
    pixel's fill rule; ``force``: bool, sweep the pixel even if its pieces look simple (a
    loop may close inside it: :func:`.coverage._loop_cells`; None: no pixel)."""

    cell: np.ndarray
    xa: np.ndarray
    ya: np.ndarray
    xb: np.ndarray
    yb: np.ndarray
    ua: np.ndarray
    ub: np.ndarray
    real: np.ndarray
    area: np.ndarray
    evenodd: np.ndarray
    force: np.ndarray | None = None


@dataclass
class Resolved:
    """Exact coverage of the resolved pixels (NumPy). ``first``: [C] index of each pixel's
    first piece in the input; ``cov``: [C] float64 in [0, 1]; ``piece``: [Q'] indices of the
    input pieces that belong to resolved pixels; ``pixel``: [Q'] their pixel (index into
    ``cov``); ``i0``, ``i1``: [Q'] effective transport integrals: ``d cov / d P0 = (-d_y,
    d_x) i0`` and ``d cov / d P1 = (-d_y, d_x) i1``, summed over a pixel's pieces."""

    first: np.ndarray
    cov: np.ndarray
    piece: np.ndarray
    pixel: np.ndarray
    i0: np.ndarray
    i1: np.ndarray


def resolve(p: CellPieces, max_pieces: int = MAX_PIECES) -> Resolved:
    """Exact coverage of the pixels in ``p`` whose pieces interact (:func:`_tangled`); the
    others, and those with more than ``max_pieces`` pieces, are left out (their
    ``min(|A|, 1)`` is exact, or kept). Pixel by pixel in a compiled loop
    (:mod:`.jit_exact`) when :func:`.jit.available`, else :func:`resolve_numpy`."""
    import torch

    from . import jit
    from .kernel_gate import cpu_module

    module = cpu_module("exact", torch.float64)
    out = None if module is None else jit.attempt(module.resolve, p, max_pieces)
    return out if out is not None else resolve_numpy(p, max_pieces)


def pixel_runs(cell: np.ndarray, max_pieces: int) -> tuple[np.ndarray, np.ndarray]:
    """The pixels of the pieces ``cell`` [Q] (sorted by pixel) that hold at most
    ``max_pieces`` pieces: each one's first piece and its piece count ([C] int64 each)."""
    starts = np.flatnonzero(np.r_[True, cell[1:] != cell[:-1]])
    counts = np.diff(np.r_[starts, cell.shape[0]])
    ok = counts <= max_pieces
    return starts[ok], counts[ok]


def resolve_numpy(p: CellPieces, max_pieces: int = MAX_PIECES) -> Resolved:
    """:func:`resolve` in NumPy: pixels of similar piece counts padded to one size, checked
    and swept as arrays (the reference, and the path without Numba)."""
    starts, counts = pixel_runs(p.cell, max_pieces)
    C = starts.shape[0]
    pixel = np.repeat(np.arange(C), counts)
    offset = np.cumsum(counts) - counts  # each pixel's first row in ``piece``
    piece = np.repeat(starts - offset, counts) + np.arange(pixel.shape[0])
    rank = piece - starts[pixel]
    cov, done = np.zeros(C), np.zeros(C, dtype=bool)
    i0 = np.zeros(piece.shape[0])
    i1 = np.zeros(piece.shape[0])

    def slots(ids: np.ndarray, M: int) -> _Slots:
        """The pieces of pixels ``ids`` [k] (increasing) in [k, M] slots."""
        n = counts[ids]
        slot = np.repeat(np.arange(ids.shape[0]), n)
        rows = offset[ids][slot] + np.arange(slot.shape[0]) - (np.cumsum(n) - n)[slot]
        at = (slot, rank[rows])
        src = piece[rows]
        geo = []
        for a in (p.xa, p.ya, p.xb, p.yb):
            g = np.ones((ids.shape[0], M))
            g[at] = a[src]
            geo.append(g)
        valid = np.zeros((ids.shape[0], M), dtype=bool)
        valid[at] = True
        return _Slots(ids, rows, at, geo, valid, _pairs(*geo))

    def sweep(c: _Slots, hit: np.ndarray) -> None:
        """Sweep the pixels of ``c`` (``hit``: their pairs' :func:`_crossing`): their coverage
        and their pieces' effective integrals."""
        first = starts[c.ids]
        cv, parts = _sweep(*c.geo, c.valid, p.area[first], p.evenodd[first], c.pairs, hit)
        cov[c.ids] = cv
        done[c.ids] = True
        # effective integrals: the pieces' parameter sub-intervals weighted by beta, summed
        # per slot over the parts where beta is not 0 (the covered region's boundary: few)
        k, M = c.valid.shape
        ua, ub = (np.zeros(k * M) for _ in range(2))
        slot = c.at[0] * M + c.at[1]
        ua[slot], ub[slot] = p.ua[piece[c.rows]], p.ub[piece[c.rows]]
        e0, e1 = np.zeros(k * M), np.zeros(k * M)
        for at, m, f_lo, f_hi, b in parts:
            s = at * M + m
            a0, a1 = ua[s], ub[s]
            v_lo, v_hi = a0 + f_lo * (a1 - a0), a0 + f_hi * (a1 - a0)
            v1, v2 = np.minimum(v_lo, v_hi), np.maximum(v_lo, v_hi)
            j1 = (v2 * v2 - v1 * v1) * 0.5
            e0 += np.bincount(s, b * ((v2 - v1) - j1), minlength=k * M)
            e1 += np.bincount(s, b * j1, minlength=k * M)
        i0[c.rows] = e0[slot]
        i1[c.rows] = e1[slot]

    # pixels of similar piece counts padded to one size (a power of two); when they are few,
    # those with at most 32 pieces all to their largest count (each size costs ~150 NumPy
    # calls; padding, a few more pairs of pieces and a sweep whose cost grows with the cube
    # of the size, which many pixels, as thin strokes give, would pay many times)
    size = np.maximum(np.ceil(np.log2(np.maximum(counts, 1))).astype(np.int64), 2)
    small = size <= 5
    if np.count_nonzero(small) <= _MERGE_BELOW:
        size[small] = 0
    for bits in np.unique(size):
        sel = np.flatnonzero(size == bits)
        M = 1 << int(bits) if bits else int(counts[sel].max())
        step = max(1, _CHUNK // (M * M))  # (the pairs: M (M - 1) / 2 per pixel)
        for lo in range(0, sel.shape[0], step):
            chunk = slots(sel[lo : lo + step], M)
            tangled = _tangled(*chunk.geo, chunk.valid, chunk.pairs)
            if p.force is not None:
                tangled |= p.force[starts[chunk.ids]]
            if not tangled.any():
                continue
            if not tangled.all():
                chunk = chunk.subset(np.flatnonzero(tangled))
            # the sweep's largest arrays: [k, S, 2M] (the left side's steps per slab; S the
            # slabs: at most the end points and crossings, the most in the part; the entries
            # where pieces span slabs are fewer) and [k, M, M + 1, M] where horizontal pieces
            # are: in parts of at most _CHUNK entries, pixels of similar sizes together
            dy0 = (chunk.geo[1] == chunk.geo[3]) & (chunk.geo[0] != chunk.geo[2]) & chunk.valid
            hit = _crossing(chunk.valid, chunk.pairs)  # (sizes the parts, and the sweep cuts its slabs there)
            cost = (2 * chunk.valid.sum(1) + hit.sum(1) + 2) * 2 * M + dy0.any(1) * M * M * (M + 1)
            for part in _parts(cost):
                whole = part.shape[0] == chunk.ids.shape[0]
                sweep(chunk if whole else chunk.subset(part), hit if whole else hit[part])
    kept = np.flatnonzero(done)
    rows = np.flatnonzero(done[pixel])
    renumber = np.cumsum(done) - 1
    real = p.real[piece[rows]]
    return Resolved(starts[kept], np.clip(cov[kept], 0.0, 1.0), piece[rows], renumber[pixel[rows]], i0[rows] * real, i1[rows] * real)


@dataclass
class _Slots:
    """Pixels ``ids`` [k] (increasing) with their pieces padded to ``M`` slots each:
    ``rows`` [n] the pieces' positions in :func:`resolve`'s piece order and ``at`` their
    slots (pixel [n], rank [n]); ``geo``: the four [k, M] end-point arrays ``xa, ya, xb,
    yb`` (padding 1.0); ``valid``: [k, M] bool; ``pairs``: :func:`_pairs` of the slots."""

    ids: np.ndarray
    rows: np.ndarray
    at: tuple[np.ndarray, np.ndarray]
    geo: list[np.ndarray]
    valid: np.ndarray
    pairs: tuple[np.ndarray, ...]

    def subset(self, sel: np.ndarray) -> _Slots:
        """The pixels at positions ``sel`` [k'] (increasing) of these, slots renumbered."""
        slot = np.full(self.ids.shape[0], -1)
        slot[sel] = np.arange(sel.shape[0])
        new = slot[self.at[0]]
        kept = new >= 0
        return _Slots(
            self.ids[sel], self.rows[kept], (new[kept], self.at[1][kept]), [g[sel] for g in self.geo],
            self.valid[sel], tuple(a[sel] for a in self.pairs),
        )


def _parts(cost: np.ndarray) -> list[np.ndarray]:
    """Positions (increasing, each list) of pixels whose per-pixel ``cost`` [k] (entries of
    the sweep's arrays when padded to it) fit in parts of at most :data:`_CHUNK` entries
    (a part's pixels are padded to its largest cost; one pixel per part at least): pixels
    sorted by cost, so that one busy pixel does not widen the others."""
    if cost.shape[0] * cost.max() <= _CHUNK:
        return [np.arange(cost.shape[0])]
    order = np.argsort(cost, kind="stable")
    c = cost[order]
    parts, lo = [], 0
    while lo < c.shape[0]:
        # the most pixels from lo whose count times the last one's cost fits (non-decreasing)
        fits = np.arange(1, c.shape[0] - lo + 1) * c[lo:]
        hi = lo + max(1, int(np.searchsorted(fits, _CHUNK, side="right")))
        parts.append(np.sort(order[lo:hi]))
        lo = hi
    return parts


def _pairs(xa, ya, xb, yb) -> tuple[np.ndarray, ...]:
    """Every pair ``i < j`` of the ``M`` slots of ``k`` pixels ([k, M] end points): the
    cross product ``den`` of their directions, and the parameters ``t`` (along ``i``) and
    ``u`` (along ``j``) where their lines meet (0 where parallel), and ``un``, ``u``'s
    numerator (0 when parallel pieces lie on one line); each [k, M (M - 1) / 2]."""
    M = xa.shape[1]
    ii, jj = np.triu_indices(M, 1)
    dx, dy = xb - xa, yb - ya
    rx, ry, sx, sy = dx[:, ii], dy[:, ii], dx[:, jj], dy[:, jj]
    qx, qy = xa[:, jj] - xa[:, ii], ya[:, jj] - ya[:, ii]
    den = rx * sy - ry * sx
    safe = np.where(den == 0, 1.0, den)
    un = qx * ry - qy * rx
    return den, (qx * sy - qy * sx) / safe, un / safe, un


def _tangled(xa, ya, xb, yb, valid, pairs) -> np.ndarray:
    """[k] whether the pieces of a pixel (``[k, M]`` as in :func:`_sweep`) may leave its
    ``min(|A|, 1)`` inexact. They cannot when they form arcs from side to side that neither
    cross nor touch one another (pieces sharing an end point are one arc) and no piece runs
    along a side: the arcs then split the pixel into regions whose windings differ by one
    across each arc, and, walked around the pixel's boundary, the winding alternates
    between two adjacent values exactly when the arcs' crossings of the boundary alternate in
    direction, so the whole pixel holds those two values (exact). The usual pixel entered
    twice, by a contour that leaves through a side and comes back (a circle's side near a
    grid line), is such a pixel. (A closed contour wholly inside the pixel is not seen here,
    nor by the entry count that selects the pixels: pixels where a loop may close come
    flagged, ``CellPieces.force``, and are swept whatever this says.)"""
    k, M = xa.shape
    dx, dy = xb - xa, yb - ya
    live = valid & ((dx != 0) | (dy != 0))
    # where the pieces' end points lie on the boundary, walked clockwise from the top-left:
    # the position along it and the direction of the crossing (the side's tangent x the
    # piece's direction)
    x = np.concatenate([xa, xb], 1)
    y = np.concatenate([ya, yb], 1)
    ddx, ddy = np.concatenate([dx, dx], 1), np.concatenate([dy, dy], 1)
    top, right, bottom, left = y == 0, x == 1, y == 1, x == 0
    pos = np.where(top, x, np.where(right, 1 + y, np.where(bottom, 3 - x, np.where(left, 4 - y, np.inf))))
    turn = np.where(top, ddy, np.where(right, -ddx, np.where(bottom, -ddy, np.where(left, ddx, 0.0))))
    turn = np.sign(turn) * np.concatenate([live, live], 1)
    walk = np.cumsum(np.take_along_axis(turn, np.argsort(pos, 1, kind="stable"), 1), 1)  # (ties in piece order, as jit_exact)
    spread = np.maximum(walk.max(1), 0) - np.minimum(walk.min(1), 0)
    along = live & (((ya == 0) & (yb == 0)) | ((ya == 1) & (yb == 1)) | ((xa == 0) & (xb == 0)) | ((xa == 1) & (xb == 1)))
    # pairs of pieces that cross or touch (end points included), other than consecutive ones
    # (``pairs``: :func:`_pairs` of these pieces)
    ii, jj = np.triu_indices(M, 1)
    den, t, u, un = pairs
    meet = np.where(den != 0, (t >= 0) & (t <= 1) & (u >= 0) & (u <= 1), un == 0)
    chained = ((xb[:, ii] == xa[:, jj]) & (yb[:, ii] == ya[:, jj])) | ((xa[:, ii] == xb[:, jj]) & (ya[:, ii] == yb[:, jj]))
    touch = (meet & ~chained & live[:, ii] & live[:, jj]).any(1)
    return touch | along.any(1) | (spread > 1)


def _crossing(valid, pairs) -> np.ndarray:
    """[k, M (M - 1) / 2] bool: the pairs of pieces (``pairs``: :func:`_pairs`; ``valid``:
    [k, M] their slots' validity) that cross strictly inside both: where the sweep cuts a
    slab."""
    M = valid.shape[1]
    ii, jj = np.triu_indices(M, 1)
    den, t, u, _ = pairs
    return (den != 0) & (t > 0) & (t < 1) & (u > 0) & (u < 1) & valid[:, ii] & valid[:, jj]


def _covered(w: np.ndarray, evenodd: np.ndarray) -> np.ndarray:
    """1.0 where winding numbers ``w`` [k, ...] (integer-valued floats) count as inside:
    non-zero, or odd where ``evenodd`` [k] is true."""
    if not evenodd.any():  # (the nonzero rule alone: no remainder to compute)
        return (w != 0).astype(np.float64)
    eo = evenodd.reshape(-1, *([1] * (w.ndim - 1)))
    return np.where(eo, np.remainder(w, 2.0) == 1, w != 0).astype(np.float64)


def _sweep(xa, ya, xb, yb, valid, area, evenodd, pairs, hit=None):
    """The covered area of ``k`` pixels from their pieces, ``M`` slots each.

    ``xa, ya, xb, yb``: [k, M] float64 end points in pixel coordinates (``[0, 1]``); ``valid``:
    [k, M] bool (padding slots are False); ``area``: [k] the winding integral ``A`` of each
    pixel; ``evenodd``: [k] bool; ``pairs``: :func:`_pairs` of the pieces; ``hit``: their
    :func:`_crossing` when the caller has it. Returns ``cov`` [k]
    and the parts of the pieces that bound the covered region: a list of ``(pixel, slot,
    f_lo, f_hi, beta)`` [n] each, the part's pixel and slot, its ends as fractions of its
    piece (0 at the piece's start, 1 at its end) and its gradient weight (not 0): the pieces
    cut at the slabs, and the horizontal pieces cut where the others meet their line.

    Inside a slab no two pieces cross: the pieces spanning it, sorted by ``x``, bound gaps of
    one winding each. Only the (pixel, slab, piece) entries where the piece spans the slab
    are formed (a piece spans a run of its pixel's slabs: about a tenth of all triples in
    thin-stroke pixels), sorted by slab and ``x``, their windings a running sum per slab."""
    k, M = xa.shape
    vf = valid.astype(np.float64)
    dx, dy = xb - xa, yb - ya
    # 1. the winding on the left side: steps where pieces leave (+1) or enter (-1) through it
    jy = np.concatenate([ya, yb], 1)  # [k, 2M]
    jv = np.concatenate([-(valid & (xa == 0)).astype(np.float64), (valid & (xb == 0)).astype(np.float64)], 1)
    own = (vf * dy * (1 - (xa + xb) * 0.5)).sum(1)
    w_top = np.round((area - own) - (jv * (1 - jy)).sum(1))
    # 2. slabs between all end points and crossings
    ii, _ = np.triu_indices(M, 1)
    t = pairs[1]
    hit = _crossing(valid, pairs) if hit is None else hit
    ev = np.concatenate(
        [np.zeros((k, 1)), np.ones((k, 1)), np.where(valid, ya, 1.0), np.where(valid, yb, 1.0), np.where(hit, ya[:, ii] + t * dy[:, ii], 1.0)], 1
    )
    ev = np.sort(np.clip(ev, 0.0, 1.0), 1)
    # repeated events (a piece's end is the next one's start) and those at 1 make slabs of no
    # height: moved to the end and left out
    ev[:, 1:][ev[:, 1:] == ev[:, :-1]] = 1.0
    ev = np.sort(ev, 1)
    ev = ev[:, : int((ev < 1).sum(1).max()) + 1]  # [k, S + 1]
    S = ev.shape[1] - 1
    top, bot = ev[:, :-1], ev[:, 1:]  # [k, S]
    h = bot - top
    # the left side's winding in each slab: its steps at or above the slab's top
    order = np.argsort(jy, 1)
    steps = np.cumsum(np.take_along_axis(jv, order, 1), 1)
    above = (np.take_along_axis(jy, order, 1)[:, None, :] <= top[:, :, None]).sum(2)  # [k, S] steps at or above
    w_left = w_top[:, None] + np.where(above > 0, np.take_along_axis(steps, np.maximum(above - 1, 0), 1), 0.0)
    # 3. the (pixel, slab, slot) entries where a piece spans a slab: slabs [first, last) of
    # its pixel (its end points are events, so it spans whole slabs)
    p, m = np.nonzero(valid & (dy != 0))
    lo, hi = np.minimum(ya, yb)[p, m], np.maximum(ya, yb)[p, m]
    rows = ev[p]
    first, last = (rows < lo[:, None]).sum(1), (rows < hi[:, None]).sum(1)
    count = last - first
    rep = np.repeat(np.arange(p.shape[0]), count)
    sl = first[rep] + np.arange(rep.shape[0]) - np.repeat(np.cumsum(count) - count, count)
    p, m = p[rep], m[rep]
    ya_, dx_, dy_ = ya[p, m], dx[p, m], dy[p, m]
    f_lo = np.clip((top[p, sl] - ya_) / dy_, 0, 1)
    f_hi = np.clip((bot[p, sl] - ya_) / dy_, 0, 1)
    x_mid = xa[p, m] + (f_lo + f_hi) * 0.5 * dx_
    # by slab, then x: the windings right of each piece are the slab's left winding plus a
    # running sum of the pieces' signs (+1 downward) within the slab
    seg = p * S + sl
    # one integer key: the slab in the high bits, x (in [0, 1], clipped against rounding so
    # that it never reaches the next slab's bits) to 2^-40 in the low ones (k S stays below
    # 2^23 within _CHUNK entries; a third of the time of a two-key lexsort)
    # (stable: pieces at one x, as coincident edges are, in piece order whatever NumPy's sort
    # implementation; the first of them takes the gradient of the winding step they make)
    o = np.argsort((seg << 40) + (np.clip(x_mid, 0.0, 1.0) * (2.0**40 - 1)).astype(np.int64), kind="stable")
    p, m, sl, seg, f_lo, f_hi, x_mid = p[o], m[o], sl[o], seg[o], f_lo[o], f_hi[o], x_mid[o]
    sign = np.sign(dy_[o])
    starts = np.ones(seg.shape[0], dtype=bool)  # the first entry of each slab's run
    starts[1:] = seg[1:] != seg[:-1]
    run = np.cumsum(sign)
    base = (run - sign)[starts]
    w = w_left[p, sl] + run - base[np.cumsum(starts) - 1]
    c = _covered(w, evenodd[p])
    c0 = _covered(w_left, evenodd)  # [k, S] left of every piece
    prev = np.where(starts, c0[p, sl], np.r_[0.0, c[:-1]])
    delta = c - prev
    cov = (c0 * h).sum(1) + np.bincount(p, delta * h[p, sl] * (1 - x_mid), minlength=k)
    beta = delta * sign
    nz = beta != 0
    parts = [(p[nz], m[nz], f_lo[nz], f_hi[nz], beta[nz])]
    # horizontal pieces: the windings just above and below them, from a slab beside them
    flat = valid & (dy == 0) & (dx != 0)
    if flat.any():
        parts.append(_flat_parts(xa, ya, xb, yb, valid, flat, ev, w_left, evenodd))
    return cov, parts


def _flat_parts(xa, ya, xb, yb, valid, flat, ev, w_left, evenodd):
    """The parts (as :func:`_sweep` returns them) of the horizontal pieces ``flat`` [k, M],
    cut where the other pieces meet their line: along each part the windings just above and
    below differ by one (the higher on the piece's positive side), and its weight is
    whether the higher one counts as covered less whether the lower one does. The windings
    come from the slab below the piece (above it, for a piece on the pixel's bottom side):
    ``ev`` [k, S + 1] the slabs' bounds, ``w_left`` [k, S] their left side's windings."""
    k, S = w_left.shape
    dx, dy = xb - xa, yb - ya
    y0 = ya[:, :, None]
    below = ya < 1
    # the slab starting at the piece (below it), or the one ending at it (above it)
    slab = np.where(below, (ev[:, None, :] <= y0).sum(2) - 1, (ev[:, None, :] < y0).sum(2) - 1).clip(0, S - 1)  # [k, M]
    top, bot = np.take_along_axis(ev, slab, 1), np.take_along_axis(ev, slab + 1, 1)  # [k, M]
    mid = ((top + bot) * 0.5)[:, :, None]
    # the other pieces in that slab: [k, M (piece), M (other)]
    crossing = valid[:, None, :] & (np.minimum(ya, yb)[:, None, :] < mid) & (mid < np.maximum(ya, yb)[:, None, :])
    line = np.where(below, top, bot)[:, :, None]  # the piece's line
    safe_dy = np.where(dy == 0, 1.0, dy)[:, None, :]
    x_at = xa[:, None, :] + np.clip((line - ya[:, None, :]) / safe_dy, 0, 1) * dx[:, None, :]  # where the others cross it
    s_at = np.sign(dy)[:, None, :] * crossing
    lo_x, hi_x = np.minimum(xa, xb)[:, :, None], np.maximum(xa, xb)[:, :, None]
    cuts = np.sort(np.clip(np.where(crossing, x_at, hi_x), lo_x, hi_x), 2)
    ends = np.concatenate([lo_x, cuts, hi_x], 2)  # [k, M, M + 2]
    a, b = ends[:, :, :-1], ends[:, :, 1:]  # the parts [k, M, M + 1]
    mid_x = (a + b) * 0.5
    w_side = np.take_along_axis(w_left, slab, 1)[:, :, None] + (s_at[:, :, None, :] * (crossing[:, :, None, :] & (x_at[:, :, None, :] < mid_x[..., None]))).sum(3)
    step = np.sign(xb - xa)[:, :, None]  # the winding above less the one below
    other = np.where(below[:, :, None], w_side + step, w_side - step)
    hi, lo = np.maximum(w_side, other), np.minimum(w_side, other)
    beta = (_covered(hi, evenodd) - _covered(lo, evenodd)) * flat[:, :, None]
    span_x = np.where(flat, xb - xa, 1.0)[:, :, None]
    p, m, j = np.nonzero(beta)
    return p, m, (a[p, m, j] - xa[p, m]) / span_x[p, m, 0], (b[p, m, j] - xa[p, m]) / span_x[p, m, 0], beta[p, m, j]
