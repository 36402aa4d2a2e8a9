"""Fused "over" compositing kernels (Triton), for CUDA renders.

The per-operation path (:class:`.composite._Over`) makes about 35 whole-array passes over the
fragments for a forward and backward (gathers, doubling scans, scatter-adds), each a
kernel launch on a GPU; a render's launch count is what bounds its GPU time (see
``docs/raster.md``). Here the same sums take one kernel each way, one program lane per
pixel walking its fragments from the top (last drawn) down:

- forward: ``T`` starts at 1; each fragment ``i`` (alpha ``a_i = c_i C[3, k_i]``, scale
  ``s_i``: its alpha, or given) adds ``C[:3, k_i] s_i T`` to the pixel's premultiplied colour
  and ``a_i T`` to its alpha, then ``T *= 1 - q a_i`` (``q`` the shrink factor of
  :mod:`.composite`);
- backward (the formulas of :class:`.composite._Over`): one walk sums ``v_i = (g_rgb .
  C[:3, k_i]) s_i T_i + g_a a_i T_i`` over the pixel, a second one gives each fragment
  ``da_i = g_a T_i - q / (1 - q a_i) sum_{k below i} v_k`` (plus ``h_s`` when the scale is
  the alpha), writes ``dc_i`` (and ``ds_i``) at the fragment's own index and adds its colour
  table gradients atomically.

Transmittance is a running float32 product per pixel (no global prefix sum); the backward's
per-pixel sums run in float64 (below an opaque fragment their difference is multiplied by 2^20).
Used by :func:`.composite.over` for float32 CUDA tensors when Triton imports
(``VECDISTILL_FUSED=0`` or ``torch.use_deterministic_algorithms(True)`` turns it off; a
kernel that fails to compile or launch turns both modules' kernels off with a warning, see
:func:`give_up`); the
kernels also run on CPU tensors under Triton's interpreter (``TRITON_INTERPRET=1`` set
before this module is imported), which is how the tests check them against the per-operation
path; the tests also compile them for an H100 (sm_90) with Triton's compiler, which needs no
GPU.
"""

from __future__ import annotations

import os

import torch

Tensor = torch.Tensor

try:  # Triton ships with CUDA builds of torch; absent elsewhere
    import triton
    import triton.language as tl
except ImportError:  # pragma: no cover - depends on the installation
    triton = None
    tl = None

BLOCK = 128  # pixels per program
# no fused multiply-adds: the backward's two walks must round v identically (their
# difference below an opaque fragment is multiplied by 2^20), as written and as the
# interpreter computes
FP_FUSION = False


failed: str | None = None  # why a kernel could not run in this process (then none is used)


def available() -> bool:
    """Whether the fused kernels may run: Triton imports, ``VECDISTILL_FUSED`` is not ``0``,
    torch is not asked for deterministic algorithms (the kernels add with atomics, whose
    order varies between runs), and no kernel has failed to compile or launch here."""
    return (
        triton is not None
        and failed is None
        and os.environ.get("VECDISTILL_FUSED", "1") != "0"
        and not torch.are_deterministic_algorithms_enabled()
    )


def give_up(exc: BaseException) -> None:
    """After a kernel failed (a GPU or toolchain Triton cannot compile for, say): warn once
    and use the per-operation path for the rest of the process. The render that hit the
    failure falls back too, so a run never stops for it."""
    global failed
    if failed is None:
        from .kernel_gate import report_failure

        failed = report_failure(exc, "fused GPU kernels", "VECDISTILL_FUSED=0")


def attempt(launch, *args, **kwargs):
    """``launch(*args, **kwargs)`` (a kernel launch, or a function making them; it must not
    return None), or None when it raised: a kernel Triton cannot compile or launch here, so
    :func:`give_up` and the caller takes the per-operation path. CUDA's out-of-memory error
    is not such a failure and propagates."""
    try:
        return launch(*args, **kwargs)
    except torch.cuda.OutOfMemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - any compile or launch failure
        give_up(exc)
        return None


if triton is not None:

    @triton.jit
    def _fragment(i, perm, cov, index, scale, table, K, valid, HAS_SCALE: tl.constexpr):
        """Fragment at sorted position ``i``: its original index, coverage, table column,
        colour (r, g, b, alpha factor), alpha and scale; zeros where not ``valid``."""
        f = tl.load(perm + i, mask=valid, other=0)
        c = tl.load(cov + f, mask=valid, other=0.0)
        k = tl.load(index + f, mask=valid, other=0)
        cr = tl.load(table + k, mask=valid, other=0.0)
        cg = tl.load(table + K + k, mask=valid, other=0.0)
        cb = tl.load(table + 2 * K + k, mask=valid, other=0.0)
        cf = tl.load(table + 3 * K + k, mask=valid, other=0.0)
        a = c * cf
        if HAS_SCALE:
            s = tl.load(scale + f, mask=valid, other=0.0)
        else:
            s = a
        return f, c, k, cr, cg, cb, cf, a, s

    # (N and K vary with every scene: not specialised on, so that one compiled kernel serves all)
    @triton.jit(do_not_specialize=["N", "K"])
    def _over_forward(cov, index, scale, perm, start, count, table, out_rgb, out_a, N, K, q,
                      HAS_SCALE: tl.constexpr, BLOCK: tl.constexpr):
        p = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        live = p < N
        first = tl.load(start + p, mask=live, other=0)
        n = tl.load(count + p, mask=live, other=0)
        trans = tl.full([BLOCK], 1.0, tl.float32)
        r = tl.zeros([BLOCK], tl.float32)
        g = tl.zeros([BLOCK], tl.float32)
        b = tl.zeros([BLOCK], tl.float32)
        alpha = tl.zeros([BLOCK], tl.float32)
        for j in range(0, tl.max(n, 0)):
            valid = j < n
            f, c, k, cr, cg, cb, cf, a, s = _fragment(first + n - 1 - j, perm, cov, index, scale, table, K, valid, HAS_SCALE)
            w = s * trans
            r += cr * w
            g += cg * w
            b += cb * w
            alpha += a * trans
            trans = trans * (1.0 - q * a)
        tl.store(out_rgb + p, r, mask=live)
        tl.store(out_rgb + N + p, g, mask=live)
        tl.store(out_rgb + 2 * N + p, b, mask=live)
        tl.store(out_a + p, alpha, mask=live)

    @triton.jit(do_not_specialize=["N", "K"])
    def _over_backward(cov, index, scale, perm, start, count, table, g_rgb, g_a, d_cov, d_scale, d_table, N, K, q,
                       HAS_SCALE: tl.constexpr, BLOCK: tl.constexpr):
        p = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        live = p < N
        first = tl.load(start + p, mask=live, other=0)
        n = tl.load(count + p, mask=live, other=0)
        gr = tl.load(g_rgb + p, mask=live, other=0.0)
        gg = tl.load(g_rgb + N + p, mask=live, other=0.0)
        gb = tl.load(g_rgb + 2 * N + p, mask=live, other=0.0)
        ga = tl.load(g_a + p, mask=live, other=0.0)
        top = tl.max(n, 0)
        # first walk: the sum of v over the pixel's fragments. Sums in float64: below an
        # opaque fragment (1 - q a = 2^-20) the difference of two sums (the total less the
        # part walked) is multiplied by 2^20
        trans = tl.full([BLOCK], 1.0, tl.float32)
        total = tl.zeros([BLOCK], tl.float64)
        for j in range(0, top):
            valid = j < n
            f, c, k, cr, cg, cb, cf, a, s = _fragment(first + n - 1 - j, perm, cov, index, scale, table, K, valid, HAS_SCALE)
            # (v exactly as the second walk computes it: their difference must be exact)
            total += ((gr * cr + gg * cg + gb * cb) * trans * s + ga * trans * a).to(tl.float64)
            trans = trans * (1.0 - q * a)
        # second walk: each fragment's gradients; the sum over the fragments below it is
        # the total less what the walk has passed (itself included)
        trans = tl.full([BLOCK], 1.0, tl.float32)
        passed = tl.zeros([BLOCK], tl.float64)
        for j in range(0, top):
            valid = j < n
            f, c, k, cr, cg, cb, cf, a, s = _fragment(first + n - 1 - j, perm, cov, index, scale, table, K, valid, HAS_SCALE)
            h_a = ga * trans
            h_s = (gr * cr + gg * cg + gb * cb) * trans
            passed += (h_s * s + h_a * a).to(tl.float64)
            below = (total - passed).to(tl.float32)
            da = h_a - q / (1.0 - q * a) * below
            if HAS_SCALE:
                tl.store(d_scale + f, h_s, mask=valid)
            else:
                da += h_s
            tl.store(d_cov + f, da * cf, mask=valid)
            st = s * trans
            tl.atomic_add(d_table + k, gr * st, mask=valid)
            tl.atomic_add(d_table + K + k, gg * st, mask=valid)
            tl.atomic_add(d_table + 2 * K + k, gb * st, mask=valid)
            tl.atomic_add(d_table + 3 * K + k, da * c, mask=valid)
            trans = trans * (1.0 - q * a)


def _grid(num_pixels: int) -> tuple[int]:
    return (triton.cdiv(num_pixels, BLOCK),)


class FusedOver(torch.autograd.Function):
    """:class:`.composite._Over`'s sums in one kernel each way. ``cov`` [F], ``scale`` [F]
    or None, ``index`` [F] int64 (original fragment order); ``table`` [4, K]; ``perm``
    [F] int64: fragments sorted by (pixel, paint order); ``start``/``count`` [N] int64:
    each pixel's run in that order. All float tensors float32, contiguous. Returns
    ``(rgb [3, N], alpha [N])``, premultiplied."""

    @staticmethod
    def forward(ctx, cov, table, scale, index, perm, start, count, num_pixels, shrink):
        out_rgb = cov.new_empty(3, num_pixels)
        out_a = cov.new_empty(num_pixels)
        has_scale = scale is not None
        _over_forward[_grid(num_pixels)](
            cov, index, scale if has_scale else cov, perm, start, count, table, out_rgb, out_a,
            num_pixels, table.shape[1], shrink, HAS_SCALE=has_scale, BLOCK=BLOCK, enable_fp_fusion=FP_FUSION,
        )
        ctx.save_for_backward(cov, table, scale if has_scale else None, index, perm, start, count)
        ctx.has_scale, ctx.num_pixels, ctx.shrink = has_scale, num_pixels, shrink
        return out_rgb, out_a

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, g_rgb, g_a):
        cov, table, scale, index, perm, start, count = ctx.saved_tensors
        n = ctx.num_pixels
        g_rgb = cov.new_zeros(3, n) if g_rgb is None else g_rgb.contiguous()
        g_a = cov.new_zeros(n) if g_a is None else g_a.contiguous()
        d_cov = torch.empty_like(cov)
        d_scale = torch.empty_like(cov) if ctx.has_scale else None
        d_table = torch.zeros_like(table)
        def launch():
            _over_backward[_grid(n)](
                cov, index, scale if ctx.has_scale else cov, perm, start, count, table, g_rgb, g_a,
                d_cov, d_scale if ctx.has_scale else d_cov, d_table, n, table.shape[1], ctx.shrink,
                HAS_SCALE=ctx.has_scale, BLOCK=BLOCK, enable_fp_fusion=FP_FUSION,
            )
            return d_cov, d_table, d_scale

        grads = attempt(launch)
        if grads is None:  # the per-operation path's backward instead
            grads = _per_operation_grads(ctx, cov, table, scale, index, perm, count, g_rgb, g_a)
        return (*grads, None, None, None, None, None, None)


def _per_operation_grads(ctx, cov, table, scale, index, perm, count, g_rgb, g_a):
    """The gradients of :class:`.composite._Over` for the same fragments (its forward run
    again), when the backward kernel cannot run."""
    from . import composite

    pix = torch.repeat_interleave(torch.arange(ctx.num_pixels, device=cov.device), count)
    with torch.enable_grad():
        leaves = [t.detach().requires_grad_() for t in (cov, table) + ((scale,) if ctx.has_scale else ())]
        rgb, alpha = composite.over_sorted(leaves[0], leaves[1], leaves[2] if ctx.has_scale else None, index, pix, perm, ctx.num_pixels, ctx.shrink)
        grads = torch.autograd.grad((rgb, alpha), leaves, (g_rgb, g_a), allow_unused=True)
    grads = [torch.zeros_like(t) if g is None else g for g, t in zip(grads, leaves)]
    return grads[0], grads[1], grads[2] if ctx.has_scale else None


def over_sorted(cov: Tensor, table: Tensor, scale: Tensor | None, index: Tensor, pix: Tensor, perm: Tensor,
                num_pixels: int, shrink: float) -> tuple[Tensor, Tensor]:
    """The fused counterpart of :func:`.composite.over_sorted` (``pix`` [F]: the sorted fragments' pixels)."""
    count = torch.bincount(pix, minlength=num_pixels)
    start = torch.cumsum(count, 0) - count
    out = attempt(FusedOver.apply, cov.contiguous(), table.contiguous(), None if scale is None else scale.contiguous(),
                  index.contiguous(), perm, start, count, num_pixels, shrink)
    if out is not None:
        return out
    from . import composite  # the kernel could not run here: the per-operation path

    return composite.over_sorted(cov, table, scale, index, pix, perm, num_pixels, shrink)
