"""More control points for a glyph, same shape: the Word-As-Image "level of control".

Fonts draw long strokes with few segments (a sans-serif "A" is a handful of lines), which
leaves an optimiser almost nothing to bend. :func:`subdivide_path` turns every line into a
curve of the glyph's own degree (quadratic for TrueType, cubic for CFF) and splits every
segment longer than ``max_length`` into equal-parameter pieces (de Casteljau), so the
outline is unchanged while the control points get dense enough to deform.
"""

from __future__ import annotations

import math

import torch

from ..svg.scene import Path

Tensor = torch.Tensor


def _split(ctrl: Tensor, pieces: int) -> list[Tensor]:
    """Bezier ``ctrl`` [K, 2] cut into ``pieces`` equal-parameter Beziers of the same degree."""
    out = []
    rest = ctrl
    for i in range(pieces, 1, -1):
        t = 1.0 / i  # cut off the first of the remaining i pieces
        left, right = [rest[0]], [rest[-1]]
        pts = rest
        while pts.shape[0] > 1:
            pts = (1 - t) * pts[:-1] + t * pts[1:]
            left.append(pts[0])
            right.append(pts[-1])
        out.append(torch.stack(left))
        rest = torch.stack(right[::-1])
    out.append(rest)
    return out


def _elevate_line(a: Tensor, b: Tensor, degree: int) -> Tensor:
    """The line a->b as a Bezier of ``degree`` (1, 2 or 3) with evenly spaced controls."""
    ts = torch.linspace(0, 1, degree + 1, dtype=a.dtype, device=a.device)[:, None]
    return a[None] * (1 - ts) + b[None] * ts


def subdivide_path(path: Path, max_length: float, degree: int | None = None) -> Path:
    """A copy of ``path`` with the same outline and more control points.

    Lines become Beziers of ``degree`` (default: the path's highest segment degree, at
    least 2); every segment whose control polygon is longer than ``max_length`` (user units)
    is split into ``ceil(length / max_length)`` pieces. ``max_length <= 0`` returns an
    unchanged copy. Paint, id, fill rule and the other attributes are kept (tensors shared
    except the new points)."""
    kinds = path.segments.tolist()
    if degree is None:
        degree = max(2, max(kinds, default=0) + 1)
    pts_all = path.points.detach()
    new_pts: list[Tensor] = []
    new_kinds: list[int] = []
    new_subpaths: list[tuple[int, bool]] = []
    for seg_slice, pt_slice, closed in path.subpath_ranges():
        sub = pts_all[pt_slice]
        seg_kinds = kinds[seg_slice]
        pieces: list[Tensor] = []
        k = 0
        for j, n in enumerate(seg_kinds):
            end = sub[0] if (closed and j == len(seg_kinds) - 1) else sub[k + n + 1]
            ctrl = torch.cat([sub[k : k + n + 1], end[None]])
            k += n + 1
            if max_length > 0:
                if n == 0:
                    ctrl = _elevate_line(ctrl[0], ctrl[1], degree)
                length = float((ctrl[1:] - ctrl[:-1]).norm(dim=-1).sum())
                count = max(1, math.ceil(length / max_length))
                pieces.extend(_split(ctrl, count) if count > 1 else [ctrl])
            else:
                pieces.append(ctrl)
        sub_pts = [pieces[0][0]]
        for i, ctrl in enumerate(pieces):
            last = closed and i == len(pieces) - 1
            sub_pts.extend(ctrl[1:-1] if last else ctrl[1:])
            new_kinds.append(ctrl.shape[0] - 2)
        new_pts.extend(sub_pts)
        new_subpaths.append((len(pieces), closed))
    points = torch.stack(new_pts).to(path.points.dtype) if new_pts else path.points.detach().clone()
    return Path(
        points,
        torch.tensor(new_kinds, dtype=torch.long, device=path.segments.device),
        new_subpaths,
        fill=path.fill,
        stroke=path.stroke,
        stroke_width=path.stroke_width,
        fill_rule=path.fill_rule,
        linecap=path.linecap,
        linejoin=path.linejoin,
        miterlimit=path.miterlimit,
        fill_opacity=path.fill_opacity,
        stroke_opacity=path.stroke_opacity,
        opacity=path.opacity,
        transform=path.transform,
        clip_path=path.clip_path,
        id=path.id,
        attrs=dict(path.attrs),
    )
