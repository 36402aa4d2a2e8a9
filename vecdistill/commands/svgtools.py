"""``vecdistill render`` (SVG -> PNG) and ``vecdistill info`` (what is in an SVG)."""

from __future__ import annotations

import json
import warnings

import click

from ..errors import InputError

BACKENDS = ("ours", "cairosvg", "diffvg")
MAX_SIDE = 16384


def load_with_warnings(path: str, strict: bool):
    """load_svg, with its dropped-features warning printed as one ``warning:`` line."""
    from ..svg.parse import SVGFeatureWarning, load_svg

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SVGFeatureWarning)
        scene = load_svg(path, strict=strict)
    for w in caught:
        if issubclass(w.category, SVGFeatureWarning):
            click.echo(f"warning: {w.message}", err=True)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return scene


def parse_background(text: str):
    """``white`` / ``black`` / ``none`` / ``#hex`` / a CSS colour name -> RGB tuple or None."""
    from ..svg.color import parse_color

    if text.strip().lower() in ("none", "transparent"):
        return None
    rgba = parse_color(text)
    if rgba is None:
        raise InputError(f"--background {text!r} is not a colour; use white, none or #rrggbb")
    return rgba[:3]


def output_size(scene, size: int | None, width: int | None, height: int | None) -> tuple[int, int]:
    """Pixels: --width/--height win; --size is the longer side; else the SVG's own size.
    A missing side follows the SVG's aspect ratio."""
    aspect = scene.width / scene.height
    if width is None and height is None:
        if size is None:
            width, height = round(scene.width), round(scene.height)
        elif aspect >= 1:
            width, height = size, round(size / aspect)
        else:
            width, height = round(size * aspect), size
    elif width is None:
        width = round(height * aspect)
    elif height is None:
        height = round(width / aspect)
    width, height = max(1, int(width)), max(1, int(height))
    if width > MAX_SIDE or height > MAX_SIDE:
        raise InputError(f"output size {width}x{height} is over {MAX_SIDE} px a side; choose a smaller --size")
    return width, height


def _rgba_from_two(render, scene, width: int, height: int):
    """Straight RGBA [4, H, W] from a renderer that composites over a background: render
    over black and over white; alpha = 1 - (white - black), colour = black / alpha."""
    import torch

    over_black = render(scene, width, height, (0.0, 0.0, 0.0))
    over_white = render(scene, width, height, (1.0, 1.0, 1.0))
    alpha = (1.0 - (over_white - over_black).mean(0, keepdim=True)).clamp(0, 1)
    rgb = torch.where(alpha > 1e-6, over_black / alpha.clamp_min(1e-6), torch.zeros_like(over_black))
    return torch.cat([rgb.clamp(0, 1), alpha], 0)


def _renderer(backend: str):
    """A function (scene, width, height, background) -> [3, H, W] for ``backend``."""
    if backend == "ours":
        try:
            from ..raster import rasterize
        except ImportError as exc:  # the rasterizer is not installed in this checkout
            raise InputError(f"the 'ours' backend is not available ({exc}); use --backend cairosvg") from None
        # a one-shot render: exact coverage wherever contours overlap, thin strokes included
        return lambda scene, w, h, bg: rasterize(scene, w, h, bg, exact="all")
    try:
        from ..raster.backends import render_with
    except ImportError:
        raise InputError(f"the {backend!r} backend is not available in this installation; use --backend cairosvg") from None
    return lambda scene, w, h, bg: render_with(backend, scene, w, h, bg)


def render_image(path: str, scene, backend: str, width: int, height: int, background):
    """[3, H, W] (``background`` RGB) or [4, H, W] straight RGBA (``background`` None)."""
    import torch

    from ..svg.export import cairo_render_rgba, composite

    if backend == "cairosvg":
        with open(path, "rb") as handle:  # the file itself: cairosvg renders what it can
            rgba = cairo_render_rgba(handle.read(), width, height)
        return rgba if background is None else composite(rgba, background)
    render = _renderer(backend)
    with torch.no_grad():
        if background is None:
            return _rgba_from_two(render, scene, width, height)
        return render(scene, width, height, tuple(background))


def encode_png(image) -> bytes:
    """PNG bytes of a [3|4, H, W] float image in [0, 1]."""
    import io

    import numpy as np
    from PIL import Image

    arr = (image.detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255.0 + 0.5).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr, "RGBA" if arr.shape[2] == 4 else "RGB").save(buf, format="PNG")
    return buf.getvalue()


@click.command("render")
@click.argument("svg", type=click.Path(dir_okay=False))
@click.argument("out", type=click.Path(dir_okay=False))
@click.option("--size", type=click.IntRange(1, MAX_SIDE), help="Longer side in pixels (aspect kept). Default: the SVG's own size.")
@click.option("--width", type=click.IntRange(1, MAX_SIDE), help="Width in pixels (overrides --size).")
@click.option("--height", type=click.IntRange(1, MAX_SIDE), help="Height in pixels (overrides --size).")
@click.option("--background", default="white", show_default=True, help="white, none (transparent PNG), #rrggbb or a colour name.")
@click.option("--backend", type=click.Choice(BACKENDS), default="ours", show_default=True, help="ours: our differentiable rasterizer; cairosvg: the reference renderer; diffvg: pydiffvg if installed.")
@click.option("--strict", is_flag=True, help="Fail instead of dropping unsupported SVG features.")
@click.option("--overwrite", is_flag=True, help="Replace OUT if it exists.")
def render(svg, out, size, width, height, background, backend, strict, overwrite) -> None:
    """Render SVG to the PNG file OUT (written atomically)."""
    from ..fileio import atomic_write_bytes, check_output_path

    if not out.lower().endswith(".png"):
        raise InputError(f"output {out} must end with .png")
    check_output_path(out, overwrite=overwrite)
    bg = parse_background(background)
    scene = load_with_warnings(svg, strict)
    w, h = output_size(scene, size, width, height)
    image = render_image(svg, scene, backend, w, h, bg)
    atomic_write_bytes(out, encode_png(image))
    click.echo(f"wrote {out} ({w}x{h}, {backend})")


def describe(scene) -> dict:
    """A JSON-able summary of a Scene: size, paths, segments, colours, gradients, clips."""
    from ..svg.scene import LinearGradient, RadialGradient, Solid
    from ..svg.write import _color_hex

    kinds = {"line": 0, "quadratic": 0, "cubic": 0}
    names = ("line", "quadratic", "cubic")
    subpaths = {"open": 0, "closed": 0}
    colours: dict[str, int] = {}
    gradients: dict[int, dict] = {}
    clips: dict[int, str | None] = {}
    fills = strokes = points = 0

    def paint(p) -> None:
        if isinstance(p, Solid):
            hexc, alpha = _color_hex(p.color)
            key = hexc if alpha >= 1 else f"{hexc} (alpha {alpha:.2f})"
            colours[key] = colours.get(key, 0) + 1
        elif isinstance(p, (LinearGradient, RadialGradient)):
            kind = "linear" if isinstance(p, LinearGradient) else "radial"
            gradients.setdefault(id(p), {"id": p.id, "kind": kind, "stops": int(p.offsets.numel()), "units": p.units})

    def clip(c) -> None:
        while c is not None:
            clips.setdefault(id(c), c.id)
            for child in c.children:
                clip(child.clip_path)
            c = c.clip_path

    for g in scene.groups():
        clip(g.clip_path)
    for item in scene.walk():
        p = item.path
        for k in p.segments.tolist():
            kinds[names[k]] += 1
        for _, closed in p.subpaths:
            subpaths["closed" if closed else "open"] += 1
        points += int(p.points.shape[0])
        fills += p.fill is not None
        strokes += p.stroke is not None
        paint(p.fill)
        paint(p.stroke)
        clip(p.clip_path)
    return {
        "width": scene.width,
        "height": scene.height,
        "view_box": list(scene.view_box),
        "preserve_aspect_ratio": scene.preserve_aspect_ratio,
        "paths": scene.num_paths(),
        "groups": sum(1 for _ in scene.groups()) - 1,
        "subpaths": subpaths,
        "segments": kinds,
        "points": points,
        "filled_paths": fills,
        "stroked_paths": strokes,
        "colors": dict(sorted(colours.items(), key=lambda kv: (-kv[1], kv[0]))),
        "gradients": list(gradients.values()),
        "clip_paths": [c for c in clips.values()],
        "dropped": list(scene.dropped),
    }


@click.command("info")
@click.argument("svg", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@click.option("--strict", is_flag=True, help="Fail instead of dropping unsupported SVG features.")
def info(svg, as_json, strict) -> None:
    """Describe SVG: size, viewBox, paths, segments by kind, colours, gradients, clip paths
    and the features the loader dropped."""
    scene = load_with_warnings(svg, strict)
    d = describe(scene)
    if as_json:
        click.echo(json.dumps({"file": svg, **d}, indent=1))
        return
    vb = " ".join(f"{v:g}" for v in d["view_box"])
    grads = ", ".join(f"{g['id'] or '(anonymous)'} ({g['kind']}, {g['stops']} stops)" for g in d["gradients"])
    seg = d["segments"]
    lines = [
        f"file        {svg}",
        f"size        {d['width']:g} x {d['height']:g} px",
        f"viewBox     {vb}  ({d['preserve_aspect_ratio']})",
        f"paths       {d['paths']} ({d['filled_paths']} filled, {d['stroked_paths']} stroked) in {d['groups']} groups",
        f"subpaths    {d['subpaths']['closed']} closed, {d['subpaths']['open']} open",
        f"segments    {sum(seg.values())}: {seg['line']} line, {seg['quadratic']} quadratic, {seg['cubic']} cubic",
        f"points      {d['points']}",
        f"colours     {', '.join(f'{c} x{n}' for c, n in d['colors'].items()) or '-'}",
        f"gradients   {grads or '-'}",
        f"clip paths  {', '.join(c or '(anonymous)' for c in d['clip_paths']) or '-'}",
        f"dropped     {', '.join(d['dropped']) or '-'}",
    ]
    click.echo("\n".join(lines))
