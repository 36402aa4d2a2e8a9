"""JOBS files: text, CSV and JSONL parsing, seeds expansion, stable job ids."""

import json

import pytest

from vecdistill.batch.jobs import Job, parse_jobs, parse_seeds
from vecdistill.errors import InputError


@pytest.mark.parametrize("spec, seeds", [("0-3", [0, 1, 2, 3]), ("0,2,5", [0, 2, 5]), ("1-2,7", [1, 2, 7]),
                                         ("4", [4]), (" 3 , 3,1", [3, 1])])
def test_seed_specs(spec, seeds):
    assert parse_seeds(spec) == seeds


@pytest.mark.parametrize("spec", ["", "a", "3-1", "1-", "-2", "1..3"])
def test_bad_seed_specs_are_input_errors(spec):
    with pytest.raises(InputError, match="seeds"):
        parse_seeds(spec)


def test_text_file_is_make_jobs_times_seeds(tmp_path):
    path = tmp_path / "prompts.txt"
    path.write_text("a red fox\n\n# a comment\n  a blue whale  \n")
    jobs = parse_jobs(path, "0-2")
    assert len(jobs) == 6
    assert {j.command for j in jobs} == {"make"}
    assert sorted({j.options["prompt"] for j in jobs}) == ["a blue whale", "a red fox"]
    assert sorted(j.seed for j in jobs if j.options["prompt"] == "a red fox") == [0, 1, 2]
    assert jobs[0].origin == "prompts.txt line 1"


def test_csv_rows_commands_options_and_row_seed(tmp_path):
    path = tmp_path / "jobs.csv"
    path.write_text("command,prompt,svg,target,Guidance-Scale,seed\n"
                    "make,a cat,,,7.5,\n"
                    "edit,,logo.svg,a golden logo,,3\n"
                    ",a dog,,,,\n")
    jobs = parse_jobs(path, "0,1", defaults={"model": "m"})
    by_cmd = {}
    for job in jobs:
        by_cmd.setdefault(job.command, []).append(job)
    assert len(by_cmd["make"]) == 4  # two make rows (empty command = make) x two seeds
    edit = by_cmd["edit"]
    assert [j.seed for j in edit] == [3]  # the row's seed replaces --seeds
    assert edit[0].options == {"model": "m", "svg": "logo.svg", "target": "a golden logo"}
    cat = next(j for j in jobs if j.options.get("prompt") == "a cat")
    assert cat.options["guidance_scale"] == "7.5"  # normalised name, value still text
    assert edit[0].resolve("logo.svg") == tmp_path / "logo.svg"


def test_jsonl_typed_values_and_errors_name_the_line(tmp_path):
    path = tmp_path / "jobs.jsonl"
    path.write_text(json.dumps({"command": "word", "text": "CAT", "concept": "a cat", "steps": 5}) + "\n"
                    + json.dumps({"command": "make", "prompt": "x", "seeds": "1-2"}) + "\n")
    jobs = parse_jobs(path, "0")
    assert [(j.command, j.seed) for j in jobs] == [("word", 0), ("make", 1), ("make", 2)]
    assert jobs[0].options["steps"] == 5
    path.write_text('{"command": "make", "prompt": "x"}\n{"command": "make", "prompt": \n')
    with pytest.raises(InputError, match="jobs.jsonl line 2"):
        parse_jobs(path)
    path.write_text('["make", "x"]\n')
    with pytest.raises(InputError, match="line 1"):
        parse_jobs(path)


def test_ids_are_stable_across_order_and_runs_and_differ_by_content(tmp_path):
    a = tmp_path / "a.csv"
    b = tmp_path / "b.csv"
    a.write_text("prompt,steps\nfox,10\nwhale,20\n")
    b.write_text("steps,prompt\n20,whale\n10,fox\n")
    ids_a = {j.id for j in parse_jobs(a, "0-1")}
    assert ids_a == {j.id for j in parse_jobs(b, "0-1")} == {j.id for j in parse_jobs(a, "0-1")}
    assert len(ids_a) == 4
    base = Job("make", {"prompt": "fox"}, 0)
    assert Job("make", {"prompt": "fox"}, 1).id != base.id
    assert Job("make", {"prompt": "fox", "steps": 5}, 0).id != base.id
    assert Job("edit", {"prompt": "fox"}, 0).id != base.id


def test_duplicate_rows_run_once(tmp_path):
    path = tmp_path / "p.txt"
    path.write_text("fox\nfox\n")
    assert len(parse_jobs(path, "0-1")) == 2


def test_stem_is_a_safe_unique_file_name():
    job = Job("make", {"prompt": "A Cat / on ../../a mat!!"}, 7)
    assert job.stem.startswith("a-cat-on-a-mat-s7-")
    assert "/" not in job.stem and ".." not in job.stem
    assert Job("make", {"prompt": "A Cat / on ../../a mat!!"}, 8).stem != job.stem


@pytest.mark.parametrize("content, name", [("", "empty.txt"), ("# only a comment\n", "c.txt"),
                                           ("command,prompt\n", "h.csv")])
def test_files_without_jobs_are_input_errors(tmp_path, content, name):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(InputError, match="no jobs"):
        parse_jobs(path)


def test_missing_file_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        parse_jobs(tmp_path / "nope.txt")
