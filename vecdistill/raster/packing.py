"""Packed parameters: one leaf tensor per kind instead of one per path.

Autograd pays for every leaf tensor: the rasterizer concatenates the paths' points and
stacks their colours, and the backward splits the gradient again and accumulates it into
each leaf. With 256 paths that is 512 small operations each way (``raster_bench.py``'s
"packed leaves" column shows what they cost: about 5 ms of a 42 ms forward + backward on
the build machine's CPU). :func:`pack_parameters` moves every path's control points
into one ``[P, 2]`` leaf and every solid fill/stroke colour into one ``[K, 4]`` leaf and
makes the paths' tensors views of them (so the scene still reads and writes as before,
and an optimiser stepping the packed leaves in place moves the scene). The rasterizer
recognises such views (:func:`packed_rows`) and reads the packed tensor with one gather
(its backward one accumulation), whatever subset of the rows it needs and in whatever
order (a path skipped for a zero opacity leaves a gap). Anything not packed this way
takes the general path. The optimisation loop packs a scene for the run
(:mod:`vecdistill.pipelines.packed`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..svg.scene import Scene, Solid

Tensor = torch.Tensor


def packable(scene: Scene) -> dict[str, list]:
    """What :func:`pack_parameters` packs, by kind: ``points`` -> the distinct paths (paint
    order), ``colors`` -> the distinct solid paints (fill then stroke of each path, paint
    order); their tensors (``path.points``, ``paint.color``) in this order are the packed
    rows."""
    paths, seen = [], set()
    for p in scene.paths():
        if id(p) not in seen:
            seen.add(id(p))
            paths.append(p)
    solids, seen_paint = [], set()
    for p in paths:
        for paint in (p.fill, p.stroke):
            if isinstance(paint, Solid) and id(paint) not in seen_paint:
                seen_paint.add(id(paint))
                solids.append(paint)
    return {"points": paths, "colors": solids}


#: the attribute of a :func:`packable` object that holds its kind's tensor
ATTRIBUTE = {"points": "points", "colors": "color"}


def pack_parameters(scene: Scene, kinds: Sequence[str] = ("points", "colors"), requires_grad: bool = True) -> dict[str, Tensor]:
    """Repack ``scene`` in place: ``points`` -> one ``[P, 2]`` leaf (the paths' points in
    paint order), ``colors`` -> one ``[K, 4]`` leaf (the solid fills and strokes, fill then
    stroke of each path in paint order). Each path's tensor becomes a view (a row range)
    of its kind's leaf. Returns the leaves by kind (kinds with nothing to pack are left
    out); give them to the optimiser instead of ``scene.parameters()``.

    Paths or paints shared by several places are packed once. Replacing a path's tensor
    later (``path.points = ...``) is allowed: that scene then renders through the general
    path."""
    out: dict[str, Tensor] = {}
    owners = packable(scene)
    for kind in kinds:
        objs = owners.get(kind, [])
        if objs:
            out[kind] = pack_into([(o, ATTRIBUTE[kind]) for o in objs], requires_grad)
    return out


def pack_into(slots: Sequence[tuple[object, str]], requires_grad: bool = True) -> Tensor:
    """One leaf holding the tensors ``getattr(obj, name)`` of ``slots`` as rows (a ``[n, C]``
    tensor gives n rows, a ``[C]`` one a row), in order; each slot is set to its view of
    it. Returns the leaf."""
    ts = [getattr(o, name).detach() for o, name in slots]
    base = torch.cat([t.reshape(-1, t.shape[-1]) for t in ts]).clone().requires_grad_(requires_grad)
    start = 0
    for (o, name), t in zip(slots, ts):
        n = t.shape[0] if t.dim() == 2 else 1
        setattr(o, name, base[start : start + n] if t.dim() == 2 else base[start])
        start += n
    return base


def packed_rows(tensors: Sequence[Tensor]) -> tuple[Tensor, Tensor] | None:
    """If every tensor of ``tensors`` is a row range (``[n, C]``) or a single row (``[C]``)
    of one contiguous 2-D base tensor, as :func:`pack_parameters` makes them:
    ``(base, rows)``, ``rows`` [N] int64 on the base's device, the base rows of the
    tensors' rows concatenated in order (any subset, order or repetition); else None. A view's base never
    changes, so the answer holds for as long as the same tensor objects are given."""
    if not tensors:
        return None
    base = tensors[0]._base
    if base is None or not base.is_contiguous() or base.dim() != 2 or base.storage_offset() != 0:
        return None
    row, width = base.stride(0), base.shape[1]
    starts, counts = [], []
    for t in tensors:
        if t._base is not base or not t.is_contiguous() or t.dim() not in (1, 2) or t.shape[-1] != width:
            return None
        offset = t.storage_offset()
        if offset % row:
            return None
        starts.append(offset // row)
        counts.append(1 if t.dim() == 1 else t.shape[0])
    counts_t = torch.tensor(counts, dtype=torch.long)
    total = int(counts_t.sum())
    first = torch.cumsum(counts_t, 0) - counts_t
    rows = torch.arange(total) + torch.repeat_interleave(torch.tensor(starts, dtype=torch.long) - first, counts_t, output_size=total)
    return base, rows.to(base.device)
