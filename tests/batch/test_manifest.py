"""The JSONL manifest: complete lines only, torn tails ignored and cut, one writer per
OUTDIR, and the resume plan."""

import json

import pytest

from vecdistill.batch.jobs import Job
from vecdistill.batch.manifest import (
    MANIFEST_NAME,
    ManifestWriter,
    make_record,
    plan_batch,
    read_records,
)
from vecdistill.errors import OutputError

FOX = Job("make", {"prompt": "fox"}, 0)
WHALE = Job("make", {"prompt": "whale"}, 0)
OWL = Job("make", {"prompt": "owl"}, 0)


def test_records_are_whole_lines_and_a_torn_tail_is_ignored_then_cut(tmp_path):
    with ManifestWriter(tmp_path) as manifest:
        manifest.append(make_record(FOX, "ok", outputs={"svg": "fox.svg"}, seconds=1.5))
    path = tmp_path / MANIFEST_NAME
    with open(path, "a") as handle:  # what a crash in the middle of a write leaves
        handle.write('{"job": "abc", "status": "o')
    records, bad = read_records(path)
    assert [r["job"] for r in records] == [FOX.id] and bad == 1
    with ManifestWriter(tmp_path) as manifest:
        manifest.append(make_record(WHALE, "failed", error="boom"))
    lines = path.read_text().splitlines()
    assert [json.loads(line)["job"] for line in lines] == [FOX.id, WHALE.id]
    records, bad = read_records(path)
    assert bad == 0 and records[1]["error"] == "boom" and records[0]["seconds"] == 1.5


def test_a_second_batch_cannot_write_the_same_outdir(tmp_path):
    with ManifestWriter(tmp_path):
        with pytest.raises(OutputError, match="another batch"):
            ManifestWriter(tmp_path).open()
    with ManifestWriter(tmp_path):  # released on close
        pass


def test_plan_skips_ok_jobs_with_outputs_and_failed_unless_retry(tmp_path):
    (tmp_path / "fox.svg").write_text("<svg/>")
    with ManifestWriter(tmp_path) as manifest:
        manifest.append(make_record(FOX, "failed", error="first try"))
        manifest.append(make_record(FOX, "ok", outputs={"svg": "fox.svg"}))
        manifest.append(make_record(WHALE, "failed", error="boom"))
        manifest.append(make_record(FOX, "skipped", reason="done"))  # not an attempt
    plan = plan_batch([FOX, WHALE, OWL], tmp_path)
    assert [j.id for j in plan.run] == [OWL.id]
    assert {j.id: reason for j, reason, _ in plan.skip}[WHALE.id].startswith("failed")
    retry = plan_batch([FOX, WHALE, OWL], tmp_path, retry_failed=True)
    assert [j.id for j in retry.run] == [WHALE.id, OWL.id]
    (tmp_path / "fox.svg").unlink()  # an output deleted since: the job runs again
    assert FOX.id in {j.id for j in plan_batch([FOX], tmp_path).run}
