"""Packed parameters: one leaf tensor per kind instead of one per path.

Autograd pays for every leaf tensor: the rasterizer concatenates the paths' points and
stacks their colours, and the backward splits the gradient again and accumulates it into
each leaf. With 256 paths that is 512 small operations each way (``raster_bench.py``'s
"packed leaves" column shows what they cost: about 5 ms of a 42 ms forward + backward on
the build machine's CPU). :func:`pack_parameters` moves every path's control points
into one ``[P, 2]`` leaf and every solid fill/stroke colour into one ``[K, 4]`` leaf and
makes the paths' tensors views of them (so the scene still reads and writes as before,
and an optimiser stepping the packed leaves in place moves the scene). The rasterizer
recognises such views (:func:`packed_span`) and reads the packed tensor directly, one view
instead of hundreds of pieces. Anything not packed this way takes the general path.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..svg.scene import Scene, Solid

Tensor = torch.Tensor


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
    paths, seen = [], set()
    for p in scene.paths():
        if id(p) not in seen:
            seen.add(id(p))
            paths.append(p)
    if "points" in kinds and paths:
        base = torch.cat([p.points.detach() for p in paths]).clone().requires_grad_(requires_grad)
        start = 0
        for p in paths:
            n = p.points.shape[0]
            p.points = base[start : start + n]
            start += n
        out["points"] = base
    if "colors" in kinds:
        solids, seen_paint = [], set()
        for p in paths:
            for paint in (p.fill, p.stroke):
                if isinstance(paint, Solid) and id(paint) not in seen_paint:
                    seen_paint.add(id(paint))
                    solids.append(paint)
        if solids:
            base = torch.stack([s.color.detach().reshape(4) for s in solids]).clone().requires_grad_(requires_grad)
            for k, s in enumerate(solids):
                s.color = base[k]
            out["colors"] = base
    return out


def packed_span(tensors: Sequence[Tensor]) -> tuple[Tensor, int, int] | None:
    """If ``tensors`` are consecutive row ranges (or single rows) of one contiguous 2-D base
    tensor, in order, as :func:`pack_parameters` makes them: ``(base, start, stop)``, the
    rows they cover; else None. A view's base never changes, so the answer holds for as
    long as the same tensor objects are given."""
    if not tensors:
        return None
    base = tensors[0]._base
    if base is None or not base.is_contiguous() or base.dim() != 2:
        return None
    row = base.stride(0)
    single = tensors[0].dim() == 1
    offset = tensors[0].storage_offset()
    if offset % row:
        return None
    first = offset // row
    expected = offset
    for t in tensors:
        if t._base is not base or t.storage_offset() != expected or not t.is_contiguous():
            return None
        if single != (t.dim() == 1) or t.shape[-1] != base.shape[1]:
            return None
        expected += t.numel()
    return base, first, expected // row
