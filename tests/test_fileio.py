"""Atomic outputs: nothing half-written, clear errors before long runs."""

import os

import pytest

from vecdistill.errors import OutputError
from vecdistill.fileio import atomic_open, atomic_write_text, check_output_path


def test_atomic_write_replaces_only_on_success(tmp_path):
    target = tmp_path / "out.svg"
    atomic_write_text(target, "old")
    with pytest.raises(RuntimeError):
        with atomic_open(target) as fh:
            fh.write("half")
            raise RuntimeError("crash mid-write")
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["out.svg"]  # no temporary left behind


def test_missing_folder_is_an_output_error(tmp_path):
    with pytest.raises(OutputError, match="does not exist"):
        atomic_write_text(tmp_path / "nope" / "x.svg", "x")


def test_check_output_path(tmp_path):
    existing = tmp_path / "a.svg"
    existing.write_text("x")
    assert check_output_path(existing) == existing
    with pytest.raises(OutputError, match="--overwrite"):
        check_output_path(existing, overwrite=False)
    with pytest.raises(OutputError, match="folder"):
        check_output_path(tmp_path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_folder(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    with pytest.raises(OutputError, match="not writable"):
        check_output_path(ro / "x.svg")


def test_outputs_follow_the_umask_not_0600(tmp_path):
    old = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "a.svg", "x")
    finally:
        os.umask(old)
    assert (tmp_path / "a.svg").stat().st_mode & 0o777 == 0o644
