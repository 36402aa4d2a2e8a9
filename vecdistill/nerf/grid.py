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
            size = min(dense, 2 ** int(log2_hashmap_size))  # hashed levels: exactly 2^log2
            self.table_sizes.append(size)
            self.hashed.append(dense > size)
            table = torch.empty(size, features)
            table.uniform_(-init_scale, init_scale, generator=generator)
            tables.append(nn.Parameter(table))
        self.tables = nn.ParameterList(tables)

    @property
    def output_dim(self) -> int:
        return self.levels * self.features

    def forward(self, u: Tensor) -> Tensor:
        u = u.clamp(0.0, 1.0)
        m = u.shape[0]
        out = []
        for level, table in enumerate(self.tables):
            res, size = self.resolutions[level], self.table_sizes[level]
            pos = u * res
            base = pos.floor().clamp(max=res - 1)
            frac = (pos - base).to(table.dtype)  # [M, 3]
            lo = base.long()
            # per-axis corner coordinates [M, 2] and linear weights [M, 2]
            cx, cy, cz = (torch.stack([lo[:, a], lo[:, a] + 1], dim=1) for a in range(3))
            wx, wy, wz = (torch.stack([1 - frac[:, a], frac[:, a]], dim=1) for a in range(3))
            w = (wx[:, :, None, None] * wy[:, None, :, None] * wz[:, None, None, :]).reshape(m, 8)
            if self.hashed[level]:  # table size is a power of two: mod = bitwise and
                rows = (cx[:, :, None, None] * _PRIMES[0]) ^ (cy[:, None, :, None] * _PRIMES[1]) ^ (cz[:, None, None, :] * _PRIMES[2])
                rows = rows & (size - 1)
            else:
                side = res + 1
                rows = cx[:, :, None, None] + side * (cy[:, None, :, None] + side * cz[:, None, None, :])
            # gather + blend; index_select's backward (index_add) was the fastest of table[rows],
            # bmm and embedding_bag on CPU
            feats = table.index_select(0, rows.reshape(-1)).view(m, 8, self.features)
            out.append((feats * w.unsqueeze(-1)).sum(dim=1))
        return torch.cat(out, dim=-1)
