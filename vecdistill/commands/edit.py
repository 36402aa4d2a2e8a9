"""``vecdistill edit IN.svg OUT.svg --source ... --target ...`` (thin: parse, call, print)."""

from __future__ import annotations

import sys

import click

from .options import build_config, print_summary, run_options


def _ids(ctx, param, value):
    if value is None:
        return None
    ids = tuple(v.strip() for v in value.split(",") if v.strip())
    if not ids:
        raise click.BadParameter("give one or more ids separated by commas")
    return ids


@click.command("edit")
@click.argument("svg", type=click.Path(dir_okay=False))
@click.argument("out", type=click.Path(dir_okay=False))
@click.option("--source", default="", help="What the input SVG shows (PDS and DDS need it).")
@click.option("--target", required=True, help="What the SVG should become.")
@click.option("--method", type=click.Choice(["pds", "dds", "sds"]), default="pds", show_default=True, help="Editing objective.")
@click.option("--lock-colors", is_flag=True, default=False, help="Keep colours; edit geometry only.")
@click.option("--lock-geometry", is_flag=True, default=False, help="Keep control points and widths; edit colours only.")
@click.option("--lock-widths", is_flag=True, default=False, help="Keep stroke widths.")
@click.option("--only", default=None, callback=_ids, metavar="ID[,ID...]", help="Edit only these paths (ids of paths or groups).")
@click.option("--size", type=click.IntRange(min=8), default=None, help="Render size in px (default: 64 embedded, 512 with SD).")
@click.option("--guidance-scale", type=float, default=None, help="Classifier-free guidance scale (default: 100 with SD, 5 embedded).")
@click.option("--t-range", type=float, nargs=2, default=None, metavar="LO HI", help="Timestep range as fractions of T (default 0.1 0.98).")
@click.option("--negative-prompt", default="", help="Prompt for the unconditional branch.")
@run_options
@click.pass_context
def edit(ctx: click.Context, svg: str, out: str, source: str, target: str, **params) -> None:
    """Edit SVG toward --target and write OUT (with OUT.json, the manifest). Ids, groups,
    transforms, gradients and clip paths are kept."""
    from ..pipelines.edit import EditConfig
    from ..pipelines.edit import edit as run_edit

    config = build_config(EditConfig, ctx, params)
    _, manifest = run_edit(svg, out, source=source, target=target, config=config, argv=list(sys.argv))
    print_summary(out, manifest)
