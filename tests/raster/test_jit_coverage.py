"""The compiled CPU coverage kernels (vecdistill/raster/jit_coverage.py, Numba) against the
per-operation path they replace: whole renders, both buffer layouts with longer edges,
walls and crossed pixels, float32's exact zeros, the layer boxes' and the star-shaped
test's loops, and a kernel that cannot compile."""

from __future__ import annotations

import math
from pathlib import Path as FsPath

import pytest
import torch

from vecdistill.raster import coverage, jit, rasterize, rasterize_batch
from vecdistill.raster.testscenes import circles_scene
from vecdistill.svg.parse import load_svg
from vecdistill.svg.scene import Group, Path, Scene, Solid

HANDMADE = FsPath(__file__).resolve().parents[1] / "data" / "icons" / "handmade"

pytestmark = pytest.mark.skipif(not jit.installed(), reason="Numba is not installed")


@pytest.fixture()
def spied(monkeypatch):
    """Counts of the compiled coverage kernels' calls (``pieces``, ``finish``, and the
    backward's ``transport`` or, when every piece is the kernel's, ``edge_gradient``); the
    test must see them run, and none fail."""
    from vecdistill.raster import jit_coverage

    calls = {"pieces": 0, "finish": 0, "transport": 0, "edge_gradient": 0, "kinds": torch.zeros(3, dtype=torch.long)}
    pieces, finish = jit_coverage.pieces, jit_coverage.finish
    transport, edge_gradient = jit_coverage.transport, jit_coverage.edge_gradient

    def counting_pieces(*args):
        out = pieces(*args)
        calls["pieces"] += 1
        calls["kinds"] += torch.bincount(out[0].long(), minlength=3)
        return out

    def counting(name, fn):
        def run(*args):
            calls[name] += 1
            return fn(*args)
        return run

    monkeypatch.setattr(jit_coverage, "pieces", counting_pieces)
    monkeypatch.setattr(jit_coverage, "finish", counting("finish", finish))
    monkeypatch.setattr(jit_coverage, "transport", counting("transport", transport))
    monkeypatch.setattr(jit_coverage, "edge_gradient", counting("edge_gradient", edge_gradient))
    monkeypatch.setattr(jit, "failed", None)
    yield calls
    assert jit.failed is None, jit.failed


def _image_and_grads(render, scene):
    """The image and the gradients of a fixed weighted sum of it with respect to every
    tensor of ``scene`` that takes one (concatenated)."""
    params = [t for t in scene.parameters() if t.requires_grad]
    img = render(scene)
    w = torch.linspace(-1, 1, img.numel(), dtype=img.dtype).view_as(img)
    grads = torch.autograd.grad((img * w).sum(), params, allow_unused=True)
    return img.detach(), torch.cat([torch.zeros(1, dtype=img.dtype) if g is None else g.reshape(-1) for g in grads])


def _scenes(dtype):
    """The handmade SVGs (clips, gradients, strokes, isolated group opacity, symbols),
    jittered circles, circles pushed across the canvas's sides (longer edges),
    stroked circles (outlines that cross themselves: the exact pass), and a triangle with a
    side far left of the canvas (a wall)."""
    scenes = {p.name: load_svg(p).to(dtype=dtype) for p in sorted(HANDMADE.glob("*.svg"))}
    scenes["circles"] = circles_scene(40, 48, generator=torch.Generator().manual_seed(3), dtype=dtype)
    sides = circles_scene(24, 48, generator=torch.Generator().manual_seed(4), dtype=dtype)
    for k, path in enumerate(sides.paths()):
        with torch.no_grad():
            path.points += torch.tensor([[-30.0, 0.0], [0.0, -30.0], [30.0, 0.0]][k % 3], dtype=dtype) * (k % 2)
    scenes["sides"] = sides
    scenes["stroked"] = circles_scene(16, 48, generator=torch.Generator().manual_seed(6), dtype=dtype, stroke_width=1.5)
    # a triangle reaching far left of the canvas: its long vertical side there is a wall
    wedge = Path.polygon(torch.tensor([[-20.0, 4.0], [30.0, 20.5], [-20.0, 44.0]], dtype=dtype),
                         fill=Solid(torch.tensor([0.3, 0.6, 0.2, 0.9], dtype=dtype)))
    scenes["wall"] = Scene(Group([wedge]), 48.0, 48.0)
    for scene in scenes.values():
        scene.requires_grad_(True)
    return scenes


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_whole_renders_match_the_per_operation_path(spied, dtype):
    """Images and gradients of every scene kind equal the per-operation path's (float64 to
    rounding, float32 to its precision); the kernels ran forward and backward, and handed
    longer edges and walls to the per-operation pieces, whose cover still counts."""
    tol = 1e-12 if dtype == torch.float64 else 2e-5
    scenes = _scenes(dtype)
    for name, scene in scenes.items():
        render = lambda s: rasterize(s, 48, 48)  # noqa: E731
        img, grads = _image_and_grads(render, scene)
        with jit.disabled():
            ref_img, ref_grads = _image_and_grads(render, scene)
        assert float((img - ref_img).abs().max()) < tol, name
        assert float((grads - ref_grads).abs().max()) < tol * (1 + float(ref_grads.abs().max())), name
    assert spied["pieces"] >= len(scenes) and spied["finish"] >= len(scenes) and spied["transport"] + spied["edge_gradient"] >= 9
    assert spied["transport"] > 0 and spied["edge_gradient"] > 0  # both backwards met
    assert spied["kinds"][1] > 0 and spied["kinds"][2] > 0  # longer edges and walls met


def test_a_batch_of_views_matches_the_per_operation_path(spied):
    scene = circles_scene(16, 48, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    scene.requires_grad_(True)
    views = torch.eye(3, dtype=torch.float64).repeat(3, 1, 1)
    views[:, 0, 0] = views[:, 1, 1] = torch.tensor([1.0, 1.2, 0.8], dtype=torch.float64)
    views[:, :2, 2] = torch.tensor([[0.0, 0.0], [-6.0, -3.0], [5.0, 4.0]], dtype=torch.float64)
    render = lambda s: rasterize_batch(s, 48, 48, views=views)  # noqa: E731
    img, grads = _image_and_grads(render, scene)
    with jit.disabled():
        ref_img, ref_grads = _image_and_grads(render, scene)
    assert torch.allclose(img, ref_img, atol=1e-12) and torch.allclose(grads, ref_grads, atol=1e-11)
    assert spied["finish"] >= 1


def _fragments(dtype):
    """Each handmade SVG's coverage fragments at 48^2, float32: ``(cov, layer, pixel)``."""
    out = {}
    calls = []
    real = coverage.rasterize_layers

    def spy(*args, **kwargs):
        f = real(*args, **kwargs)
        calls.append(f)
        return f

    coverage.rasterize_layers = spy
    try:
        for p in sorted(HANDMADE.glob("*.svg")):
            calls.clear()
            rasterize(load_svg(p).to(dtype=dtype), 48, 48)
            out[p.name] = [(f.cov.detach(), f.layer, f.pixel) for f in calls]
    finally:
        coverage.rasterize_layers = real
    return out


def test_float32_fragments_are_the_per_operation_paths(spied):
    """In float32 the kernels compute in float32 as the per-operation path does, so a row's
    cover sums to exactly 0 past the contours that cross it and no stray fragments of area
    ~1e-8 appear (they did with float64 arithmetic in the kernel, and moved an isolated
    group's opacity gradient by 4 %): the same fragments, layer by layer and pixel by pixel."""
    got = _fragments(torch.float32)
    with jit.disabled():
        ref = _fragments(torch.float32)
    for name in ref:
        assert len(got[name]) == len(ref[name]), name
        for (c, layer, pixel), (rc, rlayer, rpixel) in zip(got[name], ref[name]):
            assert torch.equal(layer, rlayer) and torch.equal(pixel, rpixel), name
            assert float((c - rc).abs().max()) < 1e-6, name


def _polygons(g: torch.Generator, n: int, size: float, dtype=torch.float64):
    """``n`` star-ish polygons (some far outside the canvas, some self-crossing) as edges [4,
    E] and their layers [E]."""
    edges, layers = [], []
    for k in range(n):
        m = 5 + k % 7
        ang = torch.sort(torch.rand(m, generator=g, dtype=dtype) * 2 * math.pi).values
        if k % 4 == 3:  # self-crossing: a shuffled order
            ang = ang[torch.randperm(m, generator=g)]
        rad = size * (0.1 + 0.5 * torch.rand(m, generator=g, dtype=dtype))
        centre = (torch.rand(2, generator=g, dtype=dtype) * 1.6 - 0.3) * size
        pts = centre + torch.stack([rad * torch.cos(ang), rad * torch.sin(ang)], -1)
        edges.append(torch.cat([pts, pts.roll(-1, 0)], 1))
        layers += [k] * m
    return torch.cat(edges).t().contiguous(), torch.tensor(layers)


@pytest.mark.parametrize("layout", ["flat", "padded"])
def test_layers_match_in_both_buffer_layouts_with_gradients(spied, layout):
    """Random layers, partly outside the canvas and some crossing themselves, under both
    fill rules, in both buffer layouts: fragments, exact pass included, and edge gradients
    equal the per-operation path's."""
    g = torch.Generator().manual_seed(11)
    edges, layer = _polygons(g, 24, 40.0)
    batch = torch.arange(24) % 2
    evenodd = torch.arange(24) % 3 == 0
    weights = torch.rand(2 * 40 * 36, generator=g, dtype=torch.float64)

    def run():
        e = edges.clone().requires_grad_()
        f = coverage.rasterize_layers(e, layer, batch, evenodd, 40, 36, layout=layout)
        (grad,) = torch.autograd.grad((f.cov * weights[f.pixel]).sum(), e)
        return f, grad

    def dense(f):  # [L, B * H * W] coverage: the packed layout's float64 row closure leaves
        # some A ~1e-17 where the kernels' row sums give 0, fragments of coverage 0 under
        # the even-odd rule that only one path lists
        return torch.zeros(24, 2 * 40 * 36, dtype=torch.float64).index_put_((f.layer, f.pixel), f.cov.detach())

    f, grad = run()
    with jit.disabled():
        rf, rgrad = run()
    assert torch.allclose(dense(f), dense(rf), atol=1e-12) and torch.allclose(grad, rgrad, atol=1e-10)
    assert spied["finish"] == 1 and spied["kinds"][1] > 0


def test_boxes_and_star_test_match_the_per_operation_reductions():
    """The compiled layer boxes equal the per-operation ones (a NaN coordinate empties its
    layer's box, as ``amin`` propagating it does; a layer without edges has an empty box and
    no finite centre), in both layouts; the compiled star-shaped test agrees with the
    per-operation histogram on convex, star-shaped, self-crossing and degenerate layers."""
    from vecdistill.raster import jit_coverage

    g = torch.Generator().manual_seed(2)
    edges, layer = _polygons(g, 12, 30.0)
    layer = torch.where(layer >= 5, layer + 1, layer)  # layer 5 has no edges
    edges[0, 7] = float("nan")  # a NaN x in one vertex
    edges[:, 20] = edges[:, 19]  # an edge of no length
    L = 13
    for layout in ("flat", "padded"):
        got = coverage._layer_boxes(edges, layer, L, 30, 26, layout)
        with jit.disabled():
            ref = coverage._layer_boxes(edges, layer, L, 30, 26, layout)
        for name in ("c0", "r0", "w", "h", "off", "stride", "row0", "total", "padded", "hmax", "wmax", "rows"):
            a, b = getattr(got, name), getattr(ref, name)
            assert (torch.equal(a, b) if isinstance(a, torch.Tensor) else a == b), (layout, name)
        assert torch.equal(got.centre.isnan(), ref.centre.isnan()) and torch.equal(got.centre.nan_to_num(), ref.centre.nan_to_num())
    assert int(got.w[5]) == 0 and not torch.isfinite(got.centre[:, 5]).any()
    assert int(got.w[int(layer[7])]) == 0  # the NaN's layer
    with jit.disabled():
        ref_star, ref_present = coverage._star_shaped(edges, layer, got)
    star, present = jit_coverage.star_shaped(edges, layer, got.centre, L)
    assert torch.equal(star, ref_star) and torch.equal(present, ref_present)
    assert 0 < int(star.sum()) < L - 2  # both kinds met


def test_a_coverage_kernel_that_cannot_compile_falls_back_with_one_warning(compile_fails):
    from vecdistill.raster import jit_coverage

    scene = circles_scene(8, 32, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    with jit.disabled():
        ref = rasterize(scene, 32, 32)
    compile_fails(jit_coverage)
    with pytest.warns(RuntimeWarning, match="compiled CPU kernels failed") as caught:
        img = rasterize(scene, 32, 32)
        rasterize(scene, 32, 32)
    assert len(caught) == 1 and "VECDISTILL_JIT=0" in str(caught[0].message)
    assert jit.failed is not None and not jit.available()
    assert torch.equal(img, ref)


def test_a_long_compile_is_announced_once_and_a_quick_one_not(monkeypatch):
    """The command line's notice (at a terminal): a compile still running after
    NOTICE_AFTER seconds (a first use) is told in one line; a cached load is not."""
    import time

    from vecdistill.raster import jit_coverage

    told = []
    monkeypatch.setattr(jit, "notice", told.append)
    monkeypatch.setattr(jit, "NOTICE_AFTER", 0.05)
    monkeypatch.setattr(jit, "_ready", set())
    monkeypatch.setattr(jit, "_told", False)
    monkeypatch.setattr(jit, "failed", None)
    monkeypatch.setattr(jit_coverage, "compile_for", lambda dtype: True)  # a cached load: quick, silent
    assert jit.compiled(jit_coverage, torch.float64)
    time.sleep(0.1)
    assert told == []
    monkeypatch.setattr(jit_coverage, "compile_for", lambda dtype: time.sleep(0.3) or True)  # a first use
    assert jit.compiled(jit_coverage, torch.float32) and jit.compiled(jit_coverage, torch.float32)
    monkeypatch.setattr(jit, "_ready", set())  # another long compile in the process: no second line
    assert jit.compiled(jit_coverage, torch.float32)
    assert told == ["compiling the rasterizer's CPU kernels (first use; later runs load them from the cache)"]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_loop_cells_compiled_match_the_per_operation_ones(dtype, monkeypatch):
    """The cells where contours may close a loop inside a pixel (swept whatever their pieces
    look like): the compiled loop marks the same cells as the per-operation path, on tangled
    fills, self-crossing strokes, a doubled triangle and a 71-point star, under both exact modes."""

    from vecdistill.raster import coverage as cv
    from vecdistill.raster.testscenes import DOUBLED, STROKES, star_svg, tangled_scene
    from vecdistill.svg.parse import load_svg

    marked = []
    loop_cells = cv._loop_cells

    def both(e, layer, boxes, counted):
        got = loop_cells(e, layer, boxes, counted)
        with jit.disabled():
            ref = loop_cells(e, layer, boxes, counted)
        assert torch.equal(got, ref)
        marked.append(int(got.sum()))
        return got

    monkeypatch.setattr(cv, "_loop_cells", both)
    scenes = [(tangled_scene(s, evenodd=s % 2 == 1), 24) for s in range(3)] + [(STROKES, 16), (DOUBLED, 16), (star_svg(), 16)]
    for svg, size in scenes:
        for exact in ("auto", "all"):
            rasterize(load_svg(svg).to(dtype=dtype), size, size, exact=exact)
    assert len(marked) == 2 * len(scenes) and sum(marked) > 20
