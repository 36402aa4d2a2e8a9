"""Stroke outlines: the region within half the stroke width of a polyline, as polygons whose
nonzero fill is that region.

Every subpath becomes one or two closed *loops* of vertices, and each loop contributes its
left-hand offset outline (left = the side of ``rot90(d) = (-d_y, d_x)``):

- a closed subpath: the loop forwards (one side) and backwards (the other side);
- an open subpath ``v0..vn``: the there-and-back loop ``v0..vn..v1`` whose two U-turns are
  the caps (butt: a straight edge, square: two points pushed out by half the width, round:
  a half circle).

At each loop vertex with incoming/outgoing unit directions ``d_in``/``d_out``, turn angle
``theta`` and normals ``n_in``/``n_out``, the outline visits (in units of the half width
``r``, relative to the vertex):

- on the inner side of the turn: the intersection of the two offset lines, the miter vector
  ``m = (n_in + n_out) / (1 + n_in . n_out)``, when the offset segments on both sides keep
  their direction (the trims at both ends fit in the segment), else ``n_in, 0, n_out``
  (through the vertex: correct for short segments and for curves tighter than the half
  width; the overlapping pieces then lie inside the stroke);
- on the outer side: ``m`` for small turns (the offset of a flattened curve) and miter joins
  within ``miterlimit``; ``n_in, n_out`` for bevels (and miters over the limit); an arc of
  points for round joins.

So a smooth curve gives clean offset polylines on both sides with no self-overlap, which
keeps the accumulated coverage exact at the outline's edges. Everything is vectorised over
all loops; outline points are ``vertex + r * u`` and differentiable in the vertices and ``r``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .coverage import flat_nonzero, take
from .flatten import Polylines

Tensor = torch.Tensor

JOINS = {"miter": 0, "round": 1, "bevel": 2, "miter-clip": 0, "arcs": 1}
CAPS = {"butt": 0, "round": 1, "square": 2}


@dataclass
class StrokeStyle:
    """Per subpath: ``half``: [Q] half widths (local units, differentiable); ``join``/``cap``:
    [Q] int64 codes (:data:`JOINS`, :data:`CAPS`); ``miterlimit``: [Q]; ``tol``: [Q] flattening
    tolerance in local units."""

    half: Tensor
    join: Tensor
    cap: Tensor
    miterlimit: Tensor
    tol: Tensor


def _dedup(poly: Polylines, sub_tol: Tensor):
    """Drop vertices that coincide with their predecessor (cyclically for closed subpaths).
    Returns (verts [V', 2], sub_start [Q], sub_count [Q])."""
    v = poly.verts
    with torch.no_grad():
        vd = v.detach()
        n = vd.shape[0]
        idx = torch.arange(n, device=v.device)
        first = poly.sub_start[poly.vert_sub]
        last = first + poly.sub_count[poly.vert_sub] - 1
        prev = torch.where(idx == first, last, idx - 1)
        eps = (sub_tol * 1e-3)[poly.vert_sub]
        dist = (vd - vd[prev]).abs().amax(-1)
        keep = dist > eps
        is_first = idx == first
        keep = keep | is_first
        closed = poly.sub_closed[poly.vert_sub]
        # for open subpaths the first vertex has no predecessor
        keep = torch.where(is_first, torch.ones_like(keep), keep)
        # closed: drop a last vertex equal to the first
        last_eq = (idx == last) & closed & (idx != first) & ((vd - vd[first]).abs().amax(-1) <= eps)
        keep = keep & ~last_eq
        count = torch.zeros_like(poly.sub_count).index_add_(0, poly.vert_sub, keep.long())
        start = torch.cumsum(count, 0) - count
    return v[keep], start, count


def stroke_outline(poly: Polylines, style: StrokeStyle) -> tuple[Tensor, Tensor]:
    """Outline edges of the strokes of all subpaths in ``poly``.

    Returns ``(edges [E, 4], edge_sub [E])`` in local units: directed edges (x0, y0, x1, y1)
    and the subpath each belongs to. Fill them with the nonzero rule.
    """
    device = poly.verts.device
    dtype = poly.verts.dtype
    verts, start, count = _dedup(poly, style.tol)
    with torch.no_grad():
        closed = poly.sub_closed
        Q = count.shape[0]
        q = torch.arange(Q, device=device)
        # loops: closed (m >= 2): forward, and backward if m > 2; open (m >= 2): there-and-back
        fwd_ok = count >= 2
        back_ok = closed & (count > 2)
        loop_sub = torch.cat([q[fwd_ok], q[back_ok]])
        loop_kind = torch.cat(
            [torch.where(closed[fwd_ok], 0, 2), torch.ones(int(back_ok.sum()), dtype=torch.long, device=device)]
        )
        m = count[loop_sub]
        loop_len = torch.where(loop_kind == 2, 2 * m - 2, m)
        nl = loop_sub.shape[0]
        lrep = torch.repeat_interleave(torch.arange(nl, device=device), loop_len)
        loop_first = torch.cumsum(loop_len, 0) - loop_len
        p = torch.arange(lrep.shape[0], device=device) - loop_first[lrep]
        kind = loop_kind[lrep]
        mm = m[lrep]
        s0 = start[loop_sub][lrep]
        pos = torch.where(kind == 0, p, torch.where(kind == 1, mm - 1 - p, torch.where(p < mm, p, 2 * (mm - 1) - p)))
        vid = s0 + pos
        L = loop_len[lrep]
        prev = loop_first[lrep] + (p - 1) % L
        nxt = loop_first[lrep] + (p + 1) % L
        is_cap = (kind == 2) & ((p == 0) | (p == mm - 1))
        sub = loop_sub[lrep]
    cur_v = take(verts, vid)
    d_in = cur_v - take(cur_v, prev)
    d_out = take(cur_v, nxt) - cur_v
    len_in = d_in.norm(dim=-1).clamp_min(1e-30)
    len_out = d_out.norm(dim=-1).clamp_min(1e-30)
    d_in = d_in / len_in.unsqueeze(-1)
    d_out = d_out / len_out.unsqueeze(-1)
    n_in = torch.stack([-d_in[:, 1], d_in[:, 0]], -1)
    n_out = torch.stack([-d_out[:, 1], d_out[:, 0]], -1)
    cross = d_in[:, 0] * d_out[:, 1] - d_in[:, 1] * d_out[:, 0]
    dot = (d_in * d_out).sum(-1)
    theta = torch.atan2(cross.abs(), dot)  # turn angle in [0, pi]
    denom = (1 + (n_in * n_out).sum(-1)).clamp_min(1e-6)
    miter = (n_in + n_out) / denom.unsqueeze(-1)
    r = take(style.half, sub)
    with torch.no_grad():
        th = theta.detach()
        rd = r.detach().clamp_min(1e-30)
        tol = style.tol[sub]
        inner = cross.detach() > 0
        smooth = th < torch.sqrt(8 * tol / rd).clamp(max=0.5)
        # the inner offset lines meet at the miter point; it is usable when, on both
        # adjacent segments, the trims at their two ends fit in the segment (else the
        # offset segment would flip over and cancel coverage)
        trim = torch.where(inner, rd * torch.tan(th.clamp(max=3.0) * 0.5), torch.zeros_like(th))
        x_ok = (trim[prev] + trim <= len_in.detach()) & (trim + trim[nxt] <= len_out.detach())
        join = style.join[sub]
        cap = style.cap[sub]
        within = 1 / torch.cos(th.clamp(max=3.14159) * 0.5) <= style.miterlimit[sub]
        dth = 2 * torch.acos((1 - tol / rd).clamp(-1, 1)).clamp_min(1e-3)
        # case codes: 0 miter point, 1 pivot (n_in, 0, n_out), 2 two points, 3 arc
        case = torch.full_like(vid, 2)
        outer_join_case = torch.where(
            smooth | ((join == 0) & within), 0, torch.where(join == 1, 3, 2)
        )
        join_case = torch.where(inner, torch.where(x_ok, 0, 1), outer_join_case)
        cap_case = torch.where(cap == 1, 3, 2)
        case = torch.where(is_cap, cap_case, join_case)
        sweep = torch.where(is_cap, torch.full_like(th, math.pi), th)
        narc = torch.ceil(sweep / dth).clamp(1, 512).long()
        npts = torch.where(case == 0, 1, torch.where(case == 1, 3, torch.where(case == 2, 2, narc + 1)))
        orep = torch.repeat_interleave(torch.arange(vid.shape[0], device=device), npts)
        ofirst = torch.cumsum(npts, 0) - npts
        j = torch.arange(orep.shape[0], device=device) - ofirst[orep]
        oc = case[orep]
        square = (is_cap & (cap == 2))[orep]
        frac = j.to(dtype) / narc[orep].to(dtype)
    sweep_t = torch.where(is_cap, torch.full_like(theta, math.pi), theta)
    ang = -take(sweep_t, orep) * frac
    ni, no, di = take(n_in, orep), take(n_out, orep), take(d_in, orep)
    ca, sa = torch.cos(ang).unsqueeze(-1), torch.sin(ang).unsqueeze(-1)
    arc = torch.stack([ni[:, 0] * ca[:, 0] - ni[:, 1] * sa[:, 0], ni[:, 0] * sa[:, 0] + ni[:, 1] * ca[:, 0]], -1)
    sq = square.to(dtype).unsqueeze(-1) * di
    jj = j.unsqueeze(-1)
    two = torch.where(jj == 0, ni + sq, no + sq)
    piv = torch.where(jj == 0, ni, torch.where(jj == 1, torch.zeros_like(ni), no))
    occ = oc.unsqueeze(-1)
    u = torch.where(occ == 0, take(miter, orep), torch.where(occ == 1, piv, torch.where(occ == 2, two, arc)))
    pts = take(cur_v, orep) + take(r, orep).unsqueeze(-1) * u
    with torch.no_grad():
        oloop = lrep[orep]
        lens = torch.zeros(nl, dtype=torch.long, device=device).index_add_(0, oloop, torch.ones_like(oloop))
        lstart = torch.cumsum(lens, 0) - lens
        k = torch.arange(pts.shape[0], device=device) - lstart[oloop]
        onext = lstart[oloop] + (k + 1) % lens[oloop]
    edges = torch.cat([pts, take(pts, onext)], -1)
    edge_sub = sub[orep]
    dots = _dots(verts, start, count, style)
    if dots is not None:
        edges = torch.cat([edges, dots[0]])
        edge_sub = torch.cat([edge_sub, dots[1]])
    return edges, edge_sub


def _dots(verts: Tensor, start: Tensor, count: Tensor, style: StrokeStyle):
    """Zero-length subpaths with round or square caps paint a dot (SVG): a circle of radius
    ``r``, or an axis-aligned square of side ``2r``. Returns (edges, edge_sub) or None."""
    with torch.no_grad():
        q = flat_nonzero((count == 1) & (style.cap != 0))
    if q.numel() == 0:
        return None
    device, dtype = verts.device, verts.dtype
    with torch.no_grad():
        rd = style.half.detach()[q].clamp_min(1e-30)
        dth = 2 * torch.acos((1 - style.tol[q] / rd).clamp(-1, 1)).clamp_min(1e-3)
        n = torch.where(style.cap[q] == 1, torch.ceil(2 * math.pi / dth).clamp(8, 1024), torch.full_like(dth, 4)).long()
        rep = torch.repeat_interleave(torch.arange(q.shape[0], device=device), n)
        first = torch.cumsum(n, 0) - n
        k = torch.arange(rep.shape[0], device=device) - first[rep]
        ang = k.to(dtype) * (2 * math.pi) / n[rep].to(dtype)
        square = style.cap[q][rep] == 2
        ang = torch.where(square, ang + math.pi / 4, ang)
        scale = torch.where(square, math.sqrt(2.0), 1.0).to(dtype)
        u = torch.stack([torch.cos(ang), torch.sin(ang)], -1) * scale.unsqueeze(-1)
        nxt = first[rep] + (k + 1) % n[rep]
    centre = take(verts, start[q][rep])
    pts = centre + take(style.half, q[rep]).unsqueeze(-1) * u
    return torch.cat([pts, take(pts, nxt)], -1), q[rep]
