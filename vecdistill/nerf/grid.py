"""A multi-resolution feature grid (instant-ngp's hash encoding) in plain torch.

Level l has resolution N_l = floor(base * b^l) with b chosen so the last level has
``max_resolution``. A level whose (N_l + 1)^3 grid vertices fit in the table is stored
densely (one row per vertex); finer levels hash vertex coordinates into
2^``log2_hashmap_size`` rows (the spatial hash of Mueller et al. 2022: xor of coordinates
times large primes). Features of the 8 surrounding vertices are blended trilinearly, so the
encoding is continuous and differentiable in the table entries (and piecewise linear in x).
No CUDA extension: gather + weighted sum, runs on any torch device.
"""

from __future__ import annotations

import math

import torch
from torch import nn

Tensor = torch.Tensor

_PRIMES = (1, 2654435761, 805459861)
_CORNERS = torch.tensor([[(k >> 0) & 1, (k >> 1) & 1, (k >> 2) & 1] for k in range(8)], dtype=torch.int64)


class HashGrid(nn.Module):
    """Encode points in the unit cube [0, 1]^3 into ``levels * features`` features.

    ``forward(u)``: ``u`` [M, 3] float in [0, 1] (clamped) -> [M, levels * features], in the
    table's dtype. Tables are initialised uniformly in [-init_scale, init_scale] with
    ``generator`` (so a seed fixes the field).
    """

    def __init__(self, levels: int = 8, features: int = 2, log2_hashmap_size: int = 15,
                 base_resolution: int = 8, max_resolution: int = 128, init_scale: float = 1e-4,
                 generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.levels, self.features = int(levels), int(features)
        growth = math.exp((math.log(max_resolution) - math.log(base_resolution)) / max(levels - 1, 1))
        self.resolutions = [int(math.floor(base_resolution * growth ** level)) for level in range(levels)]
        self.table_sizes = []
        self.hashed = []
        tables = []
        for res in self.resolutions:
            dense = (res + 1) ** 3
            size = min(dense, 2 ** int(log2_hashmap_size))
            self.table_sizes.append(size)
            self.hashed.append(dense > size)
            table = torch.empty(size, features)
            table.uniform_(-init_scale, init_scale, generator=generator)
            tables.append(nn.Parameter(table))
        self.tables = nn.ParameterList(tables)

    @property
    def output_dim(self) -> int:
        return self.levels * self.features

    def _index(self, corner: Tensor, level: int) -> Tensor:
        """Table rows [M, 8] of integer vertex coordinates ``corner`` [M, 8, 3]."""
        res, size = self.resolutions[level], self.table_sizes[level]
        if self.hashed[level]:
            h = corner[..., 0] * _PRIMES[0]
            h = h ^ (corner[..., 1] * _PRIMES[1])
            h = h ^ (corner[..., 2] * _PRIMES[2])
            return h % size
        side = res + 1
        return corner[..., 0] + side * (corner[..., 1] + side * corner[..., 2])

    def forward(self, u: Tensor) -> Tensor:
        u = u.clamp(0.0, 1.0)
        corners = _CORNERS.to(u.device)
        out = []
        for level, table in enumerate(self.tables):
            res = self.resolutions[level]
            pos = u * res
            base = pos.floor().clamp(max=res - 1)
            frac = (pos - base).to(table.dtype)  # [M, 3]
            corner = base.long().unsqueeze(1) + corners  # [M, 8, 3]
            rows = self._index(corner, level)  # [M, 8]
            # trilinear weights: prod over axes of frac or (1 - frac)
            c = corners.to(table.dtype)  # [8, 3]
            w = (frac.unsqueeze(1) * c + (1 - frac.unsqueeze(1)) * (1 - c)).prod(dim=-1)  # [M, 8]
            feats = table[rows]  # [M, 8, F]
            out.append((w.unsqueeze(-1) * feats).sum(dim=1))
        return torch.cat(out, dim=-1)
