"""The two shape-keeping losses of Word-As-Image (Iluz et al. 2023).

- :class:`ACAPLoss` (as-conformal-as-possible): each optimised letter's control points are
  triangulated once (Delaunay, keeping the triangles inside the glyph); the loss is the mean
  squared change of the triangles' corner angles. Angles are signed (``atan2(cross, dot)``),
  so rotations, translations and uniform scalings cost nothing while shears, non-uniform
  stretches and fold-overs (a flipped triangle changes the sign of its angles) do.
- :class:`ToneLoss`: the mean squared difference between a Gaussian low-pass of the current
  render and of the original's, so that the letter keeps its overall tone (where the ink
  is), with the paper's weight schedule: a bump ``w * exp(-((p - peak) / width)^2 / 5)`` over
  progress ``p`` in [0, 1] (the paper: 100 at step 300 of 500, width 20 steps).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..svg.scene import Path

Tensor = torch.Tensor


# --------------------------------------------------------------------------------------
# Geometry helpers
# --------------------------------------------------------------------------------------


def _bezier(ctrl: np.ndarray, ts: np.ndarray) -> np.ndarray:
    """Points of the Bezier with control points ``ctrl`` [K, 2] at parameters ``ts`` [N]."""
    pts = np.repeat(ctrl[None], len(ts), 0)  # de Casteljau on [N, K, 2]
    t = ts[:, None, None]
    while pts.shape[1] > 1:
        pts = (1 - t) * pts[:, :-1] + t * pts[:, 1:]
    return pts[:, 0]


def flatten_path(path: Path, samples: int = 8) -> list[np.ndarray]:
    """Each subpath of ``path`` as a polygon [N, 2] (float64, local user units): every
    segment sampled at ``samples`` points (lines at their start only)."""
    pts = path.points.detach().cpu().double().numpy()
    kinds = path.segments.tolist()
    polys = []
    ts = np.linspace(0.0, 1.0, samples, endpoint=False)
    for seg_slice, pt_slice, closed in path.subpath_ranges():
        sub = pts[pt_slice]
        k = 0
        out = []
        seg_kinds = kinds[seg_slice]
        for j, n in enumerate(seg_kinds):
            end = sub[0] if (closed and j == len(seg_kinds) - 1) else sub[k + n + 1]
            ctrl = np.concatenate([sub[k : k + n + 1], end[None]])
            out.append(ctrl[:1] if n == 0 else _bezier(ctrl, ts))
            k += n + 1
        if out:
            polys.append(np.concatenate(out))
    return polys


def inside(points: np.ndarray, polygons: Sequence[np.ndarray], fill_rule: str = "nonzero") -> np.ndarray:
    """Which of ``points`` [M, 2] are inside the region bounded by closed ``polygons``
    under ``fill_rule`` ("nonzero" or "evenodd"); bool [M]."""
    winding = np.zeros(len(points), dtype=np.int64)
    x, y = points[:, 0:1], points[:, 1:2]
    for poly in polygons:
        a = poly
        b = np.roll(poly, -1, 0)
        ax, ay, bx, by = a[:, 0][None], a[:, 1][None], b[:, 0][None], b[:, 1][None]
        cross = (bx - ax) * (y - ay) - (x - ax) * (by - ay)
        up = (ay <= y) & (by > y) & (cross > 0)
        down = (ay > y) & (by <= y) & (cross < 0)
        winding += up.sum(1) - down.sum(1)
    return winding % 2 == 1 if fill_rule == "evenodd" else winding != 0


def triangulate_glyph(path: Path, keep_outside: bool = False) -> Tensor:
    """Delaunay triangles of ``path``'s control points, int64 [F, 3] indices into
    ``path.points``; triangles whose centroid lies outside the filled glyph are dropped
    (unless ``keep_outside``, or if none would remain). Duplicate points (a point shared by
    two segments) are triangulated once. Empty [0, 3] for fewer than 3 distinct points or
    collinear points."""
    from scipy.spatial import Delaunay, QhullError

    pts = path.points.detach().cpu().double().numpy()
    uniq, first = np.unique(pts, axis=0, return_index=True)
    empty = torch.zeros((0, 3), dtype=torch.long)
    if len(uniq) < 3:
        return empty
    try:
        simplices = Delaunay(pts[first]).simplices
    except (QhullError, ValueError):
        return empty
    faces = first[simplices]
    if not keep_outside and len(faces):
        centroids = pts[faces].mean(1)
        keep = inside(centroids, flatten_path(path), path.fill_rule)
        if keep.any():
            faces = faces[keep]
    return torch.as_tensor(np.ascontiguousarray(faces), dtype=torch.long)


def triangle_angles(points: Tensor, faces: Tensor) -> Tensor:
    """Signed corner angles (radians) of triangles ``faces`` [F, 3] over ``points``
    [P, 2]: [F, 3], the angle at each vertex from its next to its previous vertex
    (``atan2(cross, dot)``). Differentiable in ``points``."""
    tri = points[faces]  # [F, 3, 2]
    u = torch.roll(tri, -1, 1) - tri
    v = torch.roll(tri, 1, 1) - tri
    cross = u[..., 0] * v[..., 1] - u[..., 1] * v[..., 0]
    dot = (u * v).sum(-1)
    return torch.atan2(cross, dot)


# --------------------------------------------------------------------------------------
# Losses
# --------------------------------------------------------------------------------------


class ACAPLoss:
    """As-conformal-as-possible loss over letters (paths), fixed at construction.

    ``paths``: the letters being optimised (their current ``points`` are the original
    shape). Calling it with the same paths (optimised in place) or with a list of point
    tensors returns a scalar: the sum over letters of the mean squared change of their
    triangles' angles (radians^2). Zero for the original and any similarity transform.
    """

    def __init__(self, paths: Sequence[Path], keep_outside: bool = False) -> None:
        self.faces: list[Tensor] = []
        self.angles: list[Tensor] = []
        for path in paths:
            faces = triangulate_glyph(path, keep_outside).to(path.points.device)
            self.faces.append(faces)
            with torch.no_grad():
                self.angles.append(triangle_angles(path.points.detach(), faces))

    @property
    def num_triangles(self) -> int:
        return sum(int(f.shape[0]) for f in self.faces)

    def __call__(self, paths_or_points: Sequence[Path] | Sequence[Tensor]) -> Tensor:
        total = None
        for item, faces, ref in zip(paths_or_points, self.faces, self.angles):
            points = item.points if isinstance(item, Path) else item
            if faces.shape[0] == 0:
                term = points.sum() * 0.0
            else:
                diff = triangle_angles(points, faces) - ref.to(points.dtype)
                # wrap to (-pi, pi] so that a corner crossing +-pi is a small change
                diff = torch.remainder(diff + math.pi, 2 * math.pi) - math.pi
                term = (diff**2).mean()
            total = term if total is None else total + term
        if total is None:
            return torch.zeros(())
        return total


def gaussian_kernel(sigma: float, radius: int, dtype=torch.float32, device=None) -> Tensor:
    """A normalised 1-D Gaussian [2 radius + 1]."""
    x = torch.arange(-radius, radius + 1, dtype=dtype, device=device)
    k = torch.exp(-0.5 * (x / sigma) ** 2)
    return k / k.sum()


def blur_matrix(n: int, sigma: float, dtype=torch.float32, device=None) -> Tensor:
    """The [n, n] matrix of a 1-D Gaussian blur with ``sigma`` samples and reflected
    borders (kernel radius ``ceil(3 sigma)``, capped below ``n``): ``blurred = M @ x``."""
    radius = max(1, min(int(math.ceil(3 * sigma)), n - 1))
    k = gaussian_kernel(sigma, radius, dtype, device)
    i = torch.arange(n, device=device)[:, None]
    j = i + torch.arange(-radius, radius + 1, device=device)[None]
    j = torch.where(j < 0, -j, j)  # reflect without repeating the edge (like F.pad "reflect")
    j = torch.where(j > n - 1, 2 * (n - 1) - j, j)
    m = torch.zeros(n, n, dtype=dtype, device=device)
    return m.scatter_add_(1, j, k[None].expand(n, -1).contiguous())


def gaussian_blur(images: Tensor, sigma: float) -> Tensor:
    """Separable Gaussian blur of ``images`` [B, C, H, W] with ``sigma`` pixels, reflected
    borders, kernel radius ``ceil(3 sigma)`` (capped below the image size); two matrix
    products (fast at render sizes on CPU and GPU). Differentiable."""
    if sigma <= 0:
        return images
    h, w = images.shape[-2:]
    my = blur_matrix(h, sigma, images.dtype, images.device)
    mx = my if w == h else blur_matrix(w, sigma, images.dtype, images.device)
    return my @ images @ mx.T


def lowpass(images: Tensor, sigma: float) -> Tensor:
    """The low-pass image the tone loss compares: a Gaussian blur of ``sigma`` pixels,
    computed at a reduced resolution when ``sigma`` is large (area-downsampled by
    ``f = floor(sigma / 3)``, then blurred with ``sigma / f``; the pooling is a box of
    width f < sigma / 3, negligible next to the Gaussian). [B, C, H, W] ->
    [B, C, H // f, W // f]; differentiable. This keeps the paper's sigma of 30 px at a
    600 px render cheap (a 60 x 60 blur instead of 600 x 600)."""
    f = max(1, int(sigma // 3))
    h, w = images.shape[-2:]
    if f > 1 and h // f >= 4 and w // f >= 4:
        images = F.interpolate(images, size=(h // f, w // f), mode="area")
        sigma = sigma / f
    return gaussian_blur(images, sigma)


def tone_weight(progress: float, weight: float, peak: float, width: float) -> float:
    """The paper's schedule: ``weight * exp(-((progress - peak) / width)^2 / 5)``; a
    ``width`` <= 0 means a constant ``weight``."""
    if width <= 0:
        return float(weight)
    return float(weight) * math.exp(-0.2 * ((progress - peak) / width) ** 2)


class ToneLoss:
    """Low-pass tone preservation. ``reference``: [B, 3, H, W] the original letters'
    render (detached); ``sigma``: blur in pixels; schedule as in :func:`tone_weight`.

    ``loss(images, progress)`` -> scheduled weight x mean squared difference of the
    low-passed images (:func:`lowpass`; a scalar)."""

    def __init__(self, reference: Tensor, sigma: float, weight: float = 100.0, peak: float = 0.6,
                 width: float = 0.04) -> None:
        self.sigma = float(sigma)
        self.weight, self.peak, self.width = float(weight), float(peak), float(width)
        with torch.no_grad():
            self.reference = lowpass(reference.detach(), self.sigma)

    def weight_at(self, progress: float) -> float:
        return tone_weight(progress, self.weight, self.peak, self.width)

    def __call__(self, images: Tensor, progress: float) -> Tensor:
        w = self.weight_at(progress)
        if w == 0.0:
            return images.sum() * 0.0
        blurred = lowpass(images, self.sigma)
        return w * ((blurred - self.reference.to(blurred.dtype)) ** 2).mean()
