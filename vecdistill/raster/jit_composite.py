"""SVG "source over" compositing as two compiled CPU loops (Numba), for CPU renders.

The per-operation path (:class:`.composite._Over`) sorts the fragments by pixel and makes
about 35 whole-array passes over them (gathers, doubling scans, scatter-adds); on the CPU
each pass streams the fragment arrays through memory again. Here the fragments are walked
once, in paint order, as they come (no sort; fragments whose ``order`` is not already
non-decreasing are walked through a stable ``argsort`` of it), each one updating its pixel
in place:

- forward: ``out[p] = C[:3, k] s + (1 - q a) out[p]`` and ``alpha[p] = a + (1 - q a)
  alpha[p]`` with ``a = c C[3, k]``, ``s`` the scale (the alpha, or given) and ``q`` the
  shrink factor of :mod:`.composite` (so the result equals its ``sum p_i T_i``);
- backward, one walk from the top: the forward kept each fragment's pixel composite
  below it (``B_i``: r, g, b, alpha before the fragment's update; 4 values per fragment,
  only when a gradient is wanted), so ``w_i = g . B_i``; with ``T`` the running
  transmittance of what is drawn later (one per pixel, from 1): ``da = (g_a - q w_i) T``
  (plus ``h_s = (g_rgb . C[:3, k]) T`` when the scale is the alpha; else ``ds = h_s``),
  ``dC[:3, k] += g_rgb s T``, ``dC[3, k] += da c``, ``dc = da C[3, k]``, ``T *= 1 - q
  a``. No quotient by ``1 - q a``: opaque fragments need no care. (A first version
  recomputed ``w_i`` by a second walk in paint order, one running scalar per pixel;
  keeping ``B`` costs the forward 0.2 ms and saves the backward 0.4 at the 256-path
  scene: ``compare_revisions.py 59a453e~1 59a453e``, 0.98-0.99x forward + backward.)

Float32 and float64 (each compiled on first use), one thread, the GIL released. The colour
table is read pixel-major (``[K, 4]``: a column's four values in one cache line); the
outputs and their gradients stay channel-major as the renderer uses them (a pixel-major
``[N, 4]`` output costs more in the copies of its views' gradients than it saves).
"""

from __future__ import annotations

import numpy as np
import torch
from numba import njit

Tensor = torch.Tensor


@njit(cache=True, nogil=True)
def _forward(cov, index, pixel, walk, table, scale, has_scale, q, one, rgb, alpha, below):  # pragma: no cover - compiled
    """``rgb`` [3, N], ``alpha`` [N] (zeros on entry) <- the premultiplied composite of the
    fragments (``cov``, ``index``, ``pixel``, ``scale`` [F]; ``table`` [K, 4]: r, g, b,
    alpha factor), walked in the order ``walk`` [F] (empty: as stored). ``below`` [F, 4]
    (or [0, 4]: not kept) <- each fragment's pixel's composite (r, g, b, alpha) before it."""
    n = cov.shape[0]
    use_walk = walk.shape[0] == n
    keep = below.shape[0] == n
    for j in range(n):
        i = walk[j] if use_walk else j
        k = index[i]
        p = pixel[i]
        a = cov[i] * table[k, 3]
        s = scale[i] if has_scale else a
        f = one - q * a
        if keep:
            below[i, 0] = rgb[0, p]
            below[i, 1] = rgb[1, p]
            below[i, 2] = rgb[2, p]
            below[i, 3] = alpha[p]
        rgb[0, p] = table[k, 0] * s + f * rgb[0, p]
        rgb[1, p] = table[k, 1] * s + f * rgb[1, p]
        rgb[2, p] = table[k, 2] * s + f * rgb[2, p]
        alpha[p] = a + f * alpha[p]


@njit(cache=True, nogil=True)
def _backward(cov, index, pixel, walk, table, scale, has_scale, q, one, g_rgb, g_a, d_cov, d_table, d_scale, per_pixel, below):  # pragma: no cover - compiled
    """Gradients of :func:`_forward` for the output gradients ``g_rgb`` [3, N], ``g_a``
    [N]: ``d_cov`` [F], ``d_table`` [K, 4] (zeros on entry, accumulated), ``d_scale`` [F]
    (written when ``has_scale``); ``below`` [F, 4]: the forward's composite below each
    fragment. One walk from the top: ``per_pixel`` [N] (ones on entry) holds each pixel's
    transmittance of what is drawn later. A run of fragments of one table column (one
    layer's) sums its colour-table gradients in registers before adding them."""
    n = cov.shape[0]
    use_walk = walk.shape[0] == n
    last = -1
    t0 = t1 = t2 = t3 = q - q  # (zeros of the working dtype)
    for j in range(n - 1, -1, -1):
        i = walk[j] if use_walk else j
        k = index[i]
        if k != last:
            if last >= 0:
                d_table[last, 0] += t0
                d_table[last, 1] += t1
                d_table[last, 2] += t2
                d_table[last, 3] += t3
            last = k
            t0 = t1 = t2 = t3 = q - q
        p = pixel[i]
        c = cov[i]
        a = c * table[k, 3]
        s = scale[i] if has_scale else a
        t = per_pixel[p]
        gr = g_rgb[0, p]
        gg = g_rgb[1, p]
        gb = g_rgb[2, p]
        ga = g_a[p]
        w = gr * below[i, 0] + gg * below[i, 1] + gb * below[i, 2] + ga * below[i, 3]  # g . (composite below)
        lr = gr * t
        lg = gg * t
        lb = gb * t
        h_s = lr * table[k, 0] + lg * table[k, 1] + lb * table[k, 2]
        da = (ga - q * w) * t
        if has_scale:
            d_scale[i] = h_s
        else:
            da += h_s
        t0 += lr * s
        t1 += lg * s
        t2 += lb * s
        t3 += da * c
        d_cov[i] = da * table[k, 3]
        per_pixel[p] = t * (one - q * a)
    if last >= 0:
        d_table[last, 0] += t0
        d_table[last, 1] += t1
        d_table[last, 2] += t2
        d_table[last, 3] += t3


def _arrays(cov: Tensor, table: Tensor, scale: Tensor | None, index: Tensor, pixel: Tensor):
    """NumPy-ready inputs: ``cov``, ``scale`` (``cov`` when None) [F], ``table`` transposed
    to [K, 4] (a copy), ``index``, ``pixel`` [F] int64; all contiguous (the float ones of
    one dtype: :func:`.kernel_gate.cpu_kernels_for` asks for that)."""
    c = cov.detach().contiguous()
    t = table.detach().t().contiguous()
    s = c if scale is None else scale.detach().contiguous()
    return c, t, s, index.contiguous(), pixel.contiguous()


class _JitOver(torch.autograd.Function):
    """:func:`_forward` / :func:`_backward` as a Function: ``(cov, table, scale)`` ->
    ``(rgb [3, N], alpha [N])``, premultiplied."""

    @staticmethod
    def forward(ctx, cov, table, scale, index, pixel, walk, num_pixels, shrink):
        c, t, s, index, pixel = _arrays(cov, table, scale, index, pixel)
        rgb = c.new_zeros(3, num_pixels)
        alpha = c.new_zeros(num_pixels)
        kind = c.numpy().dtype.type
        has_scale = scale is not None
        below = c.new_empty(c.shape[0] if any(ctx.needs_input_grad[:3]) else 0, 4)  # (kept for the backward only)
        _forward(c.numpy(), index.numpy(), pixel.numpy(), walk, t.numpy(), s.numpy(), has_scale, kind(shrink), kind(1), rgb.numpy(), alpha.numpy(), below.numpy())
        ctx.save_for_backward(c, t, s, index, pixel, below)
        ctx.walk, ctx.has_scale, ctx.shrink, ctx.num_pixels = walk, has_scale, shrink, num_pixels
        return rgb, alpha

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, g_rgb, g_a):
        c, t, s, index, pixel, below = ctx.saved_tensors
        n = ctx.num_pixels
        g_rgb = c.new_zeros(3, n) if g_rgb is None else g_rgb.contiguous()
        g_a = c.new_zeros(n) if g_a is None else g_a.contiguous()
        d_cov = torch.empty_like(c)
        d_table = torch.zeros_like(t)
        d_scale = torch.empty_like(c) if ctx.has_scale else None
        kind = c.numpy().dtype.type
        _backward(
            c.numpy(), index.numpy(), pixel.numpy(), ctx.walk, t.numpy(), s.numpy(), ctx.has_scale, kind(ctx.shrink), kind(1),
            g_rgb.numpy(), g_a.numpy(), d_cov.numpy(), d_table.numpy(), (d_cov if d_scale is None else d_scale).numpy(),
            np.ones(n, kind), below.numpy(),
        )
        return d_cov, d_table.t(), d_scale, None, None, None, None, None


def compile_for(dtype: torch.dtype) -> bool:
    """Compile (or load) both kernels for ``dtype`` on a two-fragment example, so that a
    failure shows here, before any render relies on them (:func:`.jit.compiled`; grad mode
    on whatever the caller's: the first render may be a no-grad one)."""
    with torch.enable_grad():
        cov = torch.tensor([0.5, 1.0], dtype=dtype, requires_grad=True)
        table = torch.tensor([[1.0], [0.0], [0.0], [1.0]], dtype=dtype, requires_grad=True)
        zeros = torch.zeros(2, dtype=torch.long)
        rgb, alpha = _JitOver.apply(cov, table, None, zeros, zeros, np.empty(0, np.int64), 1, 1.0)
        torch.autograd.grad(rgb.sum() + alpha.sum(), (cov, table))
    return True


def over(pixel: Tensor, order: Tensor | None, cov: Tensor, table: Tensor, index: Tensor, scale: Tensor | None,
         num_pixels: int, shrink: float) -> tuple[Tensor, Tensor]:
    """:func:`.composite.over` (same arguments, and its ``shrink``; ``order`` None when the
    fragments are already in paint order, as that function decides) by the compiled loops
    (ready: :func:`.kernel_gate.cpu_kernels_for` compiled them): ``(rgb [3, N], alpha [N])``."""
    with torch.no_grad():  # (an empty walk: as stored)
        walk = np.empty(0, np.int64) if order is None else torch.argsort(order, stable=True).numpy()
    return _JitOver.apply(cov, table, scale, index, pixel, walk, num_pixels, shrink)
