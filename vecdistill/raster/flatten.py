"""Bezier flattening: the paths of a scene as polylines, vectorised over all paths.

Every segment (line, quadratic, cubic) is degree-elevated to a cubic (exact: the same
parametric curve) and evaluated at ``n`` uniform parameters. ``n`` is chosen per segment
from its canvas-space control polygon so that the chord error stays below ``tol`` pixels:
for a cubic, ``|B''(t)| <= 6 max(|P0 - 2P1 + P2|, |P1 - 2P2 + P3|) = 6M`` and the error of
the chord over a parameter step ``h`` is at most ``h^2 |B''| / 8``, so
``n = ceil(sqrt(0.75 M / tol))``. A segment whose control polygon lies entirely outside the
canvas keeps ``n = 1``: its chord has the same winding contribution inside the canvas.

The choice of ``n`` is not differentiated (it is piecewise constant); the vertices are a
linear function of the control points, so gradients reach the points exactly.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import torch

from ..errors import InputError
from ..svg.scene import Path
from .kernel_gate import kernels_for
from .packing import packed_rows

Tensor = torch.Tensor

# Degree elevation to cubic control points from the gathered points
# [start, c1 (or end), c2 (or end), end] of a line (0), quadratic (1) or cubic (2).
_ELEVATE = torch.tensor(
    [
        [[1, 0, 0, 0], [2 / 3, 1 / 3, 0, 0], [1 / 3, 2 / 3, 0, 0], [0, 1, 0, 0]],
        [[1, 0, 0, 0], [1 / 3, 2 / 3, 0, 0], [0, 2 / 3, 1 / 3, 0], [0, 0, 1, 0]],
        [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]],
    ],
    dtype=torch.float64,
)


@dataclass
class PathLayout:
    """Integer tables describing one path's segments (cached per path).

    ``seg_index``: [S, 4] int64 local point indices [start, c1, c2, end] (padded with end);
    ``seg_degree``: [S] 0/1/2; ``seg_subpath``: [S] local subpath index;
    ``seg_last_open``: [S] bool, last segment of an open subpath; ``closed``: [Q] bool;
    ``num_points``: P.
    """

    seg_index: Tensor
    seg_degree: Tensor
    seg_subpath: Tensor
    seg_last_open: Tensor
    closed: Tensor
    num_points: int


_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def path_layout(path: Path) -> PathLayout:
    """The segment tables of ``path`` (cached while its segments/subpaths are unchanged).

    Raises :class:`InputError` if the point count does not match the segment layout.
    """
    key = (id(path.segments), path.segments._version, tuple(path.subpaths), path.points.shape[0])
    hit = _CACHE.get(path)
    if hit is not None and hit[0] == key:
        return hit[1]
    kinds = [int(k) for k in path.segments.tolist()]
    if any(k not in (0, 1, 2) for k in kinds):
        raise InputError("path segments must hold 0 (line), 1 (quadratic) or 2 (cubic) control points")
    idx, deg, sub, last_open, closed = [], [], [], [], []
    s0 = p0 = 0
    for q, (nseg, is_closed) in enumerate(path.subpaths):
        seg_kinds = kinds[s0 : s0 + nseg]
        npts = sum(k + 1 for k in seg_kinds) + (0 if is_closed else 1)
        a = p0
        for j, k in enumerate(seg_kinds):
            end = a + k + 1
            if is_closed and j == nseg - 1:
                end = p0
            ctrl = [a + 1 + i for i in range(k)]
            row = [a] + ctrl + [end] * (3 - k)
            idx.append(row)
            deg.append(k)
            sub.append(q)
            last_open.append((not is_closed) and j == nseg - 1)
            a = a + k + 1
        closed.append(bool(is_closed))
        s0 += nseg
        p0 += npts
    if s0 != len(kinds) or p0 != path.points.shape[0]:
        raise InputError(
            f"path {path.id or ''} has {path.points.shape[0]} points but its segments/subpaths "
            f"describe {p0} points and {s0} of {len(kinds)} segments; rebuild the path"
        )
    layout = PathLayout(
        torch.tensor(idx, dtype=torch.long).reshape(-1, 4),
        torch.tensor(deg, dtype=torch.long),
        torch.tensor(sub, dtype=torch.long),
        torch.tensor(last_open, dtype=torch.bool),
        torch.tensor(closed, dtype=torch.bool),
        int(path.points.shape[0]),
    )
    _CACHE[path] = (key, layout)
    return layout


@dataclass
class Polylines:
    """Flattened subpaths of many path instances, concatenated.

    ``verts``: [V, 2] local (path user-unit) vertices, differentiable; ``vert_sub``: [V]
    subpath id; ``sub_inst``: [Q] instance of each subpath; ``sub_closed``: [Q] bool;
    ``sub_start``/``sub_count``: [Q] first vertex and vertex count. A closed subpath does not
    repeat its first vertex; an open one ends with its last anchor. ``canvas``: optional
    [V, 2] the same vertices mapped to canvas pixels by their instance's transform.
    """

    verts: Tensor
    vert_sub: Tensor
    sub_inst: Tensor
    sub_closed: Tensor
    sub_start: Tensor
    sub_count: Tensor
    canvas: Tensor | None = None  # [V, 2] the vertices in canvas pixels, when computed


def apply_affine(mats: Tensor, pts: Tensor, inst: Tensor | None = None) -> Tensor:
    """Map ``pts`` [N, 2] by ``mats`` [N, 2, 3], or by ``mats[inst]`` when ``inst`` [N] int64
    is given (``mats`` then holds one [2, 3] matrix per instance) -> [N, 2]."""
    m = mats.reshape(-1, 6)
    if inst is not None:
        m = m.index_select(0, inst)
    x, y = pts[:, 0], pts[:, 1]
    return torch.stack([m[:, 0] * x + m[:, 1] * y + m[:, 2], m[:, 3] * x + m[:, 4] * y + m[:, 5]], -1)


def segment_counts(ctrl_canvas: Tensor, width: int, height: int, tol: float, max_count: int) -> Tensor:
    """Vertices per cubic so that the chord error is below ``tol`` px.

    ``ctrl_canvas``: [S, 4, 2] cubic control points in pixels (detached) -> [S] int64 >= 1.
    """
    # both second differences at once ([S, 2, 2]), the larger norm per cubic
    d = ctrl_canvas[:, :2] - 2 * ctrl_canvas[:, 1:3] + ctrl_canvas[:, 2:]
    m = d.norm(dim=-1).amax(1)
    n = torch.ceil(torch.sqrt(0.75 * m / tol)).clamp(1, max_count)
    # a cubic whose control polygon lies wholly beyond the canvas on one side gets one chord
    size = torch.tensor([width, height], dtype=ctrl_canvas.dtype, device=ctrl_canvas.device)
    outside = (ctrl_canvas.amax(1) < 0).any(1) | (ctrl_canvas.amin(1) > size).any(1)
    return n.masked_fill_(outside, 1.0).nan_to_num_(nan=1.0).long()


def _path_tables(layouts: list[PathLayout]) -> tuple[Tensor, ...]:
    """The segment tables of all distinct paths, concatenated once (CPU int64):
    ``(nseg [P], nsubp [P], seg_index [S, 4] (global point indices), seg_degree [S],
    seg_subpath [S], seg_last_open [S], closed [Q])``. (Render plans keep what is built
    from them, so this runs once per scene structure.)"""
    pts_off = [0]
    for lay in layouts:
        pts_off.append(pts_off[-1] + lay.num_points)
    nseg = torch.tensor([lay.seg_degree.shape[0] for lay in layouts], dtype=torch.long)
    nsubp = torch.tensor([lay.closed.shape[0] for lay in layouts], dtype=torch.long)
    seg_index = torch.cat([lay.seg_index for lay in layouts]) + torch.repeat_interleave(
        torch.tensor(pts_off[:-1], dtype=torch.long), nseg
    ).unsqueeze(-1)
    tables = (
        nseg,
        nsubp,
        seg_index,
        torch.cat([lay.seg_degree for lay in layouts]),
        torch.cat([lay.seg_subpath for lay in layouts]),
        torch.cat([lay.seg_last_open for lay in layouts]),
        torch.cat([lay.closed for lay in layouts]),
    )
    return tables


@dataclass
class SegmentTables:
    """The integer side of flattening a list of path instances: it depends only on the
    paths' segment layouts, so a render plan builds it once and reuses it while the scene's
    structure is unchanged (see :class:`.plan.Plan`).

    ``seg_index``: [S * 4] int64 rows of the concatenated points (start, c1, c2, end per
    segment); ``seg_degree``: [S] 0/1/2 and ``degrees`` its distinct values (host list);
    ``seg_sub``: [S] global subpath; ``seg_last_open``: [S] bool and ``any_open``;
    ``seg_inst4``: [S * 4] instance of each gathered point; ``sub_inst``: [Q]; ``sub_closed``:
    [Q] bool; ``packed``: ``(base, rows)`` when the paths' points are rows of one packed
    tensor (:func:`.packing.packed_rows`): ``rows`` [S * 4] int64 (on the base's device) the base row of each
    gathered point (``seg_index`` read through the packing), else None."""

    seg_index: Tensor
    seg_degree: Tensor
    degrees: list[int]
    seg_sub: Tensor
    seg_last_open: Tensor
    any_open: bool
    seg_inst4: Tensor
    sub_inst: Tensor
    sub_closed: Tensor
    packed: tuple[Tensor, Tensor] | None


def segment_tables(paths: list[Path], inst_path: list[int], device) -> SegmentTables:
    """:class:`SegmentTables` of the instances ``inst_path`` (indices into ``paths``)."""
    layouts = [path_layout(p) for p in paths]
    nseg, nsubp, p_seg_index, p_seg_degree, p_seg_sub, p_seg_last_open, p_closed = _path_tables(layouts)
    seg_first = torch.cumsum(nseg, 0) - nseg
    sub_first = torch.cumsum(nsubp, 0) - nsubp
    ip = torch.tensor(inst_path, dtype=torch.long)
    # instance -> its path's segment rows and subpath rows
    i_nseg, i_nsub = nseg[ip], nsubp[ip]
    seg_inst = torch.repeat_interleave(torch.arange(len(inst_path)), i_nseg)
    seg_rows = seg_first[ip][seg_inst] + torch.arange(seg_inst.shape[0]) - (torch.cumsum(i_nseg, 0) - i_nseg)[seg_inst]
    sub_inst = torch.repeat_interleave(torch.arange(len(inst_path)), i_nsub)
    inst_sub_off = torch.cumsum(i_nsub, 0) - i_nsub
    sub_rows = sub_first[ip][sub_inst] + torch.arange(sub_inst.shape[0]) - inst_sub_off[sub_inst]
    seg_degree = p_seg_degree[seg_rows]
    seg_last_open = p_seg_last_open[seg_rows]
    seg_index = p_seg_index[seg_rows].reshape(-1).to(device)
    rows = packed_rows([p.points for p in paths])
    return SegmentTables(
        seg_index=seg_index,
        seg_degree=seg_degree.to(device),
        degrees=torch.unique(seg_degree).tolist(),
        seg_sub=(p_seg_sub[seg_rows] + inst_sub_off[seg_inst]).to(device),
        seg_last_open=seg_last_open.to(device),
        any_open=bool(seg_last_open.any()),
        seg_inst4=seg_inst.repeat_interleave(4).to(device),
        sub_inst=sub_inst.to(device),
        sub_closed=p_closed[sub_rows].to(device),
        packed=None if rows is None else (rows[0], rows[1].index_select(0, seg_index.to(rows[1].device))),
    )


def flatten(
    paths: list[Path],
    inst_path: list[int],
    inst_mats: Tensor,
    width: int,
    height: int,
    tol: float,
    max_count: int = 1024,
    local: bool = True,
    tables: SegmentTables | None = None,
) -> Polylines:
    """Flatten path instances to polylines in local coordinates (``local=False``: skip
    them; ``verts`` then holds the canvas vertices too) and in canvas pixels (``canvas``).

    ``paths``: the distinct paths; ``inst_path``: [I] index into ``paths`` per instance;
    ``inst_mats``: [I, 2, 3] local -> canvas pixel transforms (counts are chosen in canvas
    pixels, so each instance gets its own resolution); ``tables``: their
    :func:`segment_tables`, when the caller keeps them. Returns :class:`Polylines`.
    """
    device = inst_mats.device
    dtype = inst_mats.dtype
    if tables is None:
        tables = segment_tables(paths, inst_path, device)
    if tables.packed is not None:  # packed by pack_parameters: one gather from the leaf
        base, rows = tables.packed
        gathered = base.index_select(0, rows).to(device=device, dtype=dtype)
    else:
        pts = [p.points for p in paths]
        if any(t.dtype != dtype for t in pts):
            pts = [t.to(dtype) for t in pts]
        gathered = torch.cat(pts).to(device).index_select(0, tables.seg_index)
    gathered = gathered.reshape(-1, 4, 2)  # [S, 4, 2]
    seg_sub, seg_inst4 = tables.seg_sub, tables.seg_inst4
    ctrl = _elevate(gathered, tables.seg_degree, tables.degrees)  # local cubic control points [S, 4, 2]
    # affine maps commute with Bezier evaluation: canvas vertices from canvas control points
    canvas_ctrl = apply_affine(inst_mats, ctrl.reshape(-1, 2), seg_inst4).reshape(-1, 4, 2)
    with torch.no_grad():
        counts = segment_counts(canvas_ctrl.detach(), width, height, tol, max_count)
        # vertices evaluated per segment: open subpaths' last segments add their end point
        n_eval = counts + tables.seg_last_open.long() if tables.any_open else counts
        # what the host needs, in one read (one device sync): the largest and total counts,
        # evaluated and not, and whether every control point is finite
        finite = torch.isfinite(gathered.detach()).all().long()
        if counts.numel():
            reads = [counts.max(), counts.sum(), n_eval.max(), n_eval.sum(), finite]
        else:  # no segments (paths of a lone moveto): one vertex count, nothing to evaluate
            reads = [finite.new_ones(()), finite.new_zeros(()), finite.new_ones(()), finite.new_zeros(()), finite]
        n, n_sum, m, total, ok = (int(v) for v in torch.stack(reads).tolist())
    if not ok:
        raise InputError("a path has non-finite (NaN or infinite) control points; fix the geometry")
    S = counts.shape[0]
    if not tables.any_open and n * S <= 1.05 * n_sum + 64:
        # every subpath closed and the counts (nearly) equal: all segments at the largest
        # count (one dense product with the Bernstein weights on the per-operation path)
        uniform = True
        counts = n_eval = torch.full_like(counts, n)
        m, total = n, n * S
    else:
        uniform = False
    sets = [canvas_ctrl, ctrl] if local else [canvas_ctrl]
    kernels = kernels_for("flattening", canvas_ctrl)
    out = None
    if kernels is not None:  # one kernel per control-point set (see fused_flatten.py)
        from .fused import attempt

        first = torch.cumsum(n_eval, 0) - n_eval
        out = attempt(lambda: [kernels.cubic_points(c, counts, n_eval, first, seg_sub if k == 0 else None, total, m) for k, c in enumerate(sets)])
    if out is not None:
        points, vert_sub = [p for p, _ in out], out[0][1]
    else:
        points = cubic_points_per_operation(sets, counts, n_eval, total, m, uniform)
        vert_sub = seg_sub.repeat_interleave(n) if uniform else seg_sub.repeat_interleave(n_eval, output_size=total)
    canvas = points[0]
    verts = points[1] if local else canvas
    nsub = int(tables.sub_inst.shape[0])
    sub_count = torch.zeros(nsub, dtype=torch.long, device=device).index_add_(0, seg_sub, n_eval)
    sub_start = torch.cumsum(sub_count, 0) - sub_count
    return Polylines(verts, vert_sub, tables.sub_inst, tables.sub_closed, sub_start, sub_count, canvas)


def cubic_points_per_operation(sets: list[Tensor], counts: Tensor, n_eval: Tensor, total: int, most: int, uniform: bool = False) -> list[Tensor]:
    """Points [V, 2] of each set of cubics in ``sets`` (control points [S, 4, 2] each, one
    evaluation layout shared by all): segment ``s`` at ``t = j / counts[s]`` for ``j <
    n_eval[s]`` (``counts``/``n_eval`` [S] int64; ``total`` = V, ``most`` = max ``n_eval``),
    segment after segment. ``uniform``: every ``n_eval`` equals ``counts`` and ``most``: one
    dense product with the Bernstein weights. Else, counts within a factor 2 of each other:
    every segment evaluated at ``most`` parameters in a dense [2, S, m] block and the real
    vertices picked out (the backward is then a sum over the block, not an accumulation per
    vertex); otherwise per vertex (Horner on gathered coefficients)."""
    if not sets:
        return []
    device, dtype = sets[0].device, sets[0].dtype
    S = counts.shape[0]
    if uniform:
        basis = _bernstein(most, dtype, device)  # [n, 4]
        return [_weigh(basis, c) for c in sets]
    if most * S <= 2 * total + 64:
        j = torch.arange(most, device=device)
        # block entries s * m + j for j < n_eval[s]: vertex v of segment s sits at
        # v + (s * m - first vertex of s) (cheaper than a comparison and a nonzero)
        first = torch.cumsum(n_eval, 0) - n_eval
        shift = torch.arange(S, device=device) * most - first
        pick = torch.arange(total, device=device) + torch.repeat_interleave(shift, n_eval, output_size=total)
        t = j.view(1, -1).to(dtype) / counts.view(-1, 1).to(dtype)  # [S, m]
        return [_dense_cubics(c, t, pick) for c in sets]
    seg_rep = torch.repeat_interleave(torch.arange(S, device=device), n_eval, output_size=total)
    starts = torch.cumsum(n_eval, 0) - n_eval
    j = torch.arange(total, device=device) - starts.index_select(0, seg_rep)
    t = (j.to(dtype) / counts.index_select(0, seg_rep).to(dtype)).unsqueeze(-1)
    return [_horner(c, seg_rep, t) for c in sets]


def _power_basis(ctrl: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Power-basis coefficients ``(c3, c2, c1, c0)``, each [S, 2], of cubics ``ctrl`` [S, 4, 2]:
    ``B(t) = ((c3 t + c2) t + c1) t + c0``."""
    p0, p1, p2, p3 = ctrl.transpose(1, 2).unbind(2)  # [S, 2] each
    return -p0 + 3 * p1 - 3 * p2 + p3, 3 * p0 - 6 * p1 + 3 * p2, 3 * (p1 - p0), p0


def _dense_cubics(ctrl: Tensor, t: Tensor, pick: Tensor) -> Tensor:
    """Points [V, 2] of cubics ``ctrl`` [S, 4, 2] at parameters ``t`` [S, m] (a dense block,
    row s for segment s), keeping the flat block entries ``pick`` [V] (Horner in a [2, S, m]
    layout, returned as a transposed view of [2, V]); differentiable with respect to
    ``ctrl`` (:class:`_DenseCubics`: one autograd node, where the same operations recorded
    one by one made some thirty)."""
    return _DenseCubics.apply(ctrl, t, pick)


# [4, 4] the basis change of _power_basis as a matrix (rows c3, c2, c1, c0; columns p0..p3):
# its formulas applied to the unit control points. The backward maps the coefficients'
# gradients back through its transpose.
_TO_POWER = torch.cat(_power_basis(torch.eye(4, dtype=torch.float64).unsqueeze(0)))


class _DenseCubics(torch.autograd.Function):
    """:func:`_dense_cubics` with an analytic backward: a vertex at parameter ``t`` moves with
    the power-basis coefficients by ``t^3, t^2, t, 1``, so their gradients are sums over
    each segment's row of the block gradient times those powers (Horner's order again),
    and the control points' the transposed basis change of those."""

    @staticmethod
    def forward(ctx, ctrl, t, pick):
        c3, c2, c1, c0 = (c.t().unsqueeze(-1) for c in _power_basis(ctrl))  # [2, S, 1]
        block = (c3 * t).add_(c2).mul_(t).add_(c1).mul_(t).add_(c0)  # [2, S, m]
        ctx.save_for_backward(t, pick)
        return block.reshape(2, -1).index_select(1, pick).t()

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        t, pick = ctx.saved_tensors
        S, m = t.shape
        g = grad.new_zeros(2, S * m).index_copy_(1, pick, grad.t()).view(2, S, m)
        coef = [g.sum(-1)]  # d/dc0, then d/dc1, d/dc2, d/dc3 ([2, S] each)
        for _ in range(3):
            coef.append(g.mul_(t).sum(-1))  # (g is this function's own buffer)
        to_power = _TO_POWER.to(dtype=grad.dtype, device=grad.device)
        dctrl = to_power.t() @ torch.stack(coef[::-1]).view(4, -1)  # [4, 2 S]: rows p0..p3
        return dctrl.view(4, 2, S).permute(2, 0, 1), None, None


def _horner(ctrl: Tensor, seg: Tensor, t: Tensor) -> Tensor:
    """Points [V, 2] of cubics ``ctrl`` [S, 4, 2] (segment ``seg`` [V] at parameter ``t``
    [V, 1]): power basis per segment, then Horner per vertex (cheaper than Bernstein
    weights), in a [2, V] layout (x row, y row: contiguous rows keep the elementwise loops
    vectorised) returned as a transposed view."""
    c3, c2, c1, c0 = (x.t().contiguous().index_select(1, seg) for x in _power_basis(ctrl))  # [2, V]
    t = t.view(1, -1)
    return (((c3 * t + c2) * t + c1) * t + c0).t()


def _weigh(weights: Tensor, ctrl: Tensor) -> Tensor:
    """``sum_k weights[j, k] ctrl[s, k]`` -> [S * J, 2] (segment-major) for ``weights``
    [J, 4] and ``ctrl`` [S, 4, 2], as one matrix product (a batched product of S tiny
    matrices is many times slower on the CPU)."""
    s = ctrl.shape[0]
    out = weights @ ctrl.permute(1, 0, 2).reshape(4, -1)  # [J, S * 2]
    return out.view(weights.shape[0], s, 2).transpose(0, 1).reshape(-1, 2)


def _elevate(gathered: Tensor, degree: Tensor, degrees: list[int] | None = None) -> Tensor:
    """Cubic control points [S, 4, 2] of segments given by their gathered points [S, 4, 2]
    and degree codes [S] (0 line, 1 quadratic, 2 cubic); ``degrees``: the distinct codes,
    when known."""
    if degrees is None:
        degrees = torch.unique(degree).tolist()
    if degrees == [2]:  # all cubics already
        return gathered
    table = _ELEVATE.to(device=gathered.device, dtype=gathered.dtype)
    if len(degrees) == 1:
        return _weigh(table[degrees[0]], gathered).view(-1, 4, 2)
    return torch.einsum("sij,sjk->sik", table[degree], gathered)


def _bernstein(n: int, dtype, device) -> Tensor:
    """Cubic Bernstein weights [n, 4] at ``t = j / n``, ``j = 0..n-1``."""
    t = torch.arange(n, dtype=torch.float64) / n
    u = 1 - t
    w = torch.stack([u**3, 3 * u * u * t, 3 * u * t * t, t**3], 1)
    return w.to(dtype=dtype, device=device)


def tolerance_scale(mats: Tensor) -> Tensor:
    """Singular values of each [2, 2] linear part of ``mats`` [N, 2, 3] -> [N, 2], largest
    first (column 0: the most a unit length in local units grows on the canvas, which the
    flattening tolerance is divided by; column 1: the least, a stroke's thinnest
    direction), at least 1e-12; no gradient."""
    return torch.linalg.svdvals(mats[:, :2, :2].detach()).clamp_min(1e-12)

