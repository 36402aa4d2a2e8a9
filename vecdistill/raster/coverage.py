"""Exact box-filter coverage of polygons: the signed-area accumulation rasterizer.

Input: directed line edges (closed polygons, any number per layer) in canvas pixels; pixel
``(i, j)`` covers ``[j, j+1] x [i, i+1]``. For every layer (one filled outline: a path's
fill, a stroke outline, a clip shape) we compute, for each pixel of its bounding box, the
integral of the winding number over the pixel:

1. each layer's box is its edges' bounding box, intersected with the canvas;
2. edges crossing the box are cut at the box sides and clamped onto it (a part left of the
   box becomes a vertical edge on the left side: same winding inside the box; parts above,
   below or right contribute nothing);
3. edges are split at every integer y, then every integer x, so that each piece lies in one
   pixel; a piece with height ``dy`` and mean x offset ``m`` inside its pixel adds
   ``dy (1 - m)`` to its pixel and ``dy m`` to the next one (the "accumulation" rasterizer of
   font-rs / stb_truetype);
4. a prefix sum along each row turns these into the winding integral ``A`` per pixel.

``A`` is a piecewise-polynomial function of the edge end points, so autograd gives exact
gradients. Coverage from ``A``: nonzero rule ``min(|A|, 1)``, even-odd rule the triangle
wave ``1 - |1 - (|A| mod 2)|``. Both are exact in every pixel whose winding numbers are all
of one sign and take at most two adjacent values (``{0, s}``, ``{s, 2s}``...): every interior
pixel and every pixel crossed by the edges of a single contour. Where contours cross or
stroke pieces overlap with windings 0 and 2 (or +1 and -1) inside one pixel, the value is an
approximation (see ``raster.md``); the stroker builds outlines that avoid this except at
the pixel of a sharp inner corner.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

Tensor = torch.Tensor


@dataclass
class Fragments:
    """Per-pixel coverage of layers. ``cov``: [F] in [0, 1]; ``layer``: [F] int64;
    ``pixel``: [F] int64 flat index ``b * H * W + y * W + x``. Fragments of one layer are
    contiguous and layers appear in increasing order."""

    cov: Tensor
    layer: Tensor
    pixel: Tensor


def take(x: Tensor, idx: Tensor) -> Tensor:
    """``x[idx]`` along dim 0 for int64 ``idx`` (or a bool mask) via ``index_select``, whose
    backward is a fast ``index_add`` (plain advanced indexing back-propagates through a
    slow accumulating ``index_put``)."""
    if idx.dtype == torch.bool:
        idx = idx.nonzero().squeeze(-1)
    return x.index_select(0, idx)


def _safe_div(num: Tensor, den: Tensor) -> Tensor:
    ok = den != 0
    return torch.where(ok, num / torch.where(ok, den, torch.ones_like(den)), torch.zeros_like(num))


def _clip_to_boxes(e: tuple[Tensor, ...], box: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
    """Cut edges ``e`` (x0, y0, x1, y1), four [N] columns, at the sides of their boxes
    ``box`` (X0, Y0, X1, Y1), four [N] columns, and clamp the pieces onto the box -> four
    [5N] columns."""
    x0, y0, x1, y1 = e
    dx, dy = x1 - x0, y1 - y0
    ts = [torch.zeros_like(x0)]
    for side, (p, d) in zip(box, ((x0, dx), (y0, dy), (x0, dx), (y0, dy))):
        t = _safe_div(side - p, d)
        t = torch.where(d != 0, t, torch.zeros_like(t))
        ts.append(t.clamp(0, 1))
    ts.append(torch.ones_like(x0))
    ts = torch.stack(ts, -1).sort(-1).values  # [N, 6]
    px = x0.unsqueeze(-1) + ts * dx.unsqueeze(-1)
    py = y0.unsqueeze(-1) + ts * dy.unsqueeze(-1)
    bx0, by0, bx1, by1 = (b.unsqueeze(-1) for b in box)
    px = torch.minimum(torch.maximum(px, bx0), bx1)
    py = torch.minimum(torch.maximum(py, by0), by1)
    return px[:, :-1].reshape(-1), py[:, :-1].reshape(-1), px[:, 1:].reshape(-1), py[:, 1:].reshape(-1)


def _split(e: tuple[Tensor, ...], axis: int) -> tuple[tuple[Tensor, ...], Tensor]:
    """Split edges (x0, y0, x1, y1), four [N] columns, at every integer coordinate along
    ``axis`` (0: x, 1: y) that they cross strictly inside. Returns ``(pieces, source [M])``:
    the pieces' four [M] columns and the index of the edge each comes from (edges that cross
    no integer pass through unchanged, first). Columns rather than an [N, 4] tensor: row
    gathers are slow on the CPU and column slices back-propagate through zero-filled copies."""
    a0, a1 = e[axis], e[2 + axis]
    b0, b1 = e[1 - axis], e[3 - axis]
    with torch.no_grad():
        a0d, a1d = a0.detach(), a1.detach()
        lo, hi = torch.minimum(a0d, a1d), torch.maximum(a0d, a1d)
        n_all = (torch.ceil(hi) - torch.floor(lo) - 1).clamp_min(0).long()
        cut = n_all > 0
        idx_pass = (~cut).nonzero().squeeze(-1)
        idx_cut = cut.nonzero().squeeze(-1)
        n = take(n_all, idx_cut)
        npieces = n + 1
        rep = torch.repeat_interleave(torch.arange(idx_cut.shape[0], device=a0.device), npieces)
        first = torch.cumsum(npieces, 0) - npieces
        k = torch.arange(rep.shape[0], device=a0.device) - take(first, rep)
        src = take(idx_cut, rep)
        asc = take(a1d > a0d, src)
        base = torch.where(asc, torch.floor(take(a0d, src)), torch.ceil(take(a0d, src)))
        step = torch.where(asc, 1.0, -1.0).to(a0.dtype)
        g_start = base + step * k
        g_end = g_start + step
        is_first = k == 0
        is_last = k == take(n, rep)
    a0r, a1r, b0r, b1r = (take(c, src) for c in (a0, a1, b0, b1))
    slope = _safe_div(b1r - b0r, a1r - a0r)
    bs = torch.where(is_first, b0r, b0r + (g_start - a0r) * slope)
    be = torch.where(is_last, b1r, b0r + (g_end - a0r) * slope)
    as_ = torch.where(is_first, a0r, g_start)
    ae = torch.where(is_last, a1r, g_end)
    cols = (as_, bs, ae, be) if axis == 0 else (bs, as_, be, ae)
    out = tuple(torch.cat([take(c, idx_pass), p]) for c, p in zip(e, cols))
    return out, torch.cat([idx_pass, src])


def winding_integral(
    edges: Tensor,
    edge_layer: Tensor,
    num_layers: int,
    layer_batch: Tensor,
    width: int,
    height: int,
    layout: str = "auto",
):
    """Winding integral per pixel of each layer's bounding box.

    ``edges``: [E, 4] directed edges (x0, y0, x1, y1) in canvas pixels; ``edge_layer``: [E];
    ``layer_batch``: [L] image index of each layer. Returns ``(area, layer, pixel)``, each
    [F]: the signed integral of the winding number over the pixel (in pixel units, so a
    fully inside pixel gives +-1, +-2...), its layer and flat pixel index; pixels where it is
    exactly 0 are left out. ``layout``: ``"auto"``, ``"flat"`` or ``"padded"`` buffer layout
    (same result; auto pads the boxes to a common size when that wastes little).
    """
    device, dtype = edges.device, edges.dtype
    L = num_layers
    with torch.no_grad():
        keep = (edges[:, 1] != edges[:, 3]).nonzero().squeeze(-1)
    cols = tuple(take(c, keep) for c in edges.unbind(-1))  # x0, y0, x1, y1: [E'] each
    edge_layer = take(edge_layer, keep)
    with torch.no_grad():
        xs = torch.stack([cols[0].detach(), cols[2].detach()], -1)
        ys = torch.stack([cols[1].detach(), cols[3].detach()], -1)
        inf = torch.full((L,), float("inf"), device=device, dtype=dtype)
        lx0 = inf.scatter_reduce(0, edge_layer, xs.amin(-1), "amin")
        ly0 = inf.scatter_reduce(0, edge_layer, ys.amin(-1), "amin")
        lx1 = (-inf).scatter_reduce(0, edge_layer, xs.amax(-1), "amax")
        ly1 = (-inf).scatter_reduce(0, edge_layer, ys.amax(-1), "amax")
        c0 = torch.floor(lx0).clamp(0, width).nan_to_num(0, width, 0)
        c1 = torch.ceil(lx1).clamp(0, width).nan_to_num(0, width, 0)
        r0 = torch.floor(ly0).clamp(0, height).nan_to_num(0, height, 0)
        r1 = torch.ceil(ly1).clamp(0, height).nan_to_num(0, height, 0)
        w = (c1 - c0).clamp_min(0).long()
        h = (r1 - r0).clamp_min(0).long()
        empty = (w == 0) | (h == 0)
        w = torch.where(empty, 0, w)
        h = torch.where(empty, 0, h)
        live = ~empty[edge_layer]
    if not bool(live.all()):
        live = live.nonzero().squeeze(-1)
        cols, edge_layer = tuple(take(c, live) for c in cols), take(edge_layer, live)
    with torch.no_grad():
        box = tuple(take(b, edge_layer) for b in (c0, r0, c1, r1))
        ed = [c.detach() for c in cols]
        inside = (
            (torch.minimum(ed[0], ed[2]) >= box[0])
            & (torch.maximum(ed[0], ed[2]) <= box[2])
            & (torch.minimum(ed[1], ed[3]) >= box[1])
            & (torch.maximum(ed[1], ed[3]) <= box[3])
        )
    if not bool(inside.all()):
        with torch.no_grad():
            out = (~inside).nonzero().squeeze(-1)
            ins = inside.nonzero().squeeze(-1)
        cut = _clip_to_boxes(tuple(take(c, out) for c in cols), tuple(take(b, out) for b in box))
        cut_layer = take(edge_layer, out).repeat_interleave(5)
        with torch.no_grad():
            ok = (cut[1] != cut[3]).nonzero().squeeze(-1)
        cols = tuple(torch.cat([take(c, ins), take(k, ok)]) for c, k in zip(cols, cut))
        edge_layer = torch.cat([take(edge_layer, ins), take(cut_layer, ok)])
    # to box-local coordinates
    ox, oy = take(c0, edge_layer), take(r0, edge_layer)
    local = (cols[0] - ox, cols[1] - oy, cols[2] - ox, cols[3] - oy)
    pieces, src = _split(local, 1)
    pieces2, src2 = _split(pieces, 0)
    with torch.no_grad():
        cell_layer = take(take(edge_layer, src), src2)
        q = [c.detach() for c in pieces2]
        row = torch.floor((q[1] + q[3]) * 0.5).long()
        col = torch.floor((q[0] + q[2]) * 0.5).long()
        lw = take(w, cell_layer)
        row = torch.minimum(row.clamp_min(0), take(h, cell_layer) - 1)
        col = torch.minimum(col.clamp_min(0), lw)
        # buffer layout: one [h, w + 1] block per layer (a spill column on the right); when
        # the boxes are of similar size, blocks are padded to a common [hmax, wmax + 1] so
        # that the prefix sum and the pixel indices are plain broadcasts
        flat_total = int((h * (w + 1)).sum())
        hmax, wmax = int(h.max()), int(w.max())
        padded = L * hmax * (wmax + 1) <= 1.25 * flat_total + 4096
        padded = padded if layout == "auto" else layout == "padded"
        bw = torch.full_like(w, wmax + 1) if padded else w + 1
        sizes = torch.full_like(h, hmax) * bw if padded else h * bw
        offset = torch.cumsum(sizes, 0) - sizes
        total = int(sizes.sum())
        idx0 = take(offset, cell_layer) + row * take(bw, cell_layer) + col
        idx1 = idx0 + (col < lw).long()
        base = layer_batch * (height * width) + r0.long() * width + c0.long()
    dy = pieces2[3] - pieces2[1]
    xm = (pieces2[0] + pieces2[2]) * 0.5 - col.to(dtype)
    xm = torch.where(col < lw, xm, torch.zeros_like(xm))
    buf = torch.zeros(total, device=device, dtype=dtype)
    buf = buf.index_add(0, torch.cat([idx0, idx1]), torch.cat([dy * (1 - xm), dy * xm]))
    if padded:
        area = torch.cumsum(buf.view(L, hmax, wmax + 1), -1).reshape(-1)
        with torch.no_grad():
            rr = torch.arange(hmax, device=device).view(1, -1, 1)
            cc = torch.arange(wmax + 1, device=device).view(1, 1, -1)
            valid = (rr < h.view(-1, 1, 1)) & (cc < w.view(-1, 1, 1))
            keep = (valid.reshape(-1) & (area.detach() != 0)).nonzero().squeeze(-1)
            pixel = take((base.view(-1, 1, 1) + rr * width + cc).reshape(-1), keep)
            elem_layer = torch.div(keep, hmax * (wmax + 1), rounding_mode="floor")
        return take(area, keep), elem_layer, pixel
    cs = torch.cumsum(buf, 0)
    cs_prev = torch.cat([cs.new_zeros(1), cs])  # cs_prev[k] = sum of buf[:k]
    with torch.no_grad():
        elem_layer = torch.repeat_interleave(torch.arange(L, device=device), sizes)
        local_idx = torch.arange(total, device=device) - offset[elem_layer]
        ebw = bw[elem_layer]
        erow = torch.div(local_idx, ebw, rounding_mode="floor")
        ecol = local_idx - erow * ebw
        row_start = torch.arange(total, device=device) - ecol
    area = cs - take(cs_prev, row_start)
    with torch.no_grad():
        keep = ((ecol < w[elem_layer]) & (area.detach() != 0)).nonzero().squeeze(-1)
        pixel = take(take(base, elem_layer) + erow * width + ecol, keep)
    return take(area, keep), take(elem_layer, keep), pixel


def coverage_from_area(area: Tensor, evenodd: Tensor) -> Tensor:
    """Coverage in [0, 1] from the winding integral ``area`` [F]; ``evenodd``: [F] bool."""
    a = area.abs()
    nonzero = a.clamp(max=1.0)
    r = torch.remainder(a, 2.0)
    eo = 1 - (1 - r).abs()
    return torch.where(evenodd, eo, nonzero)


def rasterize_layers(
    edges: Tensor,
    edge_layer: Tensor,
    layer_batch: Tensor,
    layer_evenodd: Tensor,
    width: int,
    height: int,
    layout: str = "auto",
) -> Fragments:
    """Coverage fragments of every layer (see the module docstring).

    ``edges``: [E, 4]; ``edge_layer``: [E] int64 in [0, L); ``layer_batch``: [L] int64;
    ``layer_evenodd``: [L] bool. Pixels whose winding integral is exactly 0 are left out.
    """
    L = int(layer_batch.shape[0])
    area, layer, pixel = winding_integral(edges, edge_layer, L, layer_batch, width, height, layout)
    if bool(layer_evenodd.any()):
        cov = coverage_from_area(area, layer_evenodd[layer])
    else:
        cov = area.abs().clamp(max=1.0)
    return Fragments(cov, layer, pixel)
