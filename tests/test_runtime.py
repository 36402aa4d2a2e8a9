"""Process settings applied on ``import vecdistill`` (vecdistill/runtime.py)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

PROBE = "import os, vecdistill.runtime as r; print(os.environ['OMP_WAIT_POLICY'], r.allocator_tuned)"


def _probe(**env) -> list[str]:
    full = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "VECDISTILL_MALLOPT")}
    full.update(env)
    return subprocess.run([sys.executable, "-c", PROBE], env=full, capture_output=True, text=True, check=True).stdout.split()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc mallopt is Linux-only")
def test_import_sets_passive_openmp_and_tunes_the_heap():
    assert _probe() == ["PASSIVE", "True"]


def test_user_settings_win():
    assert _probe(OMP_WAIT_POLICY="ACTIVE", VECDISTILL_MALLOPT="0") == ["ACTIVE", "False"]

