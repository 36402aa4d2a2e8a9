"""Stratified sampling along rays inside the scene cube.

Each ray's segment [near, far] inside the cube [-bound, bound]^3 is cut into ``n`` equal
bins; one sample per bin, at a uniformly random place in it (``jitter=True``, training: an
unbiased estimate of the rendering integral) or at its centre (evaluation: the midpoint
rule). Each sample stands for its whole bin: ``delta`` is the bin length.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .cameras import ray_box

Tensor = torch.Tensor


@dataclass
class RaySamples:
    """``t``: [R, S] distances of the samples along the rays; ``delta``: [R, S] bin lengths
    (scene units; 0 for rays that miss the cube); ``points``: [R, S, 3] world positions."""

    t: Tensor
    delta: Tensor
    points: Tensor


def stratified_samples(origins: Tensor, dirs: Tensor, bound: float, n: int, generator: torch.Generator | None = None,
                       jitter: bool = True, min_near: float = 0.05, box: tuple[Tensor, Tensor] | None = None) -> RaySamples:
    """``n`` samples per ray for ``origins, dirs`` [R, 3] (unit directions).

    ``generator`` draws the jitter; with ``jitter=False`` (or no generator) samples sit at
    bin centres. ``box``: sample inside this axis-aligned box (lo [3], hi [3]) instead of
    the whole cube.
    """
    near, far = ray_box(origins, dirs, bound, min_near, box)
    width = (far - near) / n  # [R]
    if jitter and generator is not None:
        u = torch.rand(origins.shape[0], n, generator=generator, device=generator.device).to(origins.device)
    else:
        u = torch.full((origins.shape[0], n), 0.5, device=origins.device)
    steps = torch.arange(n, device=origins.device, dtype=origins.dtype)
    t = near[:, None] + (steps[None, :] + u) * width[:, None]
    delta = width[:, None].expand(-1, n)
    points = origins[:, None, :] + t[..., None] * dirs[:, None, :]
    return RaySamples(t, delta, points)
