"""Shading of volume samples and the background behind the field.

Shading modes (``mode``), per sample with albedo ``a`` [M, 3], unit normal ``n`` [M, 3] and
unit direction to the light ``l`` [M, 3]:

- ``albedo``: ``c = a`` (no lighting; what DreamFusion calls ambient-only).
- ``lambertian``: ``c = a * (ambient + diffuse * max(0, n . l))``.
- ``textureless``: ``c = ambient + diffuse * max(0, n . l)`` (grey, shape only).

The light is a point light placed near the camera (random per render, so the shape has to
explain the shading). :func:`pick_mode` implements the usual schedule: albedo only for the
first ``albedo_steps``, then textureless with probability ``p_textureless``, else
lambertian.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .mlp import MLP

Tensor = torch.Tensor

MODES = ("albedo", "lambertian", "textureless")


@dataclass
class ShadingConfig:
    ambient: float = 0.3
    diffuse: float = 0.7
    albedo_steps: int = 100  # steps rendered with albedo only, before lighting starts
    p_textureless: float = 0.3
    light_distance: tuple[float, float] = (2.0, 3.0)  # scene units from the origin
    light_jitter: float = 0.5  # std of the random offset of the light direction from the camera's


def shade(albedo: Tensor, normals: Tensor | None, points: Tensor, light: Tensor | None, mode: str,
          ambient: float = 0.3, diffuse: float = 0.7) -> Tensor:
    """Colours [M, 3] of samples (see the module docstring). ``points`` [M, 3]; ``light``
    [M, 3] light position per sample (world); ``normals`` and ``light`` may be None for
    ``albedo``."""
    if mode == "albedo":
        return albedo
    if mode not in MODES:
        raise ValueError(f"unknown shading mode {mode!r}; use one of {', '.join(MODES)}")
    to_light = light - points
    to_light = to_light / to_light.norm(dim=-1, keepdim=True).clamp(min=1e-8)
    lam = (normals * to_light).sum(dim=-1, keepdim=True).clamp(min=0)
    intensity = ambient + diffuse * lam
    if mode == "textureless":
        return intensity.expand(-1, 3)
    return albedo * intensity


def sample_light(camera_positions: Tensor, config: ShadingConfig, generator: torch.Generator) -> Tensor:
    """Random point-light positions [B, 3] near the cameras at ``camera_positions`` [B, 3]."""
    b = camera_positions.shape[0]
    dev = camera_positions.device
    direction = camera_positions / camera_positions.norm(dim=-1, keepdim=True)
    noise = torch.randn(b, 3, generator=generator, device=generator.device).to(dev)
    direction = direction + config.light_jitter * noise
    direction = direction / direction.norm(dim=-1, keepdim=True).clamp(min=1e-8)
    lo, hi = config.light_distance
    dist = lo + (hi - lo) * torch.rand(b, 1, generator=generator, device=generator.device).to(dev)
    return direction * dist


def pick_mode(step: int, config: ShadingConfig, generator: torch.Generator) -> str:
    """The shading mode for training step ``step`` (draws one number from ``generator``)."""
    u = float(torch.rand((), generator=generator, device=generator.device))
    if step < config.albedo_steps:
        return "albedo"
    return "textureless" if u < config.p_textureless else "lambertian"


class Background(nn.Module):
    """What rays that leave the field see.

    ``mode``: ``white`` (constant ``colour``), ``random`` (a random solid colour per image
    while training, ``colour`` at evaluation) or ``mlp`` (a small network of the ray
    direction, sigmoid output). ``forward(dirs [B, P, 3], generator or None)`` ->
    colours [B, P, 3] in [0, 1]; ``generator=None`` means evaluation.
    """

    def __init__(self, mode: str = "random", colour: tuple[float, float, float] = (1.0, 1.0, 1.0),
                 hidden: int = 16, generator: torch.Generator | None = None) -> None:
        super().__init__()
        if mode not in ("white", "random", "mlp"):
            raise ValueError(f"unknown background {mode!r}; use white, random or mlp")
        self.mode = mode
        self.register_buffer("colour", torch.tensor(colour, dtype=torch.float32))
        self.net = MLP(3, 3, hidden, 1, generator=generator) if mode == "mlp" else None

    def forward(self, dirs: Tensor, generator: torch.Generator | None = None) -> Tensor:
        if self.mode == "mlp":
            return torch.sigmoid(self.net(dirs.reshape(-1, 3))).view(dirs.shape)
        if self.mode == "random" and generator is not None:
            c = torch.rand(dirs.shape[0], 1, 3, generator=generator, device=generator.device).to(dirs.device)
            return c.expand(dirs.shape)
        return self.colour.to(dirs.device, dirs.dtype).expand(dirs.shape)
