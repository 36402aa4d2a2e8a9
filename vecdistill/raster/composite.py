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

from .coverage import take

Tensor = torch.Tensor

class _Permute(torch.autograd.Function):
    """``x[perm]`` for a permutation ``perm``, whose backward is the gather ``g[inv]``
    (cheaper than the scatter-add that ``index_select`` back-propagates through)."""

    @staticmethod
    def forward(ctx, x, perm, inv):
        ctx.save_for_backward(inv)
        return x.index_select(0, perm)

    @staticmethod
    def backward(ctx, g):
        (inv,) = ctx.saved_tensors
        return g.index_select(0, inv), None, None


_SHRINK = 1.0 - 1e-9
_SHRINK32 = 1.0 - 2.0**-20  # the float32 counterpart (1 - 1e-9 rounds to 1)


def over(pixel: Tensor, order: Tensor, alpha: Tensor, premult: Tensor, num_pixels: int) -> tuple[Tensor, Tensor]:
    """Composite fragments. ``pixel``/``order``: [F] int64 (order: paint order, unique per
    pixel); ``alpha``: [F]; ``premult``: [F, 3]. Returns ``(rgb [N, 3], alpha [N])``,
    premultiplied, over a transparent ``num_pixels``-pixel canvas."""
    dtype = alpha.dtype
    out_rgb = premult.new_zeros(num_pixels, 3)
    out_a = alpha.new_zeros(num_pixels)
    if pixel.numel() == 0:
        return out_rgb, out_a
    with torch.no_grad():
        if bool((order[1:] >= order[:-1]).all()):
            # fragments already in paint order: a stable sort by pixel keeps it per pixel
            pix, perm = torch.sort(pixel, stable=True)
        else:
            span = int(order.max()) + 1
            perm = torch.argsort(pixel * span + order)
            pix = pixel[perm]
        _, counts = torch.unique_consecutive(pix, return_counts=True)
        ends = torch.cumsum(counts, 0) - 1
        end_of = torch.repeat_interleave(ends, counts)
        inv = torch.empty_like(perm)
        inv[perm] = torch.arange(perm.shape[0], device=perm.device)
    a = _Permute.apply(alpha, perm, inv)
    shrink = _SHRINK if dtype == torch.float64 else _SHRINK32
    logt = torch.log1p(-(a * shrink)).double()
    cs = torch.cumsum(logt, 0)
    trans = torch.exp((take(cs, end_of) - cs).to(dtype))
    out_rgb = out_rgb.index_add(0, pix, _Permute.apply(premult, perm, inv) * trans.unsqueeze(-1))
    out_a = out_a.index_add(0, pix, a * trans)
    return out_rgb, out_a


def union(pixel: Tensor, cov: Tensor, num_pixels: int) -> Tensor:
    """Coverage of a union of shapes: ``1 - prod (1 - c_i)`` per pixel -> [N]."""
    if pixel.numel() == 0:
        return cov.new_zeros(num_pixels)
    logt = torch.zeros(num_pixels, dtype=torch.float64, device=cov.device)
    logt = logt.index_add(0, pixel, torch.log1p(-(cov.double() * _SHRINK)))
    return (-torch.expm1(logt)).to(cov.dtype)


def on_background(rgb: Tensor, alpha: Tensor, background: Tensor) -> Tensor:
    """Premultiplied ``rgb`` [B, 3, H, W] and ``alpha`` [B, 1, H, W] over an opaque
    ``background`` broadcastable to [B, 3, H, W]; result clamped to [0, 1]."""
    return (rgb + background * (1 - alpha)).clamp(0, 1)
