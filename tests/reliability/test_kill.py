"""A `vecdistill make` process killed with SIGTERM mid-run exits 143 leaving a parseable
best-so-far SVG, its manifest and a checkpoint; resuming from it gives the SVG of an
uninterrupted run with the same seed."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from vecdistill.pipelines.checkpoint import checkpoint_path
from vecdistill.pipelines.make import MakeConfig, make
from vecdistill.svg.parse import load_svg

SETTINGS = dict(steps=30, size=16, paths=3, segments=2, seed=4)


@pytest.mark.slow  # a subprocess start (torch import, prior load) is ~10 s on the shared CPU
@pytest.mark.usefixtures("one_thread")
def test_sigterm_mid_run_keeps_outputs_and_resume_matches(embedded, tmp_path):
    out = tmp_path / "killed.svg"
    argv = [sys.executable, "-m", "vecdistill.cli", "make", "red heart", str(out), "-q", "--checkpoint-every", "2"]
    for k, v in SETTINGS.items():
        argv += [f"--{k}", str(v)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    deadline = time.monotonic() + 120
    while not checkpoint_path(out).exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be killed: " + proc.stderr.read()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert err.strip().splitlines()[-1] == "interrupted" and "Traceback" not in err
    manifest = json.loads(out.with_suffix(".json").read_text())
    assert manifest["interrupted"] is True and 2 <= manifest["steps_done"] < SETTINGS["steps"]
    assert load_svg(out).num_paths() >= 1

    ref = tmp_path / "ref.svg"
    make("red heart", str(ref), MakeConfig(quiet=True, **SETTINGS), prior=embedded)
    _, resumed = make("red heart", str(out), MakeConfig(quiet=True, resume=True, **SETTINGS), prior=embedded)
    assert resumed["steps_done"] == SETTINGS["steps"]
    assert out.read_text() == ref.read_text()
