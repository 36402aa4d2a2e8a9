"""``vecdistill toy``: the 2D study of SDS, DDS and PDS with an exact mixture prior."""

from __future__ import annotations

import json

import click


@click.command("toy")
@click.option("--steps", default=400, show_default=True, type=click.IntRange(1, 100_000), help="Gradient steps per method.")
@click.option("--points", default=256, show_default=True, type=click.IntRange(2, 5000), help="Red points moved.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the start points and the objectives.")
@click.option("--guidance-scale", default=1.5, show_default=True, type=float, help="CFG scale of every objective (1 = exact conditional score).")
@click.option("--lr", default=0.05, show_default=True, type=click.FloatRange(min=0, min_open=True), help="Step size of x <- x - lr * g.")
@click.option("--out", "out", default=None, type=click.Path(dir_okay=False), help="Write the trajectory figure (PNG) here.")
@click.option("--overwrite", is_flag=True, help="Replace --out if it exists.")
@click.option("--json", "as_json", is_flag=True, help='Print one JSON object {"sds"|"dds"|"pds": {"in_target", "diversity", "displacement"}}.')
def toy(steps: int, points: int, seed: int, guidance_scale: float, lr: float, out: str | None, overwrite: bool, as_json: bool) -> None:
    """Move red points (source class) toward the blue class (target) with SDS, DDS and PDS
    using exact Gaussian-mixture scores, and report where they end: in_target (share within
    3 sigma of a target component), diversity (mean pairwise distance), displacement (mean
    distance moved)."""
    import torch

    from ..fileio import check_output_path
    from ..pipelines.toy import ToyConfig, run_toy, save_figure

    if out is not None:
        check_output_path(out, overwrite=overwrite)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: threads only add overhead
    try:
        config = ToyConfig(steps=steps, points=points, seed=seed, guidance_scale=guidance_scale, lr={m: lr for m in ("sds", "dds", "pds")})
        result = run_toy(config)
    finally:
        torch.set_num_threads(threads)
    if out is not None:
        save_figure(result, out)
    if as_json:
        click.echo(json.dumps(result.metrics))
        return
    click.echo(f"{'method':<8}{'in_target':>11}{'diversity':>11}{'displacement':>14}")
    for method, m in result.metrics.items():
        click.echo(f"{method:<8}{m['in_target']:>11.3f}{m['diversity']:>11.3f}{m['displacement']:>14.3f}")
    if out is not None:
        click.echo(f"figure: {out}")
