"""``vecdistill toy``: the JSON it prints, the figure it writes, and the expected ordering."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from vecdistill.cli import cli, main
from vecdistill.pipelines.toy import toy_metrics, toy_prior


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("toy") / "fig.png"
    res = CliRunner().invoke(cli, ["toy", "--json", "--steps", "250", "--points", "128", "--lr", "0.08", "--out", str(out)])
    return res, out


def test_json_and_expected_ordering(toy_run) -> None:
    res, _ = toy_run
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert set(data) == {"sds", "dds", "pds"}
    for m in data.values():
        assert set(m) == {"in_target", "diversity", "displacement"}
    sds, dds, pds = data["sds"], data["dds"], data["pds"]
    # all three reach the target class
    assert min(sds["in_target"], dds["in_target"], pds["in_target"]) > 0.8
    # SDS collapses: far less diverse than both editing methods (the start cloud has ~1.6)
    assert sds["diversity"] < 0.3 * min(dds["diversity"], pds["diversity"])
    # DDS and PDS stay diverse; PDS moves the points least
    assert pds["diversity"] > 1.5 and dds["diversity"] > 1.5
    assert pds["displacement"] < dds["displacement"] and pds["displacement"] < sds["displacement"]


def test_figure_written(toy_run) -> None:
    _, out = toy_run
    img = Image.open(out)
    assert img.format == "PNG" and img.width == 3 * 360
    assert len(img.convert("RGB").getcolors(maxcolors=1 << 20)) > 10  # something was drawn


def test_existing_figure_needs_overwrite(tmp_path, capsys) -> None:
    out = tmp_path / "fig.png"
    out.write_bytes(b"x")
    with pytest.raises(SystemExit) as exc:
        main(["toy", "--steps", "1", "--points", "4", "--out", str(out)])
    assert exc.value.code == 2 and out.read_bytes() == b"x"
    assert "--overwrite" in capsys.readouterr().err


def test_metrics_definitions() -> None:
    prior = toy_prior()
    start = torch.zeros(4, 2)
    end = torch.tensor([[2.0, 2.0], [3.5, 0.0], [2.0, -2.0 - 3 * 0.15**0.5 - 0.01], [10.0, 10.0]])
    m = toy_metrics(end, start, prior)
    assert m["in_target"] == 0.5
    assert m["displacement"] == pytest.approx(float(end.norm(dim=1).mean()), rel=1e-4)
    assert m["diversity"] == pytest.approx(float(torch.pdist(end.double()).mean()), rel=1e-4)
