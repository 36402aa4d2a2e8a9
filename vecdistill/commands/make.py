"""``vecdistill make PROMPT OUT.svg``: text to SVG (thin: parse, call the pipeline, print)."""

from __future__ import annotations

import sys

import click

from .options import build_config, print_summary, run_options


@click.command("make")
@click.argument("prompt")
@click.argument("out", type=click.Path(dir_okay=False))
@click.option("--method", type=click.Choice(["sds", "sdi", "vsd"]), default="sds", show_default=True, help="Distillation objective.")
@click.option("--style", type=click.Choice(["iconography", "pixelart", "sketch"]), default="iconography", show_default=True, help="Closed filled paths, a grid of squares (colours only), or open black strokes.")
@click.option("--paths", type=click.IntRange(min=1), default=None, help="Number of paths (pixelart: grid cells). Default: 128 with SD, 24 embedded.")
@click.option("--segments", type=click.IntRange(min=1), default=None, help="Cubic segments per path (default 4).")
@click.option("--size", type=click.IntRange(min=8), default=None, help="Render size in px (default: 64 for the embedded prior, 512 for SD).")
@click.option("--guidance-scale", type=float, default=None, help="Classifier-free guidance scale (default: 100 with SD, 2 embedded).")
@click.option("--t-range", type=float, nargs=2, default=None, metavar="LO HI", help="Timestep range as fractions of T (default 0.05 0.95).")
@click.option("--negative-prompt", default="", help="Prompt for the unconditional branch.")
@click.option("--init", default="circles", show_default=True, metavar="circles|live|PATH.svg|PATH.png", help="Random circles, LIVE-style progressive addition, or start from your SVG or image.")
@run_options
@click.pass_context
def make(ctx: click.Context, prompt: str, out: str, **params) -> None:
    """Make an SVG for PROMPT and write it to OUT (with OUT.json, the manifest)."""
    from ..pipelines.make import MakeConfig
    from ..pipelines.make import make as run_make

    config = build_config(MakeConfig, ctx, params)
    _, manifest = run_make(prompt, out, config, argv=list(sys.argv))
    print_summary(out, manifest)
