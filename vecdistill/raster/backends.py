"""Render a scene with a named backend: ``"ours"`` (this package's differentiable
rasterizer), ``"cairosvg"`` (reference, not differentiable) or ``"diffvg"`` (pydiffvg when
it is installed; never vendored or built by us)."""

from __future__ import annotations

import torch

from ..errors import InputError
from ..svg.scene import Scene

BACKENDS = ("ours", "cairosvg", "diffvg")


def render_with(backend: str, scene: Scene, width: int, height: int, background=(1.0, 1.0, 1.0)) -> torch.Tensor:
    """Render ``scene`` -> [3, H, W] in [0, 1] with ``backend`` (one of :data:`BACKENDS`).

    Raises :class:`InputError` for an unknown backend or one that is not installed.
    """
    if backend == "ours":
        from .render import rasterize

        return rasterize(scene, width, height, background)
    if backend == "cairosvg":
        from ..svg.export import cairo_render

        bg = background.detach().cpu() if isinstance(background, torch.Tensor) else background
        return cairo_render(scene, width, height, bg)
    if backend == "diffvg":
        from .diffvg_backend import render_diffvg

        return render_diffvg(scene, width, height, background)
    raise InputError(f"unknown render backend {backend!r}; choose one of {', '.join(BACKENDS)}")
