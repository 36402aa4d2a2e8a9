"""Compositing fragments with SVG "source over", vectorised over all layers.

A fragment is one layer at one pixel with premultiplied colour ``p`` [3] and alpha ``a``.
Drawn in paint order, the result at a pixel is ``sum_i p_i T_i`` with transmittance
``T_i = prod_{j > i} (1 - a_j)`` of everything drawn later, and the layer's alpha is
``sum_i a_i T_i = 1 - prod (1 - a_i)``. ``T_i`` comes from a segmented suffix sum of
``log(1 - a)`` over fragments sorted by (pixel, order); the cumulative sum runs in float64 so
that the global running total loses nothing; ``a`` is scaled by ``1 - 1e-9`` (float32:
``1 - 2^-20``) so that opaque layers keep finite logarithms and gradients.
"""

from __future__ import annotations

import torch

Tensor = torch.Tensor

_SHRINK = 1.0 - 1e-9
_SHRINK32 = 1.0 - 2.0**-20  # the float32 counterpart (1 - 1e-9 rounds to 1)


class _Over(torch.autograd.Function):
    """The "over" sums with an analytic backward (a handful of [F] passes instead of a
    dozen saved intermediates, and no gathers of [F, 3] rows, which are slow on the CPU).

    Forward: with the fragments in (pixel, order) order through ``perm``,
    ``T_i = exp(sum_{j > i, same pixel} log(1 - s a_j))``; then, in the original order,
    ``rgb[:, pixel] += c_i T_i``, ``alpha[pixel] += a_i T_i``. Backward, with ``g`` the output
    gradients at the fragment's pixel and ``w_k = (g_rgb . c_k + g_a a_k) T_k``:
    ``dc_i = g_rgb T_i`` and ``da_i = g_a T_i - s / (1 - s a_i) * sum_{k < i, same pixel} w_k``
    (the earlier fragments, whose transmittance contains ``1 - s a_i``); prefix sums run in
    float64 like the forward's. ``c``: [3, F] (channel-first: gathers and scatters of
    [F, 3] rows are several times slower on the CPU). Outputs: ``rgb`` [3, N], ``alpha`` [N].
    """

    @staticmethod
    def forward(ctx, a, c, pixel, perm, inv, end_of, seg_start, num_pixels, shrink):
        dtype = a.dtype
        cs = torch.cumsum(torch.log1p(-(a.index_select(0, perm) * shrink)).double(), 0)
        trans = torch.exp((cs.index_select(0, end_of) - cs).to(dtype)).index_select(0, inv)
        out_a = a.new_zeros(num_pixels).index_add_(0, pixel, a * trans)
        out_rgb = c.new_zeros(3, num_pixels).index_add_(1, pixel, c * trans)
        ctx.save_for_backward(a, c, trans, pixel, perm, inv, seg_start)
        ctx.shrink = shrink
        return out_rgb, out_a

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, g_rgb, g_a):
        a, c, trans, pixel, perm, inv, seg_start = ctx.saved_tensors
        s = ctx.shrink
        if g_rgb is None:
            g_rgb = c.new_zeros(3, 1).expand(3, g_a.shape[0])
        if g_a is None:
            g_a = a.new_zeros(g_rgb.shape[1])
        gr = g_rgb.index_select(1, pixel)  # [3, F]
        ga = g_a.index_select(0, pixel)
        dc = gr * trans  # [3, F]
        w = (dc * c).sum(0) + ga * a * trans
        ws = w.index_select(0, perm).double()
        before = torch.cumsum(ws, 0) - ws  # sum of w over all earlier fragments (sorted)
        excl = (before - before.index_select(0, seg_start)).to(a.dtype).index_select(0, inv)
        da = ga * trans - (s / (1 - s * a)) * excl
        return da, dc, None, None, None, None, None, None, None


def over(pixel: Tensor, order: Tensor, alpha: Tensor, premult: Tensor, num_pixels: int) -> tuple[Tensor, Tensor]:
    """Composite fragments. ``pixel``/``order``: [F] int64 (order: paint order, unique per
    pixel); ``alpha``: [F]; ``premult``: [3, F]. Returns ``(rgb [3, N], alpha [N])``,
    premultiplied, over a transparent ``num_pixels``-pixel canvas."""
    dtype = alpha.dtype
    if pixel.numel() == 0:
        return premult.new_zeros(3, num_pixels), alpha.new_zeros(num_pixels)
    with torch.no_grad():
        if bool((order[1:] >= order[:-1]).all()):
            # fragments already in paint order: a stable sort by pixel keeps it per pixel
            # (int32 keys sort about 1.5x faster than int64 on the CPU)
            pix, perm = torch.sort(pixel.int() if num_pixels < 2**31 else pixel, stable=True)
        else:
            span = int(order.max()) + 1
            perm = torch.argsort(pixel * span + order)
            pix = pixel[perm]
        _, counts = torch.unique_consecutive(pix, return_counts=True)
        ends = torch.cumsum(counts, 0)
        end_of = torch.repeat_interleave(ends - 1, counts)
        seg_start = torch.repeat_interleave(ends - counts, counts)
        inv = torch.empty_like(perm).scatter_(0, perm, torch.arange(perm.shape[0], device=perm.device))
    shrink = _SHRINK if dtype == torch.float64 else _SHRINK32
    # float32 coverage can exceed 1 by an ulp or two; log(1 - a) needs a <= 1
    alpha = alpha.clamp(0.0, 1.0)
    return _Over.apply(alpha, premult, pixel, perm, inv, end_of, seg_start, num_pixels, shrink)


def union(pixel: Tensor, cov: Tensor, num_pixels: int) -> Tensor:
    """Coverage of a union of shapes: ``1 - prod (1 - c_i)`` per pixel -> [N]."""
    if pixel.numel() == 0:
        return cov.new_zeros(num_pixels)
    logt = torch.zeros(num_pixels, dtype=torch.float64, device=cov.device)
    logt = logt.index_add(0, pixel, torch.log1p(-(cov.double().clamp(0.0, 1.0) * _SHRINK)))
    return (-torch.expm1(logt)).to(cov.dtype)


def on_background(rgb: Tensor, alpha: Tensor, background: Tensor) -> Tensor:
    """Premultiplied ``rgb`` [B, 3, H, W] and ``alpha`` [B, 1, H, W] over an opaque
    ``background`` broadcastable to [B, 3, H, W]; result clamped to [0, 1]."""
    return (rgb + background * (1 - alpha)).clamp(0, 1)
