"""``vecdistill batch JOBS OUTDIR``: many jobs, models loaded once per worker, a resumable
manifest, locally or on Ray."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import click


def parse_settings(settings: tuple[str, ...]) -> dict[str, str]:
    """``("steps=50", "paths=16")`` -> ``{"steps": "50", "paths": "16"}`` (--set options)."""
    from ..errors import InputError

    values = {}
    for item in settings:
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise InputError(f"--set {item!r}: write it as NAME=VALUE, e.g. --set steps=100")
        values[key.strip()] = value.strip()
    return values


def run_command(jobs_file: str, outdir: str, *, seeds: str = "0", engine: str = "local",
                address: str | None = None, workers: int = 2, gpus_per_worker: float = 0.0,
                cpus_per_worker: float = 1.0, model: str | None = None, device: str = "auto",
                dtype: str | None = None, settings: tuple[str, ...] = (), quiet: bool = False,
                retry_failed: bool = False,
                kinds: Mapping | None = None, loader: Callable | None = None) -> int:
    """What the command does; returns the exit code (0 all ok, 1 some job failed).

    ``kinds`` and ``loader(model, device, dtype) -> prior`` replace the product's job kinds
    and prior loader (tests use their own)."""
    from ..batch.jobs import parse_jobs
    from ..batch.progress import BatchProgress
    from ..batch.runner import run_batch
    from ..signals import sigterm_interrupts

    if kinds is None:
        from ..batch.kinds import KINDS as kinds
    if model and Path(model).expanduser().exists():  # a local folder: absolute, for Ray workers
        model = str(Path(model).expanduser().resolve())
    defaults = parse_settings(settings)
    defaults.update({key: value for key, value in (("model", model), ("dtype", dtype)) if value})
    jobs = parse_jobs(jobs_file, seeds, defaults)
    if engine == "ray":
        from ..batch.ray_engine import RayEngine

        runner = RayEngine(kinds, outdir, workers=workers, gpus_per_worker=gpus_per_worker,
                           cpus_per_worker=cpus_per_worker, address=address, device=device,
                           loader=loader)
    else:
        from ..batch.local import LocalEngine

        runner = LocalEngine(kinds, outdir, device=device, loader=loader)
    progress = BatchProgress(enabled=not quiet)
    try:
        with sigterm_interrupts():  # the manifest stays complete; the CLI exits 143
            summary = run_batch(jobs, outdir, runner, kinds, retry_failed=retry_failed, progress=progress)
    except KeyboardInterrupt as exc:
        done = getattr(exc, "summary", None)
        if done is not None:
            click.echo(f"batch interrupted: {done.ok} ok, {done.failed} failed, {done.skipped} skipped, "
                       f"{done.pending} not run; run the same command again to continue", err=True)
        raise
    manifest = Path(summary.manifest)
    click.echo(f"{summary.total} jobs: {summary.ok} ok, {summary.failed} failed, {summary.skipped} skipped "
               f"in {summary.seconds:.1f} s; manifest {manifest}")
    if summary.skipped_failed:
        click.echo(f"{summary.skipped_failed} of the skipped jobs failed in an earlier run; "
                   "pass --retry-failed to run them again", err=True)
    for line in summary.errors[:5]:
        click.echo(f"failed: {line}", err=True)
    if len(summary.errors) > 5:
        click.echo(f"... and {len(summary.errors) - 5} more failures (see the manifest)", err=True)
    return 1 if summary.failed else 0


@click.command("batch")
@click.argument("jobs_file", metavar="JOBS", type=click.Path(dir_okay=False))
@click.argument("outdir", metavar="OUTDIR", type=click.Path(file_okay=False))
@click.option("--seeds", default="0", show_default=True,
              help="Seeds for every job: a range 0-3, a list 0,2,5, or both (1-3,7).")
@click.option("--engine", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="local: one process. ray: Ray actors (pip install vecdistill[ray]).")
@click.option("--address", default=None,
              help="Ray cluster: 'auto' (ray start --head on this machine) or ray://HOST:10001. "
                   "Default: start a local Ray instance for this batch.")
@click.option("--workers", type=click.IntRange(min=1), default=2, show_default=True,
              help="Ray actors, each with its own loaded model.")
@click.option("--gpus-per-worker", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="GPUs each Ray actor reserves (0.5 = two actors share a GPU).")
@click.option("--cpus-per-worker", type=click.FloatRange(min=0), default=1.0, show_default=True,
              help="CPUs each Ray actor reserves.")
@click.option("--model", default=None,
              help="Diffusion model for jobs that do not set one (default: the embedded prior).")
@click.option("--device", default="auto", show_default=True, help="cpu, cuda, cuda:N or auto.")
@click.option("--dtype", type=click.Choice(["float32", "float16", "bfloat16"]), default=None,
              help="Model precision (default: the prior's own).")
@click.option("--set", "settings", multiple=True, metavar="NAME=VALUE",
              help="An option for every job that does not set it itself, e.g. --set steps=100 "
                   "(repeatable; names as in CSV columns).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@click.option("--retry-failed", is_flag=True, help="Run jobs that failed in an earlier run again.")
def batch(jobs_file: str, outdir: str, **options) -> None:
    """Run the jobs in JOBS, writing outputs and OUTDIR/manifest.jsonl.

    JOBS is a text file (one prompt per line: make jobs), a CSV with a header row, or a
    JSONL file; CSV/JSONL rows have a 'command' (make, edit, word, nerf) and that command's
    options (prompt, svg, source, target, text, concept, steps, paths, ...). Running the
    same command again skips the jobs already done. Exit code 1 if a job failed.
    """
    code = run_command(jobs_file, outdir, **options)
    if code:
        raise SystemExit(code)
