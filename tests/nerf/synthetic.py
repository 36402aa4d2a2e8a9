"""Helpers for the NeRF tests: analytic renders of a ball, tiny configs."""

from __future__ import annotations

import torch

from vecdistill.nerf.cameras import Cameras, OrbitConfig, sample_orbit
from vecdistill.nerf.dataset import write_transforms
from vecdistill.nerf.field import FieldConfig
from vecdistill.nerf.occupancy import OccupancyConfig
from vecdistill.nerf.renderer import RenderConfig


def ball_images(cameras: Cameras, radius: float, colour: tuple[float, float, float]) -> torch.Tensor:
    """Exact RGBA renders [N, 4, H, W] of an opaque ball of ``radius`` at the origin: ray-
    sphere intersection per pixel centre, alpha 1 on hits, 0 elsewhere (no antialiasing)."""
    o, d = cameras.rays()
    b = (o * d).sum(-1)
    c = (o * o).sum(-1) - radius ** 2
    hit = (b * b - c) > 0
    n, h, w = hit.shape
    rgb = torch.tensor(colour).view(1, 1, 1, 3).expand(n, h, w, 3)
    rgba = torch.cat([rgb * hit[..., None], hit[..., None].float()], dim=-1)
    return rgba.permute(0, 3, 1, 2).contiguous()


def ball_dataset(folder, n: int = 8, size: int = 16, radius: float = 0.5, colour=(0.9, 0.15, 0.1), seed: int = 0):
    """A transforms.json folder of ``n`` random orbit views of the ball (RGBA PNGs)."""
    g = torch.Generator().manual_seed(seed)
    cams = sample_orbit(n, OrbitConfig(fov=(50.0, 50.0), distance=(1.8, 1.8)), size, size, g).cameras
    write_transforms(folder, ball_images(cams, radius, colour), cams)
    return folder, cams


def tiny(config):
    """Shrink a pipeline config to test size, in place; returns it."""
    config.field = FieldConfig(levels=4, features_per_level=2, log2_hashmap_size=12, base_resolution=4,
                               max_resolution=32, hidden=16, blob=config.field.blob)
    config.occupancy = OccupancyConfig(resolution=16, update_every=8, warmup_steps=8)
    config.render = RenderConfig(samples=24)
    config.turntable_frames, config.turntable_size = 4, 24
    config.mesh_resolution = 24
    return config
