"""The Ray engine: ``workers`` Ray actors, each loading its model once and running many jobs.

Jobs are handed out dynamically: every actor has one job in flight, and the driver gives it
the next one as soon as its result comes back, so fast and slow jobs balance out. Actors
write into a scratch folder on their own node and send the output files back with the
result; the driver (the only process writing OUTDIR and its manifest) saves them. So OUTDIR
need not be on a shared filesystem, and input files named by jobs (``svg`` of edit jobs)
are sent to the actors the same way.

A job that fails is a failed result; an actor that dies (out of memory, node lost) fails
the job it held and is replaced, up to ``workers`` times in one batch.

Ray is an optional dependency: ``pip install vecdistill[ray]``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import tempfile
import threading
from collections import deque
from collections.abc import Callable, Mapping
from pathlib import Path

from ..errors import InputError, VecdistillError
from ..fileio import atomic_write_bytes
from .jobs import Job
from .local import order_by_model
from .worker import JobKind, ModelCache, execute_job, worker_name


def import_ray():
    """The ``ray`` module, or an InputError that says how to install it."""
    try:
        import ray
    except ImportError:
        raise InputError("--engine ray needs Ray: pip install vecdistill[ray] (or use --engine local)") from None
    return ray


class RayWorker:
    """The body of one Ray actor (wrapped with ``ray.remote`` by :class:`RayEngine`)."""

    def __init__(self, kinds: Mapping[str, JobKind], device: str | None, loader: Callable | None,
                 capacity: int) -> None:
        self.kinds = dict(kinds)
        self.device = device
        self.cache = ModelCache(loader, capacity)
        self.name = worker_name()

    def run(self, job: Job, inputs: Mapping[str, tuple[str, bytes]]) -> dict:
        """Run ``job`` with the input files sent along (option -> (file name, bytes));
        return :func:`~.worker.execute_job`'s result plus ``files``: output path relative to
        OUTDIR -> bytes. Works in a scratch folder removed afterwards."""
        with tempfile.TemporaryDirectory(prefix="vecdistill-batch-") as scratch:
            workdir = Path(scratch)
            (workdir / "out").mkdir()
            local_inputs = {}
            for option, (filename, data) in inputs.items():
                path = workdir / "in" / option / filename
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
                local_inputs[option] = path
            result = execute_job(job, self.kinds, workdir / "out", self.cache, self.device,
                                 local_inputs, worker=self.name)
            result["files"] = _read_tree(workdir / "out", result["outputs"].values())
        return result


def _read_tree(root: Path, names) -> dict[str, bytes]:
    """Relative path -> bytes of each named file, and of every file inside named folders."""
    files: dict[str, bytes] = {}
    for name in names:
        path = root / name
        if path.is_file():
            files[name] = path.read_bytes()
        elif path.is_dir():
            for sub in sorted(path.rglob("*")):
                if sub.is_file():
                    files[sub.relative_to(root).as_posix()] = sub.read_bytes()
    return files


def _save_tree(outdir: Path, files: Mapping[str, bytes]) -> None:
    for rel, data in files.items():
        target = outdir / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(target, data)


@contextlib.contextmanager
def _keep_sigterm_handler():
    """Ray's start-up installs a SIGTERM handler that aborts the process; put back the one
    the caller had (the CLI turns SIGTERM into Ctrl-C so the manifest stays complete)."""
    try:
        previous = signal.getsignal(signal.SIGTERM)
    except ValueError:  # pragma: no cover - not the main thread
        previous = None
    try:
        yield
    finally:
        if previous is not None and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, previous)


class RayEngine:
    """Runs jobs on Ray actors.

    ``address``: None = use the Ray already initialised in this process, else start a local
    instance (stopped again at the end); ``"auto"`` = the cluster running on this machine
    (``ray start --head``); ``"ray://HOST:10001"`` = a remote cluster through Ray Client.
    ``workers``: number of actors. ``gpus_per_worker`` / ``cpus_per_worker``: resources
    each actor reserves (fractions allowed, e.g. 0.5 GPUs = two actors per GPU).
    ``device``: where each actor runs its model (``"auto"``: CUDA when it got a GPU).
    ``loader``/``capacity``: as for :class:`~.local.LocalEngine`.
    """

    name = "ray"

    def __init__(self, kinds: Mapping[str, JobKind], outdir: str | Path, *, workers: int = 2,
                 gpus_per_worker: float = 0.0, cpus_per_worker: float = 1.0,
                 address: str | None = None, device: str | None = "auto",
                 loader: Callable | None = None, capacity: int = 1) -> None:
        if workers < 1:
            raise InputError("--workers must be at least 1")
        if gpus_per_worker < 0 or cpus_per_worker < 0:
            raise InputError("--gpus-per-worker and CPUs per worker cannot be negative")
        self.ray = import_ray()
        self.kinds = dict(kinds)
        self.outdir = Path(outdir)
        self.workers = int(workers)
        self.gpus_per_worker = float(gpus_per_worker)
        self.cpus_per_worker = float(cpus_per_worker)
        self.address = address
        self.device = device
        self.loader = loader
        self.capacity = capacity

    # -- cluster ----------------------------------------------------------------------
    def _connect(self) -> bool:
        """Initialise Ray if needed; True when this call started it (and must stop it)."""
        ray = self.ray
        if ray.is_initialized():
            return False
        kwargs: dict = {"include_dashboard": False, "log_to_driver": False,
                        "logging_level": logging.WARNING, "configure_logging": True}
        if self.address:
            kwargs["address"] = self.address
        else:  # a private instance on this machine, reachable only through loopback
            kwargs.update(address="local", _node_ip_address="127.0.0.1",
                          num_cpus=max(os.cpu_count() or 1, int(self.workers * self.cpus_per_worker + 0.999)))
        try:
            with _keep_sigterm_handler():
                ray.init(**kwargs)
        except Exception as exc:  # noqa: BLE001 - Ray raises many types here; all mean "no cluster"
            where = self.address or "a local instance"
            raise VecdistillError(f"cannot start or reach Ray at {where}: {str(exc).splitlines()[0]}; "
                                  "check --address (start a cluster with 'ray start --head')") from None
        return True

    def _check_resources(self) -> None:
        available = self.ray.cluster_resources()
        need_cpu = self.workers * self.cpus_per_worker
        need_gpu = self.workers * self.gpus_per_worker
        if need_gpu > available.get("GPU", 0.0) + 1e-9:
            raise InputError(f"{self.workers} workers x {self.gpus_per_worker:g} GPUs need {need_gpu:g} GPUs; "
                             f"the Ray cluster has {available.get('GPU', 0.0):g}: lower --workers or --gpus-per-worker")
        if need_cpu > available.get("CPU", 0.0) + 1e-9:
            raise InputError(f"{self.workers} workers need {need_cpu:g} CPUs; the Ray cluster has "
                             f"{available.get('CPU', 0.0):g}: lower --workers")

    def _new_actor(self, actor_class):
        return actor_class.options(num_cpus=self.cpus_per_worker, num_gpus=self.gpus_per_worker).remote(
            self.kinds, self.device, self.loader, self.capacity)

    def _inputs(self, job: Job) -> dict[str, tuple[str, bytes]]:
        kind = self.kinds.get(job.command)
        payload = {}
        for option in (kind.input_files if kind else ()):
            if option in job.options:
                path = job.resolve(str(job.options[option]))
                payload[option] = (path.name, path.read_bytes())
        return payload

    # -- running ----------------------------------------------------------------------
    def run(self, jobs: list[Job], on_result: Callable[[Job, dict], None]) -> None:
        """Run ``jobs`` on the actors; ``on_result(job, result)`` in the calling process as
        each finishes (in completion order). Ctrl-C stops the actors; jobs in flight record
        nothing."""
        if not jobs:
            return
        ray = self.ray
        started = self._connect()
        actors: list = []
        try:
            self._check_resources()
            actor_class = ray.remote(RayWorker)
            actors = [self._new_actor(actor_class) for _ in range(min(self.workers, len(jobs)))]
            queue = deque(order_by_model(jobs))
            in_flight: dict = {}
            replacements = self.workers

            def submit(slot: int) -> None:
                while queue:
                    job = queue.popleft()
                    try:
                        payload = self._inputs(job)
                    except OSError as exc:
                        on_result(job, {"status": "failed", "outputs": {}, "seconds": 0.0, "info": {},
                                        "error": f"cannot read input file: {exc}", "worker": worker_name()})
                        continue
                    in_flight[actors[slot].run.remote(job, payload)] = (slot, job)
                    return

            for slot in range(len(actors)):
                submit(slot)
            while in_flight:
                ready, _ = ray.wait(list(in_flight), num_returns=1)
                slot, job = in_flight.pop(ready[0])
                try:
                    result = ray.get(ready[0])
                except ray.exceptions.RayActorError as exc:
                    result = {"status": "failed", "outputs": {}, "seconds": 0.0, "info": {},
                              "error": f"Ray worker died: {str(exc).splitlines()[0]}", "worker": "ray"}
                    if replacements <= 0:
                        raise VecdistillError(f"Ray workers keep dying ({result['error']}); "
                                              "the batch stops, rerun it to continue") from None
                    replacements -= 1
                    actors[slot] = self._new_actor(actor_class)
                except ray.exceptions.RayError as exc:
                    result = {"status": "failed", "outputs": {}, "seconds": 0.0, "info": {},
                              "error": f"Ray error: {str(exc).splitlines()[0]}", "worker": "ray"}
                files = result.pop("files", {})
                if files:
                    _save_tree(self.outdir, files)
                on_result(job, result)
                submit(slot)
        finally:
            for actor in actors:
                try:
                    ray.kill(actor)
                except Exception:  # noqa: BLE001 - best effort while stopping
                    pass
            if started:
                ray.shutdown()
