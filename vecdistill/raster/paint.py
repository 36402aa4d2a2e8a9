"""Paint evaluation: the straight RGBA colour of a fill or stroke at pixel centres.

Solid colours are constants. Gradients are evaluated at each pixel centre ``(x + 0.5,
y + 0.5)`` mapped back into gradient space through ``to_canvas`` (gradient space -> canvas
pixels: the element's transform, the bounding-box map for ``objectBoundingBox`` units and
the gradientTransform). Stop offsets are made non-decreasing and clamped to [0, 1] as SVG
specifies; colours and opacity are interpolated straight (not premultiplied).
"""

from __future__ import annotations

import torch

from ..svg.scene import Gradient, LinearGradient, RadialGradient

Tensor = torch.Tensor


def _safe_div(num: Tensor, den: Tensor, fallback: float = 0.0) -> Tensor:
    ok = den != 0
    out = num / torch.where(ok, den, torch.ones_like(den))
    return torch.where(ok, out, torch.full_like(out, fallback))


def spread(t: Tensor, mode: str) -> Tensor:
    """Map the gradient parameter ``t`` [F] into [0, 1]: ``pad`` | ``reflect`` | ``repeat``."""
    if mode == "reflect":
        r = torch.remainder(t, 2.0)
        return torch.where(r > 1, 2 - r, r)
    if mode == "repeat":
        return torch.remainder(t, 1.0)
    return t.clamp(0, 1)


def stop_colors(t: Tensor, offsets: Tensor, colors: Tensor) -> Tensor:
    """Piecewise-linear stop interpolation. ``t``: [F] in [0, 1]; ``offsets``: [K];
    ``colors``: [K, 4] -> [F, 4]. Differentiable in ``t``, offsets and colours."""
    k = offsets.shape[0]
    o = torch.cummax(offsets.to(t.dtype).clamp(0, 1), 0).values
    colors = colors.to(t.dtype)
    if k == 1:
        return colors[0].expand(t.shape[0], 4)
    idx = torch.searchsorted(o.detach().contiguous(), t.detach().contiguous(), right=True)
    lo = (idx - 1).clamp(0, k - 1)
    hi = idx.clamp(0, k - 1)
    w = _safe_div(t - o[lo], o[hi] - o[lo]).clamp(0, 1)
    w = torch.where(lo == hi, torch.zeros_like(w), w).unsqueeze(-1)
    return colors[lo] * (1 - w) + colors[hi] * w


def _invert(m: Tensor) -> Tensor:
    """Inverse of an affine [2, 3] (differentiable)."""
    a, c, e = m[0, 0], m[0, 1], m[0, 2]
    b, d, f = m[1, 0], m[1, 1], m[1, 2]
    det = a * d - b * c
    det = torch.where(det.abs() > 1e-30, det, torch.full_like(det, 1e-30))
    ia, ic, ib, id_ = d / det, -c / det, -b / det, a / det
    ie = -(ia * e + ic * f)
    if_ = -(ib * e + id_ * f)
    return torch.stack([torch.stack([ia, ic, ie]), torch.stack([ib, id_, if_])])


def gradient_param(grad: Gradient, p: Tensor) -> Tensor:
    """Gradient parameter (before spreading) at points ``p`` [F, 2] in gradient space."""
    if isinstance(grad, LinearGradient):
        s = grad.start.to(p.dtype)
        v = grad.end.to(p.dtype) - s
        return _safe_div(((p - s) * v).sum(-1), (v * v).sum(), fallback=1.0)
    assert isinstance(grad, RadialGradient)
    c = grad.center.to(p.dtype)
    r = grad.radius.to(p.dtype).reshape(())
    f = c if grad.focal is None else grad.focal.to(p.dtype)
    e = c - f
    # keep the focal point inside the circle (SVG 1.1 moves it onto 0.99 r)
    elen = e.norm()
    lim = 0.99 * r
    scale = torch.where(elen > lim, lim / elen.clamp_min(1e-30), torch.ones_like(elen))
    e = e * scale
    f = c - e
    d = p - f
    dd = (d * d).sum(-1)
    de = (d * e).sum(-1)
    disc = (de * de - dd * ((e * e).sum() - r * r)).clamp_min(0)
    den = de + torch.sqrt(disc + 1e-30)
    t = _safe_div(dd, den)
    return torch.where(r > 0, t, torch.ones_like(t))


def gradient_colors(grad: Gradient, pixel_xy: Tensor, to_canvas: Tensor) -> Tensor:
    """Straight RGBA [F, 4] of ``grad`` at canvas points ``pixel_xy`` [F, 2] (pixel centres).
    ``to_canvas``: [2, 3] gradient space -> canvas pixels."""
    inv = _invert(to_canvas.to(pixel_xy.dtype))
    p = pixel_xy @ inv[:, :2].T + inv[:, 2]
    t = spread(gradient_param(grad, p), grad.spread)
    return stop_colors(t, grad.offsets, grad.colors)
