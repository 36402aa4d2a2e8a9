"""The rasterizer: scenes -> images, differentiable, vectorised over paths and images.

Pipeline for a batch of B images (B scenes, or B views of one scene):

1. walk each scene in paint order into *layers* (a path's fill, a path's stroke), grouped by
   isolation level (a group with opacity < 1 or a clip, or a path with opacity < 1 painting
   both fill and stroke, is composited on its own first, as SVG specifies); this walk and
   every index table built from the scenes' structure make a render plan (:mod:`.plan`),
   kept between calls while the scenes' fingerprint is unchanged;
2. flatten every path instance once (:mod:`.flatten`), in local coordinates, with the
   segment counts chosen in canvas pixels;
3. fills: the flattened subpaths, implicitly closed; strokes: their outline polygons
   (:mod:`.stroke`), built in local units (exact under any affine transform);
4. one coverage pass over all layers and clip shapes (:mod:`.coverage`): exact area
   coverage per pixel of each layer's bounding box;
5. paint (:mod:`.paint`), clip masks, then "over" compositing (:mod:`.composite`) onto the
   background.

Cost grows with the pixels inside the layers' bounding boxes and the number of edge pieces,
not with canvas size x number of paths. CPU renders below 2^20 canvas pixels run on one
torch thread, forward and backward (:mod:`.threads`: waking passive OpenMP threads for each
of a render's few hundred operations costs more than they save).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from ..errors import InputError
from ..svg.scene import IDENTITY, Affine, Scene
from . import composite, coverage, exact_cells, paint, threads
from .coverage import flat_nonzero, take
from .flatten import Polylines, apply_affine, flatten, tolerance_scale
from .plan import Plan, layer_opacity, plan_for, stack_scalars
from .stroke import StrokeStyle, stroke_outline

Tensor = torch.Tensor

DEFAULT_TOLERANCE = 1.0 / 256.0
#: with ``exact="auto"``, stroke outlines at least this many canvas pixels wide (in their
#: thinnest direction) have the pixels where their own pieces cross resolved exactly
#: (:mod:`.exact_cells`); both sides of a thinner stroke pass through nearly every pixel it
#: covers, which makes checking them cost several times the render (``exact="all"`` does)
WIDE_STROKE = 2.0
EXACT_MODES = ("auto", "all")  # rasterize's ``exact`` values


def _empty_polylines(dtype, device) -> Polylines:
    z = torch.zeros(0, dtype=torch.long, device=device)
    return Polylines(torch.zeros(0, 2, dtype=dtype, device=device), z, z, z.bool(), z, z, torch.zeros(0, 2, dtype=dtype, device=device))


def _select_subpaths(poly: Polylines, keep: Tensor) -> Polylines:
    """The subpaths of ``poly`` where ``keep`` [Q] is true (vertices re-indexed)."""
    vkeep = keep[poly.vert_sub]
    new_id = torch.cumsum(keep.long(), 0) - 1
    count = poly.sub_count[keep]
    return Polylines(
        take(poly.verts, vkeep), new_id[poly.vert_sub[vkeep]], poly.sub_inst[keep], poly.sub_closed[keep],
        torch.cumsum(count, 0) - count, count,
    )


def _closed_edges(poly: Polylines) -> Tensor:
    """Edges [4, V] (rows x0, y0, x1, y1) of every subpath as a closed polygon (vertex i ->
    next, cyclic), coordinate-major as :func:`.coverage.rasterize_layers` takes them: the
    vertices shifted by one, with each subpath's last vertex pointing back to its first (a
    write of Q columns instead of a gather of V); one autograd node (:class:`_ClosedEdges`)."""
    v = poly.verts.t()  # [2, V] (flattening builds the vertices coordinate-major: a free view)
    if v.shape[1] == 0:
        return v.new_zeros(4, 0)
    return _ClosedEdges.apply(v, poly.sub_start, poly.sub_start + poly.sub_count - 1)


def _shift_back(x: Tensor, first: Tensor, last: Tensor) -> Tensor:
    """[2, V]: column ``i`` of ``x`` [2, V] moved to ``i + 1``, except that each subpath's
    last column (``last`` [Q]) goes to its first (``first`` [Q]; the subpaths one after
    another, covering all columns): where each vertex's edge-end values belong when ``x``
    holds them per edge. (The roll puts the column before each first there, the previous
    subpath's last: the copy replaces exactly those.)"""
    return torch.roll(x, 1, 1).index_copy_(1, first, x.index_select(1, last))


class _ClosedEdges(torch.autograd.Function):
    """``[v; next(v)]`` for vertices ``v`` [2, V] (subpaths from ``first`` to ``last`` [Q],
    cyclic) -> [4, V]. Backward: the start rows' gradient plus the end rows' moved back to
    the vertices they came from (:func:`_shift_back`), a few passes where autograd's
    concatenations, slices and index copy made zero-filled [2, V] buffers each."""

    @staticmethod
    def forward(ctx, v, first, last):
        ctx.save_for_backward(first, last)
        nxt = torch.cat([v[:, 1:], v[:, :1]], 1).index_copy_(1, last, v.index_select(1, first))
        return torch.cat([v, nxt])

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        first, last = ctx.saved_tensors
        return _shift_back(grad[2:], first, last).add_(grad[:2]), None, None


def _inst_bbox(poly: Polylines, insts: list[int], mats_to: list[Affine] | None = None) -> Tensor:
    """Bounding box [4] (x0, y0, x1, y1) of the local vertices of ``insts`` (each mapped by
    the matching affine of ``mats_to``), differentiable."""
    vi = poly.sub_inst[poly.vert_sub]
    boxes = []
    for k, i in enumerate(insts):
        v = poly.verts[vi == i]
        if v.shape[0] == 0:
            continue
        if mats_to is not None:
            v = mats_to[k].apply(v)
        boxes.append(torch.cat([v.amin(0), v.amax(0)]))
    if not boxes:
        return poly.verts.new_tensor([0.0, 0.0, 1.0, 1.0])
    b = torch.stack(boxes)
    return torch.cat([b[:, :2].amin(0), b[:, 2:].amax(0)])


def _affine_tensor(t: Affine, dtype, device) -> Tensor:
    return torch.tensor([[t.a, t.c, t.e], [t.b, t.d, t.f]], dtype=dtype, device=device)


def _bbox_affine(box: Tensor) -> Tensor:
    """[2, 3] map of the unit square onto ``box`` (x0, y0, x1, y1)."""
    z = torch.zeros_like(box[0])
    return torch.stack([torch.stack([box[2] - box[0], z, box[0]]), torch.stack([z, box[3] - box[1], box[1]])])


def _compose(a: Tensor, b: Tensor) -> Tensor:
    """Affine [2, 3] composition ``a @ b``."""
    return torch.cat([a[:, :2] @ b[:, :2], (a[:, :2] @ b[:, 2:] + a[:, 2:])], 1)


def _background(background, batch: int, height: int, width: int, dtype, device) -> Tensor:
    bg = torch.as_tensor(background, dtype=dtype, device=device) if not isinstance(background, Tensor) else background.to(device=device, dtype=dtype)
    if bg.dim() == 1:
        if bg.shape[0] != 3:
            raise InputError("background colour must have 3 components (RGB in [0, 1])")
        return bg.reshape(1, 3, 1, 1).expand(batch, 3, height, width)
    if bg.dim() == 3:
        bg = bg.unsqueeze(0)
    if bg.dim() != 4 or bg.shape[1:] != (3, height, width) or bg.shape[0] not in (1, batch):
        raise InputError(f"background image must be [3, {height}, {width}] or [B, 3, {height}, {width}], got {list(bg.shape)}")
    return bg.expand(batch, 3, height, width)


def rasterize_batch(
    scenes: Scene | Sequence[Scene],
    width: int,
    height: int,
    background=(1.0, 1.0, 1.0),
    *,
    views: Tensor | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
    exact: str = "auto",
) -> Tensor:
    """Render B images at once -> [B, 3, H, W] in [0, 1].

    ``scenes``: one scene (rendered once per view) or a sequence of B scenes (any
    structure). ``views``: optional [B, 3, 3] matrices applied after the viewBox -> canvas
    map (pixel coordinates in, pixel coordinates out), e.g. augmentation crops; they may
    require grad. ``background``: RGB [3], an image [3, H, W] or [B, 3, H, W].
    ``tolerance``: maximum distance in pixels between a curve and its flattening.
    ``exact``: where contours cross or overlap inside a pixel, ``"auto"`` (the default, for
    optimisation loops) computes the exact coverage in fills, clip shapes and strokes at
    least :data:`WIDE_STROKE` px wide, in pixels of up to ``exact_cells.MAX_PIECES`` edge
    pieces; ``"all"`` (one-shot renders, e.g. small icons, whose thin strokes overlap at
    every join) in every layer, in pixels of up to ``exact_cells.MAX_PIECES_ALL`` pieces,
    slower where thin strokes are many (docs/raster.md, Exactness).
    """
    if exact not in EXACT_MODES:
        raise InputError(f"exact must be one of {', '.join(EXACT_MODES)}, got {exact!r}")
    width, height = int(width), int(height)
    if width <= 0 or height <= 0:
        raise InputError(f"canvas size must be positive, got {width}x{height}")
    if not tolerance > 0:
        raise InputError("tolerance must be a positive number of pixels")
    if isinstance(scenes, Scene):
        nb = 1 if views is None else int(views.shape[0])
        scenes = [scenes] * nb
    scenes = list(scenes)
    if views is not None and (views.dim() != 3 or views.shape[1:] != (3, 3) or views.shape[0] != len(scenes)):
        raise InputError(f"views must be [{len(scenes)}, 3, 3], got {list(views.shape)}")
    B = len(scenes)
    plan = plan_for(scenes, width, height)
    dtype, device, builder = plan.dtype, plan.device, plan.builder
    bg = _background(background, B, height, width, dtype, device)
    if not builder.layers:
        return bg.clone()
    threads.restore()  # a backward pass that failed left its limit in place
    count = threads.threads_for(device, B * height * width)
    with threads.at_most(count):
        return threads.gate_backward(_draw(plan, B, width, height, bg, views, tolerance, exact == "all"), count)


def _exact_scope(plan: Plan, fill_edges: int, widths: Tensor | None) -> tuple[int | None, Tensor | None]:
    """``(exact_edges, exact_layers)`` of :func:`.coverage.rasterize_layers` for
    ``exact="auto"``: the pixels that several contours cross are resolved exactly in fills
    and clip shapes (whose ``fill_edges`` edges come first) and in the outlines of strokes at
    least :data:`WIDE_STROKE` wide (``widths`` [N]: the stroke instances' canvas widths in
    their thinnest direction, None without strokes); thinner outlines keep ``min(|A|, 1)``
    there (docs/raster.md, Exactness)."""
    if widths is None:
        return fill_edges, None
    wide = widths >= WIDE_STROKE
    if not bool(wide.any()):
        return fill_edges, None
    exact_layers = torch.ones(plan.layer_b.shape[0], dtype=torch.bool, device=wide.device)
    exact_layers[take(plan.stroke_layer, plan.stroke_ids)] = wide
    return None, exact_layers


def _draw(plan: Plan, B: int, width: int, height: int, bg: Tensor, views: Tensor | None, tolerance: float, exact_all: bool = False) -> Tensor:
    """Steps 2-5 of the module docstring for ``plan`` (B images, at least one layer) ->
    [B, 3, H, W] over ``bg`` [B, 3, H, W]."""
    dtype, device, builder = plan.dtype, plan.device, plan.builder
    layers = builder.layers
    hw = height * width
    inst_b, mats = plan.inst_b, plan.mats
    if views is not None:
        v = views.to(device=device, dtype=dtype)[inst_b]
        mats = torch.cat([v[:, :2, :2] @ mats[:, :, :2], v[:, :2, :2] @ mats[:, :, 2:] + v[:, :2, 2:]], 2)
    # clip children in objectBoundingBox units: their transform depends on the bbox
    direct, obb = plan.direct, plan.obb
    if direct:
        poly = flatten(builder.paths, [builder.inst_path[i] for i in direct], mats[direct] if obb else mats, width, height, tolerance,
                       local=plan.need_local, tables=plan.tables)
        if obb:
            poly.sub_inst = plan.direct_ids[poly.sub_inst]
    else:
        poly = _empty_polylines(dtype, device)
    if obb:
        obb_mats = []
        for i in obb:
            bbox_insts, clip_t, context = builder.inst_bbox_of[i]
            try:
                inv = context.inverse()
            except ValueError:
                inv = IDENTITY
            rel = [inv @ Affine(*builder.inst_affine[j]) for j in bbox_insts]
            box = _inst_bbox(poly, bbox_insts, rel)
            m = _compose(_affine_tensor(context, dtype, device), _bbox_affine(box))
            obb_mats.append(_compose(m, _affine_tensor(clip_t, dtype, device)))
        obb_mats = torch.stack(obb_mats)
        if views is not None:
            v = views.to(device=device, dtype=dtype)[inst_b[obb]]
            obb_mats = torch.cat([v[:, :2, :2] @ obb_mats[:, :, :2], v[:, :2, :2] @ obb_mats[:, :, 2:] + v[:, :2, 2:]], 2)
        mats = mats.clone()
        mats[obb] = obb_mats
        poly2 = flatten(builder.paths, [builder.inst_path[i] for i in obb], obb_mats, width, height, tolerance)
        poly2.sub_inst = torch.tensor(obb, dtype=torch.long, device=device)[poly2.sub_inst]
        off = poly.verts.shape[0]
        poly = Polylines(
            torch.cat([poly.verts, poly2.verts]),
            torch.cat([poly.vert_sub, poly2.vert_sub + poly.sub_inst.shape[0]]),
            torch.cat([poly.sub_inst, poly2.sub_inst]),
            torch.cat([poly.sub_closed, poly2.sub_closed]),
            torch.cat([poly.sub_start, poly2.sub_start + off]),
            torch.cat([poly.sub_count, poly2.sub_count]),
            None if poly.canvas is None or poly2.canvas is None else torch.cat([poly.canvas, poly2.canvas]),
        )

    edge_parts, layer_parts = [], []
    canvas_verts = poly.canvas
    if canvas_verts is None:
        canvas_verts = apply_affine(mats, poly.verts, poly.sub_inst[poly.vert_sub])
    if plan.has_fill:
        sub_fill = plan.fill_layer[poly.sub_inst]
        cpoly = Polylines(canvas_verts, poly.vert_sub, poly.sub_inst, poly.sub_closed, poly.sub_start, poly.sub_count)
        e = _closed_edges(cpoly)
        el = take(sub_fill, poly.vert_sub)
        if plan.all_fill:
            edge_parts.append(e)
            layer_parts.append(el)
        else:
            keep = flat_nonzero(el >= 0)
            edge_parts.append(e.index_select(1, keep))
            layer_parts.append(take(el, keep))
    if plan.stroke_insts:
        inst_ids = plan.stroke_insts
        spoly = poly if plan.all_stroke else _select_subpaths(poly, plan.stroke_layer[poly.sub_inst] >= 0)
        half = stack_scalars([builder.paths[builder.inst_path[i]].stroke_width for i in inst_ids], dtype, device) * 0.5
        scales = tolerance_scale(mats.index_select(0, plan.stroke_ids))  # [N, 2]: largest, smallest
        scale = scales[:, 0]
        row = plan.stroke_row[spoly.sub_inst]
        style = StrokeStyle(half[row], plan.joins[row], plan.caps[row], plan.miter[row], (tolerance / scale)[row])
        se, ssub = stroke_outline(spoly, style)
        sinst = spoly.sub_inst[ssub]
        se = torch.cat([apply_affine(mats, se[:, :2], sinst), apply_affine(mats, se[:, 2:], sinst)], -1)
        edge_parts.append(se.t())
        layer_parts.append(plan.stroke_layer[sinst])
    edges = torch.cat(edge_parts, 1) if len(edge_parts) > 1 else edge_parts[0]
    edge_layer = torch.cat(layer_parts) if len(layer_parts) > 1 else layer_parts[0]
    if exact_all:
        exact_edges, exact_layers = None, None
    else:
        fill_edges = edge_parts[0].shape[1] if plan.has_fill else 0
        exact_edges, exact_layers = _exact_scope(plan, fill_edges, half.detach() * (2 * scales[:, 1]) if plan.stroke_insts else None)
    frags = coverage.rasterize_layers(
        edges, edge_layer, plan.layer_b, plan.layer_eo if plan.any_evenodd else None, width, height,
        exact_edges=exact_edges, exact_layers=exact_layers,
        max_pieces=exact_cells.MAX_PIECES_ALL if exact_all else exact_cells.MAX_PIECES,
    )

    # clip masks
    masks = None
    if builder.clips:
        fu = plan.layer_use[frags.layer]
        sel = fu >= 0
        pix = fu[sel] * hw + frags.pixel[sel] % hw
        masks = composite.union(pix, frags.cov[sel], len(builder.clips) * hw).reshape(len(builder.clips), hw)
        # nested clips (a clip-path on a clipPath)
        for u in range(len(builder.clips) - 1, -1, -1):
            if builder.clips[u].nested >= 0:
                masks = torch.cat([masks[:u], (masks[u] * masks[builder.clips[u].nested]).unsqueeze(0), masks[u + 1 :]])
        masks = masks.reshape(-1)
    if builder.clips:
        draw = flat_nonzero(~take(plan.is_clip, frags.layer))
        cov, flayer, fpix = take(frags.cov, draw), take(frags.layer, draw), take(frags.pixel, draw)
    else:
        cov, flayer, fpix = frags.cov, frags.layer, frags.pixel

    # paint: a colour table (straight RGB and an alpha factor: one column per solid layer, one
    # per fragment of a gradient layer) and each fragment's column; a fragment's alpha is its
    # coverage (times its clip mask) times its column's factor
    n_layers = len(layers)
    solid = torch.zeros(n_layers, 4, dtype=dtype, device=device)
    if plan.solid_ids is not None:
        if plan.colors_packed is not None:  # packed by pack_parameters: one gather from the leaf
            base, rows = plan.colors_packed
            colors = base.index_select(0, rows).to(dtype=dtype, device=device)
        else:
            colors = stack_scalars([layers[k].paint.color for k in plan.solid_layers], dtype, device)
        solid = solid.index_put((plan.solid_ids,), colors)
    opac_full = plan.opacity if plan.opacity is not None else layer_opacity(plan)
    # coverage is in [0, 1]; clamping the per-layer factor (colours or opacities pushed
    # outside [0, 1] by an optimiser) keeps every alpha in [0, 1] without a per-fragment pass
    factor = (solid[:, 3] * opac_full).clamp(0, 1)
    table = torch.cat([solid[:, :3].T, factor.unsqueeze(0)])  # [4, L] (gathers from a transposed view are slow)
    index = flayer
    grad_ids = plan.grad_ids
    if grad_ids:
        tables, index = [table], flayer.clone()
        width_so_far = n_layers
        for k in grad_ids:
            l = layers[k]
            m = flat_nonzero(flayer == k)
            if m.numel() == 0:
                continue
            p = fpix[m] % hw
            xy = torch.stack([(p % width).to(dtype) + 0.5, (p // width).to(dtype) + 0.5], -1)
            to_canvas = mats[l.inst]
            if l.paint.units == "objectBoundingBox":
                to_canvas = _compose(to_canvas, _bbox_affine(_inst_bbox(poly, [l.inst])))
            to_canvas = _compose(to_canvas, _affine_tensor(l.paint.transform, dtype, device))
            col = paint.gradient_colors(l.paint, xy, to_canvas)
            tables.append(torch.cat([col[:, :3].T, (col[:, 3] * opac_full[k]).clamp(0, 1).unsqueeze(0)]))
            index[m] = width_so_far + torch.arange(m.numel(), device=device)
            width_so_far += m.numel()
        table = torch.cat(tables, 1)
    if masks is not None:
        lclip = plan.layer_clip[flayer]
        has = lclip >= 0
        mask = masks[(lclip.clamp_min(0) * hw + fpix % hw)]
        cov = torch.where(has, cov * mask, cov)
    # paint order of each fragment (only needed to merge isolated levels: otherwise the
    # fragments already come in layer order, which is paint order)
    order = None if plan.layer_order is None else take(plan.layer_order, flayer)

    # composite isolated levels, deepest first (children are created after their parents),
    # then all root levels (one per image) together; a level's result enters its parent as
    # fragments whose premultiplied colour is the level's (table columns of their own)
    levels = builder.levels
    n_pix = B * hw
    is_root = [lv.parent < 0 for lv in levels]
    extra: dict[int, list[_Part]] = {}
    root_extra: list[_Part] = []
    level_sel = None if plan.layer_level is None else take(plan.layer_level, flayer)
    for lid in range(len(levels) - 1, -1, -1):
        lv = levels[lid]
        if lv.parent < 0:
            continue
        sel = flat_nonzero(level_sel == lid)
        part = _Part(take(fpix, sel), take(order, sel), take(cov, sel), table, take(index, sel), None)
        rgb_l, a_l = _composite([part] + extra.pop(lid, []), n_pix)
        f = lv.opacity.to(dtype=dtype, device=device).reshape(()).clamp(0, 1).expand(n_pix)
        if lv.clip >= 0:
            base = lv.b * hw
            mk = masks[lv.clip * hw : (lv.clip + 1) * hw]
            f = torch.cat([f[:base], f[base : base + hw] * mk, f[base + hw :]])
        rgb_l, a_l = rgb_l * f, a_l * f
        with torch.no_grad():
            nz = flat_nonzero(a_l.detach() > 0)
        # a level's alpha (a float32 sum) can exceed 1 by an ulp; "over" needs alpha <= 1
        # (a plain clamp would cut those pixels' gradient: float32 opacity gradients of an
        # isolated group's opaque content then read up to 16 % off float64's)
        a_nz = composite.clamp_rounding(take(a_l, nz))
        ones = torch.ones_like(a_nz)
        item = _Part(nz, torch.full_like(nz, lv.order), a_nz, torch.cat([rgb_l[:, nz], ones.unsqueeze(0)]), torch.arange(nz.numel(), device=device), ones)
        (root_extra if is_root[lv.parent] else extra.setdefault(lv.parent, [])).append(item)
    if level_sel is not None:
        sel = flat_nonzero(torch.isin(level_sel, plan.root_ids))
        parts = [_Part(take(fpix, sel), take(order, sel), take(cov, sel), table, take(index, sel), None)]
    else:
        parts = [_Part(fpix, order, cov, table, index, None)]
    rgb_o, a_o = _composite(parts + root_extra, n_pix)
    roots = [lv for lv in levels if lv.parent < 0]
    if plan.roots_scaled:
        f = stack_scalars([lv.opacity for lv in roots], dtype, device)
        f = f.repeat_interleave(hw)
        for lv in roots:
            if lv.clip >= 0:
                base = lv.b * hw
                f = torch.cat([f[:base], f[base : base + hw] * masks[lv.clip * hw : (lv.clip + 1) * hw], f[base + hw :]])
        rgb_o, a_o = rgb_o * f, a_o * f
    rgb_o = rgb_o.reshape(3, B, height, width).transpose(0, 1)
    a_o = a_o.reshape(B, 1, height, width)
    return composite.on_background(rgb_o, a_o, bg)


@dataclass
class _Part:
    """Fragments for one "over" pass (see :func:`composite.over`): ``pixel``, ``order``,
    ``cov``, ``index``, ``scale``: [F] (``scale`` None: the alpha; ``order`` None: the
    fragments are in paint order); ``table``: [4, K] colours and alpha factors ``index``
    points into."""

    pixel: Tensor
    order: Tensor | None
    cov: Tensor
    table: Tensor
    index: Tensor
    scale: Tensor | None


def _composite(parts: list[_Part], n_pix: int) -> tuple[Tensor, Tensor]:
    """One "over" pass over the fragments of several parts (tables concatenated)."""
    if len(parts) == 1:
        p = parts[0]
        return composite.over(p.pixel, p.order, p.cov, p.table, p.index, p.scale, n_pix)
    tables, indices, offset = [], [], 0
    seen: dict[int, int] = {}
    for p in parts:  # parts sharing one table (the layers' colours) share its columns
        if id(p.table) not in seen:
            seen[id(p.table)] = offset
            tables.append(p.table)
            offset += p.table.shape[1]
        indices.append(p.index + seen[id(p.table)])
    cat = lambda name: torch.cat([getattr(p, name) for p in parts])  # noqa: E731
    # one scale for all: a part without one is scaled by its alpha (coverage x factor)
    scale = torch.cat([p.cov * take(p.table[3], p.index) if p.scale is None else p.scale for p in parts])
    return composite.over(cat("pixel"), cat("order"), cat("cov"), torch.cat(tables, 1), torch.cat(indices), scale, n_pix)


def rasterize(
    scene: Scene,
    width: int,
    height: int,
    background=(1.0, 1.0, 1.0),
    *,
    view: Tensor | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
    exact: str = "auto",
) -> Tensor:
    """Render ``scene`` -> [3, H, W] in [0, 1], differentiable.

    The viewBox is mapped onto the ``width`` x ``height`` canvas (``Scene.canvas_transform``);
    ``view``: optional [3, 3] pixel -> pixel matrix applied after it. ``background``: RGB [3]
    or an image [3, H, W]. Gradients reach control points, colours, opacities, stroke widths
    and gradient stops/offsets/geometry. ``exact``: ``"auto"`` or ``"all"`` (see
    :func:`rasterize_batch`, which also renders batches).
    """
    views = None if view is None else view.unsqueeze(0)
    # (squeeze, not [0]: a view whose backward is a view too, where indexing's backward
    # writes the gradient into a fresh zero image)
    return rasterize_batch([scene], width, height, background, views=views, tolerance=tolerance, exact=exact).squeeze(0)
