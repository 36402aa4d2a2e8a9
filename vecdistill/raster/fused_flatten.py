"""Fused cubic evaluation (Triton), for CUDA renders: the flattening's vertices in one kernel
each way.

The per-operation path (:func:`.flatten.flatten`) evaluates the cubics in a dense ``[2, S,
m]`` block or per vertex: some 30 operations forward and 20 in the backward, each a kernel
launch on a GPU. Here one lane per segment evaluates its vertices (``t = j / n`` for ``j <
n_eval``, Horner on the power basis: the same formulas as :func:`.flatten._dense_cubics`) and
writes them, and their subpath, from the segment's first vertex on; the backward lane sums
its vertices' gradients times the cubic Bernstein weights at the same ``t`` into the
segment's four control points (each lane owns its segment: no atomics).

Used by :func:`.flatten.flatten` under the same conditions as the other kernels (float32
CUDA tensors, :func:`.kernel_gate.kernels_for`) with the vertex counts the
per-operation path would use, so that a GPU render flattens exactly as a CPU one; tested
under Triton's interpreter against the per-operation path.
"""

from __future__ import annotations

import torch

from .fused import BLOCK, FP_FUSION, attempt, tl, triton

Tensor = torch.Tensor

if triton is not None:

    @triton.jit
    def _coefficients(ctrl, s, m, c: tl.constexpr):
        """Power-basis coefficients (c3, c2, c1, c0) of coordinate ``c`` of the cubics ``s``
        (``ctrl`` [S, 4, 2], contiguous)."""
        p0 = tl.load(ctrl + s * 8 + c, mask=m, other=0.0)
        p1 = tl.load(ctrl + s * 8 + 2 + c, mask=m, other=0.0)
        p2 = tl.load(ctrl + s * 8 + 4 + c, mask=m, other=0.0)
        p3 = tl.load(ctrl + s * 8 + 6 + c, mask=m, other=0.0)
        c3 = -p0 + 3.0 * p1 - 3.0 * p2 + p3
        c2 = 3.0 * p0 - 6.0 * p1 + 3.0 * p2
        c1 = 3.0 * (p1 - p0)
        return c3, c2, c1, p0

    @triton.jit(do_not_specialize=["S", "M"])
    def _cubics_forward(ctrl, counts, n_eval, first, seg_sub, out, out_sub, S, M, WRITE_SUB: tl.constexpr, BLOCK: tl.constexpr):
        s = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        m = s < S
        x3, x2, x1, x0 = _coefficients(ctrl, s, m, 0)
        y3, y2, y1, y0 = _coefficients(ctrl, s, m, 1)
        n = tl.load(counts + s, mask=m, other=1).to(tl.float32)
        ne = tl.load(n_eval + s, mask=m, other=0)
        f = tl.load(first + s, mask=m, other=0)
        sub = tl.load(seg_sub + s, mask=m, other=0)
        for j in range(0, M):
            live = m & (j < ne)
            t = j / n
            v = f + j
            tl.store(out + v * 2, ((x3 * t + x2) * t + x1) * t + x0, mask=live)
            tl.store(out + v * 2 + 1, ((y3 * t + y2) * t + y1) * t + y0, mask=live)
            if WRITE_SUB:
                tl.store(out_sub + v, sub, mask=live)

    @triton.jit(do_not_specialize=["S", "M"])
    def _cubics_backward(counts, n_eval, first, grad, grad_ctrl, S, M, BLOCK: tl.constexpr):
        s = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        m = s < S
        n = tl.load(counts + s, mask=m, other=1).to(tl.float32)
        ne = tl.load(n_eval + s, mask=m, other=0)
        f = tl.load(first + s, mask=m, other=0)
        zero = tl.zeros((BLOCK,), dtype=tl.float32)
        a0x, a1x, a2x, a3x = zero, zero, zero, zero
        a0y, a1y, a2y, a3y = zero, zero, zero, zero
        for j in range(0, M):
            live = m & (j < ne)
            t = j / n
            u = 1.0 - t
            v = f + j
            gx = tl.load(grad + v * 2, mask=live, other=0.0)
            gy = tl.load(grad + v * 2 + 1, mask=live, other=0.0)
            b0 = u * u * u
            b1 = 3.0 * u * u * t
            b2 = 3.0 * u * t * t
            b3 = t * t * t
            a0x += b0 * gx
            a1x += b1 * gx
            a2x += b2 * gx
            a3x += b3 * gx
            a0y += b0 * gy
            a1y += b1 * gy
            a2y += b2 * gy
            a3y += b3 * gy
        base = grad_ctrl + s * 8
        tl.store(base, a0x, mask=m)
        tl.store(base + 1, a0y, mask=m)
        tl.store(base + 2, a1x, mask=m)
        tl.store(base + 3, a1y, mask=m)
        tl.store(base + 4, a2x, mask=m)
        tl.store(base + 5, a2y, mask=m)
        tl.store(base + 6, a3x, mask=m)
        tl.store(base + 7, a3y, mask=m)


def _grid(num: int) -> tuple[int]:
    return (triton.cdiv(num, BLOCK),)


class FusedCubics(torch.autograd.Function):
    """Points [V, 2] of the cubics ``ctrl`` [S, 4, 2] (float32, contiguous): segment ``s``
    at ``t = j / counts[s]`` for ``j < n_eval[s]``, written from row ``first[s]`` on
    (``counts``, ``n_eval``, ``first`` [S] int64; ``total`` = V, ``most`` = max ``n_eval``);
    and, with ``seg_sub`` [S] given, each point's subpath [V] int64 (not differentiable)."""

    @staticmethod
    def forward(ctx, ctrl, counts, n_eval, first, seg_sub, total, most):
        S = ctrl.shape[0]
        out = ctrl.new_empty(total, 2)
        write_sub = seg_sub is not None
        out_sub = torch.empty(total if write_sub else 0, dtype=torch.long, device=ctrl.device)
        if S:
            _cubics_forward[_grid(S)](
                ctrl, counts, n_eval, first, seg_sub if write_sub else counts, out, out_sub if write_sub else out,
                S, most, WRITE_SUB=write_sub, BLOCK=BLOCK, enable_fp_fusion=FP_FUSION,
            )
        ctx.save_for_backward(ctrl, counts, n_eval, first)
        ctx.total, ctx.most = total, most
        ctx.mark_non_differentiable(out_sub)
        return out, out_sub

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad, _grad_sub):
        ctrl, counts, n_eval, first = ctx.saved_tensors
        grad = grad.contiguous()
        grad_ctrl = torch.empty_like(ctrl)

        def launch():
            if ctrl.shape[0]:
                _cubics_backward[_grid(ctrl.shape[0])](
                    counts, n_eval, first, grad, grad_ctrl, ctrl.shape[0], ctx.most, BLOCK=BLOCK, enable_fp_fusion=FP_FUSION
                )
            return grad_ctrl

        out = attempt(launch)
        if out is None:  # the kernel could not run here: the per-operation path's gradient
            from .flatten import cubic_points_per_operation

            with torch.enable_grad():
                leaf = ctrl.detach().requires_grad_()
                (pts,) = cubic_points_per_operation([leaf], counts, n_eval, ctx.total, ctx.most)
                (out,) = torch.autograd.grad(pts, leaf, grad)
        return out, None, None, None, None, None, None


def cubic_points(ctrl: Tensor, counts: Tensor, n_eval: Tensor, first: Tensor, seg_sub: Tensor | None, total: int, most: int):
    """:class:`FusedCubics` (``ctrl`` made contiguous): ``(points [V, 2], subpaths [V] or an
    empty tensor)``."""
    return FusedCubics.apply(ctrl.contiguous(), counts, n_eval, first, seg_sub, total, most)
