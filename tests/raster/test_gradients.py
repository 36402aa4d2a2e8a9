"""Gradients: autograd against central finite differences (float64), float32 vs float64."""

from __future__ import annotations

import pytest
import torch
from conftest import finite_difference_errors, solid

from vecdistill.raster import rasterize
from vecdistill.svg.scene import Group, LinearGradient, Path, RadialGradient, Scene

pytestmark = pytest.mark.usefixtures("cpu_path")  # every test on both CPU paths (conftest.py)


def _scene(dtype=torch.float64) -> Scene:
    g = torch.Generator().manual_seed(0)
    a = Path.circle((9.3, 10.1), 5.2)
    a.points = (a.points.double() + 0.4 * torch.rand(a.points.shape, generator=g, dtype=torch.float64)).to(dtype)
    a.fill = solid(0.9, 0.3, 0.2, 0.8, dtype)
    a.stroke = solid(0.1, 0.2, 0.7, 0.9, dtype)
    a.stroke_width = torch.tensor(1.7, dtype=dtype)
    a.linejoin = "round"
    b = Path(
        torch.tensor([[4.2, 16.3], [10.1, 3.7], [17.9, 18.2], [20.6, 7.4], [21.0, 15.0]], dtype=dtype),
        torch.tensor([2, 0]),
        [(2, False)],
        stroke=solid(0.2, 0.8, 0.3, 0.95, dtype),
        stroke_width=torch.tensor(2.3, dtype=dtype),
        linecap="round",
    )
    c = Path.circle((16.4, 14.2), 4.1)
    c.points = c.points.to(dtype)
    c.fill = LinearGradient(
        torch.tensor([0.05, 0.45, 0.95], dtype=dtype),
        torch.tensor([[0.9, 0.0, 0.1, 0.9], [0.2, 0.9, 0.1, 0.7], [0.0, 0.1, 0.9, 0.95]], dtype=dtype),
        start=torch.tensor([0.1, 0.2], dtype=dtype),
        end=torch.tensor([0.9, 0.7], dtype=dtype),
    )
    c.fill_opacity = torch.tensor(0.85, dtype=dtype)
    d = Path.circle((6.0, 6.0), 3.3)
    d.points = d.points.to(dtype)
    d.fill = RadialGradient(
        torch.tensor([0.1, 0.9], dtype=dtype),
        torch.tensor([[0.9, 0.8, 0.1, 0.9], [0.1, 0.5, 0.5, 0.6]], dtype=dtype),
        units="userSpaceOnUse",
        center=torch.tensor([6.0, 6.0], dtype=dtype),
        radius=torch.tensor(3.0, dtype=dtype),
        focal=torch.tensor([5.2, 5.5], dtype=dtype),
    )
    # opacities strictly inside (0, 1): at 1 the (clamped) alpha has a one-sided derivative
    for p, o in zip((a, b, c, d), (0.93, 0.97, 0.91, 0.96)):
        p.opacity = torch.tensor(o, dtype=dtype)
    a.fill_opacity = torch.tensor(0.9, dtype=dtype)
    return Scene(Group([a, b, c, d], opacity=torch.tensor(0.98, dtype=dtype)), 24.0, 24.0)


def _params(scene: Scene):
    groups = scene.param_groups()
    return {k: v for k, v in groups.items() if v}


def _loss(scene, weights):
    return (rasterize(scene, 24, 24, background=(0.5, 0.5, 0.5)) * weights).sum()


def test_autograd_matches_finite_differences():
    scene = _scene()
    weights = torch.rand(3, 24, 24, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    scene.requires_grad_(True)
    loss = _loss(scene, weights)
    params = _params(scene)
    flat = [t for ts in params.values() for t in ts]
    grads = torch.autograd.grad(loss, flat, allow_unused=True)
    rel = {}
    eps = 1e-6
    g = torch.Generator().manual_seed(2)
    with torch.no_grad():
        for kind, ts in params.items():
            # up to 7 random entries per kind, spread over its tensors
            entries = [(t, k) for t in ts for k in range(t.numel())]
            picks = torch.randperm(len(entries), generator=g)[:7].tolist()
            errs = []
            for t, k in (entries[i] for i in picks):
                gr = grads[next(i for i, x in enumerate(flat) if x is t)]
                view = t.view(-1)
                old = float(view[k])
                view[k] = old + eps
                up = float(_loss(scene, weights))
                view[k] = old - eps
                down = float(_loss(scene, weights))
                view[k] = old
                fd = (up - down) / (2 * eps)
                ad = 0.0 if gr is None else float(gr.view(-1)[k])
                if abs(fd) < 1e-6 and abs(ad) < 1e-6:
                    continue
                errs.append(abs(ad - fd) / max(abs(fd), 1e-3))
            if errs:
                rel[kind] = float(torch.tensor(errs).median())
    for kind in ("points", "colors", "widths", "opacities", "stops", "gradient_geometry"):
        assert kind in rel, kind
        assert rel[kind] < 1e-4, (kind, rel)


def test_float32_gradients_match_float64():
    weights = torch.rand(3, 24, 24, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    out = {}
    for dtype in (torch.float64, torch.float32):
        scene = _scene().to(dtype=dtype)
        scene.requires_grad_(True)
        loss = _loss(scene, weights.to(dtype))
        flat = [t for ts in _params(scene).values() for t in ts]
        grads = torch.autograd.grad(loss, flat, allow_unused=True)
        out[dtype] = torch.cat(
            [torch.zeros(t.numel()) if gr is None else gr.reshape(-1).double() for t, gr in zip(flat, grads)]
        )
    diff = (out[torch.float32] - out[torch.float64]).norm() / out[torch.float64].norm()
    assert float(diff) < 1e-3


def test_views_and_background_image_are_differentiable():
    scene = _scene()
    scene.requires_grad_(True)
    view = torch.eye(3, dtype=torch.float64).requires_grad_(True)
    bg = torch.rand(3, 24, 24, dtype=torch.float64, requires_grad=True)
    img = rasterize(scene, 24, 24, background=bg, view=view)
    img.square().sum().backward()
    assert view.grad is not None and torch.isfinite(view.grad).all() and view.grad.abs().sum() > 0
    assert bg.grad is not None and bg.grad.abs().sum() > 0


def _polygon_loss(verts, weights, layout):
    """sum of weights x coverage of two polygons (vertex lists [7, 2] each), one per image;
    both cross the canvas borders and have edges many pixels long."""
    from vecdistill.raster.coverage import rasterize_layers

    edges = torch.cat([torch.cat([v, v.roll(-1, 0)], 1) for v in verts]).t()  # [4, E]
    layer = torch.arange(len(verts)).repeat_interleave(verts[0].shape[0])
    f = rasterize_layers(edges, layer, torch.arange(len(verts)), torch.tensor([False, True]), 20, 16, layout=layout)
    return (weights[f.layer, f.pixel] * f.cov).sum()


@pytest.mark.parametrize("layout", ["flat", "padded"])
def test_coverage_gradients_across_canvas_borders_match_finite_differences(layout):
    g = torch.Generator().manual_seed(4)
    base = torch.tensor([[-6.3, 3.2], [9.7, -4.1], [25.9, 2.6], [14.2, 7.7], [24.4, 19.8], [6.1, 13.3], [-2.2, 21.6]], dtype=torch.float64)
    verts = [base.clone(), (base.flip(0) * 0.8 + 2.1).clone()]
    for v in verts:
        v += 0.3 * torch.rand(v.shape, generator=g, dtype=torch.float64)
        v.requires_grad_(True)
    weights = torch.rand(2, 2 * 20 * 16, generator=g, dtype=torch.float64)
    grads = torch.autograd.grad(_polygon_loss(verts, weights, layout), verts)
    errs = finite_difference_errors(lambda: _polygon_loss(verts, weights, layout), verts, grads)
    assert float(errs.median()) < 1e-4 and float(errs.max()) < 1e-3, errs


def test_even_odd_gradients_where_windings_overlap_match_finite_differences():
    # a pentagram (winding 2 in its centre, 1 in its points), even-odd and nonzero: pixels
    # whose winding integral lies between 1 and 2 take the even-odd rule's falling side
    import math

    from vecdistill.raster.coverage import rasterize_layers

    ang = torch.arange(5, dtype=torch.float64) * (4 * math.pi / 5)
    star = torch.stack([10.3 + 8.2 * torch.sin(ang), 9.7 - 8.2 * torch.cos(ang)], 1)
    verts = (star + 0.2 * torch.rand(star.shape, generator=torch.Generator().manual_seed(6), dtype=torch.float64)).requires_grad_(True)
    weights = torch.rand(2, 20 * 20, generator=torch.Generator().manual_seed(7), dtype=torch.float64)

    def loss(v):
        edges = torch.cat([v, v.roll(-1, 0)], 1).repeat(2, 1).t()  # [4, E]
        f = rasterize_layers(edges, torch.arange(2).repeat_interleave(5), torch.zeros(2, dtype=torch.long), torch.tensor([True, False]), 20, 20)
        return (weights[f.layer, f.pixel] * f.cov).sum()

    grads = torch.autograd.grad(loss(verts), verts)
    errs = finite_difference_errors(lambda: loss(verts), [verts], grads)
    assert float(errs.max()) < 1e-4, errs


def test_closed_edges_backward_passes_gradcheck():
    """The closed polygons' edges (vertex i -> next, each subpath's last vertex back to its
    first) as one autograd node: its backward against gradcheck, for three subpaths of 4, 1
    and 3 vertices, and its forward against the definition."""
    from vecdistill.raster.flatten import Polylines
    from vecdistill.raster.render import _closed_edges

    g = torch.Generator().manual_seed(4)
    verts = torch.rand(8, 2, generator=g, dtype=torch.float64).requires_grad_(True)
    start, count = torch.tensor([0, 4, 5]), torch.tensor([4, 1, 3])

    def edges(v):
        z = torch.zeros(3, dtype=torch.long)
        return _closed_edges(Polylines(v, z, z, z.bool(), start, count))

    nxt = torch.tensor([1, 2, 3, 0, 4, 6, 7, 5])
    assert torch.equal(edges(verts), torch.cat([verts.t(), verts[nxt].t()]))
    assert torch.autograd.gradcheck(edges, (verts,), eps=1e-6, atol=1e-8)


_HANDMADE = __import__("pathlib").Path(__file__).resolve().parents[1] / "data" / "icons" / "handmade"


def test_float32_gradients_match_float64_on_the_handmade_svgs():
    """Every tensor's gradient on the handmade SVGs (clips, gradients, strokes, symbols, an
    isolated group with opacity), float32 against float64, relative L2 below 1e-3. (An
    isolated group's alpha clamped by a plain clamp cut the gradient of its pixels that
    float32 summed to 1 + 1 ulp: use-symbol.svg read 16 % off.) At 47^2, so that the
    files' integer coordinates do not fall on pixel boundaries: there the coverage has two
    one-sided derivatives, and float32's rounding of a vertex picks one or the other."""
    from vecdistill.svg.parse import load_svg

    for path in sorted(_HANDMADE.glob("*.svg")):
        out = {}
        for dtype in (torch.float64, torch.float32):
            scene = load_svg(path).to(dtype=dtype)
            scene.requires_grad_(True)
            params = [t for t in scene.parameters() if t.requires_grad]
            img = rasterize(scene, 47, 47)
            w = torch.linspace(-1, 1, img.numel(), dtype=torch.float64).view_as(img).to(dtype)
            grads = torch.autograd.grad((img * w).sum(), params, allow_unused=True)
            out[dtype] = torch.cat([torch.zeros(t.numel(), dtype=torch.float64) if g is None else g.reshape(-1).double() for t, g in zip(params, grads)])
        diff = (out[torch.float32] - out[torch.float64]).norm() / out[torch.float64].norm()
        assert float(diff) < 1e-3, (path.name, float(diff))


@pytest.mark.parametrize("on_canvas_border", [False, True])
@pytest.mark.parametrize("side", ["right", "bottom", "left", "top"])
def test_sides_on_pixel_boundaries_get_their_whole_gradient(side, on_canvas_border):
    """A rectangle whose sides lie on pixel boundaries: moving a side outward sweeps the
    pixels outside it, moving it inward those inside, so the coverage has two one-sided
    derivatives there (equal rates, different pixels); autograd gives the inward one, the
    pixels the shape covers. The right and bottom sides' pieces fall in the outside pixels,
    which have no fragment: their gradient was dropped (half of it, for a rectangle's right
    side) until such pieces took their inside neighbour's. Also a rectangle filling the
    canvas, whose sides lie on the canvas's border (outward, nothing on the canvas moves):
    they were dropped, or counted as walls, with no gradient."""
    dtype = torch.float64
    x0, y0, x1, y1 = (0.0, 0.0, 20.0, 16.0) if on_canvas_border else (4.0, 3.0, 15.0, 12.0)
    rect = Path.polygon(torch.tensor([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=dtype), fill=solid(0.2, 0.4, 0.8, 1.0, dtype))
    scene = Scene(Group([rect]), 20.0, 16.0)
    rect.points.requires_grad_(True)
    weights = torch.rand(1, 3, 16, 20, generator=torch.Generator().manual_seed(3), dtype=dtype)
    axis, value = {"right": (0, x1), "left": (0, x0), "bottom": (1, y1), "top": (1, y0)}[side]
    on_side = rect.points.detach()[:, axis] == value

    def loss():
        return (rasterize(scene, 20, 16) * weights).sum()

    (grad,) = torch.autograd.grad(loss(), [rect.points])
    autograd = float(grad[on_side, axis].sum())
    h = 1e-5
    with torch.no_grad():
        base = float(loss())
        rect.points[on_side, axis] += h
        forward = (float(loss()) - base) / h
        rect.points[on_side, axis] -= 2 * h
        backward = (base - float(loss())) / h
        rect.points[on_side, axis] += h
    inward = backward if side in ("right", "bottom") else forward
    assert abs(inward) > 1.0
    assert abs(autograd - inward) < 1e-6 * abs(inward), (autograd, forward, backward)
