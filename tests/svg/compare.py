"""Helpers for the SVG tests: sampling path geometry and comparing scenes."""

from __future__ import annotations

import math
from pathlib import Path as FsPath

import numpy as np
import torch

from vecdistill.svg.bbox import segment_points
from vecdistill.svg.scene import Group, LinearGradient, Path, RadialGradient, Scene, Solid

ICONS = FsPath(__file__).resolve().parents[1] / "data" / "icons"
SAMPLES = sorted(ICONS.rglob("*.svg"))


def sample_path(path: Path, n: int = 9) -> np.ndarray:
    """Points [S * n, 2] along every segment of ``path`` (local coordinates)."""
    pts = path.points.detach().double().numpy()
    kinds, idx = segment_points(path)
    t = np.linspace(0, 1, n)[None, :, None]
    out = []
    for kind, row in zip(kinds.tolist(), idx):
        c = pts[row]
        u = 1 - t
        if kind == 0:
            p = u * c[0] + t * c[-1]
        elif kind == 1:
            p = u * u * c[0] + 2 * u * t * c[1] + t * t * c[2]
        else:
            p = u**3 * c[0] + 3 * u * u * t * c[1] + 3 * u * t * t * c[2] + t**3 * c[3]
        out.append(p[0])
    return np.concatenate(out) if out else np.zeros((0, 2))


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float(((a - b) ** 2).mean())
    return 99.0 if mse == 0 else 10 * math.log10(1.0 / mse)


def _close(a, b, atol, what):
    a = torch.as_tensor(a, dtype=torch.float64)
    b = torch.as_tensor(b, dtype=torch.float64)
    assert a.shape == b.shape, f"{what}: shape {tuple(a.shape)} != {tuple(b.shape)}"
    err = float((a - b).abs().max()) if a.numel() else 0.0
    assert err <= atol, f"{what}: differs by {err} (> {atol})"


def _paint_close(p, q, atol, what):
    assert type(p) is type(q), f"{what}: {type(p).__name__} != {type(q).__name__}"
    if p is None:
        return
    if isinstance(p, Solid):
        _close(p.color[:3], q.color[:3], 1 / 255 + 1e-6, what + " colour")
        return
    _close(p.offsets, q.offsets, 1e-4, what + " offsets")
    _close(p.colors, q.colors, 1 / 255 + 1e-4, what + " stop colours")
    assert (p.units, p.spread) == (q.units, q.spread), what
    _close(p.transform.as_tuple(), q.transform.as_tuple(), 1e-5 * max(1.0, max(map(abs, p.transform.as_tuple()))), what)
    if isinstance(p, LinearGradient):
        _close(torch.cat([p.start, p.end]), torch.cat([q.start, q.end]), atol, what + " geometry")
    elif isinstance(p, RadialGradient):
        _close(torch.cat([p.center, p.radius.view(1)]), torch.cat([q.center, q.radius.view(1)]), atol, what)


def _alpha(paint) -> float:
    return float(paint.color[3]) if isinstance(paint, Solid) else 1.0


def assert_scenes_close(a: Scene, b: Scene, atol: float = 1e-3) -> None:
    """Same structure (groups, paths, segments, subpaths, ids) and values within ``atol``
    (user units; colours within one 8-bit step; alpha folded into opacities)."""
    assert (a.width, a.height) == (b.width, b.height) or math.isclose(a.width, b.width, rel_tol=1e-4)
    _close(a.view_box, b.view_box, 1e-4, "viewBox")
    assert a.preserve_aspect_ratio == b.preserve_aspect_ratio

    def walk(x: Group, y: Group, where: str) -> None:
        _close(x.transform.as_tuple(), y.transform.as_tuple(), 1e-5 * max(1.0, *map(abs, x.transform.as_tuple())), where + " transform")
        _close(x.opacity, y.opacity, 1e-4, where + " opacity")
        assert (x.clip_path is None) == (y.clip_path is None), where + " clip"
        assert len(x.children) == len(y.children), f"{where}: {len(x.children)} vs {len(y.children)} children"
        for i, (c, d) in enumerate(zip(x.children, y.children)):
            w = f"{where}/{i}"
            assert type(c) is type(d), w
            if isinstance(c, Group):
                assert c.id == d.id, w
                walk(c, d, w)
                continue
            assert c.id == d.id and c.subpaths == d.subpaths, w
            assert c.segments.tolist() == d.segments.tolist(), w
            _close(c.points, d.points, atol + 1e-6 * float(c.points.abs().max()), w + " points")
            _paint_close(c.fill, d.fill, atol, w + " fill")
            _paint_close(c.stroke, d.stroke, atol, w + " stroke")
            if c.fill is not None:
                _close(float(c.fill_opacity) * _alpha(c.fill), float(d.fill_opacity) * _alpha(d.fill), 2e-4, w + " fill opacity")
                assert c.fill_rule == d.fill_rule, w
            if c.stroke is not None:
                _close(float(c.stroke_opacity) * _alpha(c.stroke), float(d.stroke_opacity) * _alpha(d.stroke), 2e-4, w)
                _close(c.stroke_width, d.stroke_width, atol, w + " stroke width")
                assert (c.linecap, c.linejoin, c.miterlimit) == (d.linecap, d.linejoin, d.miterlimit), w
            _close(c.opacity, d.opacity, 1e-4, w + " opacity")
            _close(c.transform.as_tuple(), d.transform.as_tuple(), 1e-5 * max(1.0, *map(abs, c.transform.as_tuple())), w)
            assert (c.clip_path is None) == (d.clip_path is None), w + " clip"

    walk(a.root, b.root, "root")


def distance_to_polyline(points: np.ndarray, line: np.ndarray) -> np.ndarray:
    """For each of ``points`` [N, 2], the distance to the polyline through ``line`` [M, 2]."""
    a, b = line[:-1], line[1:]
    ab = b - a
    denom = np.maximum((ab * ab).sum(-1), 1e-300)
    t = np.clip(((points[:, None] - a[None]) * ab[None]).sum(-1) / denom[None], 0, 1)
    proj = a[None] + t[..., None] * ab[None]
    return np.sqrt(((points[:, None] - proj) ** 2).sum(-1)).min(1)


def svgpathtools_polyline(d: str, n: int = 257) -> list[np.ndarray]:
    """svgpathtools' reading of ``d``, each segment sampled as a polyline [n, 2]."""
    from svgpathtools import parse_path

    t = np.linspace(0, 1, n)
    out = []
    for seg in parse_path(d):
        z = seg.point(t)
        out.append(np.stack([z.real, z.imag], -1))
    return out
