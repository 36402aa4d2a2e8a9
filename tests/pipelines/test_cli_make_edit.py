"""The ``make`` and ``edit`` commands: options, TOML config, one-line errors, a tiny random
diffusers pipeline through ``--model PATH``, and Ctrl-C."""

import json
import signal
import subprocess
import sys
import time

import pytest

from vecdistill.cli import main

FAST = ["--size", "16", "--paths", "3", "--steps", "3", "--quiet"]


def cli(*args):
    """Run the CLI in-process; returns (exit code, stdout, stderr) via capsys-free capture."""
    try:
        main(list(args))
    except SystemExit as exc:
        return exc.code
    return 0


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    from vecdistill.priors.tiny import build_tiny_pipeline

    return str(build_tiny_pipeline(tmp_path_factory.mktemp("tiny") / "sd"))


@pytest.mark.parametrize(
    "args, message",
    [
        (["make", "red heart", "out.txt"], "must end in .svg"),
        (["make", "red heart", "o.svg", "--t-range", "0.9", "0.1"], "t range"),
        (["make", "red heart", "o.svg", "--init", "missing.svg"], "does not exist"),
        (["make", "red heart", "o.svg", "--style", "oil"], "oil"),
        (["make", "red heart", "o.svg", "--video", "run.avi"], ".gif or .mp4"),
        (["make", "red heart", "o.svg", "--device", "tpu:7"], "device"),
        (["edit", "in.svg", "o.svg", "--source", "a"], "--target"),
        (["edit", "nothing.svg", "o.svg", "--source", "a", "--target", "b", "--lock-colors", "--lock-geometry"], "nothing to edit"),
    ],
)
def test_bad_options_are_one_line_and_exit_2(args, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = cli(*args)
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error:") and message in err and "Traceback" not in err
    assert not (tmp_path / "o.svg").exists()


def test_existing_output_needs_overwrite(capsys, tmp_path):
    out = tmp_path / "o.svg"
    out.write_text("<svg/>")
    assert cli("make", "red heart", str(out), *FAST) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert out.read_text() == "<svg/>"


def test_toml_config_with_flags_overriding_it(tmp_path, capsys):
    conf = tmp_path / "run.toml"
    conf.write_text('steps = 2\npaths = 3\nsize = 16\nseed = 4\nguidance_scale = 7.5\nt-range = [0.2, 0.8]\nquiet = true\n')
    out = tmp_path / "o.svg"
    assert cli("make", "red heart", str(out), "--config", str(conf), "--seed", "9") == 0
    m = json.loads(out.with_suffix(".json").read_text())
    assert m["seed"] == 9 and m["config"]["steps"] == 2 and m["config"]["guidance_scale"] == 7.5
    assert m["config"]["t_range"] == [0.2, 0.8] and m["config"]["quiet"] is True
    assert "wrote" in capsys.readouterr().out
    conf.write_text("stepz = 3\n")
    assert cli("make", "a red heart", str(tmp_path / "p.svg"), "--config", str(conf)) == 2
    assert "unknown key 'stepz'" in capsys.readouterr().err


@pytest.mark.slow
def test_make_and_edit_with_a_tiny_random_diffusers_pipeline(tiny_model, tmp_path):
    out = tmp_path / "made.svg"
    assert cli("make", "a red heart", str(out), "--model", tiny_model, *FAST, "--video", str(tmp_path / "run.gif"), "--save-every", "2") == 0
    m = json.loads(out.with_suffix(".json").read_text())
    assert m["prior"]["name"] != "embedded-icons" and m["steps_done"] == 3
    assert (tmp_path / "run.gif").stat().st_size > 0
    assert sorted(p.name for p in (tmp_path / "made_snapshots").iterdir()) == ["step_00002.png", "step_00002.svg", "step_00003.png", "step_00003.svg"]
    edited = tmp_path / "edited.svg"
    code = cli("edit", str(out), str(edited), "--source", "a red heart", "--target", "a blue heart", "--model", tiny_model, "--size", "16", "--steps", "2", "--quiet")
    assert code == 0
    assert json.loads(edited.with_suffix(".json").read_text())["config"]["method"] == "pds"


@pytest.mark.slow
def test_ctrl_c_exits_130_after_writing_the_best_so_far(tmp_path):
    out = tmp_path / "o.svg"
    proc = subprocess.Popen(
        [sys.executable, "-m", "vecdistill.cli", "make", "red heart", str(out), "--size", "16", "--paths", "3", "--steps", "100000", "--quiet", "--save-every", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # (background shells ignore SIGINT)
    )
    snaps = tmp_path / "o_snapshots"
    deadline = time.time() + 90
    while time.time() < deadline and not (snaps.exists() and any(snaps.iterdir())):
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    m = json.loads(out.with_suffix(".json").read_text())
    assert m["interrupted"] is True and m["steps_done"] >= 1
    assert "<path" in out.read_text()
