"""Run a batch: check the jobs, decide what a rerun skips, run the rest on an engine, and
record every attempt in the manifest as results arrive."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from ..errors import InputError, VecdistillError
from .jobs import Job
from .manifest import MANIFEST_NAME, ManifestWriter, make_record, plan_batch
from .progress import BatchProgress
from .worker import JobKind


class Engine(Protocol):
    """What :func:`run_batch` needs from an engine (:class:`~.local.LocalEngine`,
    :class:`~.ray_engine.RayEngine`)."""

    name: str

    def run(self, jobs: list[Job], on_result) -> None: ...


@dataclass
class BatchSummary:
    """Counts of one run: ``ok``/``failed`` among the jobs run now, ``skipped`` (done or
    failed in an earlier run; ``skipped_failed`` of them failed), ``seconds`` of wall time,
    whether it was ``interrupted``."""

    total: int
    manifest: Path
    ok: int = 0
    failed: int = 0
    skipped: int = 0
    skipped_failed: int = 0
    seconds: float = 0.0
    interrupted: bool = False
    errors: list[str] = field(default_factory=list)

    @property
    def pending(self) -> int:
        """Jobs neither finished nor skipped (after an interruption)."""
        return self.total - self.ok - self.failed - self.skipped


def validate_jobs(jobs: list[Job], kinds: Mapping[str, JobKind]) -> None:
    """Check every job before anything runs: known command, required options set, input
    files present, the kind's own check (which builds the job's config). Raises one
    InputError naming the first problem (with its line) and how many more there are."""
    problems: list[str] = []
    for job in jobs:
        kind = kinds.get(job.command)
        try:
            if kind is None:
                raise InputError(f"unknown command {job.command!r}; use one of {', '.join(sorted(kinds))}")
            missing = [name for name in kind.required if job.options.get(name) in (None, "")]
            if missing:
                raise InputError(f"{job.command} jobs need {', '.join(missing)}")
            for name in kind.input_files:
                if name in job.options and not job.resolve(str(job.options[name])).is_file():
                    raise InputError(f"{name} file {job.options[name]} does not exist "
                                     f"(relative paths are relative to the jobs file)")
            if kind.check is not None:
                kind.check(job)
        except VecdistillError as exc:
            problem = f"{job.origin}: {exc}" if job.origin else str(exc)
            if problem not in problems:
                problems.append(problem)
    if problems:
        extra = len(problems) - 1
        more = f" (and {extra} more problem{'s' if extra > 1 else ''})" if extra else ""
        raise InputError(problems[0] + more)


def run_batch(jobs: list[Job], outdir: str | Path, engine: Engine, kinds: Mapping[str, JobKind], *,
              retry_failed: bool = False, progress: BatchProgress | None = None) -> BatchSummary:
    """Run ``jobs`` on ``engine``, writing outputs and ``OUTDIR/manifest.jsonl``.

    Jobs finished in an earlier run into the same OUTDIR are skipped (and recorded as
    ``skipped``), as are earlier failures unless ``retry_failed``. A failing job is recorded
    and the batch goes on. On Ctrl-C (KeyboardInterrupt) the manifest is left complete and
    the interrupt propagates; the summary so far is attached to it as ``.summary``.
    """
    validate_jobs(jobs, kinds)
    outdir = Path(outdir)
    progress = progress or BatchProgress(enabled=False)
    start = time.perf_counter()
    summary = BatchSummary(total=len(jobs), manifest=outdir / MANIFEST_NAME)
    with ManifestWriter(outdir) as manifest:
        plan = plan_batch(jobs, outdir, retry_failed)
        for job, reason, previous in plan.skip:
            manifest.append(make_record(job, "skipped", outputs=previous.get("outputs"),
                                        error=previous.get("error"), reason=reason))
        summary.skipped = len(plan.skip)
        summary.skipped_failed = sum(previous["status"] == "failed" for _, _, previous in plan.skip)

        def on_result(job: Job, result: dict) -> None:
            record = make_record(job, result["status"], outputs=result.get("outputs"),
                                 seconds=result.get("seconds", 0.0), error=result.get("error"),
                                 worker=result.get("worker", ""), info=result.get("info"))
            for extra in ("model_loads", "load_seconds", "traceback"):
                if extra in result:
                    record[extra] = round(result[extra], 3) if extra == "load_seconds" else result[extra]
            manifest.append(record)
            if result["status"] == "ok":
                summary.ok += 1
            else:
                summary.failed += 1
                summary.errors.append(f"{job.origin or job.id} seed {job.seed}: {result.get('error')}")
            progress.update(result["status"])

        progress.start(len(jobs), skipped=summary.skipped)
        try:
            engine.run(plan.run, on_result)
        except KeyboardInterrupt as exc:
            summary.interrupted = True
            summary.seconds = time.perf_counter() - start
            exc.summary = summary
            raise
        finally:
            progress.close()
    summary.seconds = time.perf_counter() - start
    return summary
