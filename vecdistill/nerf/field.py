"""The radiance field: a hash-grid encoding and a small MLP decoding density and albedo.

``density(x) = softplus(raw(x) + blob(x))`` (per scene unit of length, >= 0) and
``albedo(x) = sigmoid(...)`` in [0, 1]^3, for world points ``x`` in the cube
[-bound, bound]^3 (outside it the density is 0).

The density "blob" is a bias added before the activation so that a fresh field already
holds a soft ball at the origin (DreamFusion re-implementations, REFERENCE.md section 3):
``magic3d``: ``blob_density * (1 - r / blob_radius)``; ``gaussian``:
``blob_density * exp(-r^2 / (2 blob_radius^2))``; ``none``: no bias (an empty-ish field,
used when reconstructing from images).

The renderer only needs the duck-typed interface ``field(x) -> (sigma [M], albedo [M, 3])``,
``field.density(x) -> [M]`` and ``field.bound``; analytic fields in the tests use it too.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .grid import HashGrid
from .mlp import MLP

Tensor = torch.Tensor


@dataclass
class FieldConfig:
    """Size of the field. CPU-friendly defaults; the GPU preset raises the resolutions."""

    bound: float = 1.0  # the scene is the cube [-bound, bound]^3 (scene units)
    levels: int = 8
    features_per_level: int = 2
    log2_hashmap_size: int = 15
    base_resolution: int = 8
    max_resolution: int = 128
    hidden: int = 32
    hidden_layers: int = 1
    blob: str = "magic3d"  # magic3d | gaussian | none
    blob_density: float = 10.0
    blob_radius: float = 0.5  # scene units


class RadianceField(nn.Module):
    """Density + albedo field (see the module docstring). ``forward(x)``: ``x`` [M, 3]
    world points -> ``(sigma [M] >= 0, albedo [M, 3] in [0, 1])``."""

    def __init__(self, config: FieldConfig | None = None, generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.config = config or FieldConfig()
        c = self.config
        if c.blob not in ("magic3d", "gaussian", "none"):
            raise ValueError(f"unknown density blob {c.blob!r}; use magic3d, gaussian or none")
        self.bound = float(c.bound)
        self.encoding = HashGrid(c.levels, c.features_per_level, c.log2_hashmap_size,
                                 c.base_resolution, c.max_resolution, generator=generator)
        self.decoder = MLP(self.encoding.output_dim, 4, c.hidden, c.hidden_layers, generator=generator)

    def blob(self, x: Tensor) -> Tensor:
        """The density bias [M] at points ``x`` [M, 3]."""
        c = self.config
        if c.blob == "none":
            return torch.zeros_like(x[..., 0])
        r2 = (x * x).sum(dim=-1)
        if c.blob == "magic3d":
            return c.blob_density * (1 - r2.clamp(min=1e-12).sqrt() / c.blob_radius)
        return c.blob_density * torch.exp(-r2 / (2 * c.blob_radius ** 2))

    def _raw(self, x: Tensor) -> Tensor:
        u = (x / self.bound + 1) / 2
        return self.decoder(self.encoding(u))

    def _sigma(self, raw0: Tensor, x: Tensor) -> Tensor:
        inside = (x.abs() <= self.bound).all(dim=-1)
        return F.softplus(raw0 + self.blob(x)) * inside.to(raw0.dtype)

    def density(self, x: Tensor) -> Tensor:
        """sigma [M] at ``x`` [M, 3]."""
        return self._sigma(self._raw(x)[:, 0], x)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        raw = self._raw(x)
        return self._sigma(raw[:, 0], x), torch.sigmoid(raw[:, 1:4])
