"""``vecdistill batch`` on the command line: one-line errors, Ray optional."""

import subprocess
import sys

import pytest


def cli(*args, prelude="", **kw):
    code = f"{prelude}\nfrom vecdistill.cli import main\nmain({list(args)!r})"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, **kw)


def test_engine_ray_without_ray_says_how_to_install_it(tmp_path):
    jobs = tmp_path / "prompts.txt"
    jobs.write_text("a red heart\n")
    r = cli("batch", str(jobs), str(tmp_path / "out"), "--engine", "ray",
            prelude="import sys; sys.modules['ray'] = None  # as if Ray were not installed")
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == ["error: --engine ray needs Ray: pip install vecdistill[ray] "
                                             "(or use --engine local)"]


def test_bad_jobs_are_one_line_errors_with_exit_2(tmp_path):
    r = cli("batch", str(tmp_path / "missing.txt"), str(tmp_path / "out"))
    assert r.returncode == 2 and r.stderr.startswith("error: jobs file") and "Traceback" not in r.stderr
    jobs = tmp_path / "jobs.csv"
    jobs.write_text("command,prompt,stpes\nmake,a cat,3\n")
    r = cli("batch", str(jobs), str(tmp_path / "out"), "--seeds", "3-1")
    assert r.returncode == 2 and r.stderr.startswith("error: bad seeds") and len(r.stderr.splitlines()) == 1


def test_an_unknown_make_option_is_reported_with_its_line_before_running(tmp_path):
    from vecdistill.commands.batch import run_command
    from vecdistill.errors import InputError

    jobs = tmp_path / "jobs.csv"
    jobs.write_text("command,prompt,stpes\nmake,a cat,3\nmake,a dog,3\nmake,a cow,\n")
    with pytest.raises(InputError, match=r"^jobs.csv line 2: unknown option 'stpes' for make jobs; "
                                         r"known: .*steps.* \(and 1 more problem\)$"):
        run_command(str(jobs), str(tmp_path / "out"), quiet=True)
    assert not (tmp_path / "out").exists()


def test_set_gives_every_job_an_option_unless_its_row_sets_it(tmp_path):
    from vecdistill.batch.jobs import parse_jobs
    from vecdistill.commands.batch import parse_settings
    from vecdistill.errors import InputError

    jobs = tmp_path / "jobs.csv"
    jobs.write_text("prompt,steps\na cat,\na dog,7\n")
    defaults = parse_settings(("Steps=50", "paths = 4"))
    by_prompt = {j.options["prompt"]: j.options for j in parse_jobs(jobs, "0", defaults)}
    assert by_prompt["a cat"] == {"prompt": "a cat", "steps": "50", "paths": "4"}
    assert by_prompt["a dog"]["steps"] == "7"
    with pytest.raises(InputError, match="NAME=VALUE"):
        parse_settings(("steps",))
