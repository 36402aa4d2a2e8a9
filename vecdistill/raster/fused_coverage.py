"""Fused coverage kernels (Triton), for CUDA renders: the edge pieces of
:mod:`.coverage` in one kernel each way.

The per-operation path cuts every edge with a dense three-piece template
(:func:`.coverage._short_pieces`) of about 70 whole-array operations, after some 40 more that
place the edges in their layers' boxes and sort them into short ones, walls and longer ones;
then scatter-adds the pieces into the cell buffer. Here one lane per edge does all of that in
registers and adds its pieces' cover and area into the buffer atomically (forward), or
gathers the buffer's gradient at its pieces and writes the edge's two transport integrals
(backward: recomputed from the edge, nothing per piece is kept). The same formulas as
:func:`.coverage._short_pieces` and :func:`.coverage._place` (selections by ``where``
instead of ``lerp`` on 0/1 masks, which is the same value). Walls and longer edges (a few
per scene) are flagged for the per-operation path.

Used for float32 CUDA renders with the padded buffer layout (below 2^24 cells) when Triton
imports (see :mod:`.fused`: ``VECDISTILL_FUSED=0`` turns both kernels off); tested under
Triton's interpreter against the per-operation path.
"""

from __future__ import annotations

import torch

from . import fused
from .fused import BLOCK, FP_FUSION, tl, triton

Tensor = torch.Tensor

attempt = fused.attempt  # the kernel family's: how callers run this module's kernels (a failure falls back)
finish = None  # (no kernel for the cell pass: the per-operation path's prefix sums follow these pieces)
edge_gradient = None  # (no whole-backward kernel: transport, then the per-operation rest)

if triton is not None:

    @triton.jit
    def _piece(xa, ya, xb, yb, ua, ub, w, h, off, stride, short):
        """One piece of an edge (box-local end points, parameter interval on the edge) in the
        box ``[0, w] x [0, h]`` at buffer offset ``off`` with row ``stride``: its cell, signed
        height, mean x offset in the pixel, and the integrals of ``1 - u`` and ``u`` (zero
        where the piece lies outside the box or the edge is not ``short``), and the offset to
        the neighbour whose gradient it takes should its cell have no fragment
        (:func:`.coverage._boundary_offsets`)."""
        xm = (xa + xb) * 0.5
        ym = (ya + yb) * 0.5
        ry = tl.floor(ym)
        rows_in = short & (((ry >= 0) & (ry < h)) | (ym == h))  # (ym = h: a piece on the box's bottom side)
        real = rows_in & (xm >= 0) & (xm <= w)
        row = tl.minimum(tl.maximum(ry, 0.0), tl.maximum(h - 1.0, 0.0))
        col = tl.minimum(tl.maximum(tl.floor(xm), 0.0), w)
        frac = tl.minimum(tl.maximum(xm - col, 0.0), 1.0)
        cell = (col + off + row * stride).to(tl.int32)
        height = tl.where(rows_in, yb - ya, 0.0)
        i1 = (ub * ub - ua * ua) * 0.5
        i0 = tl.where(real, (ub - ua) - i1, 0.0)
        i1 = tl.where(real, i1, 0.0)
        left = real & (xm == tl.floor(xm)) & (xm >= 1.0)
        top = real & (ym == ry) & (ry >= 1.0)
        back = tl.where(left, 1, tl.where(top, stride.to(tl.int32), 0))
        return cell, height, frac, i0, i1, rows_in, real, back

    @triton.jit
    def _template(edges, edge_layer, box, e, m, E, L):
        """Edge ``e``'s kind and its three pieces' end points and parameters (box-local), as
        :func:`.coverage._layer_coverage` and :func:`.coverage._short_pieces` compute them;
        ``box`` [6, L]: c0, r0, w, h, off, stride per layer (float32)."""
        x0 = tl.load(edges + e, mask=m, other=0.0)
        y0 = tl.load(edges + E + e, mask=m, other=0.0)
        x1 = tl.load(edges + 2 * E + e, mask=m, other=0.0)
        y1 = tl.load(edges + 3 * E + e, mask=m, other=0.0)
        lay = tl.load(edge_layer + e, mask=m, other=0)
        c0 = tl.load(box + lay, mask=m, other=0.0)
        r0 = tl.load(box + L + lay, mask=m, other=0.0)
        w = tl.load(box + 2 * L + lay, mask=m, other=0.0)
        h = tl.load(box + 3 * L + lay, mask=m, other=0.0)
        off = tl.load(box + 4 * L + lay, mask=m, other=0.0)
        stride = tl.load(box + 5 * L + lay, mask=m, other=0.0)
        x0 = x0 - c0
        x1 = x1 - c0
        y0 = y0 - r0
        y1 = y1 - r0
        xmin = tl.minimum(x0, x1)
        xmax = tl.maximum(x0, x1)
        ymin = tl.minimum(y0, y1)
        ymax = tl.maximum(y0, y1)
        live = m & ((xmax - xmin) + (ymax - ymin) > 0) & (w > 0) & (ymax >= 0) & (ymin <= h) & (xmin <= w)
        nx = tl.ceil(xmax) - tl.floor(xmin) - 1.0
        ny = tl.ceil(ymax) - tl.floor(ymin) - 1.0
        wall = live & (xmax < 0) & (ny > 1)
        short = live & (nx <= 1) & (ny <= 1)
        kind = tl.where(wall, 2, tl.where(live & ~short, 1, 0))
        # the crossings of the one integer x and y line a short edge may cross
        dx = x1 - x0
        dy = y1 - y0
        hasx = nx >= 1
        hasy = ny >= 1
        cx = tl.floor(xmin) + 1.0
        cy = tl.floor(ymin) + 1.0
        tx = tl.where(hasx, (cx - x0) / tl.where(hasx, dx, 1.0), 1.0)
        ty = tl.where(hasy, (cy - y0) / tl.where(hasy, dy, 1.0), 1.0)
        pxx = tl.where(hasx, cx, x1)
        pxy = tl.where(hasx, y0 + tx * dy, y1)
        pyx = tl.where(hasy, x0 + ty * dx, x1)
        pyy = tl.where(hasy, cy, y1)
        xfirst = tx <= ty
        xa = tl.where(xfirst, pxx, pyx)
        ya = tl.where(xfirst, pxy, pyy)
        xb = tl.where(xfirst, pyx, pxx)
        yb = tl.where(xfirst, pyy, pxy)
        t1 = tl.minimum(tx, ty)
        t2 = tl.maximum(tx, ty)
        return kind, short, x0, y0, x1, y1, xa, ya, xb, yb, t1, t2, w, h, off, stride

    @triton.jit
    def _add(cover, partial, entries, cells, sink, k, e, E, cell, height, frac, rows_in, enters):
        """One piece's cover and area into the buffers, its entry into ``entries``, and its
        cell (``sink`` when it counts for nothing) into row ``k`` of ``cells``."""
        tl.atomic_add(cover + cell, height, mask=rows_in)
        tl.atomic_add(partial + cell, height * frac, mask=rows_in)
        tl.atomic_add(entries + cell, height * 0.0 + 1.0, mask=enters)
        tl.store(cells + k * E + e, tl.where(rows_in, cell, sink), mask=e < E)

    @triton.jit(do_not_specialize=["E", "L", "X", "sink"])
    def _coverage_forward(edges, edge_layer, box, cover, partial, entries, cells, kinds, E, L, X, sink, BLOCK: tl.constexpr):
        e = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        m = e < E
        kind, short, x0, y0, x1, y1, xa, ya, xb, yb, t1, t2, w, h, off, stride = _template(edges, edge_layer, box, e, m, E, L)
        tl.store(kinds + e, kind.to(tl.int8), mask=m)
        # pieces entering their pixel (coverage._short_pieces): the second and third when not
        # empty, the first when the edge starts on a pixel side without running along it;
        # counted for the edges below X only
        counted = m & (e < X)
        on_x = x0 == tl.floor(x0)
        on_y = y0 == tl.floor(y0)
        along = (on_x & (x1 == x0)) | (on_y & (y1 == y0))
        first = counted & (on_x | on_y) & ~along & (t1 > 0.0)
        cell, height, frac, i0, i1, rows_in, real, back = _piece(x0, y0, xa, ya, 0.0, t1, w, h, off, stride, short)
        _add(cover, partial, entries, cells, sink, 0, e, E, cell, height, frac, rows_in, real & first)
        cell, height, frac, i0, i1, rows_in, real, back = _piece(xa, ya, xb, yb, t1, t2, w, h, off, stride, short)
        _add(cover, partial, entries, cells, sink, 1, e, E, cell, height, frac, rows_in, real & counted & (t2 > t1))
        cell, height, frac, i0, i1, rows_in, real, back = _piece(xb, yb, x1, y1, t2, 1.0, w, h, off, stride, short)
        _add(cover, partial, entries, cells, sink, 2, e, E, cell, height, frac, rows_in, real & counted & (t2 < 1.0))

    @triton.jit
    def _piece_gradient(grad_area, dead, cell, real, back):
        """The buffer's gradient at a piece's cell, or, for a piece on a side of a cell
        without a fragment (``dead``), at the neighbour ``back`` points to."""
        gone = tl.load(dead + cell, mask=real & (back != 0), other=0) != 0
        return tl.load(grad_area + tl.where(gone, cell - back, cell), mask=real, other=0.0)

    @triton.jit(do_not_specialize=["E", "L"])
    def _coverage_backward(edges, edge_layer, box, grad_area, dead, acc, E, L, BLOCK: tl.constexpr):
        e = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        m = e < E
        kind, short, x0, y0, x1, y1, xa, ya, xb, yb, t1, t2, w, h, off, stride = _template(edges, edge_layer, box, e, m, E, L)
        cell, height, frac, i0, i1, rows_in, real, back = _piece(x0, y0, xa, ya, 0.0, t1, w, h, off, stride, short)
        g = _piece_gradient(grad_area, dead, cell, real, back)
        acc0 = g * i0
        acc1 = g * i1
        cell, height, frac, i0, i1, rows_in, real, back = _piece(xa, ya, xb, yb, t1, t2, w, h, off, stride, short)
        g = _piece_gradient(grad_area, dead, cell, real, back)
        acc0 += g * i0
        acc1 += g * i1
        cell, height, frac, i0, i1, rows_in, real, back = _piece(xb, yb, x1, y1, t2, 1.0, w, h, off, stride, short)
        g = _piece_gradient(grad_area, dead, cell, real, back)
        acc0 += g * i0
        acc1 += g * i1
        tl.store(acc + e, acc0, mask=m)
        tl.store(acc + E + e, acc1, mask=m)


def box_table(boxes) -> Tensor:
    """The boxes (:class:`.coverage._Boxes`) as the kernels read them: [6, L] float32 rows
    c0, r0, w, h, off, stride (exact below 2^24 cells, which the caller checks)."""
    return boxes.table(torch.float32)[:6]


def pieces(
    edges: Tensor, edge_layer: Tensor, box: Tensor, cover: Tensor, partial: Tensor, entries: Tensor, exact_edges: int
) -> tuple[Tensor, Tensor, tuple]:
    """Add the pieces of every short edge into ``cover`` and ``partial`` ([total + 1]
    float32, in place), and those that enter their pixel (of the first ``exact_edges``
    edges) into ``entries`` (the same shape; :func:`.coverage._entry_counts`). ``edges``:
    [4, E] canvas pixels, float32, contiguous; ``edge_layer``: [E] int64; ``box``: [6, L]
    float32 (c0, r0, w, h, off, stride per layer). Returns each edge's kind, [E] int8: 0
    short (or outside its box: no pieces), 1 longer, 2 a wall (those two left to the
    per-operation path); and the cell of each of its three pieces, [3, E] int32 (``total``,
    the sink, for a piece that counts for nothing), from which the pieces of the pixels to
    resolve exactly are found; and what :func:`transport` needs (the edges, their layers and
    boxes: it recomputes the pieces, nothing per piece is kept)."""
    num = edges.shape[1]
    kinds = torch.empty(num, dtype=torch.int8, device=edges.device)
    cells = torch.empty(3, num, dtype=torch.int32, device=edges.device)
    if num:
        _coverage_forward[(triton.cdiv(num, BLOCK),)](
            edges, edge_layer, box, cover, partial, entries, cells, kinds, num, box.shape[1], exact_edges, cover.shape[0] - 1,
            BLOCK=BLOCK, enable_fp_fusion=FP_FUSION,
        )
    return kinds, cells, (edges, edge_layer, box)


def transport(saved: tuple, grad_area: Tensor, dead: Tensor) -> Tensor:
    """The short edges' transport integrals against the buffer's gradient ``grad_area``:
    [2, E] (``sum g * int (1 - u) du`` and ``sum g * int u du`` over each edge's pieces);
    zero for the other edges. ``dead`` [total + 1] bool: the cells without a fragment (a
    piece on such a cell's side takes its neighbour's gradient). ``saved``: what
    :func:`pieces` returned for it."""
    edges, edge_layer, box = saved
    num = edges.shape[1]
    acc = torch.empty(2, num, dtype=grad_area.dtype, device=edges.device)
    if num:
        _coverage_backward[(triton.cdiv(num, BLOCK),)](
            edges, edge_layer, box, grad_area, dead.view(torch.int8), acc, num, box.shape[1], BLOCK=BLOCK, enable_fp_fusion=FP_FUSION
        )
    return acc
