"""The "over" compositing: its analytic backwards against torch's gradcheck and a
one-fragment-at-a-time reference, on both CPU paths (the per-operation one and the compiled
loops of :mod:`vecdistill.raster.jit_composite`)."""

from __future__ import annotations

import contextlib

import pytest
import torch

from vecdistill.raster import composite, jit


@pytest.fixture()
def path(cpu_path, monkeypatch):
    """Each test once per CPU path (``cpu_path``, conftest.py); on the compiled one, a check
    that the compiled compositing is what ran."""
    if cpu_path == "per-operation":
        yield cpu_path
        return
    from vecdistill.raster import jit_composite

    calls = []
    run = jit_composite.over
    monkeypatch.setattr(jit_composite, "over", lambda *a: calls.append(1) or run(*a))
    yield cpu_path
    assert calls


def _fragments(g: torch.Generator, shuffled: bool):
    """12 fragments on 5 pixels (up to 4 layers deep): coverages, and colours and alpha
    factors from a 4-column table [4, 4]."""
    pixel = torch.tensor([0, 1, 1, 2, 3, 0, 1, 3, 4, 1, 0, 3])
    order = torch.tensor([0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2]) * 10 + torch.arange(12) % 3
    if shuffled:  # not in paint order: the sort by (pixel, order) path
        perm = torch.randperm(12, generator=g)
        pixel, order = pixel[perm], order[perm]
    cov = (0.05 + 0.9 * torch.rand(12, generator=g, dtype=torch.float64)).requires_grad_(True)
    table = torch.rand(4, 4, generator=g, dtype=torch.float64)
    table[3] = 0.2 + 0.75 * table[3]  # alpha factors
    table.requires_grad_(True)
    index = torch.randint(0, 4, (12,), generator=g)
    scale = torch.rand(12, generator=g, dtype=torch.float64).requires_grad_(True)
    return pixel, order, cov, table, index, scale


@pytest.mark.parametrize("shuffled", [False, True])
@pytest.mark.parametrize("own_scale", [False, True])
def test_over_backward_passes_gradcheck(shuffled, own_scale, path):
    g = torch.Generator().manual_seed(3 + 2 * shuffled + own_scale)
    pixel, order, cov, table, index, scale = _fragments(g, shuffled)
    order = order if shuffled else None

    def f(c, t, s):
        rgb, out_a = composite.over(pixel, order, c, t, index, s if own_scale else None, 5)
        return rgb, out_a

    assert torch.autograd.gradcheck(f, (cov, table, scale), eps=1e-6, atol=1e-7)


def test_over_matches_sequential_compositing(path):
    g = torch.Generator().manual_seed(9)
    pixel, order, cov, table, index, scale = _fragments(g, shuffled=True)
    for own_scale in (True, False):
        rgb, out_a = composite.over(pixel, order, cov, table, index, scale if own_scale else None, 5)
        ref_rgb, ref_a = torch.zeros(3, 5, dtype=torch.float64), torch.zeros(5, dtype=torch.float64)
        for i in torch.argsort(order).tolist():  # paint order, one fragment at a time
            p, a = int(pixel[i]), float(cov[i].detach() * table[3, index[i]].detach())
            s = float(scale[i].detach()) if own_scale else a
            ref_rgb[:, p] = table[:3, index[i]].detach() * s + ref_rgb[:, p] * (1 - a)
            ref_a[p] = a + ref_a[p] * (1 - a)
        assert torch.allclose(rgb, ref_rgb, atol=1e-8) and torch.allclose(out_a, ref_a, atol=1e-8)


def _sequential_over(pixel, cov, table, index, num_pixels, q):
    """Reference: fragments composited one at a time in the given (paint) order with torch
    operations (differentiable by autograd), alpha shrunk by ``q`` in the transmittance as
    ``over`` does."""
    rgb = [torch.zeros(3, dtype=cov.dtype) for _ in range(num_pixels)]
    alpha = [torch.zeros((), dtype=cov.dtype) for _ in range(num_pixels)]
    for i in range(pixel.shape[0]):
        p, k = int(pixel[i]), int(index[i])
        a = cov[i] * table[3, k]
        rgb[p] = table[:3, k] * a + rgb[p] * (1 - q * a)
        alpha[p] = a + alpha[p] * (1 - q * a)
    return torch.stack(rgb, 1), torch.stack(alpha)


def test_over_deep_runs_and_opaque_layers(path):
    # runs of 1, 2, 3, 8, 9 and 37 fragments (either side of the doubling steps' powers of
    # two), opaque fragments among them (the quotient by 1 - q a at its smallest): forward and
    # gradients equal the one-at-a-time reference; float32 stays within 1e-5 of float64
    g = torch.Generator().manual_seed(17)
    lengths = [1, 2, 3, 8, 9, 37]
    pixel = torch.cat([torch.full((n,), p) for p, n in enumerate(lengths)])
    pixel = pixel[torch.randperm(pixel.shape[0], generator=g)]  # paint order: pixels interleaved
    F, P = pixel.shape[0], len(lengths)
    cov = 0.05 + 0.9 * torch.rand(F, generator=g, dtype=torch.float64)
    index = torch.randint(0, 5, (F,), generator=g)
    table = torch.rand(4, 5, generator=g, dtype=torch.float64)
    table[3, 0] = 1.0  # column 0: opaque colour
    opaque = index == 0
    cov[opaque.nonzero().squeeze(-1)[::2]] = 1.0  # half of them fully covered: alpha 1
    w_rgb64, w_a64 = torch.rand(3, P, generator=g, dtype=torch.float64), torch.rand(P, generator=g, dtype=torch.float64)
    grads = {}
    for dtype in (torch.float64, torch.float32):
        c, t = cov.to(dtype).clone().requires_grad_(), table.to(dtype).clone().requires_grad_()
        rgb, a = composite.over(pixel, None, c, t, index, None, P)
        w_rgb, w_a = w_rgb64.to(dtype), w_a64.to(dtype)
        (rgb * w_rgb).sum().add((a * w_a).sum()).backward()
        c2, t2 = cov.to(dtype).clone().requires_grad_(), table.to(dtype).clone().requires_grad_()
        q = composite._SHRINK if dtype == torch.float64 else composite._SHRINK32
        ref_rgb, ref_a = _sequential_over(pixel, c2, t2, index, P, q)
        (ref_rgb * w_rgb).sum().add((ref_a * w_a).sum()).backward()
        tol = 1e-12 if dtype == torch.float64 else 2e-6
        assert torch.allclose(rgb, ref_rgb, atol=tol) and torch.allclose(a, ref_a, atol=tol)
        assert torch.allclose(c.grad, c2.grad, atol=tol * 10) and torch.allclose(t.grad, t2.grad, atol=tol * 100)
        grads[dtype] = (c.grad.double(), t.grad.double())
    for g64, g32 in zip(grads[torch.float64], grads[torch.float32]):
        assert (g32 - g64).norm() <= 1e-5 * g64.norm()


@pytest.mark.parametrize("image", [False, True])
def test_on_background_backward_passes_gradcheck(image):
    """The last step of every render, premultiplied colour over the background: its analytic
    backward against gradcheck, for a background of one colour per image (broadcast over the
    pixels, as ``rasterize`` builds it: the product path) and for a background image that
    is optimised too; a batch of two images."""
    g = torch.Generator().manual_seed(11 + image)
    alpha = (0.1 + 0.8 * torch.rand(2, 1, 3, 4, generator=g, dtype=torch.float64)).requires_grad_(True)
    rgb = (alpha.detach() * torch.rand(2, 3, 3, 4, generator=g, dtype=torch.float64)).requires_grad_(True)
    if image:
        bg = torch.rand(2, 3, 3, 4, generator=g, dtype=torch.float64).requires_grad_(True)
        inputs = (rgb, alpha, bg)
        f = composite.on_background
    else:
        colour = torch.rand(2, 3, 1, 1, generator=g, dtype=torch.float64)
        inputs = (rgb, alpha)

        def f(r, a):
            return composite.on_background(r, a, colour.expand(2, 3, 3, 4))

    assert torch.autograd.gradcheck(f, inputs, eps=1e-6, atol=1e-7)
    out = f(*inputs)
    bg_full = inputs[2] if image else colour
    assert torch.allclose(out, (rgb + bg_full * (1 - alpha)).clamp(0, 1))


def test_compiled_and_per_operation_paths_agree_on_a_render(monkeypatch):
    """A whole render (strokes, gradients, clips, an isolated group: fragments not in paint
    order reach the compositing) and its gradients: the compiled loops give the per-operation
    path's values to float64 rounding."""
    if not jit.installed():
        pytest.skip("Numba is not installed")
    from pathlib import Path

    from vecdistill.raster import jit_composite, rasterize
    from vecdistill.svg.parse import load_svg

    walks = []  # the compiled path's walks through an argsort of the paint order (fragments out of it)
    apply = jit_composite._JitOver.apply
    monkeypatch.setattr(jit_composite._JitOver, "apply", lambda *a: walks.append(a[5].shape[0] > 0) or apply(*a))
    for name in ("clip.svg", "gradients.svg", "strokes.svg", "styles.svg", "use-symbol.svg"):
        scene = load_svg(Path(__file__).parents[1] / "data" / "icons" / "handmade" / name).to(dtype=torch.float64)
        scene.requires_grad_(True)
        params = [t for t in scene.parameters() if t.requires_grad]
        results = []
        for context in (jit.disabled(), contextlib.nullcontext()):
            with context:
                img = rasterize(scene, 48, 48)
                weights = torch.linspace(0, 1, img.numel(), dtype=img.dtype).view_as(img)
                grads = torch.autograd.grad((img * weights).sum(), params, allow_unused=True)
            results.append([img.detach()] + [g for g in grads if g is not None])
        for a, b in zip(*results):
            assert torch.allclose(a, b, atol=1e-12, rtol=1e-9), name
    assert any(walks)  # group opacity: fragments out of paint order were walked by their order


def test_a_compiled_kernel_that_fails_falls_back_with_one_warning(monkeypatch):
    """A kernel Numba cannot compile or run never stops a render: one warning, the
    per-operation path's result, and no compiled kernel afterwards."""
    if not jit.installed():
        pytest.skip("Numba is not installed")
    from vecdistill.raster import jit_composite

    g = torch.Generator().manual_seed(5)
    pixel, order, cov, table, index, scale = _fragments(g, shuffled=False)
    with jit.disabled():
        ref = composite.over(pixel, None, cov, table, index, None, 5)

    def broken(*args):
        raise RuntimeError("LLVM ERROR: no target here")

    monkeypatch.setattr(jit, "failed", None)
    monkeypatch.setattr(jit, "_ready", set())
    monkeypatch.setattr(jit_composite, "compile_for", broken)
    with pytest.warns(RuntimeWarning, match="compiled CPU kernels failed") as caught:
        got = composite.over(pixel, None, cov, table, index, None, 5)
        composite.over(pixel, None, cov, table, index, None, 5)
    assert len(caught) == 1 and "VECDISTILL_JIT=0" in str(caught[0].message)
    assert jit.failed is not None and not jit.available()
    assert all(torch.equal(a, b) for a, b in zip(got, ref))


def test_the_environment_turns_the_compiled_kernels_off(monkeypatch):
    from vecdistill.raster.kernel_gate import cpu_kernels_for

    x32 = torch.zeros(3)
    monkeypatch.setattr(jit, "failed", None)
    monkeypatch.setenv("VECDISTILL_JIT", "0")
    assert cpu_kernels_for("compositing", x32) is None
    monkeypatch.delenv("VECDISTILL_JIT")
    if jit.installed():
        assert cpu_kernels_for("compositing", x32) is not None
        assert cpu_kernels_for("compositing", x32.double()) is not None
    assert cpu_kernels_for("compositing", x32, x32.double()) is None  # mixed dtypes: per operation
    assert cpu_kernels_for("compositing", x32.half()) is None
    assert cpu_kernels_for("flattening", x32) is None  # no compiled kernel for that stage


def test_the_first_compiled_render_may_be_a_no_grad_one(monkeypatch):
    """The kernels compile (or load from the cache) on first use, forward and backward:
    also when that use is a render under ``torch.no_grad()``."""
    if not jit.installed():
        pytest.skip("Numba is not installed")
    import warnings

    from vecdistill.raster import jit_composite

    monkeypatch.setattr(jit, "failed", None)
    monkeypatch.setattr(jit, "_ready", set())
    pixel, order, cov, table, index, scale = _fragments(torch.Generator().manual_seed(2), shuffled=False)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("error")
        rgb, alpha = composite.over(pixel, None, cov, table, index, None, 5)
    assert jit.failed is None and jit._ready == {(jit_composite.__name__, torch.float64)}
    with jit.disabled():
        ref = composite.over(pixel, None, cov.detach(), table.detach(), index, None, 5)
    assert torch.allclose(rgb, ref[0], atol=1e-12) and torch.allclose(alpha, ref[1], atol=1e-12)
