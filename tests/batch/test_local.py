"""The local engine end to end with a test job kind: outputs, manifest, failures recorded,
models loaded once, reruns skip finished jobs."""

import json

import pytest

from vecdistill.batch.jobs import parse_jobs
from vecdistill.batch.local import LocalEngine
from vecdistill.batch.manifest import MANIFEST_NAME, read_records
from vecdistill.batch.runner import run_batch, validate_jobs
from vecdistill.errors import InputError

from .helpers import KINDS, counting_loader


def write_jobs(tmp_path, rows):
    path = tmp_path / "jobs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def run(jobs, outdir, **kw):
    return run_batch(jobs, outdir, LocalEngine(KINDS, outdir, device="cpu", loader=counting_loader), KINDS, **kw)


def test_local_batch_records_every_job_and_failures_do_not_stop_it(tmp_path):
    (tmp_path / "logo.svg").write_text("<svg id='logo'/>")
    path = write_jobs(tmp_path, [
        {"command": "echo", "prompt": "a fox"},
        {"command": "echo", "prompt": "bad input", "fail": "input"},
        {"command": "echo", "prompt": "a bug", "fail": "yes"},
        {"command": "echo", "prompt": "logo", "svg": "logo.svg"},
    ])
    outdir = tmp_path / "out"
    summary = run(parse_jobs(path, "0-1"), outdir)
    assert (summary.ok, summary.failed, summary.skipped, summary.total) == (4, 4, 0, 8)
    records, bad = read_records(outdir / MANIFEST_NAME)
    assert bad == 0 and len(records) == 8
    by_prompt = {}
    for r in records:
        by_prompt.setdefault(r["options"]["prompt"], []).append(r)
    for r in by_prompt["a fox"]:
        assert r["status"] == "ok" and r["error"] is None
        written = json.loads((outdir / r["outputs"]["txt"]).read_text())
        assert written["prompt"] == "a fox" and written["seed"] == r["seed"]
    assert {r["seed"] for r in by_prompt["a fox"]} == {0, 1}
    assert all(r["status"] == "failed" and r["error"] == "cannot do 'bad input'" for r in by_prompt["bad input"])
    assert all("traceback" not in r for r in by_prompt["bad input"])  # a user error, not a bug
    assert all(r["error"] == "ValueError: boom" and "raise ValueError" in r["traceback"] for r in by_prompt["a bug"])
    logo = json.loads((outdir / by_prompt["logo"][0]["outputs"]["txt"]).read_text())
    assert logo["svg_text"] == "<svg id='logo'/>"
    assert all(r["seconds"] >= 0 and r["worker"] for r in records)
    assert max(r["model_loads"] for r in records) == 1  # one model load for the whole batch


def test_rerun_skips_finished_jobs_and_retry_failed_reruns_only_failures(tmp_path):
    path = write_jobs(tmp_path, [{"command": "echo", "prompt": "fox"}, {"command": "echo", "prompt": "x", "fail": "yes"}])
    outdir = tmp_path / "out"
    run(parse_jobs(path, "0-1"), outdir)
    fox_files = sorted(p.name for p in outdir.glob("fox-*.txt"))
    mtimes = [p.stat().st_mtime_ns for p in sorted(outdir.glob("fox-*.txt"))]
    again = run(parse_jobs(path, "0-1"), outdir)
    assert (again.ok, again.failed, again.skipped, again.skipped_failed) == (0, 0, 4, 2)
    assert [p.stat().st_mtime_ns for p in sorted(outdir.glob("fox-*.txt"))] == mtimes
    retry = run(parse_jobs(path, "0-1"), outdir, retry_failed=True)
    assert (retry.ok, retry.failed, retry.skipped) == (0, 2, 2)
    # more seeds later: only the new jobs run
    more = run(parse_jobs(path, "0-2"), outdir)
    assert (more.ok, more.failed, more.skipped) == (1, 1, 4)
    assert len(list(outdir.glob("fox-*.txt"))) == len(fox_files) + 1
    records, _ = read_records(outdir / MANIFEST_NAME)
    ok_per_job = {}
    for r in records:
        if r["status"] == "ok":
            ok_per_job[r["job"]] = ok_per_job.get(r["job"], 0) + 1
    assert set(ok_per_job.values()) == {1}


def test_jobs_are_grouped_by_model_so_each_loads_once(tmp_path):
    path = write_jobs(tmp_path, [{"command": "echo", "prompt": f"p{i}", "model": f"m{i % 2}"} for i in range(6)])
    outdir = tmp_path / "out"
    engine = LocalEngine(KINDS, outdir, device="cpu", loader=counting_loader, capacity=1)
    run_batch(parse_jobs(path), outdir, engine, KINDS)
    assert engine.cache.loads == 2
    records, _ = read_records(outdir / MANIFEST_NAME)
    priors = [json.loads((outdir / r["outputs"]["txt"]).read_text())["prior"] for r in records]
    assert sorted(priors) == ["fake:m0"] * 3 + ["fake:m1"] * 3


def test_bad_jobs_are_reported_before_anything_runs(tmp_path):
    path = write_jobs(tmp_path, [{"command": "echo", "prompt": "fine"}, {"command": "mkae", "prompt": "typo"},
                                 {"command": "echo", "svg": "missing.svg"}, {"command": "echo", "bad": 1}])
    jobs = parse_jobs(path)
    with pytest.raises(InputError, match=r"jobs.jsonl line 2: unknown command 'mkae'.*\(and 2 more problems\)"):
        validate_jobs(jobs, KINDS)
    with pytest.raises(InputError, match="missing.svg does not exist"):
        validate_jobs(jobs[2:3], KINDS)
    with pytest.raises(InputError):
        run(jobs, tmp_path / "out")
    assert not (tmp_path / "out" / MANIFEST_NAME).exists()
