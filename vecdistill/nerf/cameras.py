"""Pinhole cameras, rays, random orbit poses, view-dependent prompt suffixes and the
resolution schedule.

Conventions (the ones of instant-ngp / nerfstudio ``transforms.json``, "OpenGL"):
a camera-to-world matrix ``c2w`` [4, 4] has columns (right, up, backward, position); the
camera looks along its -z axis, +y is up in the image. The world is z-up. Pixel (row i,
column j) is sampled at its centre (j + 0.5, i + 0.5). Distances are in scene units (the
field lives in the cube [-bound, bound]^3), angles in degrees unless a name says ``_rad``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

Tensor = torch.Tensor


@dataclass
class Cameras:
    """A batch of N pinhole cameras sharing one image size.

    ``c2w``: [N, 4, 4] float32 camera-to-world. ``fx, fy, cx, cy``: [N] float32 intrinsics
    in pixels for an image ``width`` x ``height``.
    """

    c2w: Tensor
    fx: Tensor
    fy: Tensor
    cx: Tensor
    cy: Tensor
    width: int
    height: int

    def __len__(self) -> int:
        return int(self.c2w.shape[0])

    @property
    def device(self) -> torch.device:
        return self.c2w.device

    @property
    def positions(self) -> Tensor:
        """[N, 3] camera centres in world space."""
        return self.c2w[:, :3, 3]

    def to(self, device: torch.device | str) -> Cameras:
        return Cameras(self.c2w.to(device), self.fx.to(device), self.fy.to(device),
                       self.cx.to(device), self.cy.to(device), self.width, self.height)

    def __getitem__(self, index) -> Cameras:
        """A sub-batch (an int, a slice or an index tensor); keeps the batch dimension."""
        if isinstance(index, int):
            index = slice(index, index + 1)
        return Cameras(self.c2w[index], self.fx[index], self.fy[index], self.cx[index],
                       self.cy[index], self.width, self.height)

    def resized(self, width: int, height: int) -> Cameras:
        """The same cameras rendering a ``width`` x ``height`` image (intrinsics scaled)."""
        sx, sy = width / self.width, height / self.height
        return Cameras(self.c2w, self.fx * sx, self.fy * sy, self.cx * sx, self.cy * sy,
                       int(width), int(height))

    def rays_at(self, index: Tensor, px: Tensor, py: Tensor) -> tuple[Tensor, Tensor]:
        """Rays through arbitrary image points.

        ``index``: [R] int64 camera of each ray; ``px, py``: [R] float pixel coordinates
        (column, row; a pixel's centre is at +0.5). Returns origins [R, 3] and unit
        directions [R, 3].
        """
        x = (px - self.cx[index]) / self.fx[index]
        y = -(py - self.cy[index]) / self.fy[index]
        d_cam = torch.stack([x, y, -torch.ones_like(x)], dim=-1)
        rot = self.c2w[index, :3, :3]
        d = torch.einsum("rij,rj->ri", rot, d_cam)
        d = d / d.norm(dim=-1, keepdim=True)
        return self.c2w[index, :3, 3].expand_as(d).contiguous(), d

    def rays(self) -> tuple[Tensor, Tensor]:
        """Rays through every pixel centre: origins and unit directions [N, H, W, 3]."""
        n, h, w = len(self), self.height, self.width
        dev = self.device
        ii, jj = torch.meshgrid(torch.arange(h, device=dev, dtype=torch.float32) + 0.5,
                                torch.arange(w, device=dev, dtype=torch.float32) + 0.5, indexing="ij")
        index = torch.arange(n, device=dev).view(n, 1, 1).expand(n, h, w).reshape(-1)
        o, d = self.rays_at(index, jj.reshape(1, -1).expand(n, -1).reshape(-1),
                            ii.reshape(1, -1).expand(n, -1).reshape(-1))
        return o.view(n, h, w, 3), d.view(n, h, w, 3)


def look_at(position: Tensor, target: Tensor | None = None, up: tuple[float, float, float] = (0.0, 0.0, 1.0)) -> Tensor:
    """Camera-to-world matrices [N, 4, 4] for cameras at ``position`` [N, 3] looking at
    ``target`` [N, 3] (default: the origin) with the world's ``up`` direction."""
    position = position.float()
    if target is None:
        target = torch.zeros_like(position)
    forward = target - position
    forward = forward / forward.norm(dim=-1, keepdim=True)
    up_t = torch.tensor(up, dtype=position.dtype, device=position.device).expand_as(forward)
    right = torch.cross(forward, up_t, dim=-1)
    # a camera looking straight along `up`: pick any perpendicular right vector
    degenerate = right.norm(dim=-1) < 1e-6
    if degenerate.any():
        alt = torch.tensor((1.0, 0.0, 0.0), dtype=position.dtype, device=position.device)
        right[degenerate] = torch.cross(forward[degenerate], alt.expand_as(forward[degenerate]), dim=-1)
    right = right / right.norm(dim=-1, keepdim=True)
    true_up = torch.cross(right, forward, dim=-1)
    c2w = torch.zeros(position.shape[0], 4, 4, dtype=position.dtype, device=position.device)
    c2w[:, :3, 0] = right
    c2w[:, :3, 1] = true_up
    c2w[:, :3, 2] = -forward
    c2w[:, :3, 3] = position
    c2w[:, 3, 3] = 1.0
    return c2w


def orbit_position(elevation: Tensor, azimuth: Tensor, distance: Tensor) -> Tensor:
    """[N, 3] positions on spheres around the origin; angles in degrees. Azimuth 0 is the
    front (+x axis), 90 the left side (+y); elevation 90 is straight above (+z)."""
    e, a = torch.deg2rad(elevation.float()), torch.deg2rad(azimuth.float())
    return torch.stack([distance * torch.cos(e) * torch.cos(a),
                        distance * torch.cos(e) * torch.sin(a),
                        distance * torch.sin(e)], dim=-1)


def orbit_cameras(elevation: Tensor, azimuth: Tensor, distance: Tensor, fov: Tensor, width: int, height: int) -> Cameras:
    """Cameras on orbits looking at the origin. ``elevation, azimuth, distance, fov``: [N]
    (degrees, degrees, scene units, vertical field of view in degrees)."""
    c2w = look_at(orbit_position(elevation, azimuth, distance))
    focal = 0.5 * height / torch.tan(torch.deg2rad(fov.float()) / 2)
    n = c2w.shape[0]
    dev = c2w.device
    return Cameras(c2w, focal.to(dev), focal.to(dev).clone(), torch.full((n,), width / 2, device=dev),
                   torch.full((n,), height / 2, device=dev), int(width), int(height))


@dataclass
class OrbitConfig:
    """Ranges random training views are drawn from (uniformly). Defaults are the ones of
    DreamFusion re-implementations (REFERENCE.md section 3)."""

    elevation: tuple[float, float] = (-10.0, 45.0)  # degrees
    azimuth: tuple[float, float] = (-180.0, 180.0)  # degrees, 0 = front
    distance: tuple[float, float] = (1.5, 2.0)  # scene units
    fov: tuple[float, float] = (40.0, 70.0)  # vertical, degrees
    eval_elevation: float = 15.0  # turntable elevation
    eval_distance: float = 1.75
    eval_fov: float = 55.0


def _uniform(n: int, lo_hi: tuple[float, float], generator: torch.Generator, device) -> Tensor:
    lo, hi = lo_hi
    u = torch.rand(n, generator=generator, device=generator.device)
    return (lo + (hi - lo) * u).to(device)


@dataclass
class OrbitSample:
    """Random views: the cameras and the angles they were drawn with ([N] degrees)."""

    cameras: Cameras
    elevation: Tensor
    azimuth: Tensor


def sample_orbit(n: int, config: OrbitConfig, width: int, height: int, generator: torch.Generator, device: torch.device | str = "cpu") -> OrbitSample:
    """``n`` random orbit cameras drawn from ``config``'s ranges with ``generator``."""
    elev = _uniform(n, config.elevation, generator, device)
    azim = _uniform(n, config.azimuth, generator, device)
    dist = _uniform(n, config.distance, generator, device)
    fov = _uniform(n, config.fov, generator, device)
    return OrbitSample(orbit_cameras(elev, azim, dist, fov, width, height), elev, azim)


def turntable(n: int, config: OrbitConfig, width: int, height: int, device: torch.device | str = "cpu") -> Cameras:
    """``n`` cameras evenly spaced in azimuth at the evaluation elevation/distance/fov."""
    azim = torch.arange(n, dtype=torch.float32, device=device) * (360.0 / n)
    full = lambda v: torch.full((n,), float(v), device=device)  # noqa: E731
    return orbit_cameras(full(config.eval_elevation), azim, full(config.eval_distance), full(config.eval_fov), width, height)


VIEW_SUFFIXES = ("front view", "side view", "back view")


def view_suffix(azimuth: float, front_span: float = 90.0, back_span: float = 90.0) -> str:
    """The view-dependent prompt suffix for a camera at ``azimuth`` degrees: "front view"
    within ``front_span``/2 of 0, "back view" within ``back_span``/2 of 180, else "side view"."""
    a = (float(azimuth) + 180.0) % 360.0 - 180.0  # to [-180, 180)
    if abs(a) <= front_span / 2:
        return "front view"
    if abs(a) >= 180.0 - back_span / 2:
        return "back view"
    return "side view"


@dataclass
class ResolutionSchedule:
    """Render resolution per step: ``start`` pixels (square) until ``progress`` reaches
    ``switch``, then ``end`` (the coarse-to-fine trick: cheap low resolution first).
    ``switch >= 1`` keeps ``start`` throughout."""

    start: int = 64
    end: int = 64
    switch: float = 0.5

    def __call__(self, progress: float) -> int:
        return int(self.start if progress < self.switch else self.end)


def ray_box(origins: Tensor, dirs: Tensor, bound: float, min_near: float = 0.0,
            box: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor]:
    """Where rays enter and leave the cube [-bound, bound]^3 (or the axis-aligned ``box``
    given as corners (lo [3], hi [3])).

    ``origins, dirs``: [R, 3]. Returns near, far [R] (distances along the unit directions);
    rays that miss the box get near == far. ``near`` is at least ``min_near``.
    """
    inv = 1.0 / torch.where(dirs.abs() < 1e-9, torch.full_like(dirs, 1e-9), dirs)
    lo, hi = (-bound, bound) if box is None else (box[0].to(origins), box[1].to(origins))
    t0 = (lo - origins) * inv
    t1 = (hi - origins) * inv
    near = torch.minimum(t0, t1).amax(dim=-1).clamp(min=min_near)
    far = torch.maximum(t0, t1).amin(dim=-1)
    far = torch.maximum(far, near)
    return near, far


def fov_to_focal(fov_deg: float, size: int) -> float:
    """Focal length in pixels for a field of view of ``fov_deg`` across ``size`` pixels."""
    return 0.5 * size / math.tan(math.radians(fov_deg) / 2)
