"""The rasterizer: scenes -> images, differentiable, vectorised over paths and images.

Pipeline for a batch of B images (B scenes, or B views of one scene):

1. walk each scene in paint order into *layers* (a path's fill, a path's stroke), grouped by
   isolation level (a group with opacity < 1 or a clip, or a path with opacity < 1 painting
   both fill and stroke, is composited on its own first, as SVG specifies);
2. flatten every path instance once (:mod:`.flatten`), in local coordinates, with the
   segment counts chosen in canvas pixels;
3. fills: the flattened subpaths, implicitly closed; strokes: their outline polygons
   (:mod:`.stroke`), built in local units (exact under any affine transform);
4. one coverage pass over all layers and clip shapes (:mod:`.coverage`): exact area
   coverage per pixel of each layer's bounding box;
5. paint (:mod:`.paint`), clip masks, then "over" compositing (:mod:`.composite`) onto the
   background.

Cost grows with the pixels inside the layers' bounding boxes and the number of edge pieces,
not with canvas size x number of paths.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import torch

from ..errors import InputError
from ..svg.scene import IDENTITY, Affine, ClipPath, Group, Path, Scene, Solid
from . import composite, coverage, paint
from .coverage import take
from .flatten import Polylines, apply_affine, flatten, tolerance_scale
from .packing import packed_rows
from .stroke import CAPS, JOINS, StrokeStyle, stroke_outline

Tensor = torch.Tensor

DEFAULT_TOLERANCE = 1.0 / 256.0


def _stack(ts: list[Tensor], dtype, device) -> Tensor:
    """Stack scalars ([] or [1]) or equal-shape tensors, then cast: [N, ...]."""
    try:
        out = torch.stack(ts)
    except RuntimeError:
        out = torch.stack([t.reshape(-1).to(dtype=dtype, device=device) for t in ts])
    if out.dim() == 2 and out.shape[1] == 1 and ts[0].dim() <= 1 and ts[0].numel() == 1:
        out = out.reshape(-1)
    return out.to(dtype=dtype, device=device)


def _packed_or_stack(ts: list[Tensor], dtype, device) -> Tensor:
    """``_stack(ts)``, or one view when ``ts`` are consecutive rows of a packed tensor
    (:func:`.packing.pack_parameters`)."""
    packed = packed_rows(ts)
    return _stack(ts, dtype, device) if packed is None else packed.to(dtype=dtype, device=device)


def _f(t) -> float:
    return float(t.detach()) if isinstance(t, Tensor) else float(t)


@dataclass
class _Layer:
    inst: int
    kind: str  # "fill" | "stroke" | "clip"
    b: int
    order: int = 0
    level: int = 0
    paint: object = None
    opacity: Tensor | None = None
    clip: int = -1  # index into clip uses
    evenodd: bool = False
    opacity2: Tensor | None = None  # the path's own opacity when not isolated


@dataclass
class _ClipUse:
    b: int
    layers: list[int] = field(default_factory=list)
    nested: int = -1


@dataclass
class _Level:
    b: int
    parent: int  # -1 for a root
    order: int
    opacity: Tensor | None
    clip: int = -1


class _Builder:
    """Collects instances, layers, clip uses and levels from scenes."""

    def __init__(self, dtype, device):
        self.dtype, self.device = dtype, device
        self._values: dict[int, float] = {}
        self.paths: list[Path] = []
        self._path_index: dict[int, int] = {}
        self.inst_path: list[int] = []
        self.inst_affine: list[tuple[float, ...]] = []
        self.inst_b: list[int] = []
        self.inst_bbox_of: list[tuple[int, Affine] | None] = []  # clip children in obb units
        self.layers: list[_Layer] = []
        self.clips: list[_ClipUse] = []
        self.levels: list[_Level] = []
        self.order = 0
        self.n0: tuple[int, int, int, int] | None = None  # image 0's counts (for replicate)

    def _instance(self, path: Path, t: Affine, b: int, bbox_of=None) -> int:
        key = id(path)
        if key not in self._path_index:
            self._path_index[key] = len(self.paths)
            self.paths.append(path)
        self.inst_path.append(self._path_index[key])
        self.inst_affine.append(t.as_tuple())
        self.inst_b.append(b)
        self.inst_bbox_of.append(bbox_of)
        return len(self.inst_path) - 1

    def prefetch(self, scene: Scene) -> None:
        """Read every opacity / stroke width of ``scene`` with one device sync."""
        ts: list[Tensor] = []
        stack = [scene.root]
        while stack:
            g = stack.pop()
            ts.append(g.opacity)
            for c in g.children:
                if isinstance(c, Group):
                    stack.append(c)
                else:
                    ts += [c.opacity, c.fill_opacity, c.stroke_opacity, c.stroke_width]
        with torch.no_grad():  # no detach(): under no_grad stacking records nothing
            vals = _stack(ts, torch.float64, "cpu").tolist()
        self._values.update({id(t): v for t, v in zip(ts, vals)})

    def _f(self, t) -> float:
        v = self._values.get(id(t))
        return _f(t) if v is None else v

    def replicate(self, b: int) -> None:
        """Append a copy of image 0's instances, layers, clip uses and levels for image ``b``
        (same scene, another view)."""
        if self.n0 is None:
            self.n0 = (len(self.inst_path), len(self.layers), len(self.clips), len(self.levels))
        ni, nl, nc, nv = self.n0
        oi, ol, oc, ov = b * ni, b * nl, b * nc, b * nv
        for i in range(ni):
            self.inst_path.append(self.inst_path[i])
            self.inst_affine.append(self.inst_affine[i])
            self.inst_b.append(b)
            bb = self.inst_bbox_of[i]
            self.inst_bbox_of.append(None if bb is None else ([j + oi for j in bb[0]], bb[1], bb[2]))
        for layer in self.layers[:nl]:
            self.layers.append(
                replace(layer, inst=layer.inst + oi, b=b, level=layer.level + ov,
                        clip=layer.clip + oc if layer.clip >= 0 else -1)
            )
        for use in self.clips[:nc]:
            self.clips.append(
                _ClipUse(b, [k + ol for k in use.layers], use.nested + oc if use.nested >= 0 else -1)
            )
        for lv in self.levels[:nv]:
            self.levels.append(
                replace(lv, b=b, parent=lv.parent + ov if lv.parent >= 0 else -1,
                        clip=lv.clip + oc if lv.clip >= 0 else -1)
            )

    def _next_order(self) -> int:
        self.order += 1
        return self.order

    def clip_use(self, clip: ClipPath, context: Affine, b: int, bbox_inst: list[int]) -> int:
        """Register a clip applied in user space ``context`` (-> canvas). ``bbox_inst``:
        instances whose local bounding box defines objectBoundingBox units."""
        use = _ClipUse(b)
        idx = len(self.clips)
        self.clips.append(use)
        base = context @ clip.transform
        for child in clip.children:
            if not isinstance(child, Path) or child.points.shape[0] == 0:
                continue
            if clip.units == "objectBoundingBox":
                inst = self._instance(child, IDENTITY, b, (bbox_inst, clip.transform @ child.transform, context))
            else:
                inst = self._instance(child, base @ child.transform, b)
            layer = _Layer(inst, "clip", b, evenodd=child.fill_rule == "evenodd")
            self.layers.append(layer)
            use.layers.append(len(self.layers) - 1)
        if clip.clip_path is not None:
            use.nested = self.clip_use(clip.clip_path, context, b, bbox_inst)
        return idx

    def group(self, group: Group, parent: Affine, b: int, level: int) -> None:
        t = parent if group.transform is IDENTITY else parent @ group.transform
        for child in group.children:
            if isinstance(child, Group):
                isolate = child.clip_path is not None or self._f(child.opacity) != 1.0
                if isolate:
                    lv = _Level(b, level, self._next_order(), child.opacity)
                    self.levels.append(lv)
                    lid = len(self.levels) - 1
                    start = len(self.inst_path)
                    self.group(child, t, b, lid)
                    if child.clip_path is not None:
                        insts = list(range(start, len(self.inst_path)))
                        lv.clip = self.clip_use(child.clip_path, t @ child.transform, b, insts)
                else:
                    self.group(child, t, b, level)
            else:
                self.path(child, t, b, level)

    def path(self, path: Path, parent: Affine, b: int, level: int) -> None:
        if path.points.shape[0] == 0 or self._f(path.opacity) <= 0:
            return
        t = parent if path.transform is IDENTITY else parent @ path.transform
        has_fill = path.fill is not None and self._f(path.fill_opacity) > 0
        has_stroke = path.stroke is not None and self._f(path.stroke_opacity) > 0 and self._f(path.stroke_width) > 0
        if not (has_fill or has_stroke):
            return
        inst = self._instance(path, t, b)
        isolate = (has_fill and has_stroke) and (self._f(path.opacity) != 1.0 or path.clip_path is not None)
        own_opacity = None if isolate else path.opacity
        if isolate:
            lv = _Level(b, level, self._next_order(), path.opacity)
            self.levels.append(lv)
            level = len(self.levels) - 1
        clip = -1
        if path.clip_path is not None:
            clip = self.clip_use(path.clip_path, t, b, [inst])
            if isolate:
                self.levels[level].clip = clip
                clip = -1
        for kind, paint_, opac in (("fill", path.fill, path.fill_opacity), ("stroke", path.stroke, path.stroke_opacity)):
            if (kind == "fill" and not has_fill) or (kind == "stroke" and not has_stroke):
                continue
            self.layers.append(
                _Layer(inst, kind, b, self._next_order(), level, paint_, opac, clip, kind == "fill" and path.fill_rule == "evenodd", own_opacity)
            )


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
    """Edges [V, 4] of every subpath as a closed polygon (vertex i -> next, cyclic): the
    vertices shifted by one, with each subpath's last vertex pointing back to its first
    (a write of Q rows instead of a gather of V rows)."""
    v = poly.verts
    if v.shape[0] == 0:
        return v.new_zeros(0, 4)
    nxt = torch.cat([v[1:], v[:1]])
    last = poly.sub_start + poly.sub_count - 1
    nxt = nxt.index_put((last,), take(v, poly.sub_start))
    return torch.cat([v, nxt], -1)


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


def _scene_dtype(scenes: Sequence[Scene]) -> tuple[torch.dtype, torch.device]:
    """Dtype and device of the first path's points (a depth-first search that stops there:
    listing every path costs milliseconds on large scenes)."""
    for s in scenes:
        stack = [s.root]
        while stack:
            g = stack.pop()
            for c in g.children:
                if isinstance(c, Group):
                    stack.append(c)
                else:
                    return c.points.dtype, c.points.device
    return torch.float32, torch.device("cpu")


def rasterize_batch(
    scenes: Scene | Sequence[Scene],
    width: int,
    height: int,
    background=(1.0, 1.0, 1.0),
    *,
    views: Tensor | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
) -> Tensor:
    """Render B images at once -> [B, 3, H, W] in [0, 1].

    ``scenes``: one scene (rendered once per view) or a sequence of B scenes (any
    structure). ``views``: optional [B, 3, 3] matrices applied after the viewBox -> canvas
    map (pixel coordinates in, pixel coordinates out), e.g. augmentation crops; they may
    require grad. ``background``: RGB [3], an image [3, H, W] or [B, 3, H, W].
    ``tolerance``: maximum distance in pixels between a curve and its flattening.
    """
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
    dtype, device = _scene_dtype(scenes)
    B = len(scenes)
    hw = height * width
    builder = _Builder(dtype, device)
    same = len(scenes) > 1 and all(sc is scenes[0] for sc in scenes)
    for b, scene in enumerate(scenes):
        if same and b > 0:  # B views of one scene: walk it once, then copy the plan
            builder.replicate(b)
            continue
        builder.prefetch(scene)
        builder.levels.append(_Level(b, -1, 0, scene.root.opacity))
        root_level = len(builder.levels) - 1
        canvas = scene.canvas_transform(width, height)
        start = len(builder.inst_path)
        builder.group(scene.root, canvas, b, root_level)
        if scene.root.clip_path is not None:
            insts = list(range(start, len(builder.inst_path)))
            builder.levels[root_level].clip = builder.clip_use(
                scene.root.clip_path, canvas @ scene.root.transform, b, insts
            )
    bg = _background(background, B, height, width, dtype, device)
    layers = builder.layers
    if not layers:
        return bg.clone()

    inst_b = torch.tensor(builder.inst_b, dtype=torch.long, device=device)
    mats = torch.tensor(
        [[(a, c, e), (b, d, f)] for a, b, c, d, e, f in builder.inst_affine], dtype=dtype, device=device
    ).reshape(-1, 2, 3)
    if views is not None:
        v = views.to(device=device, dtype=dtype)[inst_b]
        mats = torch.cat([v[:, :2, :2] @ mats[:, :, :2], v[:, :2, :2] @ mats[:, :, 2:] + v[:, :2, 2:]], 2)
    # clip children in objectBoundingBox units: their transform depends on the bbox
    direct = [i for i, x in enumerate(builder.inst_bbox_of) if x is None]
    obb = [i for i, x in enumerate(builder.inst_bbox_of) if x is not None]
    # local (path user-unit) vertices are needed for strokes and bounding-box units only
    need_local = bool(obb) or any(
        l.kind == "stroke" or (l.paint is not None and not isinstance(l.paint, Solid) and l.paint.units == "objectBoundingBox")
        for l in layers
    )
    poly = flatten(builder.paths, [builder.inst_path[i] for i in direct], mats[direct], width, height, tolerance, local=need_local)
    poly.sub_inst = torch.tensor(direct, dtype=torch.long, device=device)[poly.sub_inst]
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

    n_inst = len(builder.inst_path)
    fill_layer = torch.full((n_inst,), -1, dtype=torch.long, device=device)
    stroke_layer = torch.full((n_inst,), -1, dtype=torch.long, device=device)
    fl_i = [(l.inst, k) for k, l in enumerate(layers) if l.kind in ("fill", "clip")]
    st_i = [(l.inst, k) for k, l in enumerate(layers) if l.kind == "stroke"]
    if fl_i:
        fill_layer[[i for i, _ in fl_i]] = torch.tensor([k for _, k in fl_i], device=device)
    if st_i:
        stroke_layer[[i for i, _ in st_i]] = torch.tensor([k for _, k in st_i], device=device)

    edge_parts, layer_parts = [], []
    canvas_verts = poly.canvas
    if canvas_verts is None:
        canvas_verts = apply_affine(mats, poly.verts, poly.sub_inst[poly.vert_sub])
    sub_fill = fill_layer[poly.sub_inst]
    if fl_i:
        cpoly = Polylines(canvas_verts, poly.vert_sub, poly.sub_inst, poly.sub_closed, poly.sub_start, poly.sub_count)
        e = _closed_edges(cpoly)
        el = sub_fill[poly.vert_sub]
        keep = el >= 0
        if bool(keep.all()):
            edge_parts.append(e)
            layer_parts.append(el)
        else:
            keep = keep.nonzero().squeeze(-1)
            edge_parts.append(take(e, keep))
            layer_parts.append(take(el, keep))
    if st_i:
        sel = stroke_layer[poly.sub_inst] >= 0
        spoly = _select_subpaths(poly, sel)
        inst_ids = sorted({i for i, _ in st_i})
        paths_of = {i: builder.paths[builder.inst_path[i]] for i in inst_ids}
        pos = {i: k for k, i in enumerate(inst_ids)}
        half = _stack([paths_of[i].stroke_width for i in inst_ids], dtype, device) * 0.5
        joins = torch.tensor([JOINS.get(paths_of[i].linejoin, 0) for i in inst_ids], device=device)
        caps = torch.tensor([CAPS.get(paths_of[i].linecap, 0) for i in inst_ids], device=device)
        mlim = torch.tensor([max(float(paths_of[i].miterlimit), 1.0) for i in inst_ids], dtype=dtype, device=device)
        scale = tolerance_scale(mats[inst_ids])
        row = torch.tensor([pos.get(i, 0) for i in range(n_inst)], dtype=torch.long, device=device)[spoly.sub_inst]
        style = StrokeStyle(half[row], joins[row], caps[row], mlim[row], (tolerance / scale)[row])
        se, ssub = stroke_outline(spoly, style)
        sinst = spoly.sub_inst[ssub]
        se = torch.cat([apply_affine(mats, se[:, :2], sinst), apply_affine(mats, se[:, 2:], sinst)], -1)
        edge_parts.append(se)
        layer_parts.append(stroke_layer[sinst])
    edges = torch.cat(edge_parts)
    edge_layer = torch.cat(layer_parts)
    layer_b = torch.tensor([l.b for l in layers], dtype=torch.long, device=device)
    layer_eo = torch.tensor([l.evenodd for l in layers], dtype=torch.bool, device=device)
    frags = coverage.rasterize_layers(edges, edge_layer, layer_b, layer_eo, width, height)

    # clip masks
    is_clip = torch.tensor([l.kind == "clip" for l in layers], dtype=torch.bool, device=device)
    masks = None
    if builder.clips:
        layer_use = torch.full((len(layers),), -1, dtype=torch.long, device=device)
        for u, use in enumerate(builder.clips):
            if use.layers:
                layer_use[use.layers] = u
        fu = layer_use[frags.layer]
        sel = fu >= 0
        pix = fu[sel] * hw + frags.pixel[sel] % hw
        masks = composite.union(pix, frags.cov[sel], len(builder.clips) * hw).reshape(len(builder.clips), hw)
        # nested clips (a clip-path on a clipPath)
        for u in range(len(builder.clips) - 1, -1, -1):
            if builder.clips[u].nested >= 0:
                masks = torch.cat([masks[:u], (masks[u] * masks[builder.clips[u].nested]).unsqueeze(0), masks[u + 1 :]])
        masks = masks.reshape(-1)
    if builder.clips:
        draw = (~take(is_clip, frags.layer)).nonzero().squeeze(-1)
        cov, flayer, fpix = take(frags.cov, draw), take(frags.layer, draw), take(frags.pixel, draw)
    else:
        cov, flayer, fpix = frags.cov, frags.layer, frags.pixel

    # paint: a colour table (one straight RGB column per solid layer, one per fragment of a
    # gradient layer), each fragment's column and its alpha
    n_layers = len(layers)
    solid = torch.zeros(n_layers, 4, dtype=dtype, device=device)
    solid_idx = [k for k, l in enumerate(layers) if isinstance(l.paint, Solid)]
    if solid_idx:
        solid = solid.index_put(
            (torch.tensor(solid_idx, device=device),),
            _packed_or_stack([layers[k].paint.color for k in solid_idx], dtype, device),
        )
    draw_ids = [k for k, l in enumerate(layers) if l.kind != "clip"]
    opac = _stack([layers[k].opacity for k in draw_ids], dtype, device)
    own = [layers[k].opacity2 for k in draw_ids]
    if any(o is not None for o in own):
        one = torch.ones((), dtype=dtype, device=device)
        opac = opac * _stack([one if o is None else o for o in own], dtype, device)
    opac_full = torch.zeros(n_layers, dtype=dtype, device=device).index_put(
        (torch.tensor(draw_ids, device=device),), opac
    )
    table = solid[:, :3].T.contiguous()  # [3, L] (gathers from a transposed view are slow)
    index = flayer
    # coverage is in [0, 1]; clamping the per-layer factor (colours or opacities pushed
    # outside [0, 1] by an optimiser) keeps every alpha in [0, 1] without a per-fragment pass
    alpha = cov * take((solid[:, 3] * opac_full).clamp(0, 1), flayer)
    grad_ids = [k for k, l in enumerate(layers) if l.kind != "clip" and l.paint is not None and not isinstance(l.paint, Solid)]
    if grad_ids:
        tables, index = [table], flayer.clone()
        width_so_far = n_layers
        for k in grad_ids:
            l = layers[k]
            m = (flayer == k).nonzero().squeeze(-1)
            if m.numel() == 0:
                continue
            p = fpix[m] % hw
            xy = torch.stack([(p % width).to(dtype) + 0.5, (p // width).to(dtype) + 0.5], -1)
            to_canvas = mats[l.inst]
            if l.paint.units == "objectBoundingBox":
                to_canvas = _compose(to_canvas, _bbox_affine(_inst_bbox(poly, [l.inst])))
            to_canvas = _compose(to_canvas, _affine_tensor(l.paint.transform, dtype, device))
            col = paint.gradient_colors(l.paint, xy, to_canvas)
            tables.append(col[:, :3].T)
            index[m] = width_so_far + torch.arange(m.numel(), device=device)
            width_so_far += m.numel()
            alpha = alpha.index_put((m,), cov[m] * (col[:, 3] * opac_full[k]).clamp(0, 1))
        table = torch.cat(tables, 1)
    if masks is not None:
        lclip = torch.tensor([l.clip for l in layers], dtype=torch.long, device=device)[flayer]
        has = lclip >= 0
        factor = masks[(lclip.clamp_min(0) * hw + fpix % hw)]
        alpha = torch.where(has, alpha * factor, alpha)
    # paint order of each fragment (only needed to merge isolated levels: otherwise the
    # fragments already come in layer order, which is paint order)
    order = None if all(lv.parent < 0 for lv in builder.levels) else take(
        torch.tensor([l.order for l in layers], dtype=torch.long, device=device), flayer
    )

    # composite isolated levels, deepest first (children are created after their parents),
    # then all root levels (one per image) together; a level's result enters its parent as
    # fragments whose premultiplied colour is the level's (table columns of their own)
    levels = builder.levels
    n_pix = B * hw
    is_root = [lv.parent < 0 for lv in levels]
    extra: dict[int, list[_Part]] = {}
    root_extra: list[_Part] = []
    if all(is_root):
        level_sel = None
    else:
        layer_level = torch.tensor([l.level for l in layers], dtype=torch.long, device=device)
        level_sel = layer_level[flayer]
    for lid in range(len(levels) - 1, -1, -1):
        lv = levels[lid]
        if lv.parent < 0:
            continue
        sel = (level_sel == lid).nonzero().squeeze(-1)
        a_sel = take(alpha, sel)
        part = _Part(take(fpix, sel), take(order, sel), a_sel, table, take(index, sel), None)
        rgb_l, a_l = _composite([part] + extra.pop(lid, []), n_pix)
        f = lv.opacity.to(dtype=dtype, device=device).reshape(()).clamp(0, 1).expand(n_pix)
        if lv.clip >= 0:
            base = lv.b * hw
            mk = masks[lv.clip * hw : (lv.clip + 1) * hw]
            f = torch.cat([f[:base], f[base : base + hw] * mk, f[base + hw :]])
        rgb_l, a_l = rgb_l * f, a_l * f
        with torch.no_grad():
            nz = (a_l.detach() > 0).nonzero().squeeze(-1)
        # a level's alpha (a float32 sum) can exceed 1 by an ulp; "over" needs alpha <= 1
        a_nz = take(a_l, nz).clamp(0, 1)
        item = _Part(nz, torch.full_like(nz, lv.order), a_nz, rgb_l[:, nz], torch.arange(nz.numel(), device=device), torch.ones_like(a_nz))
        (root_extra if is_root[lv.parent] else extra.setdefault(lv.parent, [])).append(item)
    if level_sel is not None:
        root_ids = torch.tensor([i for i, r in enumerate(is_root) if r], dtype=torch.long, device=device)
        sel = torch.isin(level_sel, root_ids).nonzero().squeeze(-1)
        a_sel = take(alpha, sel)
        parts = [_Part(take(fpix, sel), take(order, sel), a_sel, table, take(index, sel), None)]
    else:
        parts = [_Part(fpix, order, alpha, table, index, None)]
    rgb_o, a_o = _composite(parts + root_extra, n_pix)
    roots = [lv for lv in levels if lv.parent < 0]
    if any(float(lv.opacity.detach()) != 1.0 or lv.clip >= 0 for lv in roots):
        f = _stack([lv.opacity for lv in roots], dtype, device)
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
    ``alpha``, ``index``, ``scale``: [F] (``scale`` None: the alpha; ``order`` None: the
    fragments are in paint order); ``table``: [3, K] colours ``index`` points into."""

    pixel: Tensor
    order: Tensor | None
    alpha: Tensor
    table: Tensor
    index: Tensor
    scale: Tensor | None


def _composite(parts: list[_Part], n_pix: int) -> tuple[Tensor, Tensor]:
    """One "over" pass over the fragments of several parts (tables concatenated)."""
    if len(parts) == 1:
        p = parts[0]
        return composite.over(p.pixel, p.order, p.alpha, p.table, p.index, p.scale, n_pix)
    tables, indices, offset = [], [], 0
    seen: dict[int, int] = {}
    for p in parts:  # parts sharing one table (the layers' colours) share its columns
        if id(p.table) not in seen:
            seen[id(p.table)] = offset
            tables.append(p.table)
            offset += p.table.shape[1]
        indices.append(p.index + seen[id(p.table)])
    cat = lambda name: torch.cat([getattr(p, name) for p in parts])  # noqa: E731
    scale = torch.cat([p.alpha if p.scale is None else p.scale for p in parts])
    return composite.over(cat("pixel"), cat("order"), cat("alpha"), torch.cat(tables, 1), torch.cat(indices), scale, n_pix)


def rasterize(
    scene: Scene,
    width: int,
    height: int,
    background=(1.0, 1.0, 1.0),
    *,
    view: Tensor | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
) -> Tensor:
    """Render ``scene`` -> [3, H, W] in [0, 1], differentiable.

    The viewBox is mapped onto the ``width`` x ``height`` canvas (``Scene.canvas_transform``);
    ``view``: optional [3, 3] pixel -> pixel matrix applied after it. ``background``: RGB [3]
    or an image [3, H, W]. Gradients reach control points, colours, opacities, stroke widths
    and gradient stops/offsets/geometry. See :func:`rasterize_batch` for batches.
    """
    views = None if view is None else view.unsqueeze(0)
    return rasterize_batch([scene], width, height, background, views=views, tolerance=tolerance)[0]
