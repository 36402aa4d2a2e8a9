"""Exact box-filter coverage of polygons: the signed-area accumulation rasterizer.

Input: directed line edges (closed polygons, any number per layer) in canvas pixels; pixel
``(i, j)`` covers ``[j, j+1] x [i, i+1]``. For every layer (one filled outline: a path's
fill, a stroke outline, a clip shape) we compute, for each pixel of its bounding box, the
integral ``A`` of the winding number over the pixel:

1. each layer's box is its edges' bounding box, intersected with the canvas, and one
   pixel more on each side where the extent ends on a pixel boundary (so that a
   grid-aligned shape's sides lie inside the box, not on its border, where edges are
   dropped or counted as walls without gradient; see ``_boundary_offsets`` for their
   pieces' gradient); the boxes are blocks of one buffer, row by row, each row with one
   extra "spill" cell on its right (blocks padded to one size when the boxes are alike,
   else packed one after another);
2. every edge is cut at the integer x and y lines it crosses, so that each piece lies in
   one pixel (pieces are intervals ``[u_a, u_b]`` of their edge's parameter). After
   flattening nearly every edge crosses at most one line per axis: those are cut by a dense
   three-piece template (:func:`_short_pieces`) that runs over all edges at once (the
   pieces of the other edges carry nothing). Edges wholly above, below or right of their
   box are dropped; edges wholly left of it across several rows add their height to
   column 0 of each row (:func:`_wall_pieces`); the remaining longer edges are first
   clamped onto their box and split into template-sized parts (:func:`_subdivide`). A
   piece left of the box lands in column 0 with all its height (a vertical edge on the
   box's left side has the same winding inside), pieces above or below it count nothing,
   pieces right of it go to the spill cell;
3. a piece with height ``dy`` and mean x offset ``m`` inside its pixel adds ``dy`` to the
   pixel's "cover" and ``dy m`` to its "area" (the accumulation rasterizer of font-rs /
   stb_truetype);
4. ``A`` = prefix sum of cover along the row minus area: a row-wise sum for padded blocks; for
   packed ones each row's cover is made to sum to exactly zero (its spill cell takes the
   remainder), so one float64 prefix sum runs over the whole buffer.

Gradients are analytic (:class:`_WindingArea`), not traced through the cutting: the
derivative of a pixel's ``A`` with respect to an edge's end points is the integral, over the
part of the edge inside that pixel, of the boundary's normal velocity (Reynolds transport).
For an edge ``P(u) = (1 - u) P0 + u P1`` with ``d = P1 - P0`` and a piece ``[u_a, u_b]``
in the pixel: ``dA/dP0 = (-d_y, d_x) I0`` and ``dA/dP1 = (-d_y, d_x) I1`` with
``I0 = int (1 - u) du`` and ``I1 = int u du`` over the piece. Clamped outside parts slide
along the canvas border and contribute nothing. This is the exact derivative of the exact
area (a piecewise polynomial of the end points), one gather and one scatter per piece.

Coverage from ``A``: nonzero rule ``min(|A|, 1)``, even-odd rule the triangle wave
``1 - |1 - (|A| mod 2)|``. Both are exact in every pixel whose winding numbers are all of
one sign and take at most two adjacent values (``{0, s}``, ``{s, 2s}``...): every interior
pixel and every pixel a single contour passes through once. A pixel that two or more pieces
enter (:func:`_entry_counts`: contours crossing or overlapping there, windings 0 and 2 or
+1 and -1 inside one pixel) is resolved exactly by :mod:`.exact_cells`, which replaces its
coverage and gives its gradient as effective pieces (:class:`_WindingArea`'s ``exact``).

On CUDA (float32, padded layout, Triton present) steps 2-3 for the short edges run as one
fused kernel each way (:mod:`.fused_coverage`); longer edges and walls take the path below.
On the CPU, when Numba is installed, the boxes, steps 2-3 for the short edges, step 4 with
the kept cells' fragments, and the backward's transport run as compiled loops
(:mod:`.jit_coverage`, any layout); longer edges and walls take the path below there too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from . import exact_cells
from .kernel_gate import cpu_kernels_for, kernels_for

Tensor = torch.Tensor


@dataclass
class Fragments:
    """Per-pixel coverage of layers. ``cov``: [F] in [0, 1]; ``layer``: [F] int64; ``pixel``:
    [F] int64 flat index ``b * H * W + y * W + x``. Fragments of one layer are contiguous,
    row-major inside the layer's box, and layers appear in increasing order; pixels whose
    winding integral is exactly 0 are left out (unless several contours cross them)."""

    cov: Tensor
    layer: Tensor
    pixel: Tensor


def flat_nonzero(mask: Tensor, count: int | None = None) -> Tensor:
    """[K] int64 positions of the true (non-zero) entries of a 1-D ``mask`` [N], in order:
    ``mask.nonzero().squeeze(-1)``. On the CPU through NumPy's ``flatnonzero`` on the
    tensor's memory (no copy): for a bool mask several times faster than torch's CPU
    ``nonzero`` (``benchmarks/raster_bench.py --ops`` prints both for the 222720 cells of
    the 256-path scene's coverage buffer). ``count``: K when the caller knows it: then
    ``nonzero_static`` on every device (on a GPU no device read for the result's size)."""
    if count is not None:
        return torch.nonzero_static(mask, size=count).squeeze(-1)
    if mask.device.type == "cpu" and not mask.requires_grad:
        return torch.from_numpy(np.flatnonzero(mask.numpy()))
    return mask.nonzero().squeeze(-1)


def take(x: Tensor, idx: Tensor) -> Tensor:
    """``x[idx]`` along dim 0 for int64 ``idx`` (or a bool mask) via ``index_select``, whose
    backward is a fast ``index_add`` (plain advanced indexing back-propagates through a
    slow accumulating ``index_put``)."""
    if idx.dtype == torch.bool:
        idx = flat_nonzero(idx)
    return x.index_select(0, idx)


def _flag(op, a: Tensor, b) -> Tensor:
    """The comparison ``op(a, b)`` (``torch.lt``, ``torch.ge``...) as 0/1 values in ``a``'s
    floating dtype, of the broadcast shape. Masks here are such floats, and selections
    ``lerp(b, a, m)`` (exact for m in {0, 1} and finite a, b): on the CPU a comparison written
    into floats costs about one float add, one into bools and its conversion about two
    each, a ``where`` ~15 (``benchmarks/raster_bench.py --ops``)."""
    return op(a, b, out=a.new_empty(0))


@dataclass
class _Boxes:
    """Layer boxes in whole pixels, clipped to the canvas, and their buffer layout; all [L]
    int64. Empty boxes have ``w = h = 0``. A box's cell ``(row, col)`` (``col = w`` is the
    row's spill cell) is buffer cell ``off + row * stride + col`` and buffer row ``row0 +
    row``. ``padded``: every box takes a ``[hmax, wmax + 1]`` block (``stride = wmax + 1``),
    so that all rows have one length; otherwise boxes take ``h (w + 1)`` cells each, one
    after another. ``rows``: the boxes' rows in all (``sum(h)``)."""

    c0: Tensor
    r0: Tensor
    w: Tensor
    h: Tensor
    off: Tensor
    stride: Tensor
    row0: Tensor
    total: int
    padded: bool
    hmax: int
    wmax: int
    rows: int
    centre: Tensor  # [2, L] the middle of each layer's edges' extent (unclipped; inf/nan if empty)

    def table(self, dtype) -> Tensor:
        """[7, L] in ``dtype``: rows c0, r0, w, h, off, stride, row0 (one gather per row
        gives each edge its box; the coverage kernels read it through their ``box_table``)."""
        return torch.stack([self.c0, self.r0, self.w, self.h, self.off, self.stride, self.row0]).to(dtype)


def _layer_extents(e: Tensor, edge_layer: Tensor, num_layers: int) -> Tensor:
    """[4, L]: per layer the least x, the least y, minus the greatest x and minus the greatest y
    of its edges' start points (``e`` [4, E], rows x0, y0, x1, y1; the polygons are closed,
    so every vertex starts an edge), in one ``scatter_reduce``; ``inf`` for a layer without
    edges. (A NumPy ``reduceat`` over layer runs was tried: 0.16-0.23 against 0.31 ms at
    the 256-path scene's 38625 edges, not worth a second path.)"""
    starts = e[:2]
    box = torch.full((4, num_layers), float("inf"), dtype=e.dtype, device=e.device)
    return box.scatter_reduce_(1, edge_layer.expand(4, -1), torch.cat([starts, -starts]), "amin")


def _layer_boxes(e: Tensor, edge_layer: Tensor, num_layers: int, width: int, height: int, layout: str) -> _Boxes:
    """Bounding box of each layer's edges (``e`` [4, E]: rows x0, y0, x1, y1, pixels) clipped
    to the canvas, and the buffer layout (``layout``: ``"auto"`` pads the boxes to one size
    when that wastes little, ``"flat"`` or ``"padded"``). One reduction for all four sides of
    all boxes (:func:`_layer_extents`), and one host read (on the CPU with Numba, the boxes
    and their totals in one compiled loop: :func:`.jit_coverage.boxes`)."""
    dtype, device = e.dtype, e.device
    compiled = cpu_kernels_for("coverage", e)
    if compiled is not None:
        lo, wh, centre, (flat_total, rows, wmax, hmax) = compiled.boxes(e, edge_layer, num_layers, width, height)
        w, h = wh.unbind(0)
        cells = h * (w + 1)
    else:
        box = _layer_extents(e, edge_layer, num_layers)
        centre = (box[:2] - box[2:]) * 0.5
        # ceil(min) - 1 and floor(max) + 1 = 1 - ceil(-max) (the pixels the extent touches,
        # and one more on a side where it ends on a pixel boundary: see the module
        # docstring), clipped to the canvas (an empty layer's infinities and NaN
        # coordinates' NaN become 0 or the canvas size)
        limits = torch.tensor([width, height, width, height], dtype=dtype, device=device).view(4, 1)
        b = torch.cat([box[:2].ceil() - 1, 1 - box[2:].ceil()]).clamp_min_(0)
        b = torch.minimum(b, limits).nan_to_num_(0.0, 0.0, 0.0).long()
        lo = b[:2]
        wh = (b[2:] - lo).clamp_min_(0)
        wh.masked_fill_((wh == 0).any(0), 0)  # a box of no width or no height is empty
        w, h = wh.unbind(0)
        cells = h * (w + 1)
        flat_total, rows, wmax, hmax = (int(v) for v in torch.cat([torch.stack([cells.sum(), h.sum()]), wh.amax(1)]).tolist())
    padded = num_layers * hmax * (wmax + 1) <= 1.25 * flat_total + 4096
    if layout != "auto":
        padded = layout == "padded"
    if padded:
        block = hmax * (wmax + 1)
        off = torch.arange(num_layers, device=device) * block
        stride = torch.full_like(w, wmax + 1)
        row0 = torch.arange(num_layers, device=device) * hmax
        total = num_layers * block
    else:
        off = torch.cumsum(cells, 0) - cells
        stride = w + 1
        row0 = torch.cumsum(h, 0) - h
        total = flat_total
    return _Boxes(lo[0], lo[1], w, h, off, stride, row0, total, padded, hmax, wmax, rows, centre)


@dataclass
class _Pieces:
    """Edge pieces, each inside one pixel of its layer's box. ``cell``: [P] buffer cell;
    ``dy``: [P] signed height (pixels); ``frac``: [P] mean x offset inside the pixel, in
    [0, 1]; ``row``: [P] buffer
    row of ``cell`` (packed layout only, else None); ``edge``: [P / 3] index of the original
    edge (None: the group holds every edge, in order; three pieces per edge: the first pieces of all edges, then the second pieces,
    then the third); ``i0``/``i1``: [P] integrals of ``1 - u`` and ``u`` over the piece's
    parameter interval on that edge (0 for parts clamped onto the box). ``entry``: [3 k]
    1.0 for a piece that enters its pixel (starts on the pixel's boundary and goes inside),
    else 0, for the pieces of the first ``k`` edges (:func:`_entry_flags`,
    :func:`_entry_counts`). ``geom``: the pieces' end points and intervals for
    :mod:`.exact_cells`: ``(X, Y, ua, ub, real, live)``, X and Y [4, P / 3] box-local end
    points (piece ``k`` of edge ``e`` runs from column ``(k, e)`` to ``(k + 1, e)``),
    ``ua``/``ub`` [3, P / 3] its parameter interval on its edge, ``real`` and ``live``
    [3, P / 3] 0/1 (``live``: the piece counts, i.e. lies in its box's rows and its edge is
    one of the group's). ``back``: [P] the offset from ``cell`` to the neighbour whose
    gradient the piece takes when its own cell has no fragment (:func:`_boundary_offsets`),
    or 0."""

    cell: Tensor
    dy: Tensor
    frac: Tensor
    row: Tensor | None
    edge: Tensor | None
    i0: Tensor
    i1: Tensor
    entry: Tensor
    geom: tuple[Tensor, ...]
    back: Tensor


def _place(xm: Tensor, ym: Tensor, w: Tensor, h: Tensor, off: Tensor, stride: Tensor, row0: Tensor | None, ry: Tensor | None = None):
    """Cells of pieces with midpoints ``(xm, ym)`` in box-local pixels, given their box's
    ``w``/``h``/``off``/``stride``/``row0`` (floats, broadcastable; cell arithmetic in their
    dtype, exact for integers below 2^24 in float32; ``row0`` None: no rows wanted; ``ry``:
    ``floor(ym)`` when the caller has it). A piece left of the box lands in column 0 with
    ``frac = 0`` (the clamped vertical edge on the box's left side), one right of it in the
    spill column. Returns ``(frac, cell, row)``, ``row`` the buffer row (or None); ``cell``
    and ``row`` are int32 when the cell arithmetic runs in float32, else int64."""
    # a box of no rows (h = 0) keeps row 0: its pieces carry nothing, their cell only has
    # to exist (the box's offset: a cell of the next box, or the buffer's sink)
    if ry is None:
        ry = torch.floor(ym.to(off.dtype))
    row = torch.minimum(ry.clamp_min(0), (h - 1).clamp_min(0))
    col = torch.minimum(torch.floor(xm.to(off.dtype)).clamp_min_(0), w)
    frac = (xm - col.to(xm.dtype)).clamp_(0, 1)
    # (float -> int32 is several times cheaper than -> int64 on the CPU, and index ops take
    # both; float32 cell arithmetic means a buffer below 2^24 cells)
    itype = torch.int32 if off.dtype == torch.float32 else torch.int64
    cell = torch.addcmul(col + off, row, stride).to(itype)
    buffer_row = None if row0 is None else (row0 + row).to(itype)
    return frac, cell, buffer_row


def _crossings(a0: Tensor, a1: Tensor, low: Tensor | None = None, high: Tensor | None = None) -> Tensor:
    """How many integers lie strictly between ``a0`` and ``a1`` (elementwise, as floats;
    -1 where they are equal integers). ``low``/``high``: their minimum and maximum, when the
    caller has them."""
    low = torch.minimum(a0, a1) if low is None else low
    high = torch.maximum(a0, a1) if high is None else high
    return torch.ceil(high).sub_(torch.floor(low)).sub_(1)


def _short_pieces(
    ids: Tensor | None,
    e: tuple[Tensor, ...],
    n: tuple[Tensor, Tensor],
    box: tuple[Tensor | None, ...],
    span: tuple[Tensor, ...] | None = None,
    mask: Tensor | None = None,
    low: tuple[Tensor, Tensor] | None = None,
    counted: int | None = None,
) -> _Pieces:
    """Pieces of edges that cross at most one integer x and one integer y: three pieces per
    edge (some of zero length), dense [3, K] arithmetic with no gathers. Edges may lie
    partly or wholly outside their box: pieces above or below it get no height, pieces
    left of it are clamped onto its left side (:func:`_place`), and neither gets gradient.

    ``ids``: [K] original edge indices (None: all edges, in order); ``e``: (x0, y0, x1, y1)
    [K] box-local; ``n``: (nx, ny) [K] integer crossings (0 or 1; ``mask`` [K] 0/1 floats, when
    given: the edges whose pieces count, the others' pieces carry nothing); ``box``: (w, h, off, stride, row0) [K] floats of
    each edge's box (``row0`` None: no buffer rows wanted). ``span``: for parts of longer edges, ``(s_a, s_b, real)``
    [K]: the part's parameter interval on edge ``ids`` and whether it is a real part (not
    one clamped onto the box by :func:`_clip_to_boxes`). ``low``: ``(min(x0, x1), min(y0,
    y1))`` when the caller has them. ``counted``: the pieces' entry flags (``_Pieces.entry``)
    are made for the edges below this original index only (None: all)."""
    x0, y0, x1, y1 = e
    dx, dy = x1 - x0, y1 - y0
    # (masks: float 0/1, see _flag)
    fdtype = dx.dtype
    hasx, hasy = n[0].clamp(0, 1), n[1].clamp(0, 1)  # crossings are integers >= -1
    lo = (torch.minimum(x0, x1), torch.minimum(y0, y1)) if low is None else low
    cx, cy = torch.floor(lo[0]) + 1, torch.floor(lo[1]) + 1
    # crossing parameters; where there is no crossing the quotient is replaced by 1, and its
    # denominator d by d + |d| + 1 >= 1 (so that nothing is inf or nan, even for d = 0)
    one = torch.ones_like(dx)
    tx = torch.lerp(one, (cx - x0).div_(torch.lerp(dx.abs().add_(1).add_(dx), dx, hasx)), hasx)
    ty = torch.lerp(one, (cy - y0).div_(torch.lerp(dy.abs().add_(1).add_(dy), dy, hasy)), hasy)
    # crossing points (the end point when there is none); the crossed coordinate is exact
    pxx, pxy = torch.lerp(x1, cx, hasx), torch.lerp(y1, y0 + tx * dy, hasx)
    pyx, pyy = torch.lerp(x1, x0 + ty * dx, hasy), torch.lerp(y1, cy, hasy)
    xfirst = _flag(torch.le, tx, ty)
    t1, t2 = torch.minimum(tx, ty), torch.maximum(tx, ty)
    # [4, K] rows (contiguous: slicing the rows keeps the elementwise loops vectorised)
    X = torch.stack([x0, torch.lerp(pyx, pxx, xfirst), torch.lerp(pxx, pyx, xfirst), x1])
    Y = torch.stack([y0, torch.lerp(pyy, pxy, xfirst), torch.lerp(pxy, pyy, xfirst), y1])
    U = torch.stack([torch.zeros_like(t1), t1, t2, one])
    xm = (X[:-1] + X[1:]).mul_(0.5)
    ym = (Y[:-1] + Y[1:]).mul_(0.5)
    w, h = box[0].to(fdtype), box[1].to(fdtype)
    ry = torch.floor(ym)
    # rows_in: 0 <= ym < h, i.e. 0 <= floor(ym) <= h - 1 (h an integer), or a horizontal
    # piece on the box's bottom side (ym = h: placed in the last row, of no height)
    rows_in = _flag(torch.ge, ry, 0).mul_(_flag(torch.lt, ry, h)).add_(_flag(torch.eq, ym, h))
    if mask is not None:
        rows_in.mul_(mask)
    real = _flag(torch.ge, xm, 0).mul_(_flag(torch.le, xm, w)).mul_(rows_in)
    if span is not None:
        real.mul_(span[2].to(fdtype))
    frac, cell, row = _place(xm, ym, *box, ry=ry if box[2].dtype == fdtype else None)
    ua, ub = U[:-1], U[1:]
    if span is not None:
        sa, sb = span[0], span[1]
        ua, ub = sa + ua * (sb - sa), sa + ub * (sb - sa)
    i1 = (ub * ub - ua * ua).mul_(0.5)
    i0 = ((ub - ua) - i1).mul_(real)
    height = (Y[1:] - Y[:-1]).mul_(rows_in)
    entry = _entry_flags(U, real, (x0, y0, dx, dy), ids, counted)
    back = _boundary_offsets(xm, ym, ry, real, box[3]).to(cell.dtype)
    flat = lambda t: None if t is None else t.reshape(-1)  # noqa: E731
    geom = (X, Y, ua, ub, real, rows_in)
    return _Pieces(flat(cell), flat(height), flat(frac), flat(row), ids, flat(i0), flat(i1.mul_(real)), flat(entry), geom, flat(back))


def _boundary_offsets(xm: Tensor, ym: Tensor, ry: Tensor, real: Tensor, stride: Tensor) -> Tensor:
    """For pieces with midpoints ``(xm, ym)`` (box-local, [3, K]; ``ry = floor(ym)``;
    ``real`` 0/1 [3, K]; ``stride`` [K] their box's row stride): 1 for a piece on its cell's
    left side (``x = col >= 1``: a vertical piece), ``stride`` for one on its top side (``y =
    row >= 1``: a horizontal piece), else 0, as floats. Such a piece lies on two pixels'
    common side and the floor put it in the right or lower one; moving it sweeps area into
    one or the other, so the derivative of either is a one-sided derivative of the
    coverage. When its own pixel has no fragment (``A = 0``: the side of a shape aligned to
    the pixel grid, its right or bottom side, with the outside there) the backward takes the
    neighbour's gradient instead, the other one-sided derivative (which, before, was lost:
    half the gradient of a grid-aligned rectangle's right side)."""
    left = _flag(torch.eq, xm, torch.floor(xm)).mul_(_flag(torch.ge, xm, 1))
    top = _flag(torch.eq, ym, ry).mul_(_flag(torch.ge, ry, 1))
    return torch.lerp(top * stride.to(xm.dtype), torch.ones_like(left), left).mul_(real)


def _entry_flags(U: Tensor, real: Tensor, edge: tuple[Tensor, ...], ids: Tensor | None, counted: int | None) -> Tensor:
    """[3, k] 0/1 floats: which of the three pieces of each of the first ``k`` edges enter
    their pixel (:func:`_short_pieces`' ``U`` [4, K] and ``real`` [3, K]; ``edge``: (x0, y0,
    dx, dy) [K]): the second and third (they start at a cut) when not empty, the first when
    the edge starts on a pixel side without running along it. ``k``: ``counted`` when
    ``ids`` is None (the edges are in order), else all, those whose ``ids`` are not below
    ``counted`` flagged 0."""
    k = U.shape[1] if ids is not None or counted is None else min(counted, U.shape[1])
    if k == 0:  # nothing counted (a scene of star-shaped layers): no work on empty slices
        return real.new_zeros(3, 0)
    x0, y0, dx, dy = (t[:k] for t in edge)
    entry = _flag(torch.gt, U[1:, :k], U[:-1, :k]).mul_(real[:, :k])
    on_x, on_y = _flag(torch.eq, x0, torch.floor(x0)), _flag(torch.eq, y0, torch.floor(y0))
    along = torch.maximum(on_x * _flag(torch.eq, dx, 0), on_y * _flag(torch.eq, dy, 0))
    entry[0].mul_(torch.maximum(on_x, on_y).sub_(along).clamp_(min=0))
    if ids is not None and counted is not None:
        entry.mul_(_flag(torch.lt, ids.to(entry.dtype), counted))
    return entry


def _wall_pieces(y0: Tensor, y1: Tensor, box: tuple[Tensor | None, ...]) -> tuple[Tensor, Tensor, Tensor | None]:
    """Cover of edges wholly left of their box (the same winding inside as a vertical edge
    on the box's left side): for edges from box-local height ``y0`` to ``y1`` [K] and their
    boxes ``box`` (w, h, off, stride, row0) [K], the height each adds to column 0 of every
    row it spans. Returns ``(cell, dy, row)`` [M] (``row``: buffer row, None when ``row0``
    is None). No gradient: the edge lies outside the box."""
    w, h, off, stride, row0 = box
    hf = h.to(y0.dtype)
    zero = torch.zeros_like(y0)
    lo = torch.minimum(torch.maximum(torch.minimum(y0, y1), zero), hf)
    hi = torch.minimum(torch.maximum(torch.maximum(y0, y1), zero), hf)
    sign = torch.sign(y1 - y0)
    first = torch.floor(lo)
    rows = (torch.ceil(hi) - first).clamp_min(1).long()
    rep = torch.repeat_interleave(torch.arange(rows.shape[0], device=y0.device), rows)
    k = torch.arange(rep.shape[0], device=y0.device) - take(torch.cumsum(rows, 0) - rows, rep)
    r = torch.minimum(take(first, rep) + k.to(y0.dtype), take(hf, rep) - 1)
    dy = (torch.minimum(take(hi, rep), r + 1) - torch.maximum(take(lo, rep), r)).clamp_min(0) * take(sign, rep)
    r = r.long()
    cell = take(off, rep).long() + r * take(stride, rep).long()
    return cell, dy, None if row0 is None else take(row0, rep).long() + r


def _subdivide(e: tuple[Tensor, ...], w: Tensor, h: Tensor) -> tuple[tuple[Tensor, ...], tuple[Tensor, ...], Tensor]:
    """Cut edges (box-local (x0, y0, x1, y1) [K]; their box ``[0, w] x [0, h]``, ``w``/``h``
    [K] floats) into parts that each cross at most one integer x and one integer y: the
    parts outside the box are first clamped onto it (:func:`_clip_to_boxes`, which bounds
    their length by the box), then every part is cut into ``m = max(nx, ny) + 1`` equal
    pieces. Returns ``(parts, (s_a, s_b, real), source)``: four [M] columns, their parameter
    intervals on their edge and realness, and the index [M] of the edge (into ``e``)."""
    device = e[0].device
    x0, y0, x1, y1 = e
    inside = (torch.minimum(x0, x1) >= 0) & (torch.maximum(x0, x1) <= w) & (torch.minimum(y0, y1) >= 0) & (torch.maximum(y0, y1) <= h)
    src = torch.arange(x0.shape[0], device=device)
    sa, sb = torch.zeros_like(x0), torch.ones_like(x0)
    real = torch.ones_like(inside)
    if not bool(inside.all()):
        ins, out = flat_nonzero(inside), flat_nonzero(~inside)
        zeros = torch.zeros_like(take(w, out))
        cut, csrc, csa, csb, creal = _clip_to_boxes(tuple(take(c, out) for c in e), (zeros, zeros, take(w, out), take(h, out)))
        e = tuple(torch.cat([take(c, ins), k]) for c, k in zip(e, cut))
        src = torch.cat([ins, take(out, csrc)])
        sa, sb = torch.cat([take(sa, ins), csa]), torch.cat([take(sb, ins), csb])
        real = torch.cat([take(real, ins), creal])
    x0, y0, x1, y1 = e
    dx, dy = x1 - x0, y1 - y0
    m = (torch.maximum(_crossings(x0, x1), _crossings(y0, y1)).clamp_min(0) + 1).long()
    rep = torch.repeat_interleave(torch.arange(m.shape[0], device=device), m)
    k = torch.arange(rep.shape[0], device=device) - take(torch.cumsum(m, 0) - m, rep)
    mr = take(m, rep).to(x0.dtype)
    ka, kb = k.to(x0.dtype), (k + 1).to(x0.dtype)
    last = k + 1 == take(m, rep)
    # (d k) / m: exact at integer coordinates; the last piece ends exactly at the end point
    at = lambda p, d, kk: take(p, rep) + take(d, rep) * kk / mr  # noqa: E731
    parts = (
        at(x0, dx, ka), at(y0, dy, ka),
        torch.where(last, take(x1, rep), at(x0, dx, kb)), torch.where(last, take(y1, rep), at(y0, dy, kb)),
    )
    span = take(sb - sa, rep)
    psa, psb = take(sa, rep) + span * ka / mr, take(sa, rep) + span * kb / mr
    return parts, (psa, psb, take(real, rep)), take(src, rep)


def _clip_to_boxes(cols: tuple[Tensor, ...], box: tuple[Tensor, ...]) -> tuple[tuple[Tensor, ...], Tensor, Tensor, Tensor, Tensor]:
    """Cut edges (x0, y0, x1, y1), four [N] columns, at the sides of their boxes ``box``
    (X0, Y0, X1, Y1), four [N] columns, and clamp the pieces onto the box.

    Returns ``(pieces, source, s_a, s_b, real)``: four [M] columns, the index [M] of the edge
    each piece comes from, its parameter interval on that edge, and whether it lies inside
    the box (the others are clamped onto a side). Pieces of zero length are left out."""
    x0, y0, x1, y1 = cols
    dx, dy = x1 - x0, y1 - y0
    ts = [torch.zeros_like(x0)]
    for side, p, d in zip(box, (x0, y0, x0, y0), (dx, dy, dx, dy)):
        ok = d != 0
        t = (side - p) / torch.where(ok, d, torch.ones_like(d))
        ts.append(torch.where(ok, t, torch.zeros_like(t)).clamp(0, 1))
    ts.append(torch.ones_like(x0))
    ts = torch.stack(ts, -1).sort(-1).values  # [N, 6]
    sa, sb = ts[:, :-1], ts[:, 1:]
    bx0, by0, bx1, by1 = (b.unsqueeze(-1) for b in box)
    mid = (sa + sb) * 0.5
    mx = x0.unsqueeze(-1) + mid * dx.unsqueeze(-1)
    my = y0.unsqueeze(-1) + mid * dy.unsqueeze(-1)
    real = (mx >= bx0) & (mx <= bx1) & (my >= by0) & (my <= by1)

    def at(t, p, d, lo, hi):
        return torch.minimum(torch.maximum(p.unsqueeze(-1) + t * d.unsqueeze(-1), lo), hi)

    px0, px1 = at(sa, x0, dx, bx0, bx1), at(sb, x0, dx, bx0, bx1)
    py0, py1 = at(sa, y0, dy, by0, by1), at(sb, y0, dy, by0, by1)
    keep = flat_nonzero(((sb > sa) & ((px0 != px1) | (py0 != py1))).reshape(-1))
    src = torch.arange(x0.shape[0], device=x0.device).repeat_interleave(5)
    out = tuple(take(c.reshape(-1), keep) for c in (px0, py0, px1, py1))
    return out, take(src, keep), take(sa.reshape(-1), keep), take(sb.reshape(-1), keep), take(real.reshape(-1), keep)


class _WindingArea(torch.autograd.Function):
    """Returns the precomputed coverage ``out`` [F] of the non-zero cells ``keep`` [F] of a
    [total] buffer in the forward; the backward maps its gradient (times ``slope`` [F], the
    derivative of the coverage by the winding integral) onto the edges [4, E] (whose
    directions ``direction`` [2, E], ``(x1 - x0, y1 - y0)``, the forward is given) by the
    transport formula (module docstring), from the pieces
    (:class:`_Pieces`, one or two groups, each given as ``cell, edge, i0, i1, back``). A
    piece in a row's spill cell (on the box's right side) takes the gradient of the row's
    last pixel (the one-sided derivative from inside the box): ``spill`` [R] lists the spill
    cells; a piece on a pixel's left or top side whose pixel has no fragment takes its
    neighbour's (``back``, :func:`_boundary_offsets`; the kernels' ``transport`` does the
    same for their pieces).
    ``kernel``: None, or (the kernel module, what its ``transport`` needs, the edges, their
    layers and boxes) when the short edges' pieces came from a coverage kernel
    (:func:`_coverage_kernels`; the edges for the per-operation path should the backward
    kernel fail).
    ``exact``: None, or ``(fragment, edge, i0, i1)`` [Q] for the pixels resolved by
    :mod:`.exact_cells` (their ``slope`` is 0): each piece's effective integrals, applied
    with its fragment's gradient."""

    @staticmethod
    def forward(ctx, edges, direction, out, slope, keep, spill, total, kernel, exact, *groups):
        ctx.save_for_backward(direction, keep, slope, spill, *groups)
        ctx.num_edges = edges.shape[1]
        ctx.total = total
        ctx.kernel = kernel  # (kernel module, what its transport needs, edges, edge layers, boxes), or None
        ctx.exact = exact
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_keep):
        d, keep, slope, spill, *flat = ctx.saved_tensors
        if ctx.kernel is not None and ctx.exact is None and not flat and ctx.kernel[0].edge_gradient is not None:
            # every piece came from the compiled CPU kernel: the whole backward in its loops
            kernels, saved = ctx.kernel[:2]
            grad = kernels.attempt(kernels.edge_gradient, saved, grad_keep, slope, keep, spill, ctx.total, d)
            if grad is not None:
                return (grad, None, None, None, None, None, None, None, None)
        grad_area = grad_keep.new_zeros(ctx.total + 1).scatter_(0, keep, grad_keep * slope)  # + the sink cell
        grad_area.index_copy_(0, spill, grad_area.index_select(0, spill - 1))
        groups = [flat[k : k + 5] for k in range(0, len(flat), 5)]
        # cells without a fragment (A = 0): a piece on such a cell's left or top side takes
        # its neighbour's gradient (_boundary_offsets)
        dead = torch.ones(ctx.total + 1, dtype=torch.bool, device=d.device).index_fill_(0, keep, False)
        acc = None
        if ctx.kernel is not None:  # the short edges' pieces came from a kernel: its backward
            kernels, saved, ec, edge_layer, boxes = ctx.kernel
            acc = kernels.attempt(kernels.transport, saved, grad_area, dead)  # [2, E]
            if acc is None:  # the kernel could not run: the same pieces, per operation
                g = _short_group(_edge_frame(ec, edge_layer, boxes), 0)
                groups.insert(0, (g.cell, None, g.i0, g.i1, g.back))
        if acc is None:
            acc = torch.zeros(2, ctx.num_edges, dtype=d.dtype, device=d.device)
        acc0, acc1 = acc.unbind(0)
        if ctx.exact is not None:
            frag, edge, i0, i1 = ctx.exact
            g = grad_keep.index_select(0, frag)
            acc0.index_add_(0, edge, g * i0)
            acc1.index_add_(0, edge, g * i1)
        for cell, edge, i0, i1, back in groups:
            g = grad_area.index_select(0, torch.where(take(dead, cell) & (back > 0), cell - back, cell))
            # three pieces per edge, piece-major; ``edge`` None: one group of all edges, in order
            s0, s1 = (g * i0).view(3, -1).sum(0), (g * i1).view(3, -1).sum(0)
            if edge is None:
                acc0 += s0
                acc1 += s1
            else:
                acc0.index_add_(0, edge, s0)
                acc1.index_add_(0, edge, s1)
        # the end points' integrals times the normal (-d_y, d_x): rows (x0, y0, x1, y1)
        normal = torch.stack([-d[1], d[0]]).unsqueeze(0)  # [1, 2, E]
        grad = (torch.stack([acc0, acc1]).unsqueeze(1) * normal).view(4, -1)
        return (grad, None, None, None, None, None, None, None, None) + (None,) * len(flat)


@dataclass
class _Frame:
    """Edges in their layers' boxes (:func:`_edge_frame`): ``local`` (x0, y0, x1, y1) box-local
    [K] columns; ``low``: their minima (x, y); ``crossings``: integer x and y lines crossed
    (floats, -1 for equal integers); ``per_edge``: the box's (w, h, off, stride, row0) per
    edge (``row0`` None for the padded layout); ``short``/``longer``/``wall``: [K] 0/1 floats
    (edges that cross at most one line per axis, longer ones, and walls: wholly left of
    their box across several rows; edges outside their box are in none)."""

    local: tuple[Tensor, ...]
    low: tuple[Tensor, Tensor]
    crossings: tuple[Tensor, Tensor]
    per_edge: tuple[Tensor | None, ...]
    short: Tensor
    longer: Tensor
    wall: Tensor


def _edge_boxes(boxes: _Boxes, edge_layer: Tensor, dtype) -> tuple[Tensor, ...]:
    """Each edge's box numbers (c0, r0, w, h, off, stride, row0), [K] each, one gather per
    row, as floats for cell arithmetic: ``dtype``, or float64 when ``dtype`` is float32 and
    the buffer has 2^24 cells or more (float32 is exact below that)."""
    cdtype = dtype if dtype == torch.float64 or boxes.total < 2**24 else torch.float64
    return tuple(take(row, edge_layer) for row in boxes.table(cdtype).unbind(0))


def _edge_frame(e: Tensor, edge_layer: Tensor, boxes: _Boxes) -> _Frame:
    """:class:`_Frame` of edges ``e`` [4, K] (canvas pixels) of layers ``edge_layer`` [K]."""
    dtype = e.dtype
    x0, y0, x1, y1 = e.contiguous().unbind(0)
    # per-layer box numbers as floats (cell arithmetic: exact below 2^24 in float32),
    # gathered per edge in one pass; box-local coordinates span [0, w] x [0, h]
    c0, r0, ew, eh, eoff, estride, erow0 = _edge_boxes(boxes, edge_layer, dtype)
    lx0, lx1 = x0 - c0.to(dtype), x1 - c0.to(dtype)
    ly0, ly1 = y0 - r0.to(dtype), y1 - r0.to(dtype)
    eh_, ew_ = eh.to(dtype), ew.to(dtype)
    xmin, xmax = torch.minimum(lx0, lx1), torch.maximum(lx0, lx1)
    ymin, ymax = torch.minimum(ly0, ly1), torch.maximum(ly0, ly1)
    # edges wholly above, below or right of their box add nothing inside it (right:
    # only to the spill cells, which close their rows anyway); empty boxes take nothing.
    # Edges on the box's border are kept (a side on the canvas's border: its pieces carry
    # its gradient). (float 0/1 masks: see _flag)
    live = _flag(torch.gt, (xmax - xmin) + (ymax - ymin), 0).mul_(_flag(torch.gt, ew_, 0)).mul_(_flag(torch.ge, ymax, 0))
    live.mul_(_flag(torch.le, ymin, eh_)).mul_(_flag(torch.le, xmin, ew_))
    nx, ny = _crossings(lx0, lx1, xmin, xmax), _crossings(ly0, ly1, ymin, ymax)
    # edges wholly left of their box across several rows: a vertical wall on its left side
    wall = _flag(torch.lt, xmax, 0).mul_(_flag(torch.gt, ny, 1)).mul_(live)
    short = _flag(torch.le, nx, 1).mul_(_flag(torch.le, ny, 1)).mul_(live)
    longer = live - short - wall  # (short edges cross at most one row line, walls more)
    # the packed layout closes its rows by buffer row; the padded one needs no rows
    per_edge = (ew, eh, eoff, estride, None if boxes.padded else erow0)
    return _Frame((lx0, ly0, lx1, ly1), (xmin, ymin), (nx, ny), per_edge, short, longer, wall)


def _short_group(frame: _Frame, counted: int | None = None) -> _Pieces:
    """The pieces of ``frame``'s short edges: one dense group over all its edges, in order
    (no gathers); pieces of edges that are not short carry nothing (their cells stay inside
    the buffer, or on its sink cell)."""
    return _short_pieces(None, frame.local, frame.crossings, frame.per_edge, mask=frame.short, low=frame.low, counted=counted)


def _longer_and_walls(frame: _Frame, ids: Tensor | None, dtype, counted: int | None = None) -> tuple[list[_Pieces], tuple | None]:
    """The pieces of ``frame``'s longer edges (one group, or none; their edge indices mapped
    through ``ids`` [K] when the frame holds a subset of the edges) and its walls' cover
    (:func:`_wall_pieces`, or None)."""
    pick = lambda ts, idx: tuple(None if t is None else take(t, idx) for t in ts)  # noqa: E731
    groups = []
    # how many of each, in one device read (the positions then need none)
    n_longer, n_walls = (int(v) for v in torch.stack([frame.longer.sum(), frame.wall.sum()]).tolist())
    if n_longer:
        lid = flat_nonzero(frame.longer.bool(), n_longer)  # (nonzero of floats costs twice that of bools)
        w, h = frame.per_edge[0], frame.per_edge[1]
        parts, span, src = _subdivide(pick(frame.local, lid), take(w, lid).to(dtype), take(h, lid).to(dtype))
        pid = take(lid, src)
        pn = (_crossings(parts[0], parts[2]), _crossings(parts[1], parts[3]))
        groups.append(_short_pieces(pid if ids is None else take(ids, pid), parts, pn, pick(frame.per_edge, pid), span, counted=counted))
    walls = None
    if n_walls:
        wid = flat_nonzero(frame.wall.bool(), n_walls)
        walls = _wall_pieces(take(frame.local[1], wid), take(frame.local[3], wid), pick(frame.per_edge, wid))
    return groups, walls


def _coverage_kernels(e: Tensor, boxes: _Boxes):
    """The coverage kernels' module for edges ``e``: the fused GPU kernels
    (:mod:`.fused_coverage`, through :func:`.kernel_gate.kernels_for`) in the padded layout
    below 2^24 cells, or the compiled CPU ones (:mod:`.jit_coverage`, through
    :func:`.kernel_gate.cpu_kernels_for`) in any layout; else None. Both have ``pieces``,
    ``transport``, ``box_table``, their family's ``attempt``, and ``finish`` and
    ``edge_gradient`` (None in the GPU module: the per-operation path does that work)."""
    if boxes.padded and boxes.total < 2**24:
        fused = kernels_for("coverage", e)
        if fused is not None:
            return fused
    return cpu_kernels_for("coverage", e)


def _layer_coverage(
    edges: Tensor,
    edge_layer: Tensor,
    num_layers: int,
    layer_batch: Tensor,
    evenodd: Tensor | None,
    width: int,
    height: int,
    layout: str,
    exact_edges: int | None = None,
    exact_layers: Tensor | None = None,
    max_pieces: int = exact_cells.MAX_PIECES,
):
    """Coverage per pixel of each layer's bounding box, from the winding integral (and
    exact, by :mod:`.exact_cells`, in the pixels that several contours cross).

    ``edges``: [4, E] directed edges, rows (x0, y0, x1, y1), in canvas pixels, closed polygons per
    layer; ``edge_layer``: [E] int64; ``layer_batch``: [L] image index of each layer;
    ``evenodd``: [L] bool, each layer's fill rule (None: nonzero for every layer, a little
    cheaper). Returns ``(cov, layer, pixel)``, each [F]
    (see :class:`Fragments` for the layout): the coverage in [0, 1] (:func:`coverage_and_slope`
    of the signed integral of the winding number over the pixel, in pixel units: a fully
    inside pixel gives +-1, +-2...), differentiable with respect to ``edges``; its layer and
    flat pixel index. ``layout``: buffer layout (``"auto"``, ``"flat"``, ``"padded"``; same
    result). ``exact_edges``, ``exact_layers``: only the layers of the edges below this index
    (None: all) that ``exact_layers`` [L] marks (None: all) have their crossed pixels
    resolved exactly (the others keep ``min(|A|, 1)``, as do pixels of more than
    ``max_pieces`` pieces).
    """
    device, dtype = edges.device, edges.dtype
    L = num_layers
    with torch.no_grad():
        e = edges.detach()
        x0, y0, x1, y1 = e.contiguous().unbind(0)
        boxes = _layer_boxes(e, edge_layer, L, width, height, layout)
        if boxes.total == 0:
            z = torch.zeros(0, dtype=torch.long, device=device)
            return edges.new_zeros(0) + 0 * edges.sum(), z, z
        kernels = _coverage_kernels(e, boxes)
        # which layers need the exact pass, decided before the pieces are cut: a scene of
        # star-shaped layers (the circle init) then counts no entries and looks for no loops
        needs = _needs_exact(e, edge_layer, boxes, exact_edges, exact_layers)
        counted = 0 if needs is None else exact_edges  # entries counted for the edges below this (None: all)
        cut = _cut(e, edge_layer, boxes, kernels, counted, dtype)
        groups = cut.groups
        finish = kernels.finish if cut.start is not None else None
        crossed = None  # [total + 1] bool: the cells to resolve exactly, when there are any
        loops = None  # [total + 1] bool: cells where a contour may close a loop, swept whatever their pieces
        if finish is not None:  # compiled: the prefix sums, kept cells and their fragments in one pass
            _add_pieces(cut.start, groups, cut.walls)
            if needs is not None:
                loops = _loop_cells(e, edge_layer, boxes, counted)
                crossed = _crossed_cells(cut, boxes, _spill_cells(boxes), needs, loops)
            whole = cut.start[0]
            keep, cov, slope, layer, pixel, spill = finish(
                whole, cut.start[1], kernels.box_table(boxes), layer_batch, evenodd, crossed, width, height, boxes.rows
            )
        else:
            spill = _spill_cells(boxes)
            area = _accumulate(groups, cut.walls, boxes, spill, dtype, cut.start)
            if boxes.padded:  # cells outside their box (spill and padding) left out
                _zero_padding(area, boxes)
            if needs is not None:  # (then counted is not 0 either)
                loops = _loop_cells(e, edge_layer, boxes, counted)
                crossed = _crossed_cells(cut, boxes, spill, needs, loops)
            # (.bool() is several times cheaper than != 0; crossed cells are kept even where A is 0)
            keep = flat_nonzero(area.bool() if crossed is None else area.bool() | crossed[:-1])
            whole, area = area, take(area, keep)
            layer, pixel = _cell_pixels(boxes, keep, layer_batch, width, height)
            cov, slope = coverage_and_slope(area, None if evenodd is None else take(evenodd, layer))
        exact = None
        if crossed is not None:
            every = groups
            if cut.kernel_cells is not None:  # the kernel keeps no pieces: those of the crossed cells' edges
                every = [_kernel_edges_pieces(crossed, cut.kernel_cells, e, edge_layer, boxes)] + groups
            exact = _resolve_crossed(every, crossed, boxes, whole, evenodd, keep, cov, slope, max_pieces, loops)
        saved = []
        for g in groups:
            saved += [g.cell, g.edge, g.i0, g.i1, g.back]
    cov = _WindingArea.apply(edges, torch.stack([x1 - x0, y1 - y0]), cov, slope, keep, spill, boxes.total, cut.kernel, exact, *saved)
    return cov, layer, pixel


@dataclass
class _Cut:
    """The edges cut into pieces (:func:`_cut`). ``groups``: the per-operation pieces (for
    the buffers, the entry counts and the backward); ``walls``: :func:`_wall_pieces`' cover
    or None; ``start``: the cover and area buffers [total + 1] the coverage kernel already
    added its pieces to (None on the per-operation path); ``entries``: [total + 1] the
    kernel's entry counts (a single cell when no entries were counted), or None;
    ``kernel_cells``: [3, E] the kernel's cell of each piece, or None; ``kernel``: what
    :class:`_WindingArea`'s backward needs for the kernel's pieces (the module of
    :func:`_coverage_kernels` and what its ``pieces`` kept for its ``transport``), or None."""

    groups: list[_Pieces]
    walls: tuple | None
    start: list[Tensor] | None = None
    entries: Tensor | None = None
    kernel_cells: Tensor | None = None
    kernel: tuple | None = None


def _cut(e: Tensor, edge_layer: Tensor, boxes: _Boxes, kernels, counted: int | None, dtype) -> _Cut:
    """Cut edges ``e`` [4, E] (canvas pixels) of layers ``edge_layer`` [E] into pieces:
    the short ones by the coverage kernel when ``kernels`` (:func:`_coverage_kernels`) is
    given and it runs, the others (or all) per operation. ``counted``: entry flags are made
    for the edges below this index (None: all)."""
    if kernels is not None:  # the short edges' pieces in one kernel; the few others below
        box = kernels.box_table(boxes)
        ec = e.contiguous()
        n_counted = ec.shape[1] if counted is None else counted
        # cover, area, entries (none counted: the kernels write no entry, one cell will do)
        buffers = [torch.zeros(boxes.total + 1 if k < 2 or n_counted else 1, dtype=dtype, device=e.device) for k in range(3)]
        launched = kernels.attempt(kernels.pieces, ec, edge_layer.contiguous(), box, *buffers, n_counted)  # None: the kernel cannot run here
        if launched is not None:
            kinds, kernel_cells, saved = launched
            groups, walls = [], None
            odd = flat_nonzero(kinds)  # (its length is the one device read: no .any() first)
            if odd.numel():
                groups, walls = _longer_and_walls(_edge_frame(take(ec.t(), odd).t(), take(edge_layer, odd), boxes), odd, dtype, counted)
            return _Cut(groups, walls, buffers[:2], buffers[2], kernel_cells, (kernels, saved, ec, edge_layer, boxes))
    frame = _edge_frame(e, edge_layer, boxes)
    more, walls = _longer_and_walls(frame, None, dtype, counted)
    return _Cut([_short_group(frame, counted)] + more, walls)


def _crossed_cells(cut: _Cut, boxes: _Boxes, spill: Tensor, needs: Tensor, loops: Tensor) -> Tensor | None:
    """[total + 1] bool: the cells that two or more pieces enter, or where a contour may
    close a loop (``loops``, :func:`_loop_cells`), in the layers ``needs`` marks ([L] bool,
    :func:`_needs_exact`), or None when there is no such cell."""
    crossed = (_entry_counts(cut.groups, boxes.total, spill, cut.entries) >= 2) | loops
    cells = flat_nonzero(crossed)
    if cells.numel() == 0 or not _drop_exact_already(crossed, cells, boxes, needs):
        return None
    return crossed


def _loop_cells(e: Tensor, edge_layer: Tensor, boxes: _Boxes, counted: int | None) -> Tensor:
    """[total + 1] bool: the cells where the vertices of the first ``counted`` edges (None:
    all; ``e`` [4, E] canvas pixels, closed polygons, ``edge_layer`` [E]) turn by pi or
    more in all (absolute turning angles summed per cell of their layer's box; a vertex on
    a pixel side counts in the cells on both sides). A contour that closes a loop inside a
    pixel (a closed contour smaller than a pixel, or one that crosses itself there after
    entering once) turns by at least pi at vertices inside it, but may enter no pixel side
    twice, which the entry count needs. Contours are runs of edges each starting where the
    one before ends (its last edge precedes its first); a vertex whose previous edge does
    not end there, or next to an edge of no length, counts as pi. No device read. (On the
    CPU with Numba, the sums in one compiled loop: :func:`.jit_coverage.loop_sums`.)"""
    compiled = cpu_kernels_for("coverage", e)
    if compiled is not None:
        return compiled.loop_sums(e, edge_layer, boxes, counted) >= torch.pi * (1 - 1e-6)
    n = e.shape[1] if counted is None else counted
    x0, y0, x1, y1 = e[:, :n].unbind(0)
    layer = edge_layer[:n]
    dx, dy = x1 - x0, y1 - y0
    # each edge's previous one: the edge before it, or, at a contour's first edge (the edge
    # before does not end where it starts), the contour's last edge
    index = torch.arange(n, device=e.device)
    first = torch.ones(n, dtype=torch.bool, device=e.device)
    first[1:] = (x1[:-1] != x0[1:]) | (y1[:-1] != y0[1:]) | (layer[:-1] != layer[1:])
    contour = torch.cumsum(first.long(), 0) - 1
    last = torch.zeros(n, dtype=torch.long, device=e.device).scatter_reduce_(0, contour, index, "amax")  # (n bins: no device read)
    prev = torch.where(first, take(last, contour), index - 1)
    pdx, pdy = take(dx, prev), take(dy, prev)
    turn = torch.atan2((pdx * dy - pdy * dx).abs(), pdx * dx + pdy * dy)
    # pi where the previous edge does not end here, or either edge has no length
    joined = (take(x1, prev) == x0) & (take(y1, prev) == y0) & ((dx != 0) | (dy != 0)) & ((pdx != 0) | (pdy != 0))
    turn = torch.where(joined, turn, torch.full_like(turn, torch.pi))
    c0, r0, w, h, off, stride, _ = _edge_boxes(boxes, layer, e.dtype)
    lx, ly = x0 - c0.to(e.dtype), y0 - r0.to(e.dtype)
    # the cell right of and below the vertex, and, where it lies on a pixel side, the cells
    # left of or above it too (ceil - 1 differs from floor only on a side): [4, n] at once
    cf, rf = torch.floor(lx), torch.floor(ly)
    cc, rc = torch.ceil(lx) - 1, torch.ceil(ly) - 1
    cols, rows = torch.stack([cf, cc, cf, cc]), torch.stack([rf, rf, rc, rc])
    on_x, on_y = cc != cf, rc != rf
    use = torch.stack([torch.ones_like(on_x), on_x, on_y, on_x & on_y])
    inside = use & (cols >= 0) & (cols < w) & (rows >= 0) & (rows < h)
    cell = torch.where(inside, torch.addcmul(off + cols.clamp_min(0).to(off.dtype), rows.clamp_min(0).to(off.dtype), stride).long(), boxes.total)
    sums = torch.zeros(boxes.total + 1, dtype=e.dtype, device=e.device)
    sums.index_add_(0, cell.view(-1), (turn * inside).view(-1))
    sums[boxes.total] = 0.0
    return sums >= torch.pi * (1 - 1e-6)


def _star_shaped(e: Tensor, edge_layer: Tensor, boxes: _Boxes) -> tuple[Tensor, Tensor]:
    """``(star, present)``, [L] bool each: the layers that are one closed polygon,
    star-shaped around the middle of its extent: every edge turns around that point the same way (an edge of no length, or one
    in line with the point, fails the test), and the polygon crosses the horizontal line
    through it twice (so it turns around it once). Such a polygon is simple, so its winding
    numbers are 0 and one of +-1 everywhere and ``min(|A|, 1)`` is exact in all its pixels:
    those it enters twice (its side leaving a pixel and coming back) need no exact pass.
    Jittered circles, the standard initialisation, are such polygons. ``e``: [4, E] canvas
    pixels; ``edge_layer``: [E] (whole layers: a layer missing some of its edges may be
    wrongly found star-shaped); ``present``: the layers with at least one of the edges. (On
    the CPU with Numba, one compiled loop: :func:`.jit_coverage.star_shaped`.)"""
    compiled = cpu_kernels_for("coverage", e)
    if compiled is not None:  # one loop over the edges
        return compiled.star_shaped(e, edge_layer, boxes.centre, boxes.w.shape[0])
    x0, y0, x1, y1 = e.unbind(0)
    cx, cy = take(boxes.centre[0], edge_layer), take(boxes.centre[1], edge_layer)
    ax, ay, bx, by = x0 - cx, y0 - cy, x1 - cx, y1 - cy
    turn = torch.sign(torch.addcmul(ax * by, ay, bx, value=-1))
    crosses = _flag(torch.lt, ay, 0).ne_(_flag(torch.lt, by, 0))
    # per layer, a histogram of the edges' six kinds (turn -1, 0, +1; crossing or not): one
    # integer bincount (a float scatter_add into L bins, whose adds to one bin wait on each
    # other, cost several times that)
    kind = torch.add(turn + 1, crosses, alpha=3).long()
    L = boxes.w.shape[0]
    hist = torch.bincount(torch.add(kind, edge_layer, alpha=6), minlength=6 * L).view(L, 2, 3)
    by_turn, n = hist.sum(1), hist.sum((1, 2))  # [L, 3] edges per turn, [L] edges
    one_way = by_turn[:, 1].eq(0) & (by_turn[:, 0].eq(0) | by_turn[:, 2].eq(0))
    star = one_way & hist[:, 1].sum(1).eq(2) & n.ge(3)
    return star, n > 0


def _needs_exact(e: Tensor, edge_layer: Tensor, boxes: _Boxes, exact_edges: int | None, exact_layers: Tensor | None) -> Tensor | None:
    """[L] bool: the layers whose pixels that several pieces enter go to the exact pass: those
    of the first ``exact_edges`` edges (None: all) that ``exact_layers`` ([L] bool, None: all)
    marks and that are not star-shaped (:func:`_star_shaped`: simple, so exact already).
    None when there is no such layer (one device read): then no entries are counted at all,
    as for a scene of jittered circles. ``e`` [4, E] canvas pixels; ``edge_layer`` [E] (the
    layers of the first ``exact_edges`` edges are whole: fills and clip shapes come first)."""
    n = e.shape[1] if exact_edges is None else exact_edges
    if n == 0:
        return None
    star, has_edges = _star_shaped(e[:, :n], edge_layer[:n], boxes)
    needs = has_edges & ~star
    if exact_layers is not None:
        needs &= exact_layers
    return needs if bool(needs.any()) else None


def _drop_exact_already(crossed: Tensor, cells: Tensor, boxes: _Boxes, needs: Tensor) -> bool:
    """Clear, in ``crossed`` ([total + 1] bool), its ``cells`` [C] whose layer ``needs`` ([L]
    bool, :func:`_needs_exact`) does not mark; whether any cell is left (one device read)."""
    keep = take(needs, _cell_layer_row_col(boxes, cells)[0])
    crossed.index_put_((cells,), keep)
    return bool(keep.any())


def _entry_counts(groups: list[_Pieces], total: int, spill: Tensor, start: Tensor | None = None) -> Tensor:
    """[total + 1] how many pieces enter each buffer cell (``_Pieces.entry``; spill cells
    and the sink cell at the end 0, so that the counts can be read at any piece's cell):
    a contour passing through a pixel enters it once, so two or more mean the pixel is
    crossed by several contours (or visited twice by one) and its ``min(|A|, 1)`` may be
    wrong (:mod:`.exact_cells`). ``start``: [total + 1] counts already made (the fused
    kernel's), added to in place."""
    count = start if start is not None else torch.zeros(total + 1, device=spill.device)
    for g in groups:
        k = g.entry.numel() // 3  # (the flags cover the pieces of the first k edges)
        cell = g.cell.view(3, -1)[:, :k].reshape(-1)
        count.scatter_add_(0, cell.long(), g.entry.reshape(-1).to(count.dtype))
    count[total] = 0.0
    return count.index_fill_(0, spill, 0.0)


def _kernel_edges_pieces(crossed: Tensor, cells: Tensor, e: Tensor, edge_layer: Tensor, boxes: _Boxes) -> _Pieces:
    """The short edges' pieces that the fused kernel placed in ``crossed`` cells ([total + 1]
    bool; ``cells``: [3, E] the kernel's cell of each piece), recomputed per operation for
    the edges they belong to (a few): one group of those edges (``e`` [4, E], their
    layers ``edge_layer`` [E])."""
    ids = torch.unique(flat_nonzero(take(crossed, cells.reshape(-1))) % cells.shape[1])
    frame = _edge_frame(take(e.t(), ids).t(), take(edge_layer, ids), boxes)
    return _short_pieces(ids, frame.local, frame.crossings, frame.per_edge, mask=frame.short, low=frame.low, counted=0)


def _crossed_pieces(groups: list[_Pieces], crossed: Tensor) -> np.ndarray:
    """The pieces in the ``crossed`` cells ([total + 1] bool) that count and have a length,
    on the host: [10, Q] float64 rows ``xa, ya, xb, yb`` (box-local end points), ``ua, ub``
    (parameter interval on the edge), ``real``, ``live``, ``cell``, ``edge``, sorted by
    cell, then edge and position along it (the same order on every device). Gathered on
    their device, then one transfer per group; a CPU tensor's memory is read in place."""
    host = lambda t: t.detach().cpu().numpy()  # noqa: E731

    def rows(tensors, idx: Tensor) -> np.ndarray:
        """[n, Q] float64: the flat tensors' values at ``idx`` [Q]."""
        if idx.device.type == "cpu":
            i = idx.numpy()
            return np.stack([host(t)[i] for t in tensors]).astype(np.float64)
        return torch.stack([take(t, idx).double() for t in tensors]).cpu().numpy()

    cols = []
    for g in groups:
        sel = flat_nonzero(take(crossed, g.cell))
        if sel.numel():
            X, Y, ua, ub, real, live = (t.reshape(-1) for t in g.geom)
            K = g.geom[0].shape[1]
            first = rows([X, Y, ua, ub, real, live, g.cell], sel)
            edge = host(sel) % K if g.edge is None else rows([g.edge], sel % K)[0]
            cols.append(np.concatenate([first[:2], rows([X, Y], sel + K), first[2:], edge[None].astype(np.float64)]))
    table = np.concatenate(cols, 1) if cols else np.zeros((10, 0))
    # the pieces that count and have a length: the three-piece template leaves two empty
    # pieces on an edge that crosses no grid line (most edges); they carry no area and no
    # gradient, and were half the pieces of the sketch style's thin-stroke pixels
    table = table[:, (table[7] > 0) & ((table[0] != table[2]) | (table[1] != table[3]))]
    return table[:, np.lexsort((table[4], table[9], table[8]))]


def _resolve_crossed(
    groups: list[_Pieces], crossed: Tensor, boxes: _Boxes, area: Tensor, evenodd: Tensor | None,
    keep: Tensor, cov: Tensor, slope: Tensor, max_pieces: int = exact_cells.MAX_PIECES, loops: Tensor | None = None,
) -> tuple[Tensor, ...] | None:
    """Exact coverage of the ``crossed`` cells ([total + 1] bool) by :mod:`.exact_cells`, written
    into ``cov`` (and 0 into ``slope``: their gradient comes from the returned pieces'
    effective integrals instead) at their positions in ``keep``. ``area``: [total] winding
    integrals. Returns ``(fragment, edge, i0, i1)`` for :class:`_WindingArea`, or None.
    The pieces of those cells (:func:`_crossed_pieces`) go to the host, where
    :mod:`.exact_cells` works. Cells of more than ``max_pieces`` pieces (with a length)
    keep ``min(|A|, 1)``. ``loops`` ([total + 1] bool, :func:`_loop_cells`): cells swept
    even when their pieces look simple (a loop inside the pixel is not seen by them)."""
    xa, ya, xb, yb, pua, pub, preal, _, pcell, pedge = _crossed_pieces(groups, crossed)
    if pcell.shape[0] == 0:
        return None
    cell = pcell.astype(np.int64)
    # each piece's cell: its box row and column, winding integral and fill rule
    device = cov.device
    at_cells = torch.from_numpy(cell).to(device)
    layer, row, col = _cell_layer_row_col(boxes, at_cells)
    eo = torch.zeros_like(layer, dtype=torch.bool) if evenodd is None else take(evenodd, layer)
    force = torch.zeros_like(eo) if loops is None else take(loops, at_cells)
    row, col, cell_area, eo, force = torch.stack([row.double(), col.double(), take(area, at_cells).double(), eo.double(), force.double()]).cpu().numpy()
    loc = lambda v, o: np.clip(v - o, 0.0, 1.0)  # noqa: E731  (pixel coordinates)
    res = exact_cells.resolve(exact_cells.CellPieces(
        cell, loc(xa, col), loc(ya, row), loc(xb, col), loc(yb, row), pua, pub, preal, cell_area, eo > 0, force > 0,
    ), max_pieces)
    if res.cov.shape[0] == 0:
        return None
    dtype = cov.dtype
    dev = lambda a, t=None: torch.from_numpy(a).to(device, t)  # noqa: E731
    pos = torch.searchsorted(keep, dev(cell[res.first]))
    cov.index_copy_(0, pos, dev(res.cov, dtype))
    slope.index_fill_(0, pos, 0.0)
    return take(pos, dev(res.pixel)), dev(pedge[res.piece].astype(np.int64)), dev(res.i0, dtype), dev(res.i1, dtype)


def _accumulate(
    groups: list[_Pieces], walls: tuple[Tensor, Tensor, Tensor | None] | None, boxes: _Boxes, spill: Tensor, dtype,
    start: tuple[Tensor, Tensor] | None = None,
) -> Tensor:
    """Winding integral [total] of every buffer cell from the pieces and the left-wall cover
    (:func:`_wall_pieces`; spill cells: 0; ``spill``: :func:`_spill_cells`). The buffers have one more cell, and the packed
    layout one more row, at the end: a sink for pieces that carry nothing. ``start``: the
    padded layout's cover and area buffers [total + 1] with pieces already added (the fused
    kernel's), else zeros."""
    device = boxes.w.device
    n = boxes.total
    if boxes.padded:  # rows of one length: a row-wise prefix sum, in the working dtype
        if start is not None:
            cover, partial = start
        else:
            cover = torch.zeros(n + 1, dtype=dtype, device=device)
            partial = torch.zeros(n + 1, dtype=dtype, device=device)
        _add_pieces((cover, partial), groups, walls)
        return cover[:n].view(-1, boxes.wmax + 1).cumsum(1).view(-1) - partial[:n]
    # rows of varied lengths: close every row exactly (its spill cell takes the remainder),
    # then one float64 prefix sum runs over the whole buffer
    cover = torch.zeros(n + 1, dtype=torch.float64, device=device)
    partial = torch.zeros(n + 1, dtype=dtype, device=device)
    n_rows = spill.shape[0]
    row_sum = torch.zeros(n_rows + 1, dtype=torch.float64, device=device)
    for g in groups:
        dy = g.dy.double()
        cover.index_add_(0, g.cell, dy)
        partial.index_add_(0, g.cell, g.dy * g.frac)
        row_sum.index_add_(0, g.row, dy)
    if walls is not None:
        dy = walls[1].double()
        cover.index_add_(0, walls[0], dy)
        row_sum.index_add_(0, walls[2], dy)
    cover.index_add_(0, spill, -row_sum[:n_rows])
    return (torch.cumsum(cover[:n], 0).to(dtype) - partial[:n]).index_fill_(0, spill, 0.0)


def _add_pieces(buffers: tuple[Tensor, Tensor] | list[Tensor], groups: list[_Pieces], walls: tuple | None) -> None:
    """Add the pieces' cover and area, and the walls' cover (:func:`_wall_pieces`), into the
    ``(cover, partial)`` buffers [total + 1] of the working dtype, in place (the padded
    layout's accumulation, and the compiled one's: rows closed by their prefix sum)."""
    cover, partial = buffers
    for g in groups:
        # (scatter_add with int64 indices is markedly cheaper than index_add on the CPU)
        cell = g.cell.long()
        cover.scatter_add_(0, cell, g.dy)
        partial.scatter_add_(0, cell, g.dy * g.frac)
    if walls is not None:
        cover.index_add_(0, walls[0], walls[1])


def _spill_cells(boxes: _Boxes) -> Tensor:
    """[R] int64: the spill cell of every row of every non-empty box, in buffer order (for
    the packed layout: row ``i`` of the buffer has spill cell ``[i]``). Sizes from the
    boxes' host read: no device read here."""
    device, R = boxes.w.device, boxes.rows
    rows_layer = torch.repeat_interleave(torch.arange(boxes.w.shape[0], device=device), boxes.h, output_size=R)
    first = torch.cumsum(boxes.h, 0) - boxes.h  # each box's first row among all boxes' rows
    r = torch.arange(R, device=device) - take(first, rows_layer)
    return take(boxes.off + boxes.w, rows_layer) + r * take(boxes.stride, rows_layer)


def _zero_padding(area: Tensor, boxes: _Boxes) -> None:
    """Zero, in place, the cells of a padded-layout buffer ``area`` [total] that lie right of
    their box (spill cells and padding columns, where a row's rounding remainder stays):
    one broadcast product with a 0/1 column mask. The padding rows below a box need none:
    every piece and wall is placed in a row of its box (:func:`_place` and the fused
    kernel clamp the row, :func:`_wall_pieces` too), so their cover and area are exact
    zeros and so is their prefix sum."""
    device, dtype = area.device, area.dtype
    cc = torch.arange(boxes.wmax + 1, device=device, dtype=dtype).view(1, 1, -1)
    w = boxes.w.to(dtype).view(-1, 1, 1)
    area.view(-1, boxes.hmax, boxes.wmax + 1).mul_(_flag(torch.lt, cc, w))


def _cell_pixels(boxes: _Boxes, cells: Tensor, layer_batch: Tensor, width: int, height: int) -> tuple[Tensor, Tensor]:
    """Layer and flat pixel index ``b * H * W + y * W + x`` of buffer cells [F] (inside their
    boxes) -> two [F] int64. Divisions run in float64 (exact floors for these integers,
    and several times faster than int64 division)."""
    L = boxes.w.shape[0]
    if boxes.padded and L * height * width < 2**32:  # [hmax, wmax + 1] blocks: one dense map
        # (layer << 32 | pixel per cell: one broadcast sum, one gather, no divisions)
        hmax, stride = boxes.hmax, boxes.wmax + 1
        layer_ids = torch.arange(L, device=cells.device)
        base = (layer_ids << 32) + layer_batch * (height * width) + boxes.r0 * width + boxes.c0
        rows = torch.arange(hmax, device=cells.device) * width
        cols = torch.arange(stride, device=cells.device)
        packed = take((base.view(L, 1, 1) + rows.view(1, hmax, 1) + cols.view(1, 1, stride)).view(-1), cells)
        return packed >> 32, packed & 0xFFFFFFFF
    layer, row, col = _cell_layer_row_col(boxes, cells)
    base = take(layer_batch * (height * width) + boxes.r0 * width + boxes.c0, layer)
    return layer, base + row * width + col


def _cell_layer_row_col(boxes: _Boxes, cells: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Layer, box row and box column of buffer cells [F] (any layout) -> three [F] int64.
    Divisions run in float64 (exact floors for these integers, and several times faster
    than int64 division)."""
    # an empty box shares its offset with the next box; searchsorted picks the last
    layer = torch.searchsorted(boxes.off, cells, right=True) - 1
    local = cells - take(boxes.off, layer)
    stride = take(boxes.stride, layer)
    row = torch.floor(local.double() / stride.double()).long()
    return layer, row, local - row * stride


def coverage_and_slope(area: Tensor, evenodd: Tensor | None) -> tuple[Tensor, Tensor]:
    """Coverage in [0, 1] from the winding integral ``area`` [F] and its derivative by
    ``area`` [F]; ``evenodd``: [F] bool (None: the nonzero rule everywhere). Nonzero:
    ``min(|A|, 1)``; even-odd: ``1 - |1 - (|A| mod 2)|``."""
    a = area.abs()
    sign = torch.sign(area)
    slope = _flag(torch.le, a, 1).mul_(sign)
    if evenodd is None:
        return a.clamp_(max=1.0), slope  # (a is ours: clamped in place)
    r = torch.remainder(a, 2.0)
    eo = evenodd.to(area.dtype)
    cov = torch.lerp(a.clamp(max=1.0), 1 - (1 - r).abs(), eo)
    slope = torch.lerp(slope, sign * torch.sign(1 - r), eo)
    return cov, slope


def rasterize_layers(
    edges: Tensor,
    edge_layer: Tensor,
    layer_batch: Tensor,
    layer_evenodd: Tensor | None,
    width: int,
    height: int,
    layout: str = "auto",
    exact_edges: int | None = None,
    exact_layers: Tensor | None = None,
    max_pieces: int = exact_cells.MAX_PIECES,
) -> Fragments:
    """Coverage fragments of every layer (see the module docstring).

    ``edges``: [4, E], rows x0, y0, x1, y1 (coordinate-major: contiguous rows keep the
    elementwise loops vectorised); ``edge_layer``: [E] int64 in [0, L); ``layer_batch``: [L] int64;
    ``layer_evenodd``: [L] bool (None: the nonzero rule for all); ``layout``: the buffer layout (``"auto"`` pads the boxes to
    one size when that wastes little, ``"flat"`` or ``"padded"``; same result).
    ``exact_edges``, ``exact_layers``: the pixels that several contours cross are resolved
    exactly (:mod:`.exact_cells`) in the layers of the first ``exact_edges`` edges (None:
    all) that ``exact_layers`` ([L] bool; None: all) marks (the renderer: its fills and clip
    shapes, ahead of the stroke outlines, and the wide strokes' outlines). ``max_pieces``:
    pixels with more pieces keep ``min(|A|, 1)``.
    """
    L = int(layer_batch.shape[0])
    cov, layer, pixel = _layer_coverage(
        edges, edge_layer, L, layer_batch, layer_evenodd, width, height, layout, exact_edges, exact_layers, max_pieces
    )
    return Fragments(cov, layer, pixel)
