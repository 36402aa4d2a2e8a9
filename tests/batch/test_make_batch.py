"""End to end: real ``make`` jobs on the embedded prior at tiny settings, through the batch
command (in-process and as a killed-then-rerun subprocess)."""

import json
import signal
import subprocess
import sys
import time

import pytest

from vecdistill.batch.manifest import MANIFEST_NAME, read_records
from vecdistill.commands.batch import run_command

TINY = ("steps=3", "paths=4", "augment=false")


def test_make_jobs_run_with_one_prior_load_and_match_a_single_run(tmp_path):
    from vecdistill.pipelines.make import MakeConfig, make
    from vecdistill.priors import load_prior
    from vecdistill.svg.parse import load_svg

    jobs = tmp_path / "jobs.csv"
    jobs.write_text("command,prompt\nmake,red heart\nmake,qwzx blorf\n")
    outdir = tmp_path / "out"
    code = run_command(str(jobs), str(outdir), seeds="0-1", settings=TINY, device="cpu", quiet=True)
    assert code == 1  # the nonsense prompt failed
    records, bad = read_records(outdir / MANIFEST_NAME)
    assert bad == 0 and len(records) == 4
    ok = [r for r in records if r["status"] == "ok"]
    failed = [r for r in records if r["status"] == "failed"]
    assert len(ok) == 2 and {r["options"]["prompt"] for r in failed} == {"qwzx blorf"}
    assert all("caption" in r["error"] and "traceback" not in r for r in failed)  # the prior's PromptError
    assert max(r["model_loads"] for r in records) == 1 and sum(r["load_seconds"] > 0 for r in records) == 1
    for r in ok:
        scene = load_svg(outdir / r["outputs"]["svg"])
        assert scene.num_paths() >= 1
        assert json.loads((outdir / r["outputs"]["json"]).read_text())["steps_done"] == 3
        assert r["info"]["steps_done"] == 3 and r["info"]["path_count"] == scene.num_paths()
    # a job of the batch (shared, already used prior) gives the SVG a single run gives
    heart1 = next(r for r in ok if r["options"]["prompt"] == "red heart" and r["seed"] == 1)
    single = tmp_path / "single.svg"
    make("red heart", out=single, prior=load_prior(None, "cpu"),
         config=MakeConfig(seed=1, steps=3, paths=4, augment=False, quiet=True))
    assert single.read_text() == (outdir / heart1["outputs"]["svg"]).read_text()
    # a rerun skips all of it
    assert run_command(str(jobs), str(outdir), seeds="0-1", settings=TINY, device="cpu", quiet=True) == 0
    assert [r["status"] for r in read_records(outdir / MANIFEST_NAME)[0][4:]] == ["skipped"] * 4


@pytest.mark.slow
def test_cli_batch_killed_by_sigterm_resumes_without_redoing_jobs(tmp_path):
    jobs = tmp_path / "prompts.txt"
    jobs.write_text("red heart\nyellow star\n")
    outdir = tmp_path / "out"
    cmd = [sys.executable, "-m", "vecdistill.cli", "batch", str(jobs), str(outdir), "--seeds", "0-1", "--quiet",
           "--device", "cpu", "--set", "steps=6", "--set", "paths=2", "--set", "augment=false"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not any(r["status"] == "ok" for r in read_records(outdir / MANIFEST_NAME)[0]):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no job finished in 120 s"
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 143, err  # 128 + SIGTERM, the shell's convention
    assert "Traceback" not in err and "run the same command again" in err
    first, bad = read_records(outdir / MANIFEST_NAME)
    assert bad == 0 and 1 <= len(first) < 4 and {r["status"] for r in first} == {"ok"}

    rerun = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert "4 jobs: " in rerun.stdout and f"{len(first)} skipped" in rerun.stdout
    records, bad = read_records(outdir / MANIFEST_NAME)
    ok = [r["job"] for r in records if r["status"] == "ok"]
    assert bad == 0 and len(ok) == len(set(ok)) == 4  # every job done exactly once
    assert len(list(outdir.glob("*.svg"))) == 4


@pytest.mark.slow
def test_every_command_kind_runs_in_one_batch(tmp_path):
    import shutil
    from pathlib import Path

    from vecdistill.svg.parse import load_svg

    examples = Path(__file__).resolve().parents[2] / "examples"
    shutil.copy(examples / "twemoji-red-heart.svg", tmp_path / "heart.svg")
    rows = [
        {"command": "edit", "svg": "heart.svg", "source": "red heart", "target": "blue heart", "steps": 2},
        {"command": "word", "text": "CAT", "concept": "cat", "steps": 2, "letters": "A"},
        {"command": "nerf", "prompt": "red apple", "preset": "tiny", "steps": 2, "render.samples": 8},
    ]
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text("".join(json.dumps(r) + "\n" for r in rows))
    outdir = tmp_path / "out"
    assert run_command(str(jobs), str(outdir), device="cpu", quiet=True) == 0
    records = {r["command"]: r for r in read_records(outdir / MANIFEST_NAME)[0]}
    assert {c: r["status"] for c, r in records.items()} == {"edit": "ok", "word": "ok", "nerf": "ok"}
    edited = load_svg(outdir / records["edit"]["outputs"]["svg"])
    assert edited.num_paths() == load_svg(tmp_path / "heart.svg").num_paths()  # edit keeps the paths
    assert load_svg(outdir / records["word"]["outputs"]["svg"]).num_paths() >= 3  # C, A, T
    nerf_dir = outdir / records["nerf"]["outputs"]["dir"]
    assert (nerf_dir / "checkpoint.pt").exists() and (nerf_dir / "manifest.json").exists()
    assert max(r["model_loads"] for r in records.values()) == 1  # one embedded prior for all three


@pytest.mark.slow
def test_diffusers_model_folder_is_loaded_once_for_all_jobs(tiny_sd_path, tmp_path):
    jobs = tmp_path / "prompts.txt"
    jobs.write_text("a cat\na dog\n")
    outdir = tmp_path / "out"
    code = run_command(str(jobs), str(outdir), model=str(tiny_sd_path), device="cpu", quiet=True,
                       settings=("steps=2", "size=32", "paths=2", "segments=2"))
    assert code == 0
    records, _ = read_records(outdir / MANIFEST_NAME)
    assert [r["status"] for r in records] == ["ok", "ok"]
    assert [r["model_loads"] for r in records] == [1, 1] and records[1]["load_seconds"] == 0
    assert all(r["options"]["model"] == str(tiny_sd_path) for r in records)
    manifest = json.loads((outdir / records[0]["outputs"]["json"]).read_text())
    assert manifest["prior"]["name"] != "embedded-icons"
