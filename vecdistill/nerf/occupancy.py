"""An occupancy grid for empty-space skipping, refreshed during training.

The cube [-bound, bound]^3 is cut into ``resolution``^3 cells. Each cell keeps a running
estimate of the largest density seen in it: an update evaluates the field at one random
point per cell (drawn with the caller's generator) and sets
``estimate = max(decay * estimate, sigma)``. A cell is occupied while its estimate is at
least ``min(threshold, mean estimate)`` (the mean keeps a nearly empty field from being
skipped entirely). Before the first update every cell is occupied.

The renderer places its samples inside the bounding box of the occupied cells (``box``,
keeping the sample spacing of the whole cube, so a smaller box means fewer samples) and
evaluates the field only at samples in occupied cells; the others count as empty
(sigma = 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

Tensor = torch.Tensor


@dataclass
class OccupancyConfig:
    resolution: int = 32  # cells per axis
    threshold: float = 0.05  # density (per scene unit) below which a cell counts as empty
    decay: float = 0.95  # per update
    update_every: int = 16  # steps between updates (pipelines)
    warmup_steps: int = 32  # no skipping before this step (pipelines)
    chunk: int = 65536  # cells evaluated per field call


class OccupancyGrid(nn.Module):
    """``estimate``: [R, R, R] float32 buffer (density); ``occupied``: [R, R, R] bool."""

    def __init__(self, bound: float, config: OccupancyConfig | None = None) -> None:
        super().__init__()
        self.config = config or OccupancyConfig()
        self.bound = float(bound)
        r = self.config.resolution
        self.register_buffer("estimate", torch.full((r, r, r), float("inf")))
        self.register_buffer("occupied", torch.ones(r, r, r, dtype=torch.bool))
        self.register_buffer("updates", torch.zeros((), dtype=torch.int64))
        self.register_buffer("box", torch.tensor([[-self.bound] * 3, [self.bound] * 3]))

    def cell_of(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Integer cell coordinates [M, 3] of points ``x`` [M, 3] and whether each point
        lies inside the cube ([M] bool)."""
        r = self.config.resolution
        u = (x / self.bound + 1) / 2
        inside = ((u >= 0) & (u <= 1)).all(dim=-1)
        return (u * r).long().clamp(0, r - 1), inside

    def query(self, x: Tensor) -> Tensor:
        """[M] bool: whether points ``x`` [M, 3] fall in occupied cells (False outside)."""
        ijk, inside = self.cell_of(x)
        return self.occupied[ijk[:, 0], ijk[:, 1], ijk[:, 2]] & inside

    @torch.no_grad()
    def update(self, density_fn, generator: torch.Generator) -> float:
        """Re-estimate every cell with ``density_fn(points [M, 3]) -> [M]`` at one random
        point per cell. Returns the occupied fraction."""
        c = self.config
        r = c.resolution
        dev = self.estimate.device
        idx = torch.stack(torch.meshgrid(*(torch.arange(r, device=dev),) * 3, indexing="ij"), dim=-1).view(-1, 3)
        jitter = torch.rand(idx.shape, generator=generator, device=generator.device).to(dev)
        pts = ((idx.float() + jitter) / r * 2 - 1) * self.bound
        sigma = torch.cat([density_fn(pts[i:i + c.chunk]).float() for i in range(0, pts.shape[0], c.chunk)])
        sigma = sigma.view(r, r, r)
        if int(self.updates) == 0:
            self.estimate.copy_(sigma)
        else:
            self.estimate.copy_(torch.maximum(self.estimate * c.decay, sigma))
        thr = min(c.threshold, float(self.estimate.mean()))
        self.occupied.copy_(self.estimate >= thr)
        self.box.copy_(self._occupied_box())
        self.updates += 1
        return float(self.occupied.float().mean())

    def _occupied_box(self) -> Tensor:
        """[2, 3] corners (lo, hi) of the occupied cells' bounding box (world units); a
        zero-size box at the origin when nothing is occupied."""
        r = self.config.resolution
        idx = self.occupied.nonzero()
        if idx.shape[0] == 0:
            return torch.zeros(2, 3, device=self.box.device)
        cell = 2 * self.bound / r
        lo = idx.amin(dim=0).float() * cell - self.bound
        hi = (idx.amax(dim=0).float() + 1) * cell - self.bound
        return torch.stack([lo, hi])

    def occupied_fraction(self) -> float:
        return float(self.occupied.float().mean())
