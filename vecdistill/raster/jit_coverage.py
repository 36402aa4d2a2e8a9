"""The coverage stage of :mod:`.coverage` as compiled CPU loops (Numba), for CPU renders.

The per-operation path cuts every edge with a dense three-piece template
(:func:`.coverage._short_pieces`, about 70 whole-array operations after some 40 that place
the edges in their layers' boxes), scatter-adds the pieces into the cell buffers, takes a
prefix sum along the rows, keeps the non-zero cells and maps them to layers and pixels: on
the CPU each of those passes streams its arrays through memory again. Here:

- :func:`boxes`: the layers' boxes and the buffer's totals (one loop over the edges, one
  over the layers); :func:`star_shaped`: the test of :func:`.coverage._star_shaped`.
- :func:`pieces`: one loop over the edges; each short edge (at most one integer x and one
  integer y line crossed) is cut into its three pieces in registers (empty ones skipped),
  which add their cover and area into the buffers (and their entries,
  :func:`.coverage._entry_counts`). Longer edges and walls (a few per scene) are flagged for
  the per-operation path, as the fused GPU kernel (:mod:`.fused_coverage`) does; the same
  interface.
- :func:`finish`: one loop over the boxes' rows: the prefix sum of the cover minus the area
  gives each cell's winding integral ``A`` (written back into the cover buffer); each cell
  with ``A != 0`` (or marked for the exact pass) becomes a fragment with its coverage and
  slope (:func:`.coverage.coverage_and_slope`), layer and pixel; the rows' spill cells are
  listed. Any buffer layout (rows of varied lengths need no closing in a loop).
- :func:`transport`: the backward of :func:`pieces`: each short edge's three pieces' cells'
  gradient times their transport integrals, which :func:`pieces` kept (recomputing the
  pieces, as the GPU kernel does, costs here twice the reads); :func:`edge_gradient`: the
  stage's whole backward in one call when every piece came from :func:`pieces`.

The same formulas as the per-operation path, in the working dtype (so that both give the
same values up to the order of the sums: in particular the pieces' heights are exact
differences of the same rounded points, so that the cover of a row a contour crosses sums
to exactly 0 past it, as there; float64 arithmetic here left stray float32 fragments of
area 1e-8). Float32 and float64, one thread, the GIL released; compiled on first use
(:func:`.jit.compiled`).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from numba import njit

from . import jit

Tensor = torch.Tensor

attempt = jit.attempt  # the kernel family's: how callers run this module's kernels (a failure falls back)


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _piece(xa, ya, xb, yb, ua, ub, w, h, off, stride, short, zero, half, one):  # pragma: no cover - compiled
    """One piece (box-local end points, parameter interval on its edge) of an edge in the
    box ``[0, w] x [0, h]`` at buffer offset ``off`` with row ``stride``: its cell, signed
    height (0 outside the box's rows or when the edge is not ``short``), mean x offset in
    the pixel, the integrals of ``1 - u`` and ``u`` (0 unless the piece lies in the box),
    whether it lies in the box, and the offset to the neighbour whose gradient it takes
    should its cell have no fragment (:func:`.coverage._boundary_offsets`: 1 on the cell's
    left side, ``stride`` on its top side, else 0). :func:`.coverage._short_pieces` and
    ``_place``."""
    xm = (xa + xb) * half
    ym = (ya + yb) * half
    ry = np.floor(ym)
    rows_in = short and ((ry >= zero and ry < h) or ym == h)  # (ym = h: a piece on the box's bottom side)
    real = rows_in and xm >= zero and xm <= w
    row = min(max(ry, zero), max(h - one, zero))
    col = min(max(np.floor(xm), zero), w)
    frac = min(max(xm - col, zero), one)
    cell = off + int(row) * stride + int(col)
    height = yb - ya if rows_in else zero
    i1 = (ub * ub - ua * ua) * half
    i0 = (ub - ua) - i1 if real else zero
    back = 0
    if real and xm == np.floor(xm) and xm >= one:
        back = 1
    elif real and ym == ry and ry >= one:
        back = stride
    return cell, height, frac, i0, i1 if real else zero, rows_in, real, back


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _template(edges, e, fbox, lay, zero, one):  # pragma: no cover - compiled
    """Edge ``e``'s kind (0 short or outside its box, 1 longer, 2 a wall), its box-local end
    points and the two cuts of its template (:func:`.coverage._edge_frame`,
    :func:`.coverage._short_pieces`): the points ``a``, ``b`` and parameters ``t1 <= t2``
    where it crosses its integer x and y line (the end point and 1 where it crosses none)."""
    w = fbox[2, lay]
    h = fbox[3, lay]
    x0 = edges[0, e] - fbox[0, lay]
    y0 = edges[1, e] - fbox[1, lay]
    x1 = edges[2, e] - fbox[0, lay]
    y1 = edges[3, e] - fbox[1, lay]
    xmin = min(x0, x1)
    xmax = max(x0, x1)
    ymin = min(y0, y1)
    ymax = max(y0, y1)
    live = (xmax - xmin) + (ymax - ymin) > zero and w > zero and ymax >= zero and ymin <= h and xmin <= w
    nx = np.ceil(xmax) - np.floor(xmin) - one
    ny = np.ceil(ymax) - np.floor(ymin) - one
    kind = 0
    if live and xmax < zero and ny > one:
        kind = 2
    elif live and (nx > one or ny > one):
        kind = 1
    short = live and kind == 0
    dx = x1 - x0
    dy = y1 - y0
    tx = one
    ty = one
    pxx, pxy, pyx, pyy = x1, y1, x1, y1
    if nx >= one:
        cx = np.floor(xmin) + one
        tx = (cx - x0) / dx
        pxx = cx
        pxy = y0 + tx * dy
    if ny >= one:
        cy = np.floor(ymin) + one
        ty = (cy - y0) / dy
        pyx = x0 + ty * dx
        pyy = cy
    if tx <= ty:
        return kind, short, x0, y0, x1, y1, pxx, pxy, pyx, pyy, tx, ty, w, h
    return kind, short, x0, y0, x1, y1, pyx, pyy, pxx, pxy, ty, tx, w, h


@njit(cache=True, nogil=True, error_model="numpy")
def _pieces(edges, edge_layer, fbox, box, cover, partial, entries, cells, integrals, sides, offsets, kinds, counted, sink, zero, half, one):  # pragma: no cover - compiled
    """See :func:`pieces`; ``fbox`` [4, L]: the boxes' c0, r0, w, h in the working dtype;
    ``cells`` [3, E], ``integrals`` [2, 3, E] (0 for a piece outside the box) and ``kinds``
    [E] are written, and the pieces on a pixel side (few) listed: their flat index ``k E +
    e`` in ``sides`` and :func:`_piece`'s offset in ``offsets`` (room for 3 E each); returns
    how many. ``sink``: the buffers' last cell. ``zero``, ``half``, ``one``: those
    numbers in the working dtype (a float64 literal would widen float32 arithmetic)."""
    num = edges.shape[1]
    listed = 0
    for e in range(num):
        lay = edge_layer[e]
        kind, short, x0, y0, x1, y1, xa, ya, xb, yb, t1, t2, w, h = _template(edges, e, fbox, lay, zero, one)
        kinds[e] = kind
        off = box[4, lay]
        stride = box[5, lay]
        count = e < counted
        # the pieces that enter their pixel (coverage._entry_flags): the second and third
        # when not empty, the first when the edge starts on a pixel side without running along it
        on_x = x0 == np.floor(x0)
        on_y = y0 == np.floor(y0)
        along = (on_x and x1 == x0) or (on_y and y1 == y0)
        for k in range(3):
            if k == 0:
                pa, qa, pb, qb, ua, ub = x0, y0, xa, ya, zero, t1
                enters = (on_x or on_y) and not along
            elif k == 1:
                pa, qa, pb, qb, ua, ub = xa, ya, xb, yb, t1, t2
                enters = True
            else:
                pa, qa, pb, qb, ua, ub = xb, yb, x1, y1, t2, one
                enters = True
            if ua == ub and pa == pb and qa == qb:  # an empty piece (most edges cross no line): it adds nothing
                integrals[0, k, e] = zero
                integrals[1, k, e] = zero
                cells[k, e] = sink
                continue
            cell, height, frac, i0, i1, rows_in, real, back = _piece(pa, qa, pb, qb, ua, ub, w, h, off, stride, short, zero, half, one)
            enters = enters and ub > ua
            integrals[0, k, e] = i0
            integrals[1, k, e] = i1
            if back != 0:
                sides[listed] = k * num + e
                offsets[listed] = back
                listed += 1
            if rows_in:
                cover[cell] += height
                partial[cell] += height * frac
                cells[k, e] = cell
                if real and count and enters:
                    entries[cell] += one
            else:
                cells[k, e] = sink
    return listed


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _edge_integrals(cells, integrals, grad_area, e):  # pragma: no cover - compiled
    """Edge ``e``'s two transport sums, ``sum g * int (1 - u) du`` and ``sum g * int u du``
    over its three pieces (``g``: ``grad_area`` at the piece's cell), in float64."""
    a0 = 0.0
    a1 = 0.0
    for k in range(3):
        g = float(grad_area[cells[k, e]])
        a0 += g * integrals[0, k, e]
        a1 += g * integrals[1, k, e]
    return a0, a1


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _side_piece(cells, integrals, grad_area, side, offset):  # pragma: no cover - compiled
    """A listed piece on a pixel side (``side``: its flat index ``k E + e``, ``offset``: to
    its neighbour): its edge, its cell, and what taking the neighbour's gradient instead of
    its cell's adds to the edge's two transport sums."""
    k, e = divmod(side, cells.shape[1])
    c = cells[k, e]
    dg = float(grad_area[c - offset]) - float(grad_area[c])
    return e, c, dg * integrals[0, k, e], dg * integrals[1, k, e]


@njit(cache=True, nogil=True, error_model="numpy")
def _transport(cells, integrals, sides, offsets, grad_area, dead, acc):  # pragma: no cover - compiled
    """See :func:`transport`."""
    num = cells.shape[1]
    for e in range(num):
        acc[0, e], acc[1, e] = _edge_integrals(cells, integrals, grad_area, e)
    for j in range(sides.shape[0]):  # pieces on a side of a cell without a fragment: the neighbour's gradient
        e, c, d0, d1 = _side_piece(cells, integrals, grad_area, sides[j], offsets[j])
        if dead[c]:
            acc[0, e] += d0
            acc[1, e] += d1


@njit(cache=True, nogil=True, error_model="numpy")
def _edge_gradient(cells, integrals, sides, offsets, grad_keep, slope, keep, spill, direction, grad_area, out):  # pragma: no cover - compiled
    """See :func:`edge_gradient`; ``grad_area`` [total + 1]: zeros on entry (scratch)."""
    for f in range(keep.shape[0]):
        grad_area[keep[f]] = grad_keep[f] * slope[f]
    for r in range(spill.shape[0]):  # a piece on the box's right side takes the row's last pixel's
        grad_area[spill[r]] = grad_area[spill[r] - 1]
    num = cells.shape[1]
    for e in range(num):
        a0, a1 = _edge_integrals(cells, integrals, grad_area, e)
        # the end points' integrals times the normal (-d_y, d_x): rows x0, y0, x1, y1
        nx = -float(direction[1, e])
        ny = float(direction[0, e])
        out[0, e] = a0 * nx
        out[1, e] = a0 * ny
        out[2, e] = a1 * nx
        out[3, e] = a1 * ny
    for j in range(sides.shape[0]):  # pieces on a side of a cell without a fragment: the neighbour's gradient
        e, c, d0, d1 = _side_piece(cells, integrals, grad_area, sides[j], offsets[j])
        at = np.searchsorted(keep, c)  # (keep is in buffer order: is c a fragment's cell?)
        if at < keep.shape[0] and keep[at] == c:
            continue
        nx = -float(direction[1, e])
        ny = float(direction[0, e])
        out[0, e] += d0 * nx
        out[1, e] += d0 * ny
        out[2, e] += d1 * nx
        out[3, e] += d1 * ny


@njit(cache=True, nogil=True, error_model="numpy")
def _finish(cover, partial, box, layer_batch, evenodd, crossed, width, height, keep, cov, slope, layer, pixel, spill):  # pragma: no cover - compiled
    """See :func:`finish`; returns the number of fragments written."""
    n = 0
    s = 0
    use_eo = evenodd.shape[0] > 0
    use_crossed = crossed.shape[0] > 0
    for lay in range(box.shape[1]):
        c0 = int(box[0, lay])
        r0 = int(box[1, lay])
        w = int(box[2, lay])
        h = int(box[3, lay])
        off = int(box[4, lay])
        stride = int(box[5, lay])
        eo = use_eo and evenodd[lay]
        base = layer_batch[lay] * height * width + r0 * width + c0
        for r in range(h):
            first = off + r * stride
            run = 0.0
            for c in range(w):
                cell = first + c
                run += float(cover[cell])
                cover[cell] = run  # (rounded to the working dtype, as a cumulative sum's output is)
                a = cover[cell] - partial[cell]
                cover[cell] = a
                if a != 0.0 or (use_crossed and crossed[cell]):
                    m = abs(a)
                    sign = 1.0 if a > 0.0 else (-1.0 if a < 0.0 else 0.0)
                    if eo:
                        rem = m % 2.0
                        cov[n] = 1.0 - abs(1.0 - rem)
                        slope[n] = sign * (1.0 if rem < 1.0 else (-1.0 if rem > 1.0 else 0.0))
                    else:
                        cov[n] = min(m, 1.0)
                        slope[n] = sign if m <= 1.0 else 0.0
                    keep[n] = cell
                    layer[n] = lay
                    pixel[n] = base + r * width + c
                    n += 1
            cover[first + w] = 0.0
            spill[s] = first + w
            s += 1
    return n


@njit(cache=True, nogil=True, error_model="numpy")
def _extents(edges, edge_layer, out):  # pragma: no cover - compiled
    """See :func:`extents`; ``out`` [4, L] starts at +inf. A NaN stays (as in an ``amin``
    reduction, which propagates it)."""
    for e in range(edges.shape[1]):
        lay = edge_layer[e]
        x = edges[0, e]
        y = edges[1, e]
        for row, v in ((0, x), (1, y), (2, -x), (3, -y)):
            cur = out[row, lay]
            if cur == cur and not v >= cur:  # (a NaN v is taken; a NaN minimum kept)
                out[row, lay] = v


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _side(v, limit):  # pragma: no cover - compiled
    """A box side (``ceil(min) - 1``, or ``floor(max) + 1``, from :func:`_extents`) clamped to
    ``[0, limit]``; an empty layer's infinities and a NaN coordinate's NaN become 0 or
    ``limit``, as in the per-operation ``nan_to_num``."""
    if v < 0.0:
        v = 0.0
    if v > limit:
        v = float(limit)
    return 0 if v != v else int(v)


@njit(cache=True, nogil=True, error_model="numpy")
def _boxes(edges, edge_layer, width, height, ext, lo, wh, centre, totals):  # pragma: no cover - compiled
    """See :func:`boxes`; ``ext`` [4, L] (+inf on entry) <- :func:`_extents`."""
    _extents(edges, edge_layer, ext)
    for lay in range(ext.shape[1]):
        centre[0, lay] = (ext[0, lay] - ext[2, lay]) * 0.5
        centre[1, lay] = (ext[1, lay] - ext[3, lay]) * 0.5
        # ceil(min) - 1, and floor(max) + 1 = 1 - ceil(-max) (coverage.py, step 1)
        c0 = _side(np.ceil(ext[0, lay]) - 1.0, width)
        r0 = _side(np.ceil(ext[1, lay]) - 1.0, height)
        w = max(_side(1.0 - np.ceil(ext[2, lay]), width) - c0, 0)
        h = max(_side(1.0 - np.ceil(ext[3, lay]), height) - r0, 0)
        if w == 0 or h == 0:  # a box of no width or no height is empty
            w = h = 0
        lo[0, lay] = c0
        lo[1, lay] = r0
        wh[0, lay] = w
        wh[1, lay] = h
        totals[0] += h * (w + 1)
        totals[1] += h
        totals[2] = max(totals[2], w)
        totals[3] = max(totals[3], h)


@njit(cache=True, nogil=True, error_model="numpy")
def _star_counts(edges, edge_layer, centre, counts):  # pragma: no cover - compiled
    """See :func:`star_shaped`; ``counts`` [L, 5] (zeros on entry) <- per layer the edges
    turning clockwise, not at all and anticlockwise around its centre, the edges crossing
    the horizontal line through it, and the edges."""
    for e in range(edges.shape[1]):
        lay = edge_layer[e]
        cx = float(centre[0, lay])
        cy = float(centre[1, lay])
        ax = edges[0, e] - cx
        ay = edges[1, e] - cy
        bx = edges[2, e] - cx
        by = edges[3, e] - cy
        cross = ax * by - ay * bx
        counts[lay, 0 if cross < 0.0 else (2 if cross > 0.0 else 1)] += 1
        if (ay < 0.0) != (by < 0.0):
            counts[lay, 3] += 1
        counts[lay, 4] += 1


@njit(cache=True, nogil=True, error_model="numpy")
def _loop_sums(edges, edge_layer, n, box, sums, pi):  # pragma: no cover - compiled
    """See :func:`loop_sums`: ``sums`` [total + 1] (zeros on entry) <- per cell the absolute
    turning angles of the first ``n`` edges' start vertices in it."""
    s = 0
    while s < n:
        # a contour: edges s .. t - 1, each starting where the one before ends, in one layer
        t = s + 1
        while t < n and edges[2, t - 1] == edges[0, t] and edges[3, t - 1] == edges[1, t] and edge_layer[t - 1] == edge_layer[t]:
            t += 1
        for i in range(s, t):
            p = t - 1 if i == s else i - 1  # the previous edge (the contour's last before its first)
            x0, y0 = edges[0, i], edges[1, i]
            dx, dy = edges[2, i] - x0, edges[3, i] - y0
            pdx, pdy = edges[2, p] - edges[0, p], edges[3, p] - edges[1, p]
            if edges[2, p] == x0 and edges[3, p] == y0 and (dx != 0 or dy != 0) and (pdx != 0 or pdy != 0):
                turn = math.atan2(abs(pdx * dy - pdy * dx), pdx * dx + pdy * dy)
            else:  # the previous edge does not end here, or an edge of no length
                turn = pi
            lay = edge_layer[i]
            lx, ly = x0 - box[0, lay], y0 - box[1, lay]
            cf, rf = math.floor(lx), math.floor(ly)
            cc, rc = math.ceil(lx) - 1, math.ceil(ly) - 1
            for k in range(4):  # the cell right of and below it; left of or above it too on a pixel side
                col = cf if k % 2 == 0 else cc
                row = rf if k < 2 else rc
                if (k % 2 == 1 and cc == cf) or (k >= 2 and rc == rf):
                    continue
                if 0 <= col < box[2, lay] and 0 <= row < box[3, lay]:
                    sums[box[4, lay] + np.int64(col) + np.int64(row) * box[5, lay]] += turn
        s = t


def boxes(edges: Tensor, edge_layer: Tensor, num_layers: int, width: int, height: int) -> tuple[Tensor, Tensor, Tensor, list[int]]:
    """The layers' boxes as :func:`.coverage._layer_boxes` computes them before choosing a
    layout, in one loop over the edges (``edges`` [4, E] canvas pixels, ``edge_layer``
    [E]) and one over the layers: ``(lo, wh, centre, totals)``: [2, L] int64 the box's
    first column and row, [2, L] int64 its width and height (both 0 for an empty box),
    [2, L] the middle of the layer's edges' extent (unclipped; inf or NaN for a layer
    without edges or with a NaN coordinate) and ``[sum h (w + 1), sum h, max w, max h]``."""
    ext = torch.full((4, num_layers), float("inf"), dtype=edges.dtype)
    lo = torch.empty(2, num_layers, dtype=torch.int64)
    wh = torch.empty(2, num_layers, dtype=torch.int64)
    centre = torch.empty(2, num_layers, dtype=edges.dtype)
    totals = np.zeros(4, np.int64)
    _boxes(edges.contiguous().numpy(), edge_layer.contiguous().numpy(), width, height, ext.numpy(), lo.numpy(), wh.numpy(),
           centre.numpy(), totals)
    return lo, wh, centre, totals.tolist()


def star_shaped(edges: Tensor, edge_layer: Tensor, centre: Tensor, num_layers: int) -> tuple[Tensor, Tensor]:
    """:func:`.coverage._star_shaped` (``centre`` [2, L]: each layer's middle): ``(star,
    present)``, [L] bool each. The turn of an edge around the centre is the sign of a 2 x 2
    determinant, taken in float64 (exact for float32 coordinates)."""
    counts = torch.zeros(num_layers, 5, dtype=torch.int64)
    _star_counts(edges.contiguous().numpy(), edge_layer.contiguous().numpy(), centre.contiguous().numpy(), counts.numpy())
    cw, flat, acw, crossings, n = counts.unbind(1)
    star = flat.eq(0) & (cw.eq(0) | acw.eq(0)) & crossings.eq(2) & n.ge(3)
    return star, n > 0


def loop_sums(edges: Tensor, edge_layer: Tensor, boxes, counted: int | None) -> Tensor:
    """:func:`.coverage._loop_cells`' turning sums in one loop over the edges: [total + 1]
    (the last, the sink, 0), per cell the absolute turning angles of the start vertices of
    the first ``counted`` edges (None: all) in it (``edges`` [4, E] canvas pixels, closed
    polygons; ``edge_layer`` [E]; ``boxes``: :class:`.coverage._Boxes`). The angles are the
    working dtype's, summed in edge order (the per-operation path sums in another order: a
    cell within rounding of the threshold may differ, which only decides whether that pixel
    is swept)."""
    n = edges.shape[1] if counted is None else counted
    sums = torch.zeros(boxes.total + 1, dtype=edges.dtype)
    e = edges.contiguous().numpy()
    _loop_sums(e, edge_layer.contiguous().numpy(), n, box_table(boxes).numpy(), sums.numpy(), e.dtype.type(math.pi))
    return sums


def box_table(boxes) -> Tensor:
    """The boxes (:class:`.coverage._Boxes`) as the kernels read them: [7, L] int64 rows
    c0, r0, w, h, off, stride, row0."""
    return boxes.table(torch.int64).contiguous()


def pieces(edges: Tensor, edge_layer: Tensor, box: Tensor, cover: Tensor, partial: Tensor, entries: Tensor,
           exact_edges: int) -> tuple[Tensor, Tensor, tuple]:
    """Add the pieces of every short edge into ``cover`` and ``partial`` ([total + 1], the
    working dtype, in place), and those that enter their pixel (of the first
    ``exact_edges`` edges) into ``entries`` (the same). ``edges``: [4, E] canvas pixels,
    contiguous; ``edge_layer``: [E] int64; ``box``: :func:`box_table`. Returns each edge's
    kind, [E] int8 (0 short or outside its box, 1 longer, 2 a wall: those two left to the
    per-operation path), the cell of each of its three pieces, [3, E] int64 (``total``,
    the sink, for a piece that counts for nothing), and what :func:`transport` needs: the
    cells, the pieces' two transport integrals, [2, 3, E] (kept: recomputing them costs more
    than reading them back), and the pieces on a pixel side with their neighbour offsets
    (:func:`.coverage._boundary_offsets`; few, so listed apart: a per-piece array cost 1-4 %
    of a step). :func:`.fused_coverage.pieces`' contract."""
    num = edges.shape[1]
    kinds = torch.empty(num, dtype=torch.int8)
    cells = torch.empty(3, num, dtype=torch.int64)
    integrals = torch.empty(2, 3, num, dtype=cover.dtype)
    sides, offsets = torch.empty(3 * num, dtype=torch.int64), torch.empty(3 * num, dtype=torch.int64)
    kind = cover.numpy().dtype.type
    listed = _pieces(edges.numpy(), edge_layer.numpy(), box[:4].to(edges.dtype).numpy(), box.numpy(), cover.numpy(), partial.numpy(),
                     entries.numpy(), cells.numpy(), integrals.numpy(), sides.numpy(), offsets.numpy(), kinds.numpy(), exact_edges,
                     cover.shape[0] - 1, kind(0), kind(0.5), kind(1))
    return kinds, cells, (cells, integrals, sides[:listed], offsets[:listed])


def transport(saved: tuple, grad_area: Tensor, dead: Tensor) -> Tensor:
    """The short edges' transport integrals against the buffer's gradient ``grad_area``
    [total + 1]: [2, E] (``sum g * int (1 - u) du`` and ``sum g * int u du`` over each
    edge's pieces in their box), zero for the other edges; ``dead`` [total + 1] bool: the
    cells without a fragment (a piece on such a cell's side takes its neighbour's
    gradient); ``saved``: what :func:`pieces` returned for it."""
    cells, integrals, sides, offsets = saved
    acc = torch.empty(2, cells.shape[1], dtype=grad_area.dtype)
    _transport(cells.numpy(), integrals.numpy(), sides.numpy(), offsets.numpy(), grad_area.contiguous().numpy(), dead.numpy(), acc.numpy())
    return acc


def edge_gradient(saved: tuple, grad_keep: Tensor, slope: Tensor, keep: Tensor, spill: Tensor, total: int, direction: Tensor) -> Tensor:
    """The whole backward of the coverage stage when every piece came from :func:`pieces`
    (no longer edges, walls or exactly resolved pixels): the fragments' gradient
    ``grad_keep`` [F] times their ``slope`` [F] into a [total + 1] cell buffer at ``keep``
    [F], each row's spill cell (``spill`` [R]) given its last pixel's, then per edge the
    pieces' transport integrals (a piece on a side of a cell without a fragment reading its
    neighbour's gradient) times the normal ``(-d_y, d_x)`` (``direction`` [2, E]):
    the edges' gradient [4, E], rows x0, y0, x1, y1 (:class:`.coverage._WindingArea`'s, in
    one loop each instead of a dozen operations)."""
    cells, integrals, sides, offsets = saved
    out = torch.empty(4, cells.shape[1], dtype=grad_keep.dtype)
    _edge_gradient(cells.numpy(), integrals.numpy(), sides.numpy(), offsets.numpy(), grad_keep.contiguous().numpy(), slope.numpy(),
                   keep.numpy(), spill.numpy(), direction.contiguous().numpy(), np.zeros(total + 1, grad_keep.numpy().dtype), out.numpy())
    return out


def finish(cover: Tensor, partial: Tensor, box: Tensor, layer_batch: Tensor, evenodd: Tensor | None, crossed: Tensor | None,
           width: int, height: int, rows: int) -> tuple[Tensor, ...]:
    """From the cover and area buffers ([total + 1], every piece added), the fragments:
    ``(keep, cov, slope, layer, pixel)`` [F] (cells in buffer order, the coverage and its
    derivative by ``A``, the layer, the flat pixel ``b * H * W + y * W + x``) of the cells
    inside their boxes whose winding integral ``A`` is not 0 or that ``crossed`` ([total +
    1] bool, or None) marks; and ``spill`` [rows], the spill cell of every box row in
    buffer order. ``cover`` holds ``A`` afterwards (0 in spill cells). ``evenodd``: [L] bool
    (None: the nonzero rule); ``layer_batch``: [L] int64."""
    total = cover.shape[0] - 1
    dtype = cover.dtype
    keep, layer, pixel = (torch.empty(total, dtype=torch.int64) for _ in range(3))
    cov, slope = torch.empty(total, dtype=dtype), torch.empty(total, dtype=dtype)
    spill = torch.empty(rows, dtype=torch.int64)
    no = np.zeros(0, np.bool_)
    n = _finish(cover.numpy(), partial.numpy(), box.numpy(), layer_batch.contiguous().numpy(),
                no if evenodd is None else evenodd.contiguous().numpy(), no if crossed is None else crossed.numpy(),
                width, height, keep.numpy(), cov.numpy(), slope.numpy(), layer.numpy(), pixel.numpy(), spill.numpy())
    return keep[:n], cov[:n], slope[:n], layer[:n], pixel[:n], spill


def compile_for(dtype: torch.dtype) -> bool:
    """Compile (or load) the kernels for ``dtype`` on a one-triangle example, so that
    a failure shows before a render relies on them (:func:`.jit.compiled`)."""
    from types import SimpleNamespace

    edges = torch.tensor([[0.5, 1.5, 0.5], [0.5, 0.5, 1.5], [1.5, 0.5, 0.5], [0.5, 1.5, 0.5]], dtype=dtype)
    layer = torch.zeros(3, dtype=torch.int64)
    box = box_table(SimpleNamespace(table=lambda d: torch.tensor([[0], [0], [2], [2], [0], [3], [0]], dtype=d)))
    cover, partial, entries = (torch.zeros(7, dtype=dtype) for _ in range(3))
    saved = pieces(edges, layer, box, cover, partial, entries, 3)[2]
    keep, cov, slope, _, _, spill = finish(cover, partial, box, layer, torch.zeros(1, dtype=torch.bool), torch.zeros(7, dtype=torch.bool), 2, 2, 2)
    transport(saved, cover, torch.zeros(7, dtype=torch.bool))
    edge_gradient(saved, cov, slope, keep, spill, 6, edges[2:] - edges[:2])
    star_shaped(edges, layer, boxes(edges, layer, 1, 2, 2)[2], 1)
    loop_sums(edges, layer, SimpleNamespace(total=6, table=lambda d: box.to(d)), None)
    return True
