"""The before/after timing tool runs: two revisions load as separate packages in one process."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _is_git_checkout() -> bool:
    if shutil.which("git") is None:
        return False
    done = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True)
    return done.returncode == 0


@pytest.mark.skipif(not _is_git_checkout(), reason="needs a git checkout")
def test_compare_revisions_times_both_trees():
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "compare_revisions.py"), "HEAD", "--repeats", "2", "--cases", "over"],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    rows = re.findall(r"^\| over, (forward|backward) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \|$", done.stdout, re.M)
    assert [r[0] for r in rows] == ["forward", "backward"]
    assert all(float(base) > 0 and float(new) > 0 for _, base, new, _ in rows)


def test_compare_revisions_rejects_unknown_case():
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "compare_revisions.py"), "HEAD", "--cases", "nope"],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 2 and "unknown case" in done.stderr and "Traceback" not in done.stderr
