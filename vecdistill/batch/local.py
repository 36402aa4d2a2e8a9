"""The local engine: every job in this process, one after another, models loaded once."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from .jobs import Job
from .worker import JobKind, ModelCache, execute_job, model_key, worker_name


def order_by_model(jobs: list[Job]) -> list[Job]:
    """Jobs grouped by the model they need (file order kept within a model), so that a
    worker with a one-model cache loads each model once."""
    return sorted(jobs, key=model_key)


class LocalEngine:
    """Runs jobs in the calling process.

    ``device``: where models run (``"auto"``: CUDA when present). ``loader(model, device,
    dtype) -> prior`` replaces :func:`~.worker.load_prior_by_name` (tests);
    ``capacity``: how many models stay loaded at once.
    """

    name = "local"

    def __init__(self, kinds: Mapping[str, JobKind], outdir: str | Path, device: str | None = "auto",
                 loader: Callable | None = None, capacity: int = 1) -> None:
        self.kinds = dict(kinds)
        self.outdir = Path(outdir)
        self.device = device
        self.cache = ModelCache(loader, capacity)

    @property
    def workers(self) -> int:
        return 1

    def run(self, jobs: list[Job], on_result: Callable[[Job, dict], None]) -> None:
        """Run ``jobs``; call ``on_result(job, result)`` (see :func:`~.worker.execute_job`)
        after each. Ctrl-C propagates at once; the job then running records nothing."""
        name = worker_name()
        for job in order_by_model(jobs):
            on_result(job, execute_job(job, self.kinds, self.outdir, self.cache, self.device, worker=name))
