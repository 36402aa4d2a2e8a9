"""Exact coverage, and its gradients, in pixels that several contours cross
(vecdistill/raster/exact_cells.py): figure eights, overlapping and nested contours of both
orientations, under both fill rules."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import finite_difference_errors

from vecdistill.raster.coverage import rasterize_layers
from vecdistill.raster.testscenes import lattice_polygon, supersampled_error

pytestmark = pytest.mark.usefixtures("cpu_path")  # every test on both CPU paths (conftest.py)

W, H = 14, 12


def coverage(polys, evenodd=False, size=(W, H)) -> torch.Tensor:
    """[H, W] coverage of one layer made of the closed polygons ``polys`` ([N, 2] each)."""
    edges = torch.cat([torch.cat([p, p.roll(-1, 0)], 1) for p in polys]).t()
    layer = torch.zeros(edges.shape[1], dtype=torch.long)
    f = rasterize_layers(edges, layer, torch.zeros(1, dtype=torch.long), torch.tensor([evenodd]), *size)
    img = torch.zeros(size[0] * size[1], dtype=edges.dtype)
    return img.index_add(0, f.pixel, f.cov).view(size[1], size[0])


def clip_convex(subject: torch.Tensor, clip: torch.Tensor) -> torch.Tensor:
    """Sutherland-Hodgman: the intersection of two convex polygons (counter-clockwise in
    the maths sense, i.e. positive shoelace area), [N, 2]."""
    out = subject.tolist()
    c = clip.tolist()
    for i in range(len(c)):
        a, b = c[i], c[(i + 1) % len(c)]
        side = lambda p, a=a, b=b: (b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0])  # noqa: E731
        src, out = out, []
        for j in range(len(src)):
            p, q = src[j], src[(j + 1) % len(src)]
            sp, sq = side(p), side(q)
            if sp >= 0:
                out.append(p)
            if (sp >= 0) != (sq >= 0):
                t = sp / (sp - sq)
                out.append([p[0] + t * (q[0] - p[0]), p[1] + t * (q[1] - p[1])])
    return torch.tensor(out, dtype=torch.float64)


def convex(g: torch.Generator, n: int) -> torch.Tensor:
    """A random convex polygon of ``n`` vertices inside the canvas, positive orientation."""
    ang = torch.sort(torch.rand(n, generator=g, dtype=torch.float64) * 6.283185307179586).values
    r = 2.5 + 2.5 * torch.rand(1, generator=g, dtype=torch.float64)
    c = torch.tensor([4.5, 4.0], dtype=torch.float64) + torch.rand(2, generator=g, dtype=torch.float64) * torch.tensor([5.0, 4.0], dtype=torch.float64)
    return c + r * torch.stack([torch.cos(ang), torch.sin(ang)], 1)


def test_figure_eight_crossing_pixel_is_half_covered_under_both_rules():
    # the lobes wind +1 and -1; they meet at (6.5, 5.5), the centre of pixel (5, 6), which
    # two opposite quarter-triangles of the lobes cover: 0.5 (A = 0 there: it read 0 before)
    p = torch.tensor([[1.5, 0.5], [11.5, 10.5], [11.5, 0.5], [1.5, 10.5]], dtype=torch.float64)
    for evenodd in (False, True):
        img = coverage([p], evenodd)
        assert abs(float(img[5, 6]) - 0.5) < 1e-12, evenodd
        # the lobes' areas: two triangles of base 10 and height 5
        assert abs(float(img.sum()) - 50.0) < 1e-9, evenodd


@pytest.mark.parametrize("seed", range(6))
def test_two_overlapping_contours_match_exact_areas(seed):
    # two convex contours in one layer: same orientation (windings 0, 1, 2) or opposite
    # (-1, 0, 1); nonzero covers the union or the symmetric difference, even-odd the
    # symmetric difference; each is cov(a) + cov(b) - k cov(a & b), all three simple
    # polygons whose coverage the accumulation gives exactly
    g = torch.Generator().manual_seed(seed)
    a, b = convex(g, 5 + seed % 3), convex(g, 4 + seed % 4)
    ab = clip_convex(a, b)
    ca, cb, cab = coverage([a]), coverage([b]), coverage([ab]) if ab.shape[0] >= 3 else 0
    for flip in (False, True):
        for evenodd in (False, True):
            img = coverage([a, b.flip(0) if flip else b], evenodd)
            k = 1 if (not flip and not evenodd) else 2
            err = (img - (ca + cb - k * cab)).abs().max()
            assert float(err) < 1e-9, (seed, flip, evenodd, float(err))


def test_overlapping_axis_aligned_squares_are_exact_everywhere():
    # horizontal and vertical edges crossing inside pixels, both orientations, both rules
    a = torch.tensor([[1.5, 1.5], [5.5, 1.5], [5.5, 5.5], [1.5, 5.5]], dtype=torch.float64)
    b = torch.tensor([[3.25, 3.25], [7.25, 3.25], [7.25, 7.25], [3.25, 7.25]], dtype=torch.float64)
    ab = torch.tensor([[3.25, 3.25], [5.5, 3.25], [5.5, 5.5], [3.25, 5.5]], dtype=torch.float64)
    ca, cb, cab = coverage([a]), coverage([b]), coverage([ab])
    for flip in (False, True):
        for evenodd in (False, True):
            k = 1 if (not flip and not evenodd) else 2
            img = coverage([a, b.flip(0) if flip else b], evenodd)
            assert float((img - (ca + cb - k * cab)).abs().max()) < 1e-12, (flip, evenodd)


def _subdivided(poly: torch.Tensor, per_side: int) -> torch.Tensor:
    """``poly`` [N, 2] with every side cut into ``per_side`` equal edges."""
    t = torch.arange(per_side, dtype=poly.dtype).view(1, -1, 1) / per_side
    return (poly.unsqueeze(1) + t * (poly.roll(-1, 0) - poly).unsqueeze(1)).reshape(-1, 2)


def test_piece_limit_counts_only_pieces_with_a_length():
    # two squares' sides cross in pixel (row 4, col 8), each side cut into short edges: ~50
    # of them lie in that pixel, within the default limit (exact_cells.MAX_PIECES, 64),
    # though the cutting makes three pieces of each (two of them empty, ~150 in all); the
    # pixel is resolved: 1 - 0.4 * 0.2
    a = _subdivided(torch.tensor([[2.3, 2.3], [8.6, 2.3], [8.6, 8.6], [2.3, 8.6]], dtype=torch.float64), 150)
    b = _subdivided(torch.tensor([[5.4, 4.2], [11.7, 4.2], [11.7, 9.8], [5.4, 9.8]], dtype=torch.float64), 150)
    img = coverage([a, b])
    assert abs(float(img[4, 8]) - (1 - 0.4 * 0.2)) < 1e-9


def test_float32_crossings_match_float64():
    g = torch.Generator().manual_seed(11)
    polys = [convex(g, 6), convex(g, 5).flip(0), convex(g, 7)]
    for evenodd in (False, True):
        ref = coverage(polys, evenodd)
        low = coverage([p.float() for p in polys], evenodd)
        assert float((low.double() - ref).abs().max()) < 2e-5, evenodd


def _loss(polys, weights, evenodd):
    return (coverage(polys, evenodd) * weights).sum()


@pytest.mark.parametrize("evenodd", [False, True])
def test_gradients_in_crossed_pixels_match_finite_differences(evenodd):
    # a figure eight and an overlapping square (horizontal edges included) of the opposite
    # orientation, in one layer: every crossed pixel's gradient is the exact one
    g = torch.Generator().manual_seed(5)
    eight = torch.tensor([[1.3, 0.7], [11.6, 10.2], [11.2, 0.9], [1.7, 10.6]], dtype=torch.float64)
    square = torch.tensor([[4.35, 2.6], [4.35, 8.45], [9.6, 8.45], [9.6, 2.6]], dtype=torch.float64)
    polys = [eight.requires_grad_(True), square.requires_grad_(True)]
    weights = torch.rand(H, W, generator=g, dtype=torch.float64)
    grads = torch.autograd.grad(_loss(polys, weights, evenodd), polys)
    errs = finite_difference_errors(lambda: _loss(polys, weights, evenodd), polys, grads)
    assert float(errs.median()) < 1e-4 and float(errs.max()) < 1e-3, errs


@pytest.mark.parametrize("seed", range(4))
def test_pixels_left_to_the_approximation_are_the_exact_ones(seed, monkeypatch):
    # the sweep runs only where pieces interact (exact_cells._tangled); sweeping every pixel
    # entered twice gives the same image: the ones it skips were exact already (rings of
    # opposite orientation, a contour leaving a pixel and coming back, crossings)
    from vecdistill.raster import exact_cells

    g = torch.Generator().manual_seed(20 + seed)
    polys = [convex(g, 12), convex(g, 9).flip(0), convex(g, 7)]
    polys.append((polys[0] - polys[0].mean(0)) * 0.6 + polys[0].mean(0))  # nested, same way
    for evenodd in (False, True):
        skipped = coverage(polys, evenodd)
        with monkeypatch.context() as m:
            m.setattr(exact_cells, "_tangled", lambda xa, *a: torch.ones(xa.shape[0], dtype=torch.bool).numpy())
            swept = coverage(polys, evenodd)
        assert float((skipped - swept).abs().max()) < 1e-12, evenodd


def test_rendered_self_intersecting_fills_and_clip_shapes_are_exact():
    # through the renderer: a figure-eight path's fill, and the same figure eight as the clip
    # shape of a black square, cover half the crossing pixel (the stroke outlines' own
    # overlaps keep min(|A|, 1): docs/raster.md, Exactness)
    import vecdistill

    eight = "M1.5 0.5 L11.5 10.5 L11.5 0.5 L1.5 10.5 Z"
    head = '<svg xmlns="http://www.w3.org/2000/svg" width="14" height="12" viewBox="0 0 14 12">'
    for rule in ("nonzero", "evenodd"):
        filled = f'{head}<path d="{eight}" fill="#000" fill-rule="{rule}"/></svg>'
        clipped = (
            f'{head}<clipPath id="c"><path d="{eight}" clip-rule="{rule}"/></clipPath>'
            '<rect width="14" height="12" fill="#000" clip-path="url(#c)"/></svg>'
        )
        for svg in (filled, clipped):
            img = 1 - vecdistill.rasterize(vecdistill.load_svg(svg), 14, 12)[0]
            assert abs(float(img[5, 6]) - 0.5) < 1e-6 and abs(float(img.sum()) - 50.0) < 1e-4, (rule, svg)


def _star_of(polys):
    """coverage._star_shaped of one layer made of the closed polygons ``polys``."""
    from vecdistill.raster import coverage as cv

    e = torch.cat([torch.cat([p, p.roll(-1, 0)], 1) for p in polys]).t()
    layer = torch.zeros(e.shape[1], dtype=torch.long)
    boxes = cv._layer_boxes(e, layer, 1, 64, 64, "auto")
    return bool(cv._star_shaped(e, layer, boxes)[0][0])


def test_star_shaped_layers_are_only_simple_polygons():
    import math

    circle = torch.stack([torch.cos(torch.arange(40) * 0.157), torch.sin(torch.arange(40) * 0.157)], 1).double() * 9 + 20
    assert _star_of([circle]) and _star_of([circle.flip(0)])
    ang = torch.arange(5, dtype=torch.float64) * (4 * math.pi / 5)  # a pentagram winds twice
    star = torch.stack([20 + 9 * torch.sin(ang), 20 - 9 * torch.cos(ang)], 1)
    eight = torch.tensor([[1.5, 0.5], [11.5, 10.5], [11.5, 0.5], [1.5, 10.5]], dtype=torch.float64)
    ring = [circle, (circle - 20) * 0.5 + 20]
    assert not _star_of([star]) and not _star_of([eight]) and not _star_of(ring) and not _star_of([ring[0], ring[1].flip(0)])


def sweep_every_pixel(monkeypatch, swept: list) -> None:
    """Renders sweep every pixel the exact pass is given, whatever its pieces look like
    (both paths' simplicity check skipped: ``CellPieces.force``), each call appending how
    many pixels it was given to ``swept``."""
    from vecdistill.raster import exact_cells

    resolve = exact_cells.resolve

    def sweep_all(p, *args):
        swept.append(len(np.unique(p.cell)))
        p.force = np.ones(p.cell.shape[0], dtype=bool)
        return resolve(p, *args)

    monkeypatch.setattr(exact_cells, "resolve", sweep_all)


def test_star_shaped_layers_skip_only_exact_pixels(monkeypatch):
    # jittered circles leave pixels and come back (entered twice) but are simple: skipping
    # their pixels changes nothing against sweeping every pixel entered twice
    from vecdistill.raster import coverage as cv
    from vecdistill.raster import rasterize
    from vecdistill.raster.testscenes import circles_scene

    scene = circles_scene(64, 32, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    skipped = rasterize(scene, 32, 32)
    swept = []
    real = cv._star_shaped

    def none_star(e, layer, boxes):
        star, present = real(e, layer, boxes)
        return star & False, present

    monkeypatch.setattr(cv, "_star_shaped", none_star)
    sweep_every_pixel(monkeypatch, swept)
    resolved = rasterize(scene, 32, 32)
    assert sum(swept) >= 5  # (pixels entered twice: swept here, skipped above)
    assert float((skipped - resolved).abs().max()) < 1e-12


def test_wide_stroke_outlines_that_cross_themselves_are_exact(monkeypatch):
    # a closed stroke crossing itself (its outline's loops overlap where the two strokes
    # cross) and a cubic loop (its outline's sides cross where the curve does): the pixels
    # where the outline's own pieces overlap are exact
    from vecdistill.raster import render

    crossing = '<path d="M2.5 2.5 L13.5 13.5 L13.5 2.5 L2.5 13.5 Z" fill="none" stroke="#000" stroke-width="2.2"/>'
    loop = '<path d="M2.1 13.2 C 17 -1, 17 17, 1.7 3.4" fill="none" stroke="#000" stroke-width="2.2"/>'
    assert supersampled_error(crossing) < 1e-5
    assert supersampled_error(loop) < 0.01  # (the curves flatten differently at the two sizes)
    # outlines thinner than WIDE_STROKE pixels keep min(|A|, 1): here that is wrong
    monkeypatch.setattr(render, "WIDE_STROKE", 1e9)
    assert supersampled_error(crossing) > 0.05 and supersampled_error(loop) > 0.1


def test_only_layers_that_are_not_star_shaped_go_to_the_exact_pass(monkeypatch):
    # jittered circles (star-shaped) with a figure eight drawn over them: the pixels swept
    # are the figure eight's alone, and a scene of circles only counts no entries at all
    import vecdistill
    from vecdistill.raster import coverage as cv
    from vecdistill.raster.testscenes import circles_scene
    from vecdistill.svg.write import to_svg_string

    circles = to_svg_string(circles_scene(64, 32, generator=torch.Generator().manual_seed(1)), precision=6)
    eight = '<path d="M1.5 0.5 L11.5 10.5 L11.5 0.5 L1.5 10.5 Z" fill="#000"/>'
    alone = circles[: circles.index(">", circles.index("<svg")) + 1] + eight + "</svg>"
    swept, counted = [], []
    sweep_every_pixel(monkeypatch, swept)
    real_counts = cv._entry_counts
    monkeypatch.setattr(cv, "_entry_counts", lambda *a: counted.append(1) or real_counts(*a))

    def pixels_swept(svg: str) -> int:
        swept.clear()
        vecdistill.rasterize(vecdistill.load_svg(svg).to(dtype=torch.float64), 32, 32)
        return sum(swept)

    assert pixels_swept(alone) > 0
    assert pixels_swept(circles.replace("</svg>", eight + "</svg>")) == pixels_swept(alone)
    counted.clear()
    assert pixels_swept(circles) == 0 and not counted


THIN_CROSSING = '<path d="M2.5 2.5 L13.5 13.5 L13.5 2.5 L2.5 13.5 Z" fill="none" stroke="#000" stroke-width="0.9"/>'
# a thin round-joined zigzag inside one pixel: its joins' arcs put 31 pieces there
BUSY = '<path d="M5.15 5.2 L5.85 5.3 L5.2 5.5 L5.85 5.7 L5.15 5.85" fill="none" stroke="#000" stroke-width="0.5" stroke-linejoin="round" stroke-linecap="round"/>'


def _star(n: int = 71, k: int = 35, r: float = 3.0, c: float = 8.5) -> str:
    """The star polygon {n/k} about (c, c), filled even-odd: with k near n / 2 every edge
    passes within r cos(pi k / n) of the centre, so the centre pixel holds all n edges (and
    their crossings: 201 pieces there), and windings of every parity meet in it."""
    import math

    pts = [(c + r * math.cos(2 * math.pi * k * i / n), c + r * math.sin(2 * math.pi * k * i / n)) for i in range(n)]
    return '<path d="M' + " L".join(f"{x:.6f} {y:.6f}" for x, y in pts) + ' Z" fill="#000" fill-rule="evenodd"/>'


def test_exact_all_resolves_thin_strokes():
    # exact="all" (what `vecdistill render` uses): the overlaps of a stroke thinner than
    # WIDE_STROKE are exact too; the default keeps min(|A|, 1) there, which over-counts
    assert supersampled_error(THIN_CROSSING, exact="all") < 1e-5
    assert supersampled_error(THIN_CROSSING) > 0.05
    assert supersampled_error(BUSY, exact="all") < 5e-3  # (the arcs flatten differently at the two sizes)
    assert supersampled_error(BUSY) > 0.02


def test_piece_limits_of_both_modes(monkeypatch):
    # a fill pixel of 201 pieces: within exact="all"'s limit (MAX_PIECES_ALL), beyond the
    # default's (MAX_PIECES), which keeps the approximation there; raising it resolves it
    from vecdistill.raster import exact_cells

    star = _star()
    assert exact_cells.MAX_PIECES < 201 <= exact_cells.MAX_PIECES_ALL
    assert supersampled_error(star, exact="all") < 1e-5
    assert supersampled_error(star) > 0.05
    monkeypatch.setattr(exact_cells, "MAX_PIECES", exact_cells.MAX_PIECES_ALL)
    assert supersampled_error(star) < 1e-5


def test_exact_all_gradients_in_thin_stroke_overlaps_match_finite_differences():
    import vecdistill

    svg = f'<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 16 16">{THIN_CROSSING}</svg>'
    scene = vecdistill.load_svg(svg).to(dtype=torch.float64)
    path = scene.paths()[0]
    leaves = [path.points.requires_grad_(True), path.stroke_width.requires_grad_(True)]
    weights = torch.rand(16, 16, generator=torch.Generator().manual_seed(2), dtype=torch.float64)

    def loss():
        return (vecdistill.rasterize(scene, 16, 16, exact="all")[0] * weights).sum()

    errs = finite_difference_errors(loss, leaves, torch.autograd.grad(loss(), leaves))
    assert float(errs.median()) < 1e-4 and float(errs.max()) < 1e-3, errs


def test_exact_must_be_a_known_mode():
    import vecdistill
    from vecdistill.errors import InputError

    scene = vecdistill.load_svg(f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16">{THIN_CROSSING}</svg>')
    with pytest.raises(InputError, match="exact must be one of auto, all"):
        vecdistill.rasterize(scene, 16, 16, exact="yes")


def test_swept_pixel_of_horizontal_pieces_only():
    # a pixel that a band's two sides cross from side to side, both horizontal and cut at
    # nearby contours' grid crossings (simple-icons' 1001tracklists at 16^2): the sweep finds
    # no piece spanning a slab, and the coverage is the band's height
    from vecdistill.raster import exact_cells

    top, bottom = 0.22266674041748047, 0.9635334014892578
    xa = np.array([0.0, 0.36504459381103516, 1.0, 0.900050163269043, 0.03709983825683594])
    xb = np.array([0.36504459381103516, 1.0, 0.900050163269043, 0.03709983825683594, 0.0])
    y = np.array([bottom, bottom, top, top, top])
    pieces = exact_cells.CellPieces(
        np.zeros(5, dtype=np.int64), xa, y, xb, y, np.zeros(5), np.ones(5), np.ones(5),
        np.full(5, bottom - top), np.zeros(5, dtype=bool),
    )
    res = exact_cells.resolve(pieces)
    assert res.cov.shape == (1,) and abs(float(res.cov[0]) - (bottom - top)) < 1e-12


@pytest.mark.parametrize("seed", range(24))
def test_random_polygons_on_a_half_pixel_lattice_are_exact(seed):
    # random self-intersecting polygons whose vertices lie on integer and half-integer
    # coordinates: edges along pixel sides, vertices on grid corners, horizontal and
    # collinear overlapping edges, crossings in every position; no loop closes inside one
    # pixel (that needs three vertices strictly inside it), which the entry count cannot see
    for rule in ("nonzero", "evenodd"):
        assert supersampled_error(lattice_polygon(seed, 0.5, 6, rule), size=6, exact="all") < 1e-5, rule


def test_loops_closed_inside_one_pixel_are_exact():
    # a contour that enters a pixel once and closes a loop in it (it crosses itself there:
    # quarter-pixel-lattice polygons), and a closed contour inside one pixel that another
    # contour's side crosses: no pixel side is entered twice, the vertices' turning finds them
    for seed in (15, 75, 196):
        for rule in ("nonzero", "evenodd"):
            assert supersampled_error(lattice_polygon(seed, 0.25, 6, rule), size=6) < 1e-5, (seed, rule)
    speck = '<path d="M1.5 1.5 H4.5 V4.5 H1.5 Z M4.3 2.2 H4.7 V2.6 H4.3 Z" fill="#000"/>'
    assert supersampled_error(speck, size=6) < 1e-5
