"""Render plans: everything the rasterizer derives from a scene's structure, built once.

An optimisation renders the same scene thousands of times with new point and colour values
but the same paths, groups, paints and opacities. Walking the scene into layers, isolation
levels and clip uses, and building the index tables of flattening, compositing and clipping,
costs several milliseconds of Python per call for a few hundred paths (diffvg rebuilds its
scene on the host at every call). :func:`plan_for` does it once and keeps the result while a
cheap fingerprint of the scene is unchanged:

- the identity and stamp (:class:`vecdistill.svg.scene.Stamped`: renewed by every attribute
  assignment) of the scene, its groups, paths, clip paths and paints, in walk order, the
  number of children of each group and clip, each path's subpath list and the version
  counter of its segment tensor: replacing any attribute, adding, removing or reordering a
  child or editing a path's layout makes a new plan. The plan holds references to the
  walked objects, so an ``id`` cannot be reused while it is kept;
- the opacities and stroke widths (read each call, one host read per scalar on the CPU,
  one transfer elsewhere): the walk depends on them (skipped paths, isolated groups). For
  a tensor that requires grad (an optimised width or opacity, read again by every render)
  only what the walk asks counts: its sign and whether it is 1; for a constant one (which
  the plan may bake into the layers' opacities) any change makes a new plan. In-place
  changes through ``.data`` are seen too.

Point, colour, gradient and view values are never part of a plan: they are read at every
call. Plans are kept per scene (weakly: a scene that is dropped takes its plans with it),
a few per scene for different canvas sizes or batch shapes.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import torch

from ..svg.scene import IDENTITY, Affine, ClipPath, Group, Path, Scene, Solid, value_of
from .flatten import SegmentTables, segment_tables
from .packing import packed_rows
from .stroke import CAPS, JOINS

Tensor = torch.Tensor


def stack_scalars(ts: list[Tensor], dtype, device) -> Tensor:
    """Stack scalars ([] or [1]) or equal-shape tensors, then cast: [N, ...]."""
    try:
        out = torch.stack(ts)
    except RuntimeError:
        out = torch.stack([t.reshape(-1).to(dtype=dtype, device=device) for t in ts])
    if out.dim() == 2 and out.shape[1] == 1 and ts[0].dim() <= 1 and ts[0].numel() == 1:
        out = out.reshape(-1)
    return out.to(dtype=dtype, device=device)


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
    """Collects instances, layers, clip uses and levels from scenes. ``values``: the
    scalars' values by ``id`` (read once by the plan, one device sync)."""

    def __init__(self, dtype, device, values: dict[int, float]):
        self.dtype, self.device = dtype, device
        self._values = values
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

    def _f(self, t) -> float:
        v = self._values.get(id(t))
        return value_of(t) if v is None else v

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


def scene_dtype(scenes: Sequence[Scene]) -> tuple[torch.dtype, torch.device]:
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




def _walk_scenes(builder: _Builder, scenes: Sequence[Scene], width: int, height: int) -> None:
    """Walk ``scenes`` (image b = scenes[b]) into ``builder``: the same scene B times is
    walked once and its plan copied for each view."""
    same = len(scenes) > 1 and all(sc is scenes[0] for sc in scenes)
    for b, scene in enumerate(scenes):
        if same and b > 0:
            builder.replicate(b)
            continue
        builder.levels.append(_Level(b, -1, 0, scene.root.opacity))
        root_level = len(builder.levels) - 1
        canvas = scene.canvas_transform(width, height)
        start = len(builder.inst_path)
        builder.group(scene.root, canvas, b, root_level)
        if scene.root.clip_path is not None:
            insts = list(range(start, len(builder.inst_path)))
            builder.levels[root_level].clip = builder.clip_use(scene.root.clip_path, canvas @ scene.root.transform, b, insts)


@dataclass
class Plan:
    """The static part of rendering a list of scenes at one canvas size (all tensors on the
    scenes' device; I instances, L layers).

    ``builder``: instances, layers, clip uses and isolation levels; ``values``: opacity and
    width values by ``id`` of their tensors. ``inst_b`` [I] image of each instance; ``mats``
    [I, 2, 3] local -> canvas pixels (before any view); ``direct`` / ``obb``: instances whose
    transform is fixed / depends on a bounding box (clip children in objectBoundingBox
    units); ``tables``: flattening tables of the direct instances; ``need_local``: local
    (user-unit) vertices are needed (strokes, bounding-box units). ``fill_layer`` /
    ``stroke_layer`` [I]: layer of each instance's fill (or clip shape) / stroke, -1 for
    none; ``all_fill`` / ``all_stroke``: every instance has one. ``layer_b`` [L],
    ``layer_eo`` [L] even-odd (``any_evenodd``: some layer is), ``is_clip`` [L], ``layer_use`` [L]
    clip use of clip layers and ``layer_clip`` [L] the clip use applied to each layer (None without clips). ``solid_ids`` [K] solid layers (``solid_layers`` the same on the host) and
    ``colors_packed``: ``(base, rows)`` when their colours are rows of one packed tensor
    (:func:`.packing.packed_rows`), else None;
    ``draw_ids`` [D] drawn layers (``draw_layers`` on the host) and ``opacity`` [L] their opacity factors (:func:`layer_opacity`) when no opacity
    requires grad (else None: built per call; ``requires_grad`` switched on in place
    changes the scene's fingerprint, see :func:`_marks`, so a kept plan's is current). ``grad_ids``: layers painted with gradients;
    ``layer_order`` [L] / ``layer_level`` [L] / ``root_ids``: paint order and levels, only
    when some level is isolated (else None); ``roots_scaled``: some image's root has an
    opacity or a clip. Strokes: ``stroke_insts`` (sorted instances), their ``joins``,
    ``caps``, ``miter`` [N], ``stroke_row`` [I] (row of each instance in those) and
    ``stroke_ids`` [N] (``stroke_insts`` as a tensor).
    """

    builder: _Builder
    dtype: torch.dtype
    device: torch.device
    inst_b: Tensor
    mats: Tensor
    direct: list[int]
    obb: list[int]
    direct_ids: Tensor
    tables: SegmentTables | None
    need_local: bool
    fill_layer: Tensor
    stroke_layer: Tensor
    has_fill: bool
    all_fill: bool
    all_stroke: bool
    layer_b: Tensor
    layer_eo: Tensor
    any_evenodd: bool
    is_clip: Tensor
    layer_use: Tensor | None
    solid_ids: Tensor | None
    solid_layers: list[int]
    colors_packed: tuple[Tensor, Tensor] | None
    draw_ids: Tensor
    draw_layers: list[int]
    opacity: Tensor | None
    grad_ids: list[int]
    layer_order: Tensor | None
    layer_level: Tensor | None
    root_ids: Tensor | None
    roots_scaled: bool
    layer_clip: Tensor | None = None
    stroke_insts: list[int] = field(default_factory=list)
    joins: Tensor | None = None
    caps: Tensor | None = None
    miter: Tensor | None = None
    stroke_row: Tensor | None = None
    stroke_ids: Tensor | None = None  # [N] int64: stroke_insts on the plan's device


def _build(scenes: Sequence[Scene], width: int, height: int, values: dict[int, float]) -> Plan:
    dtype, device = scene_dtype(scenes)
    builder = _Builder(dtype, device, values)
    _walk_scenes(builder, scenes, width, height)
    layers = builder.layers
    long = dict(dtype=torch.long, device=device)
    inst_b = torch.tensor(builder.inst_b, **long)
    mats = torch.tensor([[(a, c, e), (b, d, f)] for a, b, c, d, e, f in builder.inst_affine], dtype=dtype, device=device).reshape(-1, 2, 3)
    direct = [i for i, x in enumerate(builder.inst_bbox_of) if x is None]
    obb = [i for i, x in enumerate(builder.inst_bbox_of) if x is not None]
    need_local = bool(obb) or any(
        l.kind == "stroke" or (l.paint is not None and not isinstance(l.paint, Solid) and l.paint.units == "objectBoundingBox")
        for l in layers
    )
    tables = segment_tables(builder.paths, [builder.inst_path[i] for i in direct], device) if direct else None
    n_inst = len(builder.inst_path)
    fill_layer = torch.full((n_inst,), -1, **long)
    stroke_layer = torch.full((n_inst,), -1, **long)
    fl_i = [(l.inst, k) for k, l in enumerate(layers) if l.kind in ("fill", "clip")]
    st_i = [(l.inst, k) for k, l in enumerate(layers) if l.kind == "stroke"]
    if fl_i:
        fill_layer[[i for i, _ in fl_i]] = torch.tensor([k for _, k in fl_i], **long)
    if st_i:
        stroke_layer[[i for i, _ in st_i]] = torch.tensor([k for _, k in st_i], **long)
    layer_use = None
    if builder.clips:
        layer_use = torch.full((len(layers),), -1, **long)
        for u, use in enumerate(builder.clips):
            if use.layers:
                layer_use[use.layers] = u
    solid = [k for k, l in enumerate(layers) if isinstance(l.paint, Solid)]
    draw = [k for k, l in enumerate(layers) if l.kind != "clip"]
    opac_ts = [layers[k].opacity for k in draw] + [layers[k].opacity2 for k in draw if layers[k].opacity2 is not None]
    levels = builder.levels
    isolated = not all(lv.parent < 0 for lv in levels)
    plan = Plan(
        builder=builder,
        dtype=dtype,
        device=device,
        inst_b=inst_b,
        mats=mats,
        direct=direct,
        obb=obb,
        direct_ids=torch.tensor(direct, **long),
        tables=tables,
        need_local=need_local,
        fill_layer=fill_layer,
        stroke_layer=stroke_layer,
        has_fill=bool(fl_i),
        all_fill=len({i for i, _ in fl_i}) == n_inst,
        all_stroke=len({i for i, _ in st_i}) == n_inst,
        layer_b=torch.tensor([l.b for l in layers], **long),
        layer_eo=torch.tensor([l.evenodd for l in layers], dtype=torch.bool, device=device),
        any_evenodd=any(l.evenodd for l in layers),
        is_clip=torch.tensor([l.kind == "clip" for l in layers], dtype=torch.bool, device=device),
        layer_use=layer_use,
        solid_ids=torch.tensor(solid, **long) if solid else None,
        solid_layers=solid,
        colors_packed=packed_rows([layers[k].paint.color for k in solid]) if solid else None,
        draw_ids=torch.tensor(draw, **long),
        draw_layers=draw,
        opacity=None,
        grad_ids=[k for k, l in enumerate(layers) if l.kind != "clip" and l.paint is not None and not isinstance(l.paint, Solid)],
        layer_order=torch.tensor([l.order for l in layers], **long) if isolated else None,
        layer_level=torch.tensor([l.level for l in layers], **long) if isolated else None,
        root_ids=torch.tensor([i for i, lv in enumerate(levels) if lv.parent < 0], **long) if isolated else None,
        roots_scaled=any(builder._f(lv.opacity) != 1.0 or lv.clip >= 0 for lv in levels if lv.parent < 0),
    )
    if builder.clips:
        plan.layer_clip = torch.tensor([l.clip for l in layers], **long)
    if layers and not any(t.requires_grad for t in opac_ts):
        plan.opacity = layer_opacity(plan)
    if st_i:
        inst_ids = sorted({i for i, _ in st_i})
        paths_of = [builder.paths[builder.inst_path[i]] for i in inst_ids]
        pos = {i: k for k, i in enumerate(inst_ids)}
        plan.stroke_insts = inst_ids
        plan.stroke_ids = torch.tensor(inst_ids, **long)
        plan.joins = torch.tensor([JOINS.get(p.linejoin, 0) for p in paths_of], device=device)
        plan.caps = torch.tensor([CAPS.get(p.linecap, 0) for p in paths_of], device=device)
        plan.miter = torch.tensor([max(float(p.miterlimit), 1.0) for p in paths_of], dtype=dtype, device=device)
        plan.stroke_row = torch.tensor([pos.get(i, 0) for i in range(n_inst)], **long)
    return plan


def layer_opacity(plan: Plan) -> Tensor:
    """[L] opacity factor of each layer (its fill/stroke opacity times the path's own
    opacity when the path is not isolated; 0 for clip layers), differentiable."""
    layers, dtype, device = plan.builder.layers, plan.dtype, plan.device
    draw = plan.draw_layers
    opac = stack_scalars([layers[k].opacity for k in draw], dtype, device)
    own = [layers[k].opacity2 for k in draw]
    if any(o is not None for o in own):
        one = torch.ones((), dtype=dtype, device=device)
        opac = opac * stack_scalars([one if o is None else o for o in own], dtype, device)
    return torch.zeros(len(layers), dtype=dtype, device=device).index_put((plan.draw_ids,), opac)


def _fingerprint(scenes: Sequence[Scene]) -> tuple[list, list, list[Tensor]]:
    """``(ids, pins, scalars)`` of ``scenes`` (see the module docstring): ``ids`` compares
    with ``==``; ``pins`` holds the walked objects, so that their ids stay theirs while a
    plan keeps them; ``scalars`` are the opacity and width tensors the walk reads (a fill's opacity only
    with a fill, a stroke's opacity and width only with a stroke), in walk order."""
    ids: list = []
    pins: list = []
    scalars: list[Tensor] = []

    def path(p: Path) -> None:
        f, s, c = p.fill, p.stroke, p.clip_path
        ids.extend((id(p), p._stamp, p.segments._version, tuple(p.subpaths), None if f is None else f._stamp, None if s is None else s._stamp))
        pins.append(p)
        scalars.append(p.opacity)
        if f is not None:
            scalars.append(p.fill_opacity)
        if s is not None:
            scalars.extend((p.stroke_opacity, p.stroke_width))
        if c is not None:
            clip(c)

    def clip(c: ClipPath) -> None:
        ids.extend((id(c), c._stamp, len(c.children)))
        pins.append(c)
        for child in c.children:
            path(child)
        if c.clip_path is not None:
            clip(c.clip_path)

    def group(g: Group) -> None:
        ids.extend((id(g), g._stamp, len(g.children)))
        pins.append(g)
        scalars.append(g.opacity)
        for child in g.children:
            if isinstance(child, Group):
                group(child)
            else:
                path(child)
        if g.clip_path is not None:
            clip(g.clip_path)

    for s in scenes:
        ids.extend((id(s), s._stamp))
        group(s.root)
    return ids, pins, scalars


def _read(scalars: list[Tensor]) -> list[float]:
    """Values of scalar tensors: one host read each on the CPU (cheaper than a stack for
    a few thousand), one transfer elsewhere."""
    if scalars and scalars[0].device.type == "cpu":
        try:
            return [t.item() for t in scalars]
        except RuntimeError:  # a non-scalar (malformed) value: let the stack report it
            pass
    with torch.no_grad():
        return stack_scalars(scalars, torch.float64, "cpu").tolist()


@dataclass
class _Kept:
    """A kept plan: the fingerprint it was built for (``ids``, the ``marks`` of the scalars'
    values) and the objects it pins."""

    ids: list
    pins: list
    marks: list
    plan: Plan


_PLANS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_PER_SCENE = 4  # plans kept per scene (canvas sizes / batch shapes), least recent dropped


def _marks(scalars: list[Tensor], values: list[float]) -> list:
    """What of each scalar's value the plan depends on: a scalar that requires grad (being
    optimised) is read again at every call by the render, so only what the walk asks of it
    can change the plan: its sign and whether it is 1 (skipped paths, isolated groups); a
    constant one may be baked into the plan (the layers' opacities), so its value counts."""
    return [(v > 0, v <= 0, v == 1.0) if t.requires_grad else v for t, v in zip(scalars, values)]


def plan_for(scenes: Sequence[Scene], width: int, height: int) -> Plan:
    """The :class:`Plan` for rendering ``scenes`` (image b = ``scenes[b]``) on a ``width`` x
    ``height`` canvas: a kept one when the scenes' fingerprint is unchanged, else a new one."""
    ids, pins, scalars = _fingerprint(scenes)
    values = _read(scalars)
    marks = _marks(scalars, values)
    first = scenes[0]
    key = (width, height, len(scenes))
    kept = _PLANS.get(first)
    hit = None if kept is None else kept.get(key)
    if hit is not None and hit.ids == ids and hit.marks == marks:
        kept[key] = kept.pop(key)  # most recently used last
        return hit.plan
    plan = _build(scenes, width, height, {id(t): v for t, v in zip(scalars, values)})
    if kept is None:
        kept = {}
        _PLANS[first] = kept
    kept.pop(key, None)
    # pins: the other scenes and every recorded value (never ``first`` itself: it is the
    # weak key, and a strong reference from the entry would keep it alive forever)
    pins = pins + [s for s in scenes[1:] if s is not first] + [scalars]
    kept[key] = _Kept(ids, pins, marks, plan)
    while len(kept) > _PER_SCENE:
        kept.pop(next(iter(kept)))
    return plan


def clear_plans() -> None:
    """Forget every kept plan (tests, or to release the references they hold)."""
    _PLANS.clear()
