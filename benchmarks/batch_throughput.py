"""Batch throughput: jobs per minute, local engine vs Ray with 1 and 2 workers.

    python benchmarks/batch_throughput.py [--jobs 8] [--steps 20] [--repeats 3] [--model ID]

Every job is a real ``make`` (embedded prior unless ``--model``) at tiny settings. For each
configuration the whole batch runs ``--repeats`` times into fresh folders; the table shows
the median jobs per minute (whole batch, and steady: once every worker has finished its
first job, i.e. paid its imports and model load) and the ratio to the reference measured
in the same run: the local engine (one process, model loaded once). ``reload`` is what tools without batching
do: the same jobs in one process, loading the model again for every job.

Ray is started once (``num_cpus`` = the most workers asked for, loopback) and not counted;
creating the actors (a fresh Python process each: imports) and loading their models is
counted. Configurations are interleaved across repeats, so drifting machine load affects
all alike. Every worker, the local process included, runs torch with one thread (Ray gives
an actor that reserves one CPU ``OMP_NUM_THREADS=1``), so 2 workers use 2 cores.
"""

from __future__ import annotations

from vecdistill.runtime import configure_process

configure_process()  # before torch loads: OpenMP and heap settings (vecdistill/runtime.py)

import argparse
import csv
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

PROMPTS = ["red heart", "yellow star", "blue circle", "green tree", "orange sun", "black cat", "pink flower",
           "purple moon"]


def write_jobs(folder: Path, n: int, steps: int, paths: int) -> Path:
    path = folder / "jobs.csv"
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["command", "prompt", "steps", "paths", "seed"])
        for i in range(n):
            writer.writerow(["make", PROMPTS[i % len(PROMPTS)], steps, paths, i])
    return path


def timed_batch(jobs, outdir: Path, engine, kinds) -> tuple[float, float | None, list[dict]]:
    """(wall seconds of the whole batch, steady jobs/min, manifest records).

    Steady: jobs finished after every worker returned its first job (imports and model
    load paid), divided by the time they took."""
    from vecdistill.batch.manifest import MANIFEST_NAME, read_records
    from vecdistill.batch.progress import BatchProgress
    from vecdistill.batch.runner import run_batch

    class Stamps(BatchProgress):
        def __init__(self):
            super().__init__(enabled=False)
            self.times: list[float] = []

        def update(self, status):
            self.times.append(time.perf_counter())

    stamps = Stamps()
    start = time.perf_counter()
    summary = run_batch(jobs, outdir, engine, kinds, progress=stamps)
    seconds = time.perf_counter() - start
    records = read_records(outdir / MANIFEST_NAME)[0]
    if summary.failed:
        raise SystemExit(f"{summary.failed} jobs failed: {[r['error'] for r in records if r['error']][:3]}")
    first_of_worker = {}
    for i, record in enumerate(records):  # completion order = stamp order
        first_of_worker.setdefault(record["worker"], i)
    warm = max(first_of_worker.values())
    done_after = len(records) - 1 - warm
    steady = done_after / (stamps.times[-1] - stamps.times[warm]) * 60 if done_after > 0 else None
    return seconds, steady, records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=8)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--paths", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--model", default=None, help="diffusers model (default: the embedded prior)")
    parser.add_argument("--workers", default="1,2", help="Ray worker counts to measure")
    parser.add_argument("--no-reload", action="store_true", help="skip the reload-per-job row")
    args = parser.parse_args()

    os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core per worker, as Ray gives its actors
    import torch

    torch.set_num_threads(1)
    from vecdistill.batch.jobs import parse_jobs
    from vecdistill.batch.kinds import KINDS
    from vecdistill.batch.local import LocalEngine
    from vecdistill.batch.worker import ModelCache

    class ReloadEngine(LocalEngine):
        """The baseline: a fresh model cache (a model load) for every job."""

        def run(self, jobs, on_result):
            for job in jobs:
                self.cache = ModelCache(self.cache.loader)
                super().run([job], on_result)

    worker_counts = [int(w) for w in args.workers.split(",") if w]
    rows: dict[str, list[float]] = {}
    steady_rows: dict[str, list[float]] = {}
    details: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="batch-bench-") as tmp:
        tmp = Path(tmp)
        jobs = parse_jobs(write_jobs(tmp, args.jobs, args.steps, args.paths), "0",
                          {"model": args.model} if args.model else None)

        def measure(name: str, make_engine, r: int) -> None:
            outdir = tmp / f"{name}-{r}"
            seconds, steady, records = timed_batch(jobs, outdir, make_engine(outdir), KINDS)
            rows.setdefault(name, []).append(args.jobs / seconds * 60)
            if steady is not None:
                steady_rows.setdefault(name, []).append(steady)
            details.setdefault(name, {"job_s": [], "load_s": [], "loads": []})
            details[name]["job_s"] += [rec["seconds"] - rec.get("load_seconds", 0) for rec in records]
            load_s = [rec["load_seconds"] for rec in records if rec.get("load_seconds")]
            details[name]["load_s"] += load_s
            details[name]["loads"].append(len(load_s))
            print(f"  {name} repeat {r}: {seconds:.1f} s", file=sys.stderr, flush=True)

        configs = [("local", lambda out: LocalEngine(KINDS, out, device="cpu"))]
        if not args.no_reload:
            configs.append(("reload", lambda out: ReloadEngine(KINDS, out, device="cpu")))
        if worker_counts:
            import ray

            from vecdistill.batch.ray_engine import RayEngine

            ray.init(address="local", num_cpus=max(worker_counts), include_dashboard=False,
                     log_to_driver=False, _node_ip_address="127.0.0.1")
            configs += [(f"ray-{n}", lambda out, n=n: RayEngine(KINDS, out, workers=n, device="cpu"))
                        for n in worker_counts]
        try:
            # interleaved (local, reload, ray-1, ray-2, local, ...) so that a change in the
            # machine's load over time hits every configuration alike
            for r in range(args.repeats):
                for name, make_engine in configs:
                    measure(name, make_engine, r)
        finally:
            if worker_counts:
                ray.shutdown()

    reference = statistics.median(rows["local"])
    print(f"{args.jobs} make jobs ({args.steps} steps, {args.paths} paths, model "
          f"{args.model or 'embedded'}), {args.repeats} repeats, {os.cpu_count()} CPUs")
    steady_ref = statistics.median(steady_rows["local"]) if steady_rows.get("local") else None
    print(f"{'engine':<8} {'jobs/min':>9} {'vs local':>9} {'steady jobs/min':>16} {'vs local':>9} "
          f"{'s/job':>7} {'load s':>7} {'loads':>6}")
    for name, values in rows.items():
        d = details[name]
        load = statistics.median(d["load_s"]) if d["load_s"] else 0.0
        steady = statistics.median(steady_rows[name]) if steady_rows.get(name) else float("nan")
        steady_ratio = steady / steady_ref if steady_ref else float("nan")
        print(f"{name:<8} {statistics.median(values):>9.1f} {statistics.median(values) / reference:>8.2f}x "
              f"{steady:>16.1f} {steady_ratio:>8.2f}x {statistics.median(d['job_s']):>7.2f} {load:>7.2f} "
              f"{statistics.median(d['loads']):>6g}")
    print("jobs/min: whole batch, wall clock; steady: after every worker finished its first job;")
    print("s/job: median job time without model loading; load s: median model load (with first imports);")
    print("loads: model loads per batch")
    print(json.dumps({"jobs_per_min": {k: [round(v, 2) for v in vs] for k, vs in rows.items()},
                      "steady_jobs_per_min": {k: [round(v, 2) for v in vs] for k, vs in steady_rows.items()}}))


if __name__ == "__main__":
    main()
