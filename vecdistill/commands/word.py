"""``vecdistill word TEXT OUT.svg --concept "..."``: Word-As-Image (thin: parse, call the
pipeline, print)."""

from __future__ import annotations

import sys

import click

from .options import build_config, print_summary, run_options


def _list_fonts() -> None:
    from ..text.fonts import DEFAULT_FONT, list_fonts

    for info in list_fonts():
        mark = " (default)" if info.name == DEFAULT_FONT else ""
        click.echo(f"{info.name:<18} {info.description}{mark}")
    click.echo("or give --font PATH to any TTF/OTF file")


@click.command("word")
@click.argument("text", required=False)
@click.argument("out", required=False, type=click.Path(dir_okay=False))
@click.option("--concept", default=None, help="What the word should look like, e.g. \"cat\" (required).")
@click.option("--letters", default=None, metavar="INDICES|CHARS", help="Letters to deform: 0-based indices \"0,2\" or characters \"AT\" (every occurrence). Default: all.")
@click.option("--font", default=None, metavar="NAME|PATH", help="A bundled font (see --list-fonts; default quicksand) or a TTF/OTF file.")
@click.option("--list-fonts", is_flag=True, default=False, help="List the bundled fonts and exit.")
@click.option("--no-kerning", "kerning", flag_value=False, default=True, help="Advances only, no pair kerning.")
@click.option("--method", type=click.Choice(["sds", "sdi", "vsd"]), default="sds", show_default=True, help="Distillation objective.")
@click.option("--size", type=click.IntRange(min=8), default=None, help="Render size in px (default: 64 embedded, 600 with SD).")
@click.option("--guidance-scale", type=float, default=None, help="Classifier-free guidance scale (default: 100 with SD, 30 embedded).")
@click.option("--t-range", type=float, nargs=2, default=None, metavar="LO HI", help="Timestep range as fractions of T (default 0.05 0.95).")
@click.option("--prompt-template", default=None, metavar="TEXT", help="Prompt with {concept} (default: the paper's \"a {concept}. minimal flat 2d vector. lineal color. trending on artstation\" with SD, the concept alone embedded).")
@click.option("--negative-prompt", default="", help="Prompt for the unconditional branch.")
@click.option("--acap-weight", type=click.FloatRange(min=0), default=None, help="Weight of the as-conformal-as-possible angle loss (default 0.5; 0 = off).")
@click.option("--tone-weight", type=click.FloatRange(min=0), default=None, help="Peak weight of the blurred-tone loss (default 100; 0 = off).")
@click.option("--subdivide", type=click.FloatRange(min=0), default=None, help="Split the chosen letters' segments to at most this fraction of the em (default 0.12; 0 = the font's own points).")
@click.option("--lr-points", type=click.FloatRange(min=0), default=None, help="Learning rate of the control points, render pixels per step (default 1.0 with SD, 0.2 embedded).")
@run_options
@click.pass_context
def word(ctx: click.Context, text: str | None, out: str | None, concept: str | None, list_fonts: bool, **params) -> None:
    """Deform letters of TEXT toward --concept and write the word to OUT (with OUT.json)."""
    if list_fonts:
        _list_fonts()
        return
    if text is None or out is None:
        raise click.UsageError("give TEXT and OUT.svg, e.g. vecdistill word CAT cat.svg --concept cat", ctx=ctx)
    if concept is None:
        raise click.UsageError("--concept is required: what the word should look like, e.g. --concept cat", ctx=ctx)
    from ..pipelines.word import WordConfig
    from ..pipelines.word import word as run_word

    config = build_config(WordConfig, ctx, params)
    _, manifest = run_word(text, out, concept, config, argv=list(sys.argv))
    print_summary(out, manifest)
