"""Compositing fragments with SVG "source over", vectorised over all layers.

A fragment is one layer at one pixel with premultiplied colour ``p`` [3] and alpha ``a``.
Drawn in paint order, the result at a pixel is ``sum_i p_i T_i`` with transmittance
``T_i = prod_{j > i} (1 - a_j)`` of everything drawn later, and the layer's alpha is
``sum_i a_i T_i = 1 - prod (1 - a_i)``. Fragments are stably sorted by pixel (paint order
kept within each pixel's run); ``T_i`` is a segmented suffix product over the runs, computed
by doubling (``log2`` of the longest run steps of shifted, masked products over all
fragments at once: no gathers, no running total, so float32 loses nothing), and the
backward's sums over earlier fragments the mirror prefix sum. ``a`` is scaled by
``1 - 1e-9`` (float32: ``1 - 2^-20``) in the transmittance so that an opaque layer's factor
stays non-zero and the backward's quotient by it finite. On CUDA (float32, Triton present)
the same sums run as one fused kernel each way (:mod:`.fused`); on the CPU, when Numba is
installed, as two compiled loops over the fragments in paint order, with no sort
(:mod:`.jit_composite`). What follows is the per-operation path, every other case's (and
the reference of both).
"""

from __future__ import annotations

import torch

from .kernel_gate import cpu_kernels_for, kernels_for

Tensor = torch.Tensor

_SHRINK = 1.0 - 1e-9
_SHRINK32 = 1.0 - 2.0**-20  # the float32 counterpart (1 - 1e-9 rounds to 1)


def _run_masks(key: Tensor, dtype) -> list[Tensor]:
    """Masks for segmented scans over fragments sorted by pixel (``key`` [F]: the pixels, or
    any non-decreasing integers equal exactly where the pixels are; the narrowest integer
    type compares fastest): for ``s = 1, 2, 4, ...`` the 0/1 values ``key[i + s] == key[i]``
    [F - s] in ``dtype`` (fragment ``i + s`` lies in ``i``'s run), for as long as some run is
    longer than ``s`` (one mask for runs of 2, three for the longest run of 8 in the 256-path
    scene)."""
    masks = []
    s = 1
    while s < key.shape[0]:
        m = torch.eq(key[s:], key[:-s], out=torch.empty(0, dtype=dtype, device=key.device))
        if not float(m.sum()) > 0:  # (a sum is several times cheaper than .any() on the CPU)
            break
        masks.append(m)
        s *= 2
    return masks


def _later_product(f: Tensor, masks: list[Tensor]) -> Tensor:
    """Segmented exclusive suffix product by doubling: ``T_i = prod f_j`` over the later
    fragments ``j > i`` of ``i``'s run (1 for the last), ``f`` [F], ``masks`` from
    :func:`_run_masks`. After the shift and the steps of ``s = 1 .. 2^(m-1)`` each ``T_i``
    holds the next ``2^m`` factors of its run: all of them once no run is longer than
    ``2^m``. Direct float products: no running total, so no cancellation (float32 is enough)."""
    if not masks:
        return torch.ones_like(f)
    one = f.new_ones(1).expand(f.shape[0])  # (no buffer of ones: a broadcast scalar)
    t = torch.empty_like(f)
    t[-1:] = 1
    torch.lerp(one[1:], f[1:], masks[0], out=t[:-1])
    for k, m in enumerate(masks):
        s = 1 << k
        t[:-s].mul_(torch.lerp(one[s:], t[s:], m))  # (in place on the view: no write-back through __setitem__)
    return t


def _earlier_sum(v: Tensor, masks: list[Tensor]) -> Tensor:
    """Segmented exclusive prefix sum by doubling: ``sum v_k`` over the earlier fragments ``k <
    i`` of ``i``'s run (0 for the first), ``v`` [F], ``masks`` from :func:`_run_masks` (the
    mirror of :func:`_later_product`). Each step writes a fresh buffer with one fused
    multiply-add (the shifted read overlaps the written range, so it cannot run in place)."""
    out = torch.empty_like(v)
    out[:1] = 0
    if not masks:
        return out.zero_()
    torch.mul(v[:-1], masks[0], out=out[1:])
    for k, m in enumerate(masks):
        s = 1 << k
        step = torch.empty_like(out)
        step[:s] = out[:s]
        torch.addcmul(out[s:], out[:-s], m, out=step[s:])
        out = step
    return out


class _Over(torch.autograd.Function):
    """The "over" sums with an analytic backward, computed in (pixel, paint order) order.

    Fragment ``i`` (sorted) has coverage ``c_i``, a colour-table column ``k_i`` (``C`` [4,
    K]: straight RGB and an alpha factor per column; solid layers share one column each),
    alpha ``a_i = c_i C[3, k_i]``, premultiplied colour ``p_i = C[:3, k_i] s_i`` with scale
    ``s_i`` (the alpha itself, or given) and transmittance ``T_i = prod_{j > i, same pixel}
    (1 - q a_j)`` (``q``: the shrink factor below 1 that keeps the quotient below finite for
    opaque layers). Forward: ``rgb[:, pixel] += p_i T_i``, ``alpha[pixel] += a_i T_i``, with
    ``T`` a segmented suffix product (:func:`_later_product`: ``log2`` of the longest run
    steps of shifted, masked products, no gathers). Backward, with ``h_a = g_a T_i``, ``h_s
    = (g_rgb . C[:3, k_i]) T_i`` and ``v_i = (g_rgb . C[:3, k_i]) s_i T_i + g_a a_i T_i``
    the sensitivities of the later-drawn terms: ``da_i = h_a - q / (1 - q a_i) sum_{k < i,
    same pixel} v_k`` (the earlier fragments, whose transmittance contains ``1 - q a_i``; a
    segmented prefix sum, :func:`_earlier_sum`, of terms that all carry that factor, so the
    quotient is accurate even for an opaque ``a_i``), ``ds_i = h_s``, ``dC[:3, k_i] += g_rgb
    s_i T_i``, and through ``a_i = c_i C[3, k_i]``: ``dc_i = da_i C[3, k_i]``, ``dC[3, k_i]
    += da_i c_i``. ``masks``: :func:`_run_masks` of the sorted fragments (from any keys equal
    where ``pix`` is: :func:`over` compares its narrow sort keys).
    """

    @staticmethod
    def forward(ctx, cov, table, scale, index, pix, perm, num_pixels, shrink, masks):
        c = cov.index_select(0, perm)
        k = index.index_select(0, perm)
        # per channel: 1-D gathers and scatters are the fast kind on the CPU
        cols = [row.index_select(0, k) for row in table.unbind(0)]  # 4 x [F]: r, g, b, alpha factor
        a = c * cols[3]
        ctx.scale_is_alpha = scale is None
        f = torch.add(1.0, a, alpha=-shrink)  # each fragment's factor in the transmittance of earlier ones
        trans = _later_product(f, masks)
        if scale is None:  # the premultiplied scale is the alpha: one product serves both sums
            s = None
            st = at = a * trans
        else:
            s = scale.index_select(0, perm)
            st, at = s * trans, a * trans
        out_a = cov.new_zeros(num_pixels).scatter_add_(0, pix, at)
        out_rgb = table.new_zeros(3, num_pixels)
        for row, col in zip(out_rgb.unbind(0), cols[:3]):
            row.scatter_add_(0, pix, col * st)
        ctx.save_for_backward(c, a, s, f, trans, st, pix, k, perm, *cols, *masks)
        ctx.shrink = shrink
        ctx.table_size = table.shape[1]
        return out_rgb, out_a

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, g_rgb, g_a):
        c, a, s, f, trans, st, pix, k, perm, *rest = ctx.saved_tensors
        cols, masks = rest[:4], rest[4:]
        # (a buffer of zeros only for an output that got no gradient: usually both did)
        zero = a.new_zeros(a.shape[0]) if g_a is None or g_rgb is None else None
        ga = zero if g_a is None else g_a.index_select(0, pix)
        grs = [zero] * 3 if g_rgb is None else [g.index_select(0, pix) for g in g_rgb.unbind(0)]
        d_scale = None
        if ctx.scale_is_alpha:
            # both roles of the alpha in one: h_a + h_s = (g_a + g_rgb . C[:3, k]) T, v = a (h_a + h_s)
            h = torch.addcmul(ga, grs[0], cols[0])
            h.addcmul_(grs[1], cols[1]).addcmul_(grs[2], cols[2]).mul_(trans)
            v = a * h
        else:
            h_s = grs[0] * cols[0]
            h_s.addcmul_(grs[1], cols[1]).addcmul_(grs[2], cols[2]).mul_(trans)  # (g_rgb . C[:3, k]) T
            h = ga * trans  # h_a
            v = torch.addcmul(h_s * s, h, a)
            d_scale = torch.empty_like(h_s).scatter_(0, perm, h_s)
        # da = h - q / (1 - q a) * (sum over earlier fragments of v), f = 1 - q a from the forward
        da = torch.addcdiv(h, _earlier_sum(v, masks), f, value=-ctx.shrink)
        rows = [a.new_zeros(ctx.table_size).scatter_add_(0, k, g * st) for g in grs]
        rows.append(a.new_zeros(ctx.table_size).scatter_add_(0, k, da * c))
        d_cov = torch.empty_like(da).scatter_(0, perm, da * cols[3])
        return d_cov, torch.stack(rows), d_scale, None, None, None, None, None, None


def over_sorted(cov: Tensor, table: Tensor, scale: Tensor | None, index: Tensor, pix: Tensor, perm: Tensor,
                num_pixels: int, shrink: float, key: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """:class:`_Over` for fragments already sorted (``perm`` [F], their sorted pixels ``pix``
    [F] int64), its run masks compared on ``key`` [F] (any integers equal exactly where
    ``pix`` is, e.g. narrower sort keys; None: ``pix``): the per-operation counterpart of
    :func:`.fused.over_sorted` (its fallback and its tests' reference)."""
    with torch.no_grad():
        masks = _run_masks(pix if key is None else key, cov.dtype)
    return _Over.apply(cov, table, scale, index, pix, perm, num_pixels, shrink, masks)


def over(
    pixel: Tensor, order: Tensor | None, cov: Tensor, table: Tensor, index: Tensor, scale: Tensor | None, num_pixels: int
) -> tuple[Tensor, Tensor]:
    """Composite fragments in paint order with SVG "source over".

    ``pixel``/``order``: [F] int64 (order: paint order, unique per pixel; None when the
    fragments are already in paint order); ``cov``: [F] in [0, 1]; ``table``: [4, K]
    columns of straight RGB and an alpha factor in [0, 1]; ``index``: [F] int64 into it.
    Fragment ``i`` has alpha ``cov[i] * table[3, index[i]]`` and premultiplied colour
    ``table[:3, index[i]] * scale[i]`` (``scale`` None: its alpha). Returns ``(rgb [3, N],
    alpha [N])``, premultiplied, over a transparent ``num_pixels``-pixel canvas;
    differentiable with respect to ``cov``, ``table`` and ``scale``."""
    dtype = cov.dtype
    if pixel.numel() == 0:
        return table.new_zeros(3, num_pixels) + 0 * table.sum(), cov.new_zeros(num_pixels) + 0 * cov.sum()
    shrink = _SHRINK if dtype == torch.float64 else _SHRINK32
    with torch.no_grad():
        in_order = order is None or bool((order[1:] >= order[:-1]).all())
    fused = kernels_for("compositing", cov, table, scale)
    compiled = None if fused is not None else cpu_kernels_for("compositing", cov, table, scale)
    if compiled is not None:  # CPU: one walk over the fragments in paint order, no sort
        return compiled.over(pixel, None if in_order else order, cov, table, index, scale, num_pixels, shrink)
    with torch.no_grad():
        if in_order:
            # fragments already in paint order: a stable sort by pixel keeps it per pixel
            # (narrow keys sort faster on the CPU: raster_bench.py prints int16 against
            # int32 in its time split)
            if num_pixels <= 2**16:
                key, perm = torch.sort((pixel - 2**15).to(torch.int16), stable=True)
                pix = key.long().add_(2**15)
            else:
                key, perm = torch.sort(pixel.int() if num_pixels < 2**31 else pixel, stable=True)
                pix = key.long()
        else:
            span = int(order.max()) + 1
            perm = torch.argsort(pixel * span + order)
            pix = key = pixel.index_select(0, perm)
    if fused is not None:
        return fused.over_sorted(cov, table, scale, index, pix, perm, num_pixels, shrink)
    return over_sorted(cov, table, scale, index, pix, perm, num_pixels, shrink, key)  # (narrow keys compare faster)




def union(pixel: Tensor, cov: Tensor, num_pixels: int) -> Tensor:
    """Coverage of a union of shapes: ``1 - prod (1 - c_i)`` per pixel -> [N]."""
    if pixel.numel() == 0:
        return cov.new_zeros(num_pixels)
    logt = torch.zeros(num_pixels, dtype=torch.float64, device=cov.device)
    logt = logt.index_add(0, pixel, torch.log1p(-(cov.double().clamp(0.0, 1.0) * _SHRINK)))
    return (-torch.expm1(logt)).to(cov.dtype)


class _Rounded(torch.autograd.Function):
    """``x.clamp(lo, hi)`` with the gradient of ``x``: for values that leave ``[lo, hi]``
    only by rounding (a float32 alpha summed to 1 + 1 ulp), where a plain clamp would cut
    the gradient of every such pixel."""

    @staticmethod
    def forward(ctx, x, lo, hi):
        return x.clamp(lo, hi)

    @staticmethod
    def backward(ctx, g):
        return g, None, None


def clamp_rounding(x: Tensor, lo: float = 0.0, hi: float = 1.0) -> Tensor:
    """``x`` clamped to ``[lo, hi]`` (rounding only: see :class:`_Rounded`), its gradient
    passed through unchanged."""
    return _Rounded.apply(x, lo, hi)


class _OnBackground(torch.autograd.Function):
    """``clamp(rgb + background * (1 - alpha), 0, 1)`` with the gradient of the unclamped
    value: the clamp only removes rounding (a premultiplied colour over a background in [0,
    1] is in [0, 1]), so no mask is kept or applied. Backward: ``g`` to ``rgb``, ``-(g .
    background)`` summed over the channels to ``alpha``, ``g (1 - alpha)`` to the
    background; a background of one colour per image (broadcast over the pixels, as
    ``rasterize`` builds it) takes the channel sum as one product per image."""

    @staticmethod
    def forward(ctx, rgb, alpha, background):
        ctx.save_for_backward(alpha, background)
        return torch.addcmul(rgb, background, 1 - alpha).clamp_(0, 1)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, g):
        alpha, background = ctx.saved_tensors
        d_alpha = d_bg = None
        if ctx.needs_input_grad[1]:
            if background.stride(2) == 0 and background.stride(3) == 0:  # one colour per image
                colour = background[:, :, :1, :1].reshape(background.shape[0], 1, 3)
                d_alpha = -torch.bmm(colour, g.reshape(g.shape[0], 3, -1)).view_as(alpha)
            else:
                d_alpha = -(g * background).sum(1, keepdim=True)
        if ctx.needs_input_grad[2]:
            d_bg = g * (1 - alpha)
        return g, d_alpha, d_bg


def on_background(rgb: Tensor, alpha: Tensor, background: Tensor) -> Tensor:
    """Premultiplied ``rgb`` [B, 3, H, W] and ``alpha`` [B, 1, H, W] over an opaque
    ``background`` broadcastable to [B, 3, H, W]; result clamped to [0, 1] (rounding only;
    see :class:`_OnBackground`)."""
    return _OnBackground.apply(rgb, alpha, background.expand_as(rgb))
