"""Kill a running batch (SIGINT = Ctrl-C, or SIGTERM) and run it again: the manifest parses,
finished jobs are not redone, the rest complete."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vecdistill.batch.manifest import MANIFEST_NAME, read_records

DRIVER = Path(__file__).with_name("driver.py")


def ok_ids(records):
    return [r["job"] for r in records if r["status"] == "ok"]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_killed_batch_resumes_without_redoing_finished_jobs(tmp_path, sig):
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text("".join(json.dumps({"command": "echo", "prompt": f"p{i}", "sleep": 0.5}) + "\n" for i in range(6)))
    outdir = tmp_path / "out"
    # (SIGINT at its default: a shell starts background jobs with it ignored, and the child
    # would inherit that when the suite itself runs in the background)
    proc = subprocess.Popen([sys.executable, str(DRIVER), str(jobs), str(outdir)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 60
        while not ok_ids(read_records(outdir / MANIFEST_NAME)[0]):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no job finished in 60 s"
            time.sleep(0.05)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "run the same command again" in err and "Traceback" not in err
    records, bad = read_records(outdir / MANIFEST_NAME)
    assert bad == 0
    assert len((outdir / MANIFEST_NAME).read_text().splitlines()) == len(records)  # whole lines only
    first = ok_ids(records)
    assert 1 <= len(first) < 6 and all(r["status"] == "ok" for r in records)

    rerun = subprocess.run([sys.executable, str(DRIVER), str(jobs), str(outdir)], capture_output=True,
                           text=True, timeout=60)
    assert rerun.returncode == 0, rerun.stderr
    records, bad = read_records(outdir / MANIFEST_NAME)
    assert bad == 0
    done = ok_ids(records)
    assert sorted(set(done)) == sorted(done) and len(done) == 6  # every job ok exactly once
    skipped = [r["job"] for r in records if r["status"] == "skipped"]
    assert sorted(skipped) == sorted(first)
    assert len(list(outdir.glob("p*.txt"))) == 6
