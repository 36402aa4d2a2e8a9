"""Differentiable random perspective + crop of rendered images (VectorFusion's augmentation).

Each view composes a random perspective (the image corners moved inward, torchvision's
``RandomPerspective`` geometry) with a random resized crop, and resamples the image once with
``grid_sample`` (bilinear): gradients flow back to every pixel of the render. Outside the
image the background colour is used. All randomness comes from the given generator.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

Tensor = torch.Tensor


def _uniform(generator: torch.Generator, n: int) -> list[float]:
    return torch.rand(n, generator=generator, device=generator.device).tolist()


def homography(src: Tensor, dst: Tensor) -> Tensor:
    """The 3x3 projective map taking the 4 points ``src`` [4, 2] to ``dst`` [4, 2] (float64)."""
    rows, rhs = [], []
    for (x, y), (u, v) in zip(src.tolist(), dst.tolist()):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        rhs += [u, v]
    h = torch.linalg.solve(torch.tensor(rows, dtype=torch.float64), torch.tensor(rhs, dtype=torch.float64))
    return torch.cat([h, h.new_ones(1)]).view(3, 3)


def sample_view(
    generator: torch.Generator,
    perspective_p: float = 0.7,
    distortion: float = 0.5,
    crop_scale: tuple[float, float] = (0.7, 0.9),
) -> Tensor:
    """One random view as a 3x3 map (float64) from output to input image coordinates, both
    in the unit square ([0, 1]^2, x right, y down)."""
    u = _uniform(generator, 11)
    # crop (in the perspective's output image): area fraction s, aspect ratio r
    s = crop_scale[0] + (crop_scale[1] - crop_scale[0]) * u[0]
    r = math.exp(math.log(3 / 4) + (math.log(4 / 3) - math.log(3 / 4)) * u[1])
    w, h = min(math.sqrt(s * r), 1.0), min(math.sqrt(s / r), 1.0)
    x0, y0 = (1 - w) * u[2], (1 - h) * u[3]
    crop = torch.tensor([[w, 0, x0], [0, h, y0], [0, 0, 1]], dtype=torch.float64)
    if u[4] >= perspective_p:
        return crop
    d = 0.5 * distortion
    corners = torch.tensor([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]], dtype=torch.float64)
    moved = torch.tensor(
        [
            [d * u[5], d * u[6]],
            [1 - d * u[7], d * u[8]],
            [1 - d * u[9], 1 - d * u[10]],
            [d * u[6], 1 - d * u[9]],
        ],
        dtype=torch.float64,
    )
    # the perspective moves corners -> moved; sampling needs moved -> corners
    back = homography(moved, corners)
    return back @ crop


def warp(images: Tensor, maps: Tensor, background: Tensor | tuple[float, float, float], size: tuple[int, int] | None = None) -> Tensor:
    """Resample ``images`` [B, 3, H, W] through per-row maps [B, 3, 3] (output -> input, unit
    square coordinates) into [B, 3, h, w] (``size``, default the input's); differentiable in
    ``images``. Pixels that map outside the image get ``background`` (RGB in [0, 1])."""
    b, _, hh, ww = images.shape
    oh, ow = size if size is not None else (hh, ww)
    dev, dt = images.device, images.dtype
    ys = (torch.arange(oh, dtype=torch.float64, device=dev) + 0.5) / oh
    xs = (torch.arange(ow, dtype=torch.float64, device=dev) + 0.5) / ow
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    pts = torch.stack([gx, gy, torch.ones_like(gx)], -1).view(-1, 3)  # [N, 3]
    mapped = torch.einsum("bij,nj->bni", maps.to(dev), pts)
    xy = mapped[..., :2] / mapped[..., 2:].clamp_min(1e-12)
    grid = (xy * 2 - 1).view(b, oh, ow, 2).to(dt)
    bg = torch.as_tensor(background, dtype=dt, device=dev).view(1, 3, 1, 1) if not isinstance(background, Tensor) else background.to(dt).view(1, 3, 1, 1)
    out = F.grid_sample(images - bg, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return out + bg


def augment(
    images: Tensor,
    generator: torch.Generator,
    views: int = 1,
    perspective_p: float = 0.7,
    distortion: float = 0.5,
    crop_scale: tuple[float, float] = (0.7, 0.9),
    background: tuple[float, float, float] = (1.0, 1.0, 1.0),
) -> Tensor:
    """``views`` random perspective+crop views of each image: [B, 3, H, W] -> [B*views, 3, H, W]
    (rows grouped by image), same size as the input, differentiable."""
    b = images.shape[0]
    maps = torch.stack([sample_view(generator, perspective_p, distortion, crop_scale) for _ in range(b * views)])
    rep = images.repeat_interleave(views, dim=0) if views > 1 else images
    return warp(rep, maps, background)
