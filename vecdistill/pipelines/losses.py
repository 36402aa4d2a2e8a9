"""Auxiliary geometric losses of the SVG pipelines.

:func:`xing_loss` is LIVE's self-intersection ("Xing") loss: for a cubic Bezier with control
points p0..p3, let ``a = p1 - p0``, ``b = p2 - p1``, ``c = p3 - p2``. When the curve turns
left at its first handle (``a x b > 0``) the last handle should turn the same way, i.e. the
sine of the angle between ``a`` and ``c`` should be positive; a negative sine signals a loop.
The loss is ``relu(-sin(a, c))`` for left-turning curves and ``relu(sin(a, c))`` for the
others, averaged over all cubic segments.
"""

from __future__ import annotations

import torch

from ..svg.scene import Path, Scene

Tensor = torch.Tensor


def cubic_indices(path: Path) -> Tensor:
    """Indices into ``path.points`` of each cubic segment's (p0, p1, p2, p3): [N, 4] int64.

    Cached on the path (keyed by its ``segments`` tensor and subpath layout)."""
    cached = getattr(path, "_cubic_index", None)
    if cached is not None and cached[0] is path.segments and cached[1] == path.subpaths:
        return cached[2]
    out = []
    counts = path.segments.tolist()
    for segs, pts, _closed in path.subpath_ranges():
        start = pts.start
        n = pts.stop - pts.start
        i = 0
        for k in counts[segs]:
            if k == 2:
                out.append([start + i, start + (i + 1) % n, start + (i + 2) % n, start + (i + 3) % n])
            i += k + 1
    index = torch.tensor(out, dtype=torch.long).view(-1, 4)
    path._cubic_index = (path.segments, list(path.subpaths), index)
    return index


def _cross(u: Tensor, v: Tensor) -> Tensor:
    return u[..., 0] * v[..., 1] - u[..., 1] * v[..., 0]


def xing_loss_points(quads: Tensor, eps: float = 1e-8) -> Tensor:
    """Xing loss of cubic segments ``quads`` [N, 4, 2] (mean over N; 0 for N = 0)."""
    if quads.shape[0] == 0:
        return quads.sum() * 0
    a = quads[:, 1] - quads[:, 0]
    b = quads[:, 2] - quads[:, 1]
    c = quads[:, 3] - quads[:, 2]
    left = (_cross(a, b) > 0).to(quads.dtype)
    sin = _cross(a, c) / (a.norm(dim=-1) * c.norm(dim=-1) + eps)
    return (left * torch.relu(-sin) + (1 - left) * torch.relu(sin)).mean()


_GATHER: list = [None, None]  # the last (key, index) of _cubic_gather (the key pins its tensors)


def _cubic_gather(paths: list[Path], device) -> Tensor:
    """Indices [N * 4] into the concatenated points of ``paths`` of every cubic's (p0, p1,
    p2, p3), kept while the paths' layouts and point counts are unchanged (one gather per
    call instead of one indexing per path: its backward is then one scatter, not one
    accumulating index_put per path)."""
    local = [cubic_indices(p) for p in paths]  # (kept per path while its layout is unchanged)
    counts = [p.points.shape[0] for p in paths]
    key = (str(device), counts, local)
    cached_key, cached = _GATHER
    if cached_key is not None and cached_key[:2] == key[:2] and all(a is b for a, b in zip(cached_key[2], local)):
        return cached
    offsets = [0]
    for n in counts[:-1]:
        offsets.append(offsets[-1] + n)
    index = torch.cat([t + off for t, off in zip(local, offsets)]).reshape(-1).to(device)
    _GATHER[:] = [key, index]
    return index


def xing_loss(scene: Scene, paths: list[Path] | None = None) -> Tensor:
    """The Xing loss over the cubic segments of ``paths`` (default: every path of the scene);
    a differentiable scalar in [0, 1]."""
    paths = scene.paths() if paths is None else paths
    paths = [p for p in paths if p.points.shape[0] >= 4]
    if not paths:
        return torch.zeros((), device=scene.device)
    points = torch.cat([p.points for p in paths]) if len(paths) > 1 else paths[0].points
    return xing_loss_points(points.index_select(0, _cubic_gather(paths, points.device)).view(-1, 4, 2))


class FitImage:
    """An objective that pulls x0 toward a fixed target (mean squared error), with the
    objective calling convention: ``fit(x0, progress, generator, reference=None)``.

    ``target``: [1 or B, ...] in x0's space. Used to fit an initial scene to a user's image
    before distillation, and in tests of the loop."""

    def __init__(self, target: Tensor) -> None:
        self.target = target.detach()

    def __call__(self, x0: Tensor, progress: float, generator: torch.Generator, reference: Tensor | None = None):
        from ..distill.base import DistillResult

        diff = x0 - self.target.to(x0.dtype)
        loss = (diff**2).mean()
        grad = (2 * diff / diff.numel()).detach()
        return DistillResult(loss=loss, grad=grad, t=torch.zeros(x0.shape[0], dtype=torch.long), prior_calls=0)
