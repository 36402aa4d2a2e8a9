"""Shared helpers for the pipeline tests.

``blob_render`` is a tiny differentiable renderer used only to test the loop in isolation
(the loop takes any ``render``): each path paints a Gaussian blob at the mean of its
points in its fill colour. End-to-end tests use the real rasterizer.
"""

import torch

from vecdistill.svg.scene import Group, Path, Scene, Solid


def blob_render(scene: Scene, size: int = 16) -> torch.Tensor:
    ys, xs = torch.meshgrid(torch.arange(size) + 0.5, torch.arange(size) + 0.5, indexing="ij")
    img = torch.ones(3, size, size)
    for p in scene.paths():
        c = p.points.mean(0)
        a = torch.exp(-((xs - c[0]) ** 2 + (ys - c[1]) ** 2) / 8) * p.fill.color[3]
        img = img * (1 - a) + p.fill.color[:3, None, None] * a
    return img


def blob_scene(n: int = 3, size: int = 16, seed: int = 0) -> Scene:
    g = torch.Generator().manual_seed(seed)
    paths = []
    for _ in range(n):
        c = torch.rand(2, generator=g) * size
        col = torch.cat([torch.rand(3, generator=g), torch.ones(1)])
        paths.append(Path.circle((float(c[0]), float(c[1])), 2.0, fill=Solid(col)))
    return Scene(Group(paths), size, size)


def target_image():
    """A 16 x 16 target: a dark blue disc off-centre on white."""
    ys, xs = torch.meshgrid(torch.arange(16) + 0.5, torch.arange(16) + 0.5, indexing="ij")
    a = (((xs - 5) ** 2 + (ys - 10) ** 2) < 12).float()
    col = torch.tensor([0.1, 0.2, 0.8])[:, None, None]
    return (torch.ones(3, 16, 16) * (1 - a) + col * a)[None]
