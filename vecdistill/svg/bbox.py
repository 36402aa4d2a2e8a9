"""Exact bounding boxes of paths (curve extrema, not control-point hulls), as SVG's
objectBoundingBox needs them. Plain numpy; not differentiable."""

from __future__ import annotations

import numpy as np

from .scene import IDENTITY, Affine, Group, Path


def segment_points(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """``(kinds [S], idx [S, 4])``: per segment its kind (0/1/2) and the indices into
    ``path.points`` of P0..P3 (unused slots repeat the end anchor)."""
    kinds = path.segments.tolist()
    idx = np.empty((len(kinds), 4), dtype=np.int64)
    seg = p = 0
    for nseg, closed in path.subpaths:
        first = p  # p: index of the current anchor
        for j in range(nseg):
            k = kinds[seg + j]
            end = first if closed and j == nseg - 1 else p + k + 1
            row = [p] + list(range(p + 1, p + 1 + k)) + [end]
            idx[seg + j] = row + [end] * (4 - len(row))
            p += k + 1
        if not closed:
            p += 1  # past the last anchor: the next subpath starts there
        seg += nseg
    return np.asarray(kinds, dtype=np.int64), idx


def _extrema_t(kind: int, c: np.ndarray) -> np.ndarray:
    """Parameters t in (0, 1) where one coordinate of the segments ``c`` [S, 4] has a
    derivative zero; returns [S, 2] with NaN where absent."""
    out = np.full((c.shape[0], 2), np.nan)
    if kind == 1:
        den = c[:, 0] - 2 * c[:, 1] + c[:, 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            out[:, 0] = np.where(np.abs(den) > 1e-12, (c[:, 0] - c[:, 1]) / den, np.nan)
    elif kind == 2:
        # B'(t)/3 = a t^2 + b t + cc
        a = -c[:, 0] + 3 * c[:, 1] - 3 * c[:, 2] + c[:, 3]
        b = 2 * (c[:, 0] - 2 * c[:, 1] + c[:, 2])
        cc = c[:, 1] - c[:, 0]
        disc = b * b - 4 * a * cc
        sq = np.sqrt(np.where(disc >= 0, disc, np.nan))
        with np.errstate(divide="ignore", invalid="ignore"):
            quad = np.abs(a) > 1e-12
            out[:, 0] = np.where(quad, (-b + sq) / (2 * a), np.where(np.abs(b) > 1e-12, -cc / b, np.nan))
            out[:, 1] = np.where(quad, (-b - sq) / (2 * a), np.nan)
    out[(out <= 0) | (out >= 1)] = np.nan
    return out


def _bezier(kind: int, c: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Evaluate the segments ``c`` [S, 4] (one coordinate) at ``t`` [S, n]."""
    c = c[:, :, None]
    u = 1 - t
    if kind == 1:
        return u * u * c[:, 0] + 2 * u * t * c[:, 1] + t * t * c[:, 2]
    return u**3 * c[:, 0] + 3 * u * u * t * c[:, 1] + 3 * u * t * t * c[:, 2] + t**3 * c[:, 3]


def path_bbox(path: Path, transform: Affine = IDENTITY) -> tuple[float, float, float, float] | None:
    """(x, y, width, height) of ``path``'s geometry after ``transform``, or None if empty."""
    if path.points.numel() == 0 or path.num_segments() == 0:
        return None
    pts = path.points.detach().to("cpu").double().numpy()
    a, b, c, d, e, f = transform.as_tuple()
    pts = np.stack([a * pts[:, 0] + c * pts[:, 1] + e, b * pts[:, 0] + d * pts[:, 1] + f], -1)
    kinds, idx = segment_points(path)
    used = np.unique(idx)
    lo = pts[used].min(0)
    hi = pts[used].max(0)
    # anchors are extremes candidates; curves may bulge beyond them
    for kind in (1, 2):
        sel = kinds == kind
        if not sel.any():
            continue
        seg = pts[idx[sel]]  # [S, 4, 2]
        for axis in (0, 1):
            coord = seg[:, :, axis]
            t = _extrema_t(kind, coord)
            vals = _bezier(kind, coord, np.nan_to_num(t, nan=0.0))
            vals = np.where(np.isnan(t), coord[:, :1], vals)
            lo[axis] = min(lo[axis], float(vals.min()))
            hi[axis] = max(hi[axis], float(vals.max()))
    return float(lo[0]), float(lo[1]), float(hi[0] - lo[0]), float(hi[1] - lo[1])


def node_bbox(node: Path | Group, transform: Affine = IDENTITY) -> tuple[float, float, float, float] | None:
    """Bounding box of a path or of a group's descendants (their transforms applied, then
    ``transform``), in the coordinates ``transform`` maps to."""
    if isinstance(node, Path):
        return path_bbox(node, transform)
    boxes = [node_bbox(child, transform @ child.transform) if isinstance(child, Group) else path_bbox(child, transform @ child.transform) for child in node.children]
    boxes = [bx for bx in boxes if bx is not None]
    if not boxes:
        return None
    x0 = min(bx[0] for bx in boxes)
    y0 = min(bx[1] for bx in boxes)
    x1 = max(bx[0] + bx[2] for bx in boxes)
    y1 = max(bx[1] + bx[3] for bx in boxes)
    return x0, y0, x1 - x0, y1 - y0
