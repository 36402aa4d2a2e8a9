"""Reference rendering with cairosvg: a scene or SVG text to an image tensor.

Used by ``vecdistill render --backend cairosvg``, by the round-trip tests and as the
reference the rasterizer is measured against. cairosvg runs in its safe mode: no XML
entities and no external files or URLs.
"""

from __future__ import annotations

import io

import numpy as np
import torch

from ..errors import SVGError
from .scene import Scene


def _svg_text(scene_or_svg: Scene | str | bytes) -> bytes:
    if isinstance(scene_or_svg, Scene):
        from .write import to_svg_string

        return to_svg_string(scene_or_svg, precision=4).encode("utf-8")
    if isinstance(scene_or_svg, str):
        return scene_or_svg.encode("utf-8")
    if isinstance(scene_or_svg, bytes):
        return scene_or_svg
    raise TypeError(f"expected a Scene or SVG text, got {type(scene_or_svg).__name__}")


def cairo_render_rgba(scene_or_svg: Scene | str | bytes, width: int, height: int) -> torch.Tensor:
    """Render with cairosvg to straight (not premultiplied) RGBA.

    ``width``/``height``: output size in pixels; the viewBox is fitted with the file's
    preserveAspectRatio (default: centred, letterboxed). Returns float32 ``[4, H, W]`` in
    [0, 1] on the CPU. Raises :class:`SVGError` if cairosvg cannot read the SVG.
    """
    import cairosvg
    from PIL import Image

    if width < 1 or height < 1:
        raise ValueError(f"render size must be positive, got {width}x{height}")
    data = _svg_text(scene_or_svg)
    try:
        png = cairosvg.svg2png(
            bytestring=data,
            output_width=int(width),
            output_height=int(height),
            unsafe=False,  # cairosvg's safe mode: no entities, no external files
        )
    except Exception as exc:  # cairosvg raises many kinds; report one line
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SVGError(f"cairosvg cannot render this SVG: {msg}") from None
    with Image.open(io.BytesIO(png)) as im:
        rgba = np.asarray(im.convert("RGBA"), dtype=np.float32) / 255.0
    if rgba.shape[:2] != (height, width):  # cairosvg rounds sizes; pad/crop to the request
        out = np.zeros((height, width, 4), np.float32)
        h, w = min(height, rgba.shape[0]), min(width, rgba.shape[1])
        out[:h, :w] = rgba[:h, :w]
        rgba = out
    return torch.from_numpy(np.ascontiguousarray(rgba.transpose(2, 0, 1)))


def composite(rgba: torch.Tensor, background=(1.0, 1.0, 1.0)) -> torch.Tensor:
    """Composite straight RGBA ``[4, H, W]`` over ``background`` (a [3] colour or a
    [3, H, W] image) -> ``[3, H, W]``."""
    rgb, alpha = rgba[:3], rgba[3:4]
    bg = torch.as_tensor(background, dtype=rgba.dtype, device=rgba.device)
    if bg.dim() == 1:
        bg = bg.view(3, 1, 1)
    return rgb * alpha + bg * (1 - alpha)


def cairo_render(
    scene_or_svg: Scene | str | bytes, width: int, height: int, background=(1.0, 1.0, 1.0), supersample: int = 1
) -> torch.Tensor:
    """Render with cairosvg and composite over ``background`` (RGB in [0, 1], or a
    [3, H, W] image). Returns float32 ``[3, H, W]`` in [0, 1] on the CPU.

    ``supersample``: render at that many times the size and average each block of
    ``supersample``^2 pixels (after compositing, so a box filter of the final image): the
    pixels' exact area coverage to within cairo's own 0.1-pixel flattening tolerance at the
    fine scale and the 8-bit rounding of the samples, which the mean shrinks; a reference
    for coverage accuracy (``benchmarks/raster_bench.py`` compares ours and cairosvg's 1x
    render with it). Where two shapes share an edge inside a pixel it sees the area they
    cover together, which no coverage-as-alpha renderer (ours, cairosvg at 1x) does."""
    n = int(supersample)
    if n < 1:
        raise ValueError(f"supersample must be a positive integer, got {supersample}")
    if n == 1:
        return composite(cairo_render_rgba(scene_or_svg, width, height), background)
    bg = torch.as_tensor(background, dtype=torch.float32)
    if bg.dim() == 3:  # an image: each pixel's colour under its n x n samples
        bg = bg.repeat_interleave(n, 1).repeat_interleave(n, 2)
    fine = composite(cairo_render_rgba(scene_or_svg, width * n, height * n), bg)
    return torch.nn.functional.avg_pool2d(fine.unsqueeze(0), n).squeeze(0)
