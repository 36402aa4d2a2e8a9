"""Outputs: an existing output is kept without --overwrite (make, edit, word); a folder that
cannot hold the output is reported before any model is loaded or step run; a full disk
(ENOSPC at write time) is one OutputError line and the previous output stays intact."""

import errno
import json
import os

import pytest

from vecdistill.errors import OutputError
from vecdistill.pipelines.checkpoint import checkpoint_path
from vecdistill.pipelines.make import MakeConfig, make

pytestmark = pytest.mark.usefixtures("one_thread")

FAST = ["--size", "16", "--paths", "2", "--steps", "2", "-q"]
HEART = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><path d="M2 2 L14 2 L8 14 Z" fill="#e02020"/></svg>'


def commands(tmp_path, out):
    src = tmp_path / "in.svg"
    src.write_text(HEART)
    return {
        "make": ["make", "red heart", out, *FAST],
        "edit": ["edit", src, out, "--source", "red heart", "--target", "green heart", "--steps", "2", "--size", "16", "-q"],
        "word": ["word", "OK", out, "--concept", "fire", "--steps", "2", "-q"],
    }


@pytest.mark.parametrize("command", ["make", "edit", "word"])
def test_existing_output_is_kept_without_overwrite(run_cli, tmp_path, command):
    out = tmp_path / "o.svg"
    out.write_text("<svg>mine</svg>")
    code, err = run_cli(*commands(tmp_path, out)[command])
    assert code == 2 and len(err) == 1 and "exists; pass --overwrite" in err[0]
    assert out.read_text() == "<svg>mine</svg>"


@pytest.mark.parametrize("command", ["make", "edit", "word"])
@pytest.mark.parametrize("bad", ["missing/sub/o.svg", "afile/o.svg"])
def test_unwritable_output_folder_fails_before_the_run(run_cli, tmp_path, monkeypatch, command, bad):
    (tmp_path / "afile").write_text("not a folder")

    def no_prior(*a, **k):
        raise AssertionError("the prior was loaded before the output path was checked")

    monkeypatch.setattr("vecdistill.priors.load_prior", no_prior)
    code, err = run_cli(*commands(tmp_path, tmp_path / bad)[command])
    assert code == 2 and len(err) == 1 and err[0].startswith("error: cannot write")
    assert ("does not exist" in err[0]) if bad.startswith("missing") else ("is a file" in err[0])


def test_checkpoint_of_another_run_is_kept_without_overwrite(run_cli, tmp_path):
    out = tmp_path / "o.svg"
    checkpoint_path(out).write_bytes(b"another run")
    code, err = run_cli("make", "red heart", out, *FAST, "--checkpoint-every", "1")
    assert code == 2 and "o.ckpt exists; pass --overwrite" in err[0]
    assert checkpoint_path(out).read_bytes() == b"another run" and not out.exists()


def enospc(monkeypatch):
    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)


def test_full_disk_is_one_line_and_keeps_the_previous_output(embedded, run_cli, tmp_path, monkeypatch):
    out = tmp_path / "o.svg"
    make("red heart", str(out), MakeConfig(steps=2, size=16, paths=2, quiet=True), prior=embedded)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    enospc(monkeypatch)
    code, err = run_cli("make", "red heart", out, *FAST, "--seed", "9", "--overwrite")
    assert code == 2 and len(err) == 1
    assert err[0].startswith(f"error: cannot write {out}: No space left on device; the disk is full")
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before  # no temp files, old output intact
    json.loads(out.with_suffix(".json").read_text())


def test_full_disk_while_checkpointing_is_an_output_error(embedded, tmp_path, monkeypatch):
    enospc(monkeypatch)
    with pytest.raises(OutputError, match="cannot write .*o.ckpt.*disk is full"):
        make("red heart", str(tmp_path / "o.svg"), MakeConfig(steps=3, size=16, paths=2, quiet=True, checkpoint_every=1), prior=embedded)
    assert list(tmp_path.iterdir()) == []


def test_a_full_disk_is_reported_before_the_run(run_cli, tmp_path, monkeypatch):
    import shutil

    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage._replace(free=4096))

    def no_prior(*a, **k):
        raise AssertionError("the prior was loaded before the free space was checked")

    monkeypatch.setattr("vecdistill.priors.load_prior", no_prior)
    out = tmp_path / "o.svg"
    code, err = run_cli("make", "red heart", out, *FAST)
    assert code == 2 and err == [f"error: cannot write {out}: the disk is full (4096 bytes free in {tmp_path}); free some space first"]
