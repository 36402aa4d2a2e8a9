"""The Ray engine on a local Ray instance (2 CPUs, loopback) that this module starts once
and stops at the end."""

import json
import signal

import pytest

from vecdistill.batch.manifest import MANIFEST_NAME, read_records
from vecdistill.commands.batch import run_command

from . import helpers

ray = pytest.importorskip("ray")

pytestmark = pytest.mark.slow


def on_sigterm(signum, frame):
    raise KeyboardInterrupt


@pytest.fixture(scope="module")
def local_ray(tmp_path_factory):
    """Ray started the way the engine starts its own instance (address="local", loopback,
    no dashboard, num_cpus = max(CPUs, workers) = 2 here), while a SIGTERM handler is set."""
    import ray.cloudpickle

    from vecdistill.batch.ray_engine import RayEngine

    ray.cloudpickle.register_pickle_by_value(helpers)  # the test kind is not installed on workers
    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        assert RayEngine(helpers.KINDS, tmp_path_factory.mktemp("ray"), workers=2)._connect()
        handler_after_start = signal.getsignal(signal.SIGTERM)
    finally:
        signal.signal(signal.SIGTERM, previous)
    try:
        yield handler_after_start
    finally:
        ray.shutdown()
        ray.cloudpickle.unregister_pickle_by_value(helpers)


def test_starting_ray_keeps_our_sigterm_handler(local_ray):
    # Ray's start-up sets a handler that aborts the process; ours (SIGTERM = Ctrl-C, so the
    # manifest is closed cleanly) must survive it
    assert local_ray is on_sigterm
    assert ray.cluster_resources()["CPU"] >= 2


def test_ray_batch_two_workers_each_load_once_failures_recorded(local_ray, tmp_path):
    (tmp_path / "logo.svg").write_text("<svg id='logo'/>")
    rows = [{"command": "echo", "prompt": f"job {i}", "sleep": 0.4} for i in range(6)]
    rows += [{"command": "echo", "prompt": "a bug", "fail": "yes"},
             {"command": "echo", "prompt": "crash", "fail": "crash"},
             {"command": "echo", "prompt": "logo", "svg": "logo.svg"}]
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text("".join(json.dumps(r) + "\n" for r in rows))
    outdir = tmp_path / "out"
    code = run_command(str(jobs), str(outdir), engine="ray", workers=2, device="cpu", quiet=True,
                       kinds=helpers.KINDS, loader=helpers.counting_loader)
    assert code == 1  # some jobs failed
    records, bad = read_records(outdir / MANIFEST_NAME)
    assert bad == 0 and len(records) == 9
    status = {r["options"]["prompt"]: r for r in records}
    assert status["a bug"]["status"] == "failed" and status["a bug"]["error"] == "ValueError: boom"
    assert status["crash"]["status"] == "failed" and "worker died" in status["crash"]["error"]
    ok = [r for r in records if r["status"] == "ok"]
    assert len(ok) == 7
    for r in ok:  # outputs came back to the driver's OUTDIR
        assert json.loads((outdir / r["outputs"]["txt"]).read_text())["prompt"] == r["options"]["prompt"]
    assert json.loads((outdir / status["logo"]["outputs"]["txt"]).read_text())["svg_text"] == "<svg id='logo'/>"
    workers = {r["worker"] for r in ok}
    assert len(workers) >= 2  # spread over the actors
    for worker in workers:  # each actor loaded its model once for all its jobs
        assert max(r["model_loads"] for r in ok if r["worker"] == worker) == 1
    # a rerun skips everything that finished, on Ray too
    again = run_command(str(jobs), str(outdir), engine="ray", workers=2, device="cpu", quiet=True,
                        kinds=helpers.KINDS, loader=helpers.counting_loader)
    assert again == 0
    records, _ = read_records(outdir / MANIFEST_NAME)
    assert [r["status"] for r in records[9:]] == ["skipped"] * 9


def test_ray_runs_real_make_jobs_and_gives_the_svgs_a_local_run_gives(local_ray, tmp_path):
    from vecdistill.pipelines.make import MakeConfig, make
    from vecdistill.priors import load_prior
    from vecdistill.svg.parse import load_svg

    jobs = tmp_path / "prompts.txt"
    jobs.write_text("red heart\n")
    outdir = tmp_path / "out"
    code = run_command(str(jobs), str(outdir), seeds="0-1", engine="ray", workers=2, device="cpu", quiet=True,
                       settings=("steps=2", "paths=2", "augment=false"))
    assert code == 0
    records, _ = read_records(outdir / MANIFEST_NAME)
    assert [r["status"] for r in records] == ["ok", "ok"]
    assert all(r["model_loads"] == 1 for r in records)
    seed0 = next(r for r in records if r["seed"] == 0)
    assert load_svg(outdir / seed0["outputs"]["svg"]).num_paths() >= 1
    assert (outdir / seed0["outputs"]["json"]).exists()
    single = tmp_path / "single.svg"
    make("red heart", out=single, prior=load_prior(None, "cpu"),
         config=MakeConfig(seed=0, steps=2, paths=2, augment=False, quiet=True))
    assert single.read_text() == (outdir / seed0["outputs"]["svg"]).read_text()
