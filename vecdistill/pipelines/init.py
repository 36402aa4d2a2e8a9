"""Initial scenes for ``make``: random circles, a pixel-art grid, random strokes, LIVE-style
progressive path addition, or the user's own SVG or image.

Scenes made here live on a square canvas of ``size`` pixels (viewBox ``0 0 size size``), so
point coordinates and learning rates are in canvas pixels. All randomness comes from the
given generator (drawn on its device, then moved to ``device``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path as FilePath

import numpy as np
import torch

from ..errors import InputError
from ..svg.scene import Group, Path, Scene, Solid
from .loop import LoopState

Tensor = torch.Tensor

STYLES = ("iconography", "pixelart", "sketch")


def _rand(generator: torch.Generator, *shape: int) -> Tensor:
    return torch.rand(*shape, generator=generator, device=generator.device).cpu()


def random_circle(size: int, segments: int, radius: float, generator: torch.Generator, device="cpu") -> Path:
    """A closed filled path of ``segments`` cubics approximating a circle of ``radius`` px at
    a random centre, with a random opaque RGB fill."""
    u = _rand(generator, 5)
    path = Path.circle((float(u[0]) * size, float(u[1]) * size), radius, segments=segments)
    path.points = path.points.to(device)
    path.fill = Solid(torch.cat([u[2:5], torch.ones(1)]).to(device))
    path.stroke = None
    path.stroke_width = torch.tensor(0.0, device=device)
    for name in ("fill_opacity", "stroke_opacity", "opacity"):
        setattr(path, name, torch.tensor(1.0, device=device))
    return path


def random_stroke(size: int, segments: int, width: float, generator: torch.Generator, device="cpu") -> Path:
    """An open black stroke of ``segments`` cubics: a short random walk from a random start
    (steps of about 5 % of the canvas), width ``width`` px, round caps and joins."""
    start = _rand(generator, 2) * size
    steps = (_rand(generator, 3 * segments, 2) - 0.5) * (0.1 * size)
    pts = torch.cat([start[None], start[None] + steps.cumsum(0)], 0)
    return Path(
        pts.to(device),
        torch.full((segments,), 2, dtype=torch.long, device=device),
        [(segments, False)],
        fill=None,
        stroke=Solid(torch.tensor([0.0, 0.0, 0.0, 1.0], device=device)),
        stroke_width=torch.tensor(float(width), device=device),
        linecap="round",
        linejoin="round",
    )


def pixel_grid(size: int, cells: int, generator: torch.Generator, device="cpu") -> list[Path]:
    """``cells`` x ``cells`` adjacent squares covering the canvas, random opaque colours."""
    step = size / cells
    colours = _rand(generator, cells * cells, 3)
    out = []
    for i in range(cells):
        for j in range(cells):
            x0, y0 = j * step, i * step
            sq = torch.tensor([[x0, y0], [x0 + step, y0], [x0 + step, y0 + step], [x0, y0 + step]], device=device)
            col = torch.cat([colours[i * cells + j], torch.ones(1)]).to(device)
            out.append(Path.polygon(sq, closed=True, fill=Solid(col), stroke=None))
    return out


def new_path(style: str, size: int, segments: int, generator: torch.Generator, *, radius: float, width: float, device="cpu") -> Path:
    """One fresh random path of ``style`` (iconography: circle; sketch: stroke)."""
    if style == "sketch":
        return random_stroke(size, segments, width, generator, device)
    return random_circle(size, segments, radius, generator, device)


def random_scene(style: str, size: int, paths: int, segments: int, generator: torch.Generator, *, radius: float, width: float, device="cpu") -> Scene:
    """The standard initial scene of ``style`` with ``paths`` paths (pixelart: the nearest
    square grid, ``round(sqrt(paths))`` cells a side)."""
    if style not in STYLES:
        raise InputError(f"style must be one of {', '.join(STYLES)}; got {style!r}")
    if paths < 1:
        raise InputError(f"paths must be >= 1, got {paths}")
    if style == "pixelart":
        children = pixel_grid(size, max(1, round(math.sqrt(paths))), generator, device)
    else:
        children = [new_path(style, size, segments, generator, radius=radius, width=width, device=device) for _ in range(paths)]
    return Scene(Group(children), size, size)


def live_schedule(total: int, first: int, per_stage: int, steps: int, until: float = 0.5) -> list[tuple[int, int]]:
    """LIVE-style progressive addition: ``(step, paths to add)`` pairs that grow the scene
    from ``first`` paths to ``total``, ``per_stage`` at a time, evenly over the first
    ``until`` of the ``steps``."""
    remaining = max(total - first, 0)
    stages = math.ceil(remaining / per_stage) if per_stage > 0 else 0
    if stages == 0:
        return []
    gap = max(int(steps * until) // stages, 1)
    out = []
    for k in range(stages):
        out.append(((k + 1) * gap, min(per_stage, remaining - k * per_stage)))
    return out


class ProgressiveAdd:
    """A loop hook that adds fresh paths on a :func:`live_schedule` (``(step, n)`` pairs),
    on top of the current drawing, and hands their tensors to the optimiser."""

    def __init__(self, schedule: list[tuple[int, int]], factory: Callable[[], Path]) -> None:
        self.schedule = dict(schedule)
        self.factory = factory
        self.added = 0

    def __call__(self, state: LoopState) -> None:
        n = self.schedule.get(state.step, 0)
        if n <= 0:
            return
        new = [self.factory() for _ in range(n)]
        state.scene.root.children.extend(new)
        kinds = set(state.groups)
        if "points" in kinds:
            state.add_params("points", [p.points for p in new])
        if "colors" in kinds:
            state.add_params("colors", [paint.color for p in new for paint in (p.fill, p.stroke) if isinstance(paint, Solid)])
        if "widths" in kinds:
            state.add_params("widths", [p.stroke_width for p in new])
        self.added += n


def scene_from_svg(path: str, size: int, device="cpu") -> Scene:
    """The user's SVG as the initial scene, unchanged except for its canvas: it is placed
    (preserveAspectRatio honoured) on a ``size`` x ``size`` canvas so that learning rates
    are in canvas pixels."""
    from ..svg.parse import load_svg

    scene = load_svg(path)
    fit = scene.canvas_transform(size, size)
    root = Group([scene.root], transform=fit)
    out = Scene(root, size, size, dropped=list(scene.dropped))
    return out.to(device=device)


def load_image(path: str, size: int, device="cpu") -> Tensor:
    """A raster image as [1, 3, size, size] in [0, 1] (resized, alpha over white)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im = im.convert("RGBA").resize((size, size), Image.Resampling.LANCZOS)
            rgba = torch.from_numpy(np.asarray(im, dtype=np.float32).copy()) / 255.0
    except (OSError, UnidentifiedImageError) as exc:
        raise InputError(f"cannot read image {path}: {exc}; give a PNG or JPEG file") from None
    rgb = rgba[..., :3] * rgba[..., 3:] + (1 - rgba[..., 3:])
    return rgb.permute(2, 0, 1)[None].to(device)


def init_kind(init: str) -> str:
    """``circles`` | ``live`` | ``svg`` | ``image`` for an ``--init`` value; raises
    InputError for a missing file or an unknown kind."""
    if init in ("circles", "live"):
        return init
    p = FilePath(init)
    if p.suffix.lower() in (".svg", ".png", ".jpg", ".jpeg", ".webp", ".bmp"):
        if not p.is_file():
            raise InputError(f"--init file {init} does not exist")
        return "svg" if p.suffix.lower() == ".svg" else "image"
    raise InputError(f"--init must be circles, live, or a .svg/.png/.jpg file; got {init!r}")
