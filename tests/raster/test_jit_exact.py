"""The exact pass compiled (vecdistill/raster/jit_exact.py) against its NumPy reference
(exact_cells.resolve_numpy) on the pixels real renders hand it: tangled fills of both
rules, self-crossing wide and thin strokes (horizontal pieces, joins' arcs), a pixel of
201 pieces, pixels forced by a loop; and whole renders and gradients through both."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vecdistill.raster import exact_cells, jit, rasterize
from vecdistill.raster.testscenes import DOUBLED, STROKES, star_svg, tangled_scene
from vecdistill.svg.parse import load_svg

pytest.importorskip("numba")
pytestmark = pytest.mark.skipif(not jit.available(), reason="the compiled CPU kernels are not available here")


def handed(svg: str, size: int, monkeypatch, exact: str = "auto") -> list:
    """The (pieces, max_pieces) the exact pass is given in a float64 render of ``svg``."""
    caught = []
    resolve = exact_cells.resolve

    def spy(p, *args):
        caught.append((p, *args))
        return resolve(p, *args)

    with monkeypatch.context() as m:
        m.setattr(exact_cells, "resolve", spy)
        rasterize(load_svg(svg).to(dtype=torch.float64), size, size, exact=exact)
    return caught


def same_result(p, max_pieces) -> int:
    """Asserts the compiled kernel gives the reference's result; returns the pixels swept."""
    from vecdistill.raster import jit_exact

    ref, got = exact_cells.resolve_numpy(p, max_pieces), jit_exact.resolve(p, max_pieces)
    assert np.array_equal(ref.first, got.first)  # the same pixels swept
    assert np.array_equal(ref.piece, got.piece) and np.array_equal(ref.pixel, got.pixel)
    np.testing.assert_allclose(got.cov, ref.cov, rtol=0, atol=1e-12)
    np.testing.assert_allclose(got.i0, ref.i0, rtol=0, atol=1e-12)
    np.testing.assert_allclose(got.i1, ref.i1, rtol=0, atol=1e-12)
    return ref.first.shape[0]


@pytest.mark.parametrize("case", ["nonzero", "evenodd", "strokes", "strokes-all", "star-all", "doubled"])
def test_the_compiled_pass_gives_the_reference_result(case, monkeypatch):
    if case in ("nonzero", "evenodd"):
        calls = [c for seed in range(3) for c in handed(tangled_scene(seed, evenodd=case == "evenodd"), 24, monkeypatch)]
    elif case.startswith("strokes"):
        calls = handed(STROKES, 16, monkeypatch, exact="all" if case.endswith("all") else "auto")
    elif case == "doubled":
        calls = handed(DOUBLED, 16, monkeypatch)
    else:
        calls = handed(star_svg(), 16, monkeypatch, exact="all")
    swept = sum(same_result(*c) for c in calls)
    assert swept >= 5  # real work: pixels that needed the sweep
    if case == "star-all":
        assert max(np.unique(p.cell, return_counts=True)[1].max() for p, _ in calls) > exact_cells.MAX_PIECES


def test_forced_pixels_and_the_piece_limit(monkeypatch):
    # every pixel forced (as loops are): all swept, by both; a limit below the busiest
    # pixels leaves those out in both
    calls = handed(tangled_scene(7), 24, monkeypatch)
    for p, max_pieces in calls:
        p.force = np.ones(p.cell.shape[0], dtype=bool)
        counts = np.unique(p.cell, return_counts=True)[1]
        assert same_result(p, max_pieces) == counts.shape[0]
        limit = int(np.median(counts))
        assert same_result(p, limit) == int((counts <= limit).sum())


def test_renders_and_gradients_through_both_passes():
    scene = load_svg(tangled_scene(3, evenodd=True)).to(dtype=torch.float64)
    pts = [p.points for p in scene.paths()]
    for t in pts:
        t.requires_grad_(True)

    def run():
        img = rasterize(scene, 24, 24)
        weights = torch.linspace(0.5, 1.5, img.numel(), dtype=img.dtype).reshape(img.shape)
        grads = torch.autograd.grad((img * weights).sum(), pts)
        return img.detach(), torch.cat([g.reshape(-1) for g in grads])

    img, grad = run()
    original = exact_cells.resolve
    try:
        exact_cells.resolve = exact_cells.resolve_numpy
        ref_img, ref_grad = run()
    finally:
        exact_cells.resolve = original
    assert float((img - ref_img).abs().max()) < 1e-12
    assert float((grad - ref_grad).abs().max()) < 1e-10 * max(1.0, float(ref_grad.abs().max()))


def test_a_kernel_that_cannot_compile_falls_back_to_numpy(monkeypatch, compile_fails):
    from vecdistill.raster import jit_exact

    calls = handed(tangled_scene(1), 24, monkeypatch)
    p, max_pieces = calls[0]
    ref = exact_cells.resolve_numpy(p, max_pieces)
    compile_fails(jit_exact)
    with pytest.warns(RuntimeWarning, match="compiled CPU kernels failed"):
        got = exact_cells.resolve(p, max_pieces)
    assert np.array_equal(got.cov, ref.cov) and jit.failed is not None
