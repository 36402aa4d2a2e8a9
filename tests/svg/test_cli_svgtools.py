"""`vecdistill render` and `vecdistill info` as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass

import numpy as np
import pytest
from PIL import Image

from vecdistill.cli import main
from vecdistill.svg.parse import load_svg

from .compare import ICONS

TABLER = ICONS / "tabler" / "outline-heart.svg"
GRADIENTS = ICONS / "handmade" / "gradients.svg"
STYLES = ICONS / "handmade" / "styles.svg"


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def run(capsys):
    """Run the real entry point (``vecdistill.cli.main``) in-process: same error
    formatting and exit codes as the console script, without a slow interpreter start."""

    def _run(*args) -> Result:
        code = 0
        try:
            main([str(a) for a in args])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        out = capsys.readouterr()
        return Result(code, out.out, out.err)

    return _run


@pytest.mark.slow
def test_console_script_exit_code_and_one_line_error(tmp_path):
    """One real subprocess: what a shell user sees."""
    r = subprocess.run(
        [sys.executable, "-m", "vecdistill.cli", "info", str(tmp_path / "missing.svg")],
        capture_output=True, text=True, timeout=300,
    )
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.strip().splitlines() == [f"error: {tmp_path / 'missing.svg'}: no such file"]


def one_error_line(r: Result) -> str:
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in r.stderr, r.stderr
    return lines[0]


def test_info_json_matches_the_loaded_scene(run):
    r = run("info", GRADIENTS, "--json")
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    scene = load_svg(GRADIENTS)
    assert info["paths"] == scene.num_paths() == 5
    assert (info["width"], info["height"]) == (64, 64) and info["view_box"] == [0, 0, 64, 64]
    assert sum(info["segments"].values()) == sum(p.num_segments() for p in scene.paths())
    assert {g["id"] for g in info["gradients"]} == {"user", "rep", "base", "rad", "refl"}
    assert info["colors"] == {"#000000": 1, "#cc00cc": 1}  # the fallback colour of a broken url()
    assert info["dropped"] == []


def test_info_text_lists_clip_paths_and_dropped_features(run, tmp_path):
    f = tmp_path / "t.svg"
    f.write_text(
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10"><clipPath id="c"><rect width="5" height="5"/></clipPath>'
        '<path d="M0 0h10v10z" fill="#f00" clip-path="url(#c)"/><text>hi</text></svg>'
    )
    r = run("info", f)
    assert r.returncode == 0
    assert "clip paths  c" in r.stdout and "dropped     text" in r.stdout and "#ff0000" in r.stdout
    assert r.stderr.strip() == "warning: dropped unsupported SVG features: text"
    one_error_line(run("info", f, "--strict"))


def test_render_cairosvg_png_size_aspect_and_background(run, tmp_path):
    out = tmp_path / "heart.png"
    r = run("render", TABLER, out, "--size", "48", "--backend", "cairosvg")
    assert r.returncode == 0, r.stderr
    img = np.asarray(Image.open(out))
    assert img.shape == (48, 48, 3) and (img[0, 0] == 255).all()  # white background
    assert img.min() < 50  # the black stroke is drawn
    out2 = tmp_path / "styles.png"
    r = run("render", STYLES, out2, "--size", "60", "--background", "none", "--backend", "cairosvg")
    assert r.returncode == 0, r.stderr
    img = np.asarray(Image.open(out2))
    assert img.shape == (40, 60, 4)  # 3in x 2in keeps its aspect ratio
    assert img[39, 0, 3] == 0  # transparent where nothing is drawn
    before = out2.read_bytes()
    r = run("render", STYLES, out2, "--width", "30", "--background", "#0000ff", "--backend", "cairosvg")
    assert r.returncode == 2 and "--overwrite" in r.stderr and out2.read_bytes() == before
    r = run("render", STYLES, out2, "--width", "30", "--background", "#0000ff", "--backend", "cairosvg", "--overwrite")
    img = np.asarray(Image.open(out2))
    assert img.shape == (20, 30, 3) and img[19, 0].tolist() == [0, 0, 255]


def test_render_ours_matches_cairosvg_roughly(run, tmp_path):
    pytest.importorskip("vecdistill.raster.render")
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    assert run("render", TABLER, a, "--size", "32").returncode == 0
    assert run("render", TABLER, b, "--size", "32", "--backend", "cairosvg").returncode == 0
    x = np.asarray(Image.open(a), dtype=np.float64) / 255
    y = np.asarray(Image.open(b), dtype=np.float64) / 255
    assert x.shape == y.shape == (32, 32, 3)
    assert np.abs(x - y).mean() < 0.03


def test_render_ours_with_transparent_background_recovers_alpha(run, tmp_path):
    pytest.importorskip("vecdistill.raster.render")
    out = tmp_path / "a.png"
    assert run("render", GRADIENTS, out, "--size", "32", "--background", "none").returncode == 0
    img = np.asarray(Image.open(out))
    assert img.shape == (32, 32, 4)
    assert img[0, 15, 3] == 0 and img[21, 8, 3] == 255  # outside / inside the radial-filled disc


@pytest.mark.parametrize(
    "content, needle",
    [
        ('<svg xmlns="http://www.w3.org/2000/svg"><path d="M0 0', "not well-formed"),
        ('<svg xmlns="http://www.w3.org/2000/svg"><path d="M0 0 L nan 1"/></svg>', "bad path data"),
        ('<svg xmlns="http://www.w3.org/2000/svg" width="0" height="5"/>', "zero or negative size"),
        ('<svg xmlns="http://www.w3.org/2000/svg"><rect width="1e30" height="1"/></svg>', "limit"),
        ('<svg xmlns="http://www.w3.org/2000/svg"><circle r="NaN"/></svg>', "not a finite number"),
    ],
)
def test_malformed_files_give_one_line_and_exit_2(run, tmp_path, content, needle):
    f = tmp_path / "bad.svg"
    f.write_text(content)
    for args in (("info", f), ("render", f, tmp_path / "x.png", "--backend", "cairosvg")):
        line = one_error_line(run(*args))
        assert needle in line
    assert not (tmp_path / "x.png").exists()


def test_user_mistakes_give_one_line_and_exit_2(run, tmp_path):
    assert "no such file" in one_error_line(run("info", tmp_path / "missing.svg"))
    assert ".png" in one_error_line(run("render", TABLER, tmp_path / "out.jpg", "--backend", "cairosvg"))
    assert "not a colour" in one_error_line(run("render", TABLER, tmp_path / "o.png", "--background", "plaid"))
    assert "does not exist" in one_error_line(run("render", TABLER, tmp_path / "no" / "o.png"))


def test_render_ours_is_exact_where_a_thin_stroke_overlaps_itself(run, tmp_path):
    """A one-shot render resolves every overlap (``rasterize(..., exact="all")``): a tabler
    icon at 16 px, whose strokes are 1.33 px wide and overlap at their joins, comes out as
    that render, not as the optimisation loops' default."""
    import torch

    from vecdistill.raster import rasterize

    out = tmp_path / "heart16.png"
    assert run("render", TABLER, out, "--size", 16).returncode == 0
    png = torch.from_numpy(np.asarray(Image.open(out).convert("RGB"), dtype=np.float32) / 255).permute(2, 0, 1)
    scene = load_svg(TABLER)
    exact, default = rasterize(scene, 16, 16, exact="all"), rasterize(scene, 16, 16)
    assert float((png - exact).abs().max()) <= 0.5 / 255 + 1e-6
    assert float((png - default).abs().max()) > 2 / 255
