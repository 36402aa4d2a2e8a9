"""Output cleaning: drop paths that cannot be seen before writing an SVG.

A path is dropped when it is invisible (effective opacity below ``min_opacity``, default
half an 8-bit quantum), degenerate (non-finite points, or a fill-only path whose control
polygon has an area below ``min_area`` square user units and no stroke to show it), or lies
entirely outside the viewBox. Groups left empty are dropped too, unless they carry an id.
Precision (digits after the point) is applied when writing (``save_svg(..., precision)``).
"""

from __future__ import annotations

import torch

from ..svg.scene import Group, Path, Scene, value_of
from .reinit import effective_opacity, polygon_area


def _outside(path: Path, transform, view_box, pad: float) -> bool:
    pts = transform.apply(path.points.detach().double())
    half = value_of(path.stroke_width) / 2 * transform.scale_factor() if path.stroke is not None else 0.0
    vx, vy, vw, vh = view_box
    lo = pts.min(0).values - half - pad
    hi = pts.max(0).values + half + pad
    return bool(hi[0] < vx or hi[1] < vy or lo[0] > vx + vw or lo[1] > vy + vh)


def why_dropped(path: Path, transform, view_box, min_opacity: float = 1 / 512, min_area: float = 1e-3) -> str | None:
    """The reason to drop ``path`` (``"invisible"``, ``"degenerate"``, ``"outside"``) or None."""
    if not path.is_visible() or effective_opacity(path) < min_opacity:
        return "invisible"
    if path.points.numel() == 0 or not bool(torch.isfinite(path.points.detach()).all()):
        return "degenerate"
    if not path.paints_stroke():
        area = polygon_area(path.points) * abs(transform.determinant())
        if area < min_area:
            return "degenerate"
    if path.clip_path is None and _outside(path, transform, view_box, pad=0.0):
        return "outside"
    return None


def clean_scene(scene: Scene, min_opacity: float = 1 / 512, min_area: float = 1e-3) -> tuple[Scene, dict[str, int]]:
    """A copy of ``scene`` without invisible, degenerate or off-canvas paths, and the count
    dropped per reason. The input is not modified."""
    out = scene.clone()
    counts: dict[str, int] = {}
    drop: set[int] = set()
    for item in out.walk():
        reason = why_dropped(item.path, item.transform, out.view_box, min_opacity, min_area)
        if reason:
            counts[reason] = counts.get(reason, 0) + 1
            drop.add(id(item.path))

    def prune(group: Group) -> None:
        kept = []
        for child in group.children:
            if isinstance(child, Group):
                prune(child)
                if child.children or child.id:
                    kept.append(child)
            elif id(child) not in drop:
                kept.append(child)
        group.children = kept

    prune(out.root)
    for t in out.parameters():
        t.requires_grad_(False)
    return out, counts
