"""Synthetic scenes: the standard benchmark / initialisation of VectorFusion and diffvg.

``circles_scene`` places N closed paths of 4 cubic segments, each a circle of radius
``radius`` (fraction of the width) whose control points are jittered, at random centres,
with random RGBA fills. Randomness comes only from the given ``torch.Generator``.

``tangled_scene``, ``STROKES``, ``DOUBLED`` and ``star_svg`` are SVGs whose pixels give the
exact pass of crossed pixels real work (the compiled passes are tested on them).
"""

from __future__ import annotations

import math

import torch

from ..svg.scene import Group, Path, Scene, Solid


def circle_points(center: torch.Tensor, radius: float, segments: int = 4) -> torch.Tensor:
    """Control points [3 * segments, 2] of a closed cubic circle (diffvg layout)."""
    k = 4.0 / 3.0 * math.tan(math.pi / (2 * segments))
    a = torch.arange(segments, dtype=torch.float64) * (2 * math.pi / segments)
    a1 = a + 2 * math.pi / segments
    p0 = torch.stack([torch.cos(a), torch.sin(a)], -1)
    c0 = p0 + k * torch.stack([-torch.sin(a), torch.cos(a)], -1)
    p1 = torch.stack([torch.cos(a1), torch.sin(a1)], -1)
    c1 = p1 + k * torch.stack([torch.sin(a1), -torch.cos(a1)], -1)
    pts = torch.stack([p0, c0, c1], 1).reshape(-1, 2)
    return center.to(torch.float64) + radius * pts


def circles_scene(
    n: int,
    width: int = 256,
    height: int | None = None,
    *,
    radius: float = 0.05,
    jitter: float = 0.1,
    segments: int = 4,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
    stroke_width: float = 0.0,
    min_alpha: float = 0.2,
) -> Scene:
    """N jittered circles (radius ``radius * width``, control points moved by up to
    ``jitter * radius``) at uniform random centres with random RGBA fills in
    [0, 1]^3 x [min_alpha, 1]. ``stroke_width`` > 0 adds random solid strokes."""
    height = width if height is None else height
    g = generator if generator is not None else torch.Generator().manual_seed(0)
    r = radius * width
    paths = []
    for _ in range(n):
        c = torch.rand(2, generator=g, dtype=torch.float64) * torch.tensor([width, height], dtype=torch.float64)
        pts = circle_points(c, r, segments)
        pts = pts + (torch.rand(pts.shape, generator=g, dtype=torch.float64) * 2 - 1) * jitter * r
        rgba = torch.rand(4, generator=g, dtype=torch.float64)
        rgba[3] = min_alpha + (1 - min_alpha) * rgba[3]
        kw = {}
        if stroke_width > 0:
            srgba = torch.rand(4, generator=g, dtype=torch.float64)
            kw = {"stroke": Solid(srgba.to(dtype)), "stroke_width": torch.tensor(stroke_width, dtype=dtype)}
        paths.append(
            Path(
                pts.to(dtype),
                torch.full((segments,), 2, dtype=torch.long),
                [(segments, True)],
                fill=Solid(rgba.to(dtype)),
                **kw,
            )
        )
    return Scene(Group(paths), float(width), float(height))


def lattice_polygon(seed: int, step: float = 0.5, size: int = 6, fill_rule: str = "nonzero") -> str:
    """An SVG ``<path>`` element: a random closed polygon of 6 to 14 vertices (from
    ``seed``) at multiples of ``step`` pixels strictly inside a ``size``^2 canvas, filled
    black with ``fill_rule``. On a half-pixel lattice every degenerate position occurs (edges
    along pixel sides, vertices on grid corners, collinear overlapping edges) but no loop
    can close inside one pixel (that needs three vertices strictly inside it)."""
    g = torch.Generator().manual_seed(seed)
    n = 6 + seed % 9
    cells = int(round(size / step))
    v = (torch.randint(1, cells, (n, 2), generator=g) * step).tolist()
    d = "M" + " L".join(f"{x:g} {y:g}" for x, y in v) + " Z"
    return f'<path d="{d}" fill="#000" fill-rule="{fill_rule}"/>'


def supersampled_error(path: str, size: int = 16, factor: int = 8, exact: str = "auto") -> float:
    """The largest difference between an SVG ``path`` element rendered at ``size``^2 with
    ``exact`` and at ``factor`` times that with ``exact="all"``, box-downsampled: with exact
    coverage at both sizes the two agree (areas add up), up to flattening."""
    from ..svg.parse import load_svg
    from .render import rasterize

    svg = f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}" viewBox="0 0 {size} {size}">{path}</svg>'
    scene = load_svg(svg)
    coarse = rasterize(scene, size, size, exact=exact)
    fine = rasterize(scene, size * factor, size * factor, exact="all").view(3, size, factor, size, factor).mean((2, 4))
    return float((coarse - fine).abs().max())


# SVGs whose pixels hand the exact pass real work (tests of the compiled passes)


def tangled_scene(seed: int, n: int = 40, size: int = 24, evenodd: bool = False) -> str:
    """``n`` random polygons of 9 vertices each over a ``size`` px canvas: most cross
    themselves, some several times in one pixel."""
    import numpy as np

    g = np.random.default_rng(seed)
    rule = ' fill-rule="evenodd"' if evenodd else ""
    paths = []
    for _ in range(n):
        c = g.uniform(2, size - 2, 2)
        pts = c + g.normal(0, 2.5, (9, 2))
        paths.append('<path d="M' + " L".join(f"{x:.4f} {y:.4f}" for x, y in pts) + f' Z" fill="#102030" fill-opacity="0.5"{rule}/>')
    return f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {size} {size}">' + "".join(paths) + "</svg>"


STROKES = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16">'
    '<path d="M2.5 2.5 L13.5 13.5 L13.5 2.5 L2.5 13.5 Z" fill="none" stroke="#000" stroke-width="2.2"/>'
    '<path d="M2.1 13.2 C 17 -1, 17 17, 1.7 3.4" fill="none" stroke="#000" stroke-width="0.9"/>'
    '<path d="M5.15 5.2 L5.85 5.3 L5.2 5.5 L5.85 5.7 L5.15 5.85" fill="none" stroke="#000" stroke-width="0.5" stroke-linejoin="round" stroke-linecap="round"/>'
    '<path d="M1 4 H 15 V 6 H 1 Z M1 5 H 15" fill="none" stroke="#000" stroke-width="1"/></svg>'
)


def star_svg(n: int = 71, k: int = 35, r: float = 3.0, c: float = 8.5) -> str:
    """The star polygon {n/k} about (c, c), filled even-odd: every edge passes near the
    centre, whose pixel holds all n edges and their crossings (201 pieces)."""
    import math

    pts = [(c + r * math.cos(2 * math.pi * k * i / n), c + r * math.sin(2 * math.pi * k * i / n)) for i in range(n)]
    return ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><path d="M' + " L".join(f"{x:.6f} {y:.6f}" for x, y in pts)
            + ' Z" fill="#000" fill-rule="evenodd"/></svg>')


# a triangle drawn twice over itself: every boundary pixel holds coincident pieces (ties of
# the sweep's sort: the first in piece order takes the winding step's gradient, in both)
DOUBLED = ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16">'
           '<path d="M2.3 2.2 L13.6 4.1 L5.2 13.7 Z M2.3 2.2 L13.6 4.1 L5.2 13.7 Z" fill="#000"/></svg>')
