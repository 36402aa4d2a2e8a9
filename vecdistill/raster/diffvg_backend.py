"""Optional adapter to pydiffvg (https://github.com/BachiLi/diffvg), for side-by-side
benchmarks. pydiffvg is not a dependency: it is imported only here, when asked for, and a
clear :class:`InputError` says so when it is missing.

Mapping: every path becomes a ``pydiffvg.Path`` (points in canvas pixels, diffvg's
half-width strokes) in a ``ShapeGroup`` with its fill/stroke colour times its opacities;
solid colours and linear/radial gradients are supported (gradients in user space, without
focal points or spread modes). Clip paths and group opacity are not supported by diffvg's
scene model and are ignored.
"""

from __future__ import annotations

import torch

from ..errors import InputError
from ..svg.scene import LinearGradient, RadialGradient, Scene, Solid


def _import_pydiffvg():
    try:
        import pydiffvg  # noqa: F401
    except ImportError:
        raise InputError(
            "pydiffvg is not installed: the 'diffvg' backend needs diffvg built from "
            "https://github.com/BachiLi/diffvg; use --backend ours (the default) or cairosvg"
        ) from None
    return pydiffvg


def _color(pydiffvg, paint, opacity: torch.Tensor, bbox_pts: torch.Tensor):
    if paint is None:
        return None
    if isinstance(paint, Solid):
        c = paint.color.clone()
        return torch.cat([c[:3], c[3:] * opacity])
    cols = paint.colors.clone()
    cols = torch.cat([cols[:, :3], cols[:, 3:] * opacity], 1)
    if isinstance(paint, LinearGradient):
        return pydiffvg.LinearGradient(paint.start, paint.end, paint.offsets, cols)
    if isinstance(paint, RadialGradient):
        r = paint.radius.reshape(1).expand(2)
        return pydiffvg.RadialGradient(paint.center, r, paint.offsets, cols)
    raise InputError(f"the diffvg backend cannot render {type(paint).__name__}")


def render_diffvg(scene: Scene, width: int, height: int, background=(1.0, 1.0, 1.0), samples: int = 2) -> torch.Tensor:
    """Render with pydiffvg -> [3, H, W] over ``background``. Raises :class:`InputError`
    when pydiffvg is not installed."""
    pydiffvg = _import_pydiffvg()
    canvas = scene.canvas_transform(width, height)
    shapes, groups = [], []
    for item in scene.walk():
        path = item.path
        t = canvas @ item.transform
        pts = t.apply(path.points)
        opacity = path.opacity
        for g in item.groups:
            opacity = opacity * g.opacity
        for _seg, ptslice, closed in path.subpath_ranges():
            seg = path.segments[_seg]
            shapes.append(
                pydiffvg.Path(
                    num_control_points=seg.to(torch.int32),
                    points=pts[ptslice].contiguous(),
                    is_closed=closed,
                    stroke_width=path.stroke_width * 0.5 * t.scale_factor(),
                )
            )
        ids = torch.arange(len(shapes) - len(path.subpaths), len(shapes), dtype=torch.int32)
        groups.append(
            pydiffvg.ShapeGroup(
                shape_ids=ids,
                fill_color=_color(pydiffvg, path.fill, path.fill_opacity * opacity, pts),
                stroke_color=_color(pydiffvg, path.stroke, path.stroke_opacity * opacity, pts),
                use_even_odd_rule=path.fill_rule == "evenodd",
            )
        )
    args = pydiffvg.RenderFunction.serialize_scene(width, height, shapes, groups)
    img = pydiffvg.RenderFunction.apply(width, height, samples, samples, 0, None, *args)  # [H, W, 4]
    bg = torch.as_tensor(background, dtype=img.dtype, device=img.device)
    bg = bg.view(1, 1, 3) if bg.dim() == 1 else bg.permute(1, 2, 0)
    out = img[..., :3] * img[..., 3:4] + bg * (1 - img[..., 3:4])
    return out.permute(2, 0, 1).clamp(0, 1)
