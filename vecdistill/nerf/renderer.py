"""The volume renderer: stratified samples, alpha compositing, opacity, depth, normals.

For a ray with samples i (distance t_i, bin length delta_i, density sigma_i, colour c_i)::

    tau_i   = sum_{j < i} sigma_j delta_j             (optical depth before sample i)
    w_i     = exp(-tau_i) (1 - exp(-sigma_i delta_i))  (the weight of sample i)
    opacity = sum_i w_i = 1 - exp(-sum_i sigma_i delta_i)
    colour  = sum_i w_i c_i + (1 - opacity) background
    depth   = sum_i w_i t_i / opacity                  (0 where opacity is 0)

which is the quadrature of ``C = int T(t) sigma(t) c(t) dt`` with ``T(t) = exp(-int_0^t
sigma)``; it is exact for piecewise-constant density. Transmittance is accumulated in log
space (no products of many ``1 - alpha`` factors).

Normals are ``-grad sigma / |grad sigma|``, the gradient by central finite differences
(step ``normal_eps`` scene units), computed only when the shading mode needs them and only
at samples whose weight exceeds ``normal_weight`` (the others are shaded as if facing away
from the light; their share of a pixel is below that weight each).
Empty-space skipping: with an :class:`~vecdistill.nerf.occupancy.OccupancyGrid`, samples
are placed in the bounding box of its occupied cells (as many as keep the whole cube's
spacing: ``samples * box extent / cube side``), and the field is evaluated only at samples
in occupied cells; the others get sigma = 0.

Images come out as [B, 3, H, W] float in [0, 1] (straight colour composited on the
background), the project's convention, so ``prior.encode(render.image)`` works unchanged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .cameras import Cameras
from .occupancy import OccupancyGrid
from .sampler import stratified_samples
from .shading import Background, shade

Tensor = torch.Tensor


@dataclass
class RenderConfig:
    samples: int = 64  # per ray
    chunk: int = 16384  # rays per batch of work
    normal_eps: float = 1e-2  # finite-difference step, scene units
    normal_weight: float = 1e-4  # normals only at samples whose weight exceeds this
    min_near: float = 0.05  # no samples closer than this to the camera
    ambient: float = 0.3
    diffuse: float = 0.7


@dataclass
class RayOutput:
    """``rgb`` [R, 3], ``opacity`` [R], ``depth`` [R], ``normal`` [R, 3] or None,
    ``evaluated``: how many samples reached the field (after skipping)."""

    rgb: Tensor
    opacity: Tensor
    depth: Tensor
    normal: Tensor | None
    evaluated: int


@dataclass
class RenderOutput:
    """``image`` [B, 3, H, W] in [0, 1]; ``opacity``, ``depth`` [B, 1, H, W];
    ``normal`` [B, 3, H, W] (composited, not normalised) or None;
    ``evaluated_fraction``: share of samples the field was evaluated at."""

    image: Tensor
    opacity: Tensor
    depth: Tensor
    normal: Tensor | None
    evaluated_fraction: float


def composite(sigma: Tensor, delta: Tensor) -> Tensor:
    """Weights [R, S] from densities and bin lengths [R, S] (see the module docstring)."""
    sd = sigma * delta
    tau = torch.cumsum(sd, dim=-1) - sd  # exclusive
    return torch.exp(-tau) * (1 - torch.exp(-sd))


def finite_difference_normals(density_fn, points: Tensor, eps: float) -> Tensor:
    """Unit normals [M, 3] = -grad sigma / |grad sigma| at ``points`` [M, 3], central
    differences with step ``eps``; differentiable through ``density_fn``."""
    m = points.shape[0]
    offsets = torch.eye(3, device=points.device, dtype=points.dtype) * eps
    probe = torch.cat([points[None] + offsets[:, None], points[None] - offsets[:, None]], dim=0)  # [6, M, 3]
    d = density_fn(probe.reshape(-1, 3)).view(6, m)
    grad = (d[:3] - d[3:]).T / (2 * eps)  # [M, 3]
    return -grad / grad.norm(dim=-1, keepdim=True).clamp(min=1e-8)


def render_rays(field, origins: Tensor, dirs: Tensor, config: RenderConfig, *, generator: torch.Generator | None = None,
                jitter: bool = True, occupancy: OccupancyGrid | None = None, mode: str = "albedo",
                light: Tensor | None = None, background: Tensor | None = None) -> RayOutput:
    """Render rays ``origins, dirs`` [R, 3] (unit directions) through ``field``.

    ``light``: [R, 3] point-light position per ray (lambertian / textureless modes).
    ``background``: [R, 3] colour per ray (default black, i.e. premultiplied output).
    ``generator``/``jitter``: stratified jitter (no jitter without a generator).
    """
    box, n_samples = None, config.samples
    if occupancy is not None:
        # sample only the occupied cells' bounding box, at the whole cube's spacing
        box = (occupancy.box[0], occupancy.box[1])
        extent = float((occupancy.box[1] - occupancy.box[0]).max())
        n_samples = max(4, min(config.samples, math.ceil(config.samples * extent / (2 * field.bound))))
    s = stratified_samples(origins, dirs, field.bound, n_samples, generator, jitter, config.min_near, box)
    r, n = s.t.shape
    pts = s.points.reshape(-1, 3)
    mask = s.delta.reshape(-1) > 0
    if occupancy is not None:
        mask = mask & occupancy.query(pts)
    idx = mask.nonzero().squeeze(-1)
    p = pts[idx]
    sigma_m, albedo_m = field(p)
    dtype = sigma_m.dtype
    sigma = torch.zeros(r * n, dtype=dtype, device=pts.device).index_put((idx,), sigma_m).view(r, n)
    w = composite(sigma, s.delta.to(dtype))
    need_normals = mode != "albedo"
    normal_m = torch.zeros_like(p)
    if need_normals and p.shape[0] > 0:
        # normals only where the sample is visible: 6 extra field calls per sample are the
        # renderer's main cost, and invisible samples contribute < normal_weight each
        sel = (w.reshape(-1)[idx].detach() > config.normal_weight).nonzero().squeeze(-1)
        normal_m = normal_m.index_put((sel,), finite_difference_normals(field.density, p[sel], config.normal_eps))
    if need_normals:
        ray_of = torch.div(idx, n, rounding_mode="floor")
        colour_m = shade(albedo_m, normal_m, p, light[ray_of], mode, config.ambient, config.diffuse)
    else:
        colour_m = albedo_m
    colour = torch.zeros(r * n, 3, dtype=colour_m.dtype, device=pts.device).index_put((idx,), colour_m).view(r, n, 3)
    opacity = w.sum(dim=-1)
    rgb = (w[..., None] * colour).sum(dim=1)
    if background is not None:
        rgb = rgb + (1 - opacity)[:, None] * background
    depth = (w * s.t).sum(dim=-1) / opacity.clamp(min=1e-8) * (opacity > 1e-8)
    normal = None
    if need_normals:
        nrm = torch.zeros(r * n, 3, dtype=normal_m.dtype, device=pts.device).index_put((idx,), normal_m).view(r, n, 3)
        normal = (w[..., None] * nrm).sum(dim=1)
    return RayOutput(rgb, opacity, depth, normal, int(idx.shape[0]))


def render(field, cameras: Cameras, config: RenderConfig, *, generator: torch.Generator | None = None,
           jitter: bool = True, occupancy: OccupancyGrid | None = None, mode: str = "albedo",
           light: Tensor | None = None, background: Background | None = None) -> RenderOutput:
    """Render full images from ``cameras`` (B cameras, H x W each).

    ``light``: [B, 3] one point light per image. ``background``: a
    :class:`~vecdistill.nerf.shading.Background` (None = white); it draws its random
    colours from ``generator`` (training) or uses its evaluation colour
    (``generator=None``).
    """
    b, h, w = len(cameras), cameras.height, cameras.width
    origins, dirs = cameras.rays()  # [B, H, W, 3]
    if background is None:
        bg = torch.ones(b, h * w, 3, device=origins.device)
    else:
        bg = background(dirs.reshape(b, h * w, 3), generator)
    o, d, bg = origins.reshape(-1, 3), dirs.reshape(-1, 3), bg.reshape(-1, 3)
    lights = None if light is None else light[:, None, :].expand(b, h * w, 3).reshape(-1, 3)
    outs = []
    for i in range(0, o.shape[0], config.chunk):
        sl = slice(i, i + config.chunk)
        outs.append(render_rays(field, o[sl], d[sl], config, generator=generator, jitter=jitter, occupancy=occupancy,
                                mode=mode, light=None if lights is None else lights[sl], background=bg[sl]))
    rgb = torch.cat([x.rgb for x in outs]).view(b, h, w, 3).permute(0, 3, 1, 2)
    opacity = torch.cat([x.opacity for x in outs]).view(b, 1, h, w)
    depth = torch.cat([x.depth for x in outs]).view(b, 1, h, w)
    normal = None
    if outs[0].normal is not None:
        normal = torch.cat([x.normal for x in outs]).view(b, h, w, 3).permute(0, 3, 1, 2)
    evaluated = sum(x.evaluated for x in outs) / max(1, o.shape[0] * config.samples)  # vs. no skipping
    return RenderOutput(rgb.clamp(0, 1), opacity, depth, normal, evaluated)
