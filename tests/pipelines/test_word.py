"""``word`` end to end on the embedded prior (offline, tiny settings) and its command line."""

from __future__ import annotations

import json

import pytest
import torch

from vecdistill.errors import InputError
from vecdistill.pipelines.word import (
    EMBEDDED_TEMPLATE,
    SD_TEMPLATE,
    WordConfig,
    select_letters,
    word,
    word_prompt,
)
from vecdistill.text import word_scene

# small tensors on a shared CPU: one torch thread is several times faster
pytestmark = pytest.mark.usefixtures("one_thread")

TINY = dict(steps=4, size=32, quiet=True, overwrite=True)


@pytest.fixture(scope="module")
def prior():
    from vecdistill.priors.embedded import EmbeddedPrior

    return EmbeddedPrior()


@pytest.mark.parametrize(
    "spec, expected",
    [(None, [0, 1, 2, 4]), ("0", [0]), ("0, 2", [0, 2]), ("-1", [4]), ("a", [1]), ("Ab", [0, 2]),
     ("Ac", [0, 4]), ([2, 0], [0, 2])],
)
def test_letters_by_index_or_character(spec, expected):
    assert select_letters("Aab c", spec) == expected


@pytest.mark.parametrize("spec, message", [("5", "out of range"), ("-6", "out of range"), ("3", "space"),
                                           ("z", "not in"), ("", "empty")])
def test_bad_letters_say_what_is_wrong(spec, message):
    with pytest.raises(InputError, match=message):
        select_letters("Aab c", spec)


def test_prompt_follows_the_paper_for_sd_and_is_the_concept_for_the_embedded_prior():
    assert word_prompt(" cat ", None, embedded=False) == SD_TEMPLATE.format(concept="cat")
    assert word_prompt("cat", None, embedded=True) == EMBEDDED_TEMPLATE.format(concept="cat") == "cat"
    assert word_prompt("cat", "a {concept} logo", embedded=True) == "a cat logo"
    with pytest.raises(InputError, match="concept"):
        word_prompt("cat", "no placeholder", embedded=False)


def test_only_the_chosen_letters_move_and_outputs_are_written(tmp_path, prior):
    out = tmp_path / "cat.svg"
    scene, manifest = word("CAT", str(out), "cat", WordConfig(letters="A", **TINY), prior=prior)
    original = {p.id: p for p in word_scene("CAT")[0].paths()}
    paths = {p.id: p for p in scene.paths()}
    assert list(paths) == ["letter-0-C", "letter-1-A", "letter-2-T"]
    for pid in ("letter-0-C", "letter-2-T"):  # untouched: bit-identical to the font's outline
        assert torch.equal(paths[pid].points, original[pid].points)
        assert torch.equal(paths[pid].segments, original[pid].segments)
    moved = paths["letter-1-A"]
    assert moved.points.shape[0] > original["letter-1-A"].points.shape[0]  # subdivided
    assert torch.isfinite(moved.points).all()
    # the output files
    assert out.is_file() and out.with_suffix(".json").is_file()
    text = out.read_text()
    assert 'id="letter-1-A"' in text and 'id="letter-0-C"' in text
    written = json.loads(out.with_suffix(".json").read_text())
    assert written["command"] == "word" and written["steps_done"] == 4
    assert written["letters"] == manifest["letters"] and [x["id"] for x in written["letters"]] == ["letter-1-A"]
    assert written["prompt"] == "cat" and written["config"]["acap_weight"] == 0.5


def test_the_chosen_letter_changes_and_the_same_seed_repeats(tmp_path, prior):
    cfg = WordConfig(letters="0", seed=3, subdivide=0.0, **TINY)
    a, _ = word("Hi", None, "fire", cfg, prior=prior)
    b, _ = word("Hi", None, "fire", cfg, prior=prior)
    start = word_scene("Hi")[0].paths()[0].points
    assert not torch.equal(a.paths()[0].points, start)
    assert torch.equal(a.paths()[0].points, b.paths()[0].points)
    assert torch.equal(a.paths()[1].points, word_scene("Hi")[0].paths()[1].points)


def _cli(capsys, monkeypatch, cwd, *args: str) -> tuple[int, str, str]:
    """Run ``vecdistill word ARGS`` in-process in ``cwd``: (exit code, stdout, stderr)."""
    from vecdistill.cli import main

    monkeypatch.chdir(cwd)
    code = 0
    try:
        main(["word", *args])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize(
    "args, message",
    [
        (["CAT", "o.svg", "--concept", "cat", "--font", "no-such-font"], "unknown font"),
        (["", "o.svg", "--concept", "cat"], "text is empty"),
        (["CAT", "o.svg", "--concept", "cat", "--letters", "9"], "out of range"),
        (["CAT", "o.svg", "--concept", "cat", "--letters", "Z"], "not in"),
        (["CAT", "o.svg"], "--concept"),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(tmp_path, capsys, monkeypatch, args, message):
    code, _, err = _cli(capsys, monkeypatch, tmp_path, *args)
    assert code == 2
    assert message in err and "Traceback" not in err
    assert err.startswith("error: ")
    assert not (tmp_path / "o.svg").exists()


def test_cli_lists_the_bundled_fonts(tmp_path, capsys, monkeypatch):
    code, out, _ = _cli(capsys, monkeypatch, tmp_path, "--list-fonts")
    assert code == 0
    for name in ("quicksand", "cantarell", "liberation-serif", "roboto"):
        assert name in out


def test_cli_runs_a_word_with_a_font_file(tmp_path, capsys, monkeypatch):
    from vecdistill.text import BUNDLED_FONTS

    font = str(BUNDLED_FONTS["roboto"].path)
    code, _, err = _cli(capsys, monkeypatch, tmp_path, "OK", "ok.svg", "--concept", "fire", "--font", font,
                        "--letters", "O", "--steps", "2", "--size", "32", "-q")
    assert code == 0, err
    manifest = json.loads((tmp_path / "ok.json").read_text())
    assert manifest["font"]["file"] == font and manifest["letters"][0]["id"] == "letter-0-O"


def test_cli_with_a_tiny_random_diffusers_pipeline(tiny_sd_path, tmp_path, capsys, monkeypatch):
    code, _, err = _cli(capsys, monkeypatch, tmp_path, "Go", "go.svg", "--concept", "snake", "--model",
                        str(tiny_sd_path), "--letters", "G", "--steps", "2", "--size", "32", "-q")
    assert code == 0, err
    manifest = json.loads((tmp_path / "go.json").read_text())
    assert manifest["prompt"] == SD_TEMPLATE.format(concept="snake")
    assert manifest["config"]["guidance_scale"] == 100.0 and manifest["config"]["weighting"] == "sqrt(abar)(1-abar)"
    assert 'id="letter-0-G"' in (tmp_path / "go.svg").read_text()


def test_ctrl_c_writes_the_best_so_far_word_and_reraises(tmp_path, prior):
    out = tmp_path / "stop.svg"

    def stop(report):
        if report.step == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        word("Hi", str(out), "fire", WordConfig(letters="H", **{**TINY, "steps": 10}), prior=prior, callbacks=[stop])
    manifest = json.loads(out.with_suffix(".json").read_text())
    assert manifest["interrupted"] is True and 1 <= manifest["steps_done"] < 10
    assert 'id="letter-0-H"' in out.read_text()


def test_the_view_box_grows_to_hold_letters_that_reach_past_it():
    from vecdistill.pipelines.word import fit_view_box

    scene, _ = word_scene("Hi")
    before = scene.view_box
    assert fit_view_box(scene, 10.0).view_box == before  # the font layout already fits
    with torch.no_grad():
        scene.paths()[0].points[0] = torch.tensor([-30.0, 500.0])
    fitted = fit_view_box(scene, 10.0)
    x, y, w, h = fitted.view_box
    assert x <= -40.0 and y + h >= 510.0 and x + w >= before[0] + before[2]
    assert (fitted.width, fitted.height) == (w, h)
