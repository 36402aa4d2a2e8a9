"""What a worker (the local process or one Ray actor) does: keep its models loaded, run jobs.

A :class:`JobKind` says how to run one command (``make``, ``edit``, ...): which options it
needs, which options name input files, and a ``run(job, ctx)`` function. ``ctx`` is a
:class:`JobContext` with the folder to write into, the device, the input files and the
loaded prior. :func:`execute_job` runs one job and returns a result dict; it never raises
for a failing job (the error goes into the result) except on Ctrl-C.

Kinds' functions must be picklable (module-level functions) so Ray can ship them.
"""

from __future__ import annotations

import os
import socket
import time
import traceback
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputError, VecdistillError
from .jobs import Job


@dataclass
class JobContext:
    """Everything a job kind's ``run`` needs besides the job.

    ``workdir``: the folder to write outputs into (files named ``job.stem + suffix``, or a
    folder named ``job.stem``). ``device``: ``"cpu"``, ``"cuda"``, ``"cuda:1"``...
    ``prior``: the loaded prior (None for kinds with ``uses_prior=False``). ``inputs``:
    option name -> local path of each input file the job names.
    """

    job: Job
    workdir: Path
    device: str
    prior: Any = None
    inputs: dict[str, Path] = field(default_factory=dict)

    def output(self, suffix: str = "") -> Path:
        """The path of this job's output with ``suffix`` (``".svg"``; ``""`` for a folder)."""
        return self.workdir / f"{self.job.stem}{suffix}"


@dataclass(frozen=True)
class JobKind:
    """How to run the jobs of one command.

    ``run(job, ctx) -> info dict`` writes the outputs under ``ctx.workdir`` and returns what
    the manifest should record about the job (JSON-compatible). ``required``: options every
    job of this kind must set. ``input_files``: options whose values are paths of input
    files (checked before the batch starts, shipped to remote workers). ``check(job)``:
    optional early validation that raises InputError. ``uses_prior``: whether ``ctx.prior``
    is loaded for it.
    """

    name: str
    run: Callable[[Job, JobContext], dict]
    required: tuple[str, ...] = ()
    input_files: tuple[str, ...] = ()
    check: Callable[[Job], None] | None = None
    uses_prior: bool = True


def resolve_device(device: str | None) -> str:
    """``"auto"``/None -> ``"cuda"`` when a GPU is visible here, else ``"cpu"``."""
    if device in (None, "", "auto"):
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    return str(device)


def load_prior_by_name(model: str | None, device: str, dtype: str | None):
    """The default loader: :func:`vecdistill.priors.load_prior` with the device and dtype
    given by name as on the command line (``"cuda:1"``, ``"float16"``; None = default)."""
    from ..pipelines.common import parse_device, parse_dtype
    from ..priors import load_prior

    return load_prior(model, device=parse_device(device), dtype=parse_dtype(dtype))


class ModelCache:
    """The priors a worker has loaded, keyed by (model, device, dtype); least recently used
    ones are dropped beyond ``capacity`` (a GPU holds one Stable Diffusion comfortably).

    ``loads`` counts how many times the loader ran (what batching saves) and
    ``load_seconds`` the wall time they took."""

    def __init__(self, loader: Callable[[str | None, str, str | None], Any] | None = None,
                 capacity: int = 1) -> None:
        self.loader = loader or load_prior_by_name
        self.capacity = max(1, int(capacity))
        self.loads = 0
        self.load_seconds = 0.0
        self._models: OrderedDict[tuple, Any] = OrderedDict()

    def get(self, model: str | None, device: str, dtype: str | None = None) -> Any:
        key = (model, device, dtype)
        if key in self._models:
            self._models.move_to_end(key)
            return self._models[key]
        while len(self._models) >= self.capacity:
            self._models.popitem(last=False)
        start = time.perf_counter()
        prior = self.loader(model, device, dtype)
        self.load_seconds += time.perf_counter() - start
        self.loads += 1
        self._models[key] = prior
        return prior


def model_key(job: Job) -> tuple[str, str]:
    """The (model, dtype) a job needs, as strings ("" = default): engines sort by it so a
    worker's jobs share one loaded model."""
    return (str(job.options.get("model") or ""), str(job.options.get("dtype") or ""))


def worker_name() -> str:
    """``host:pid`` of this process, for the manifest."""
    return f"{socket.gethostname()}:{os.getpid()}"


def collect_outputs(job: Job, workdir: Path) -> dict[str, str]:
    """The files and folders a job wrote: everything named ``job.stem`` + anything, keyed
    by suffix (``"svg"``, ``"json"``; ``"dir"`` for a folder), paths relative to workdir."""
    found: dict[str, str] = {}
    for path in sorted(Path(workdir).glob(f"{job.stem}*")):
        if path.name.startswith(".") or path.name.endswith(".tmp"):
            continue
        rest = path.name[len(job.stem):]
        key = "dir" if path.is_dir() and not rest else (rest.lstrip(".") or "file")
        found[key] = path.name
    return found


def execute_job(job: Job, kinds: Mapping[str, JobKind], workdir: str | Path, cache: ModelCache,
                device: str | None = None, inputs: Mapping[str, Path] | None = None,
                worker: str | None = None) -> dict:
    """Run one job and describe the attempt.

    Returns ``{"status": "ok"|"failed", "outputs": {...}, "seconds", "error", "info",
    "worker", "model_loads", "load_seconds"}`` (``model_loads``: how many models this
    worker has loaded so far; ``load_seconds``: the part of ``seconds`` spent loading a
    model for this job, 0 when the cached one served) (plus ``"traceback"`` for errors that are not VecdistillErrors, i.e. bugs).
    ``outputs`` are relative to ``workdir``. ``inputs`` overrides where input files are
    read (remote workers receive copies); by default they resolve against the JOBS file.
    Only KeyboardInterrupt (and SystemExit) propagate.
    """
    start = time.perf_counter()
    loaded_before = cache.load_seconds
    workdir = Path(workdir)
    result: dict = {"status": "failed", "outputs": {}, "error": None, "info": {},
                    "worker": worker or worker_name()}
    try:
        kind = kinds.get(job.command)
        if kind is None:
            raise InputError(f"unknown command {job.command!r}; use one of {', '.join(sorted(kinds))}")
        device_name = resolve_device(job.options.get("device") or device)
        files = dict(inputs) if inputs is not None else {
            name: job.resolve(str(job.options[name])) for name in kind.input_files if name in job.options}
        prior = None
        if kind.uses_prior:
            model, dtype = model_key(job)
            prior = cache.get(model or None, device_name, dtype or None)
        info = kind.run(job, JobContext(job, workdir, device_name, prior, files)) or {}
        result.update(status="ok", info=info)
    except VecdistillError as exc:
        result["error"] = str(exc)
    except Exception as exc:  # a bug in a pipeline must not stop the batch: record it
        result["error"] = f"{type(exc).__name__}: {exc}".strip()
        result["traceback"] = traceback.format_exc(limit=-8)
    result["outputs"] = collect_outputs(job, workdir)
    result["seconds"] = time.perf_counter() - start
    result["model_loads"] = cache.loads
    result["load_seconds"] = cache.load_seconds - loaded_before
    return result
