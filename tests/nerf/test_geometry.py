"""Cameras, transforms.json round trips, marching tetrahedra and mesh files."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from vecdistill.errors import InputError
from vecdistill.nerf.cameras import (
    OrbitConfig,
    ResolutionSchedule,
    orbit_cameras,
    ray_box,
    sample_orbit,
    view_suffix,
)
from vecdistill.nerf.dataset import load_transforms, write_transforms
from vecdistill.nerf.export import load_checkpoint, read_ply, save_checkpoint, write_obj, write_ply
from vecdistill.nerf.mesh import marching_tetrahedra

from .synthetic import ball_images


def test_orbit_cameras_look_at_the_origin_from_the_drawn_ranges():
    g = torch.Generator().manual_seed(0)
    s = sample_orbit(64, OrbitConfig(), 9, 9, g)
    dist = s.cameras.positions.norm(dim=-1)
    assert dist.min() >= 1.5 - 1e-5 and dist.max() <= 2.0 + 1e-5
    assert s.elevation.min() >= -10 and s.elevation.max() <= 45
    o, d = s.cameras.rays()
    centre = d[:, 4, 4]  # the centre pixel's ray points at the origin
    to_origin = -s.cameras.positions / dist[:, None]
    assert torch.allclose(centre, to_origin, atol=1e-5)
    # a wider field of view spreads the corner rays further from the centre ray
    narrow = orbit_cameras(torch.zeros(1), torch.zeros(1), torch.ones(1) * 2, torch.tensor([40.0]), 9, 9).rays()[1]
    wide = orbit_cameras(torch.zeros(1), torch.zeros(1), torch.ones(1) * 2, torch.tensor([70.0]), 9, 9).rays()[1]
    assert (narrow[0, 0, 0] * narrow[0, 4, 4]).sum() > (wide[0, 0, 0] * wide[0, 4, 4]).sum()
    # image up is world up: the top row's rays point higher than the bottom row's
    assert (d[:, 0, 4, 2] > d[:, 8, 4, 2]).all()


def test_view_suffixes_and_resolution_schedule():
    assert view_suffix(0) == "front view" and view_suffix(30) == "front view"
    assert view_suffix(90) == "side view" and view_suffix(-100) == "side view"
    assert view_suffix(180) == "back view" and view_suffix(-170) == "back view" and view_suffix(540) == "back view"
    sched = ResolutionSchedule(start=32, end=64, switch=0.5)
    assert [sched(p) for p in (0.0, 0.49, 0.5, 1.0)] == [32, 32, 64, 64]


def test_ray_box():
    o = torch.tensor([[-3.0, 0.0, 0.0], [0.0, 0.0, 0.0], [-3.0, 5.0, 0.0]])
    d = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
    near, far = ray_box(o, d, 1.0, min_near=0.05)
    assert torch.allclose(near[:2], torch.tensor([2.0, 0.05])) and torch.allclose(far[:2], torch.tensor([4.0, 1.0]))
    assert near[2] == far[2]  # a miss


def test_transforms_round_trip(tmp_path):
    g = torch.Generator().manual_seed(3)
    cams = sample_orbit(3, OrbitConfig(), 20, 20, g).cameras
    imgs = ball_images(cams, 0.5, (0.2, 0.6, 0.9))
    write_transforms(tmp_path, imgs, cams)
    data = load_transforms(tmp_path)
    assert len(data) == 3 and data.images.shape == (3, 4, 20, 20)
    assert torch.allclose(data.cameras.c2w, cams.c2w, atol=1e-6)
    assert torch.allclose(data.images, imgs, atol=1 / 255)
    small = load_transforms(tmp_path / "transforms.json", max_size=10)
    assert small.images.shape == (3, 4, 10, 10)
    # the downscaled cameras see the ball where the downscaled images show it
    assert torch.allclose(ball_images(small.cameras, 0.5, (0.2, 0.6, 0.9))[:, 3].mean(), small.images[:, 3].mean(), atol=0.05)


def test_blender_style_transforms(tmp_path):
    # camera_angle_x, file paths without extension, a frame folder
    g = torch.Generator().manual_seed(0)
    cams = sample_orbit(2, OrbitConfig(fov=(60.0, 60.0)), 16, 16, g).cameras
    write_transforms(tmp_path / "train", ball_images(cams, 0.4, (1, 1, 1)), cams, prefix="r")
    meta = json.loads((tmp_path / "train" / "transforms.json").read_text())
    frames = [{"file_path": "./train/" + f["file_path"][:-4], "transform_matrix": f["transform_matrix"]} for f in meta["frames"]]
    (tmp_path / "transforms_train.json").write_text(json.dumps({"camera_angle_x": math.radians(60), "frames": frames}))
    data = load_transforms(tmp_path / "transforms_train.json")
    assert torch.allclose(data.cameras.fx, cams.fx, rtol=1e-5)


def test_transforms_errors(tmp_path):
    with pytest.raises(InputError, match="transforms.json"):
        load_transforms(tmp_path)
    (tmp_path / "transforms.json").write_text(json.dumps({"camera_angle_x": 0.7, "frames": [{"file_path": "nope.png", "transform_matrix": np.eye(4).tolist()}]}))
    with pytest.raises(InputError, match="not found"):
        load_transforms(tmp_path)
    (tmp_path / "transforms.json").write_text("{not json")
    with pytest.raises(InputError, match="JSON"):
        load_transforms(tmp_path)


def _ball_grid(n=25, radius=0.5):
    c = np.linspace(-1, 1, n)
    x, y, z = np.meshgrid(c, c, c, indexing="ij")
    return radius + 0.5 - np.sqrt(x ** 2 + y ** 2 + z ** 2)  # > 0.5 inside the ball


def test_marching_tetrahedra_ball_is_closed_outward_and_on_the_sphere():
    mesh = marching_tetrahedra(_ball_grid(), 0.5, 1.0)
    r = np.linalg.norm(mesh.vertices, axis=1)
    assert np.abs(r - 0.5).max() < 0.01
    edges = np.sort(np.concatenate([mesh.faces[:, [0, 1]], mesh.faces[:, [1, 2]], mesh.faces[:, [2, 0]]]), axis=1)
    _, counts = np.unique(edges, axis=0, return_counts=True)
    assert (counts == 2).all()  # watertight
    tri = mesh.vertices[mesh.faces].astype(np.float64)
    volume = np.einsum("ij,ij->i", tri[:, 0], np.cross(tri[:, 1], tri[:, 2])).sum() / 6
    assert volume == pytest.approx(4 / 3 * math.pi * 0.125, rel=0.03)  # positive: outward faces


def test_marching_tetrahedra_empty_and_full():
    assert marching_tetrahedra(np.zeros((5, 5, 5)), 0.5, 1.0).empty
    assert marching_tetrahedra(np.ones((5, 5, 5)), 0.5, 1.0).empty


def test_mesh_files_round_trip(tmp_path):
    mesh = marching_tetrahedra(_ball_grid(9), 0.5, 1.0)
    mesh.colors = np.tile(np.array([[1.0, 0.5, 0.0]], np.float32), (len(mesh.vertices), 1))
    write_ply(mesh, tmp_path / "m.ply")
    back = read_ply(tmp_path / "m.ply")
    assert np.array_equal(back.faces, mesh.faces) and np.allclose(back.vertices, mesh.vertices)
    assert np.allclose(back.colors, mesh.colors, atol=1 / 255)
    write_obj(mesh, tmp_path / "m.obj")
    lines = (tmp_path / "m.obj").read_text().splitlines()
    assert sum(line.startswith("v ") for line in lines) == len(mesh.vertices)
    assert sum(line.startswith("f ") for line in lines) == len(mesh.faces)
    assert lines[1].split()[4:] == ["1.0000", "0.5000", "0.0000"]


def test_checkpoint_round_trip_and_foreign_files(tmp_path):
    save_checkpoint({"step": 3, "t": torch.arange(4)}, tmp_path / "c.pt")
    state = load_checkpoint(tmp_path / "c.pt")
    assert state["step"] == 3 and torch.equal(state["t"], torch.arange(4))
    torch.save({"x": 1}, tmp_path / "other.pt")
    with pytest.raises(InputError, match="not a vecdistill NeRF checkpoint"):
        load_checkpoint(tmp_path / "other.pt")
    (tmp_path / "junk.pt").write_bytes(b"garbage")
    with pytest.raises(InputError, match="not a readable checkpoint"):
        load_checkpoint(tmp_path / "junk.pt")
    with pytest.raises(InputError, match="no NeRF checkpoint"):
        load_checkpoint(tmp_path / "missing")


def test_cpu_preset_is_the_dataclass_defaults():
    # `vecdistill batch` builds configs from the dataclasses; the CLI applies the cpu preset
    from vecdistill.pipelines.nerf_common import apply_preset
    from vecdistill.pipelines.nerf_edit import NerfEditConfig
    from vecdistill.pipelines.nerf_fit import NerfFitConfig
    from vecdistill.pipelines.nerf_make import NerfMakeConfig

    for cls in (NerfMakeConfig, NerfFitConfig, NerfEditConfig):
        assert apply_preset(cls(), "cpu") == cls(), cls.__name__
    with pytest.raises(InputError, match="preset"):
        apply_preset(NerfMakeConfig(), "huge")
