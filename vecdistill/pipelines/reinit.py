"""Re-initialisation of paths that faded out or collapsed (VectorFusion / SVGDreamer).

Every ``every`` steps until ``until`` of training, a path whose effective opacity (paint
alpha x fill/stroke opacity x path opacity) is below ``min_opacity``, or whose area (of its
control polygon, in canvas pixels squared) is below ``min_area``, gets fresh random geometry
and colour *in place* (same tensors, same point count), and the optimiser forgets its
moments. Only paths made by the pipeline are candidates (never a user's SVG).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from ..svg.scene import Path, Solid, value_of
from .loop import LoopState

Tensor = torch.Tensor


def effective_opacity(path: Path) -> float:
    """The largest alpha the path paints with (fill or stroke), in [0, 1]."""
    best = 0.0
    for paint, op in ((path.fill, path.fill_opacity), (path.stroke, path.stroke_opacity)):
        if isinstance(paint, Solid):
            best = max(best, value_of(paint.color[3]) * value_of(op))
        elif paint is not None:
            best = max(best, value_of(op))
    return best * value_of(path.opacity)


def polygon_area(points: Tensor) -> float:
    """Absolute shoelace area of the control polygon ``points`` [P, 2] (units squared)."""
    if points.shape[0] < 3:
        return 0.0
    p = points.detach().double()
    q = torch.roll(p, -1, 0)
    return float(0.5 * (p[:, 0] * q[:, 1] - p[:, 1] * q[:, 0]).sum().abs())


class Reinitializer:
    """A loop hook. ``paths``: the candidates (a list, or a callable returning the current
    list, e.g. ``scene.paths`` when paths are added during the run); ``factory()``: a fresh random path of the
    same layout (its points, colours and width are copied into the old tensors).
    ``use_area``: False for open strokes (their polygon area means nothing)."""

    def __init__(
        self,
        paths: Sequence[Path] | Callable[[], Sequence[Path]],
        factory: Callable[[], Path],
        every: int,
        until: float,
        min_opacity: float,
        min_area: float,
        use_area: bool = True,
    ) -> None:
        self.paths = paths if callable(paths) else list(paths)
        self.factory = factory
        self.every, self.until = every, until
        self.min_opacity, self.min_area, self.use_area = min_opacity, min_area, use_area
        self.count = 0

    def weak(self, path: Path) -> bool:
        if effective_opacity(path) < self.min_opacity:
            return True
        return self.use_area and polygon_area(path.points) < self.min_area

    def __call__(self, state: LoopState) -> None:
        if self.every <= 0 or state.step == 0 or state.step % self.every or state.progress > self.until:
            return
        for path in list(self.paths() if callable(self.paths) else self.paths):
            if not self.weak(path):
                continue
            fresh = self.factory()
            if fresh.points.shape != path.points.shape:
                continue
            touched = [path.points]
            with torch.no_grad():
                path.points.copy_(fresh.points)
                for old, new in ((path.fill, fresh.fill), (path.stroke, fresh.stroke)):
                    if isinstance(old, Solid) and isinstance(new, Solid):
                        old.color.copy_(new.color)
                        touched.append(old.color)
                path.stroke_width.copy_(fresh.stroke_width)
                touched.append(path.stroke_width)
                for name in ("fill_opacity", "stroke_opacity", "opacity"):
                    getattr(path, name).fill_(1.0)
                    touched.append(getattr(path, name))
            state.reset_params(touched)
            self.count += 1
