"""``vecdistill doctor``: what this installation can do, in one screen."""

from __future__ import annotations

import json

import click


@click.command("doctor")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
@click.option("--skip-prior", is_flag=True, help="Do not try to load the embedded prior.")
def doctor(as_json: bool, skip_prior: bool) -> None:
    """Report versions, devices, backends (CUDA, pydiffvg, Ray, the fused GPU kernels), the cache folder and
    whether the embedded prior loads. Exits 1 if a required part is broken."""
    from ..diagnostics import run_checks

    report = run_checks(load_prior=not skip_prior)
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        for section, items in report["checks"].items():
            click.echo(f"{section}:")
            for name, value in items.items():
                click.echo(f"  {name:<22} {value}")
        click.echo("status: " + ("ok" if report["ok"] else "problems: " + "; ".join(report["problems"])))
    if not report["ok"]:
        raise SystemExit(1)
