"""The CLI shell: fast help, one-line errors, exit codes."""

import importlib.util
import json
import subprocess
import sys

import pytest

from vecdistill.cli import COMMANDS


def run(*args, **kw):
    return subprocess.run([sys.executable, "-m", "vecdistill.cli", *args], capture_output=True, text=True, timeout=120, **kw)


def test_help_lists_every_command_without_importing_torch():
    code = "import sys; from vecdistill.cli import main; sys.argv=['vecdistill','--help']\n" \
           "try:\n main()\nexcept SystemExit: pass\nprint('TORCH' if 'torch' in sys.modules else 'LIGHT')"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60).stdout
    for name in COMMANDS:
        assert name in out
    assert out.strip().endswith("LIGHT")


def test_unknown_command_is_one_line_exit_2():
    r = run("frobnicate")
    assert r.returncode == 2
    assert r.stderr.startswith("error:") and "Traceback" not in r.stderr


def test_doctor_json_reports_versions_and_backends():
    r = run("doctor", "--json", "--skip-prior")
    report = json.loads(r.stdout)
    assert report["checks"]["versions"]["torch"].startswith("2.")
    assert "pydiffvg" in report["checks"]["backends"]
    assert r.returncode == (0 if report["ok"] else 1)
    fused = report["checks"]["backends"]["fused GPU kernels"]
    assert fused.startswith("Triton found") or fused.startswith("Triton not installed")
    compiled = report["checks"]["backends"]["compiled CPU kernels"]
    assert compiled.startswith("Numba") and ("ready for CPU renders" in compiled) == (importlib.util.find_spec("numba") is not None)


def test_doctor_says_when_the_fused_kernels_are_off(monkeypatch):
    from vecdistill.diagnostics import run_checks

    monkeypatch.setenv("VECDISTILL_FUSED", "0")
    assert run_checks(load_prior=False)["checks"]["backends"]["fused GPU kernels"].startswith("off (VECDISTILL_FUSED=0)")
    monkeypatch.setenv("VECDISTILL_JIT", "0")
    assert run_checks(load_prior=False)["checks"]["backends"]["compiled CPU kernels"].startswith("off (VECDISTILL_JIT=0)")


def test_doctor_compiles_the_cpu_kernels_and_reports_a_failure(compile_fails):
    """doctor does what a render would (compile or load the kernels), so a machine where
    they cannot compile is told so, with the reason, before a slow run finds out."""
    pytest.importorskip("numba")
    from vecdistill.diagnostics import run_checks
    from vecdistill.raster import jit_coverage

    compile_fails(jit_coverage)
    with pytest.warns(RuntimeWarning, match="compiled CPU kernels failed"):
        line = run_checks(load_prior=False)["checks"]["backends"]["compiled CPU kernels"]
    assert line == "failed (LLVM ERROR: no target here): CPU renders use the per-operation path"


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_registered_command_imports(name):
    r = run(name, "--help")
    assert r.returncode == 0, r.stderr
    assert "Usage:" in r.stdout


def test_make_and_edit_say_which_captions_the_prompts_matched(tmp_path, capsys, one_thread):
    from vecdistill.cli import main

    def cli(*args):
        try:
            main(list(args))
        except SystemExit as exc:
            assert exc.code == 0
        return capsys.readouterr()

    out = cli("make", "purple cat", str(tmp_path / "cat.svg"), "--steps", "2", "--size", "16", "--quiet")
    assert "prompt matched: cat face, cat (recoloured purple: no such icon)" in out.err
    out = cli("make", "a yellow animal", str(tmp_path / "yellow.svg"), "--steps", "2", "--size", "16", "--quiet")
    assert "(chosen by colour: yellow)" in out.err and "ignored" not in out.err
    heart = tmp_path / "heart.svg"
    heart.write_text('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 8 8"><path d="M1 1H7V7z" fill="red"/></svg>')
    out = cli("edit", str(heart), str(tmp_path / "g.svg"), "--source", "red heart", "--target", "green heart",
              "--steps", "2", "--size", "16", "--quiet")
    assert "source matched: red heart" in out.err and "target matched: green heart" in out.err
