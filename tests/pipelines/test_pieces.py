"""Augmentation, Xing loss, re-initialisation, output cleaning, LIVE schedule, snapshots,
video and manifest pieces of the SVG pipelines."""

import json

import pytest
import torch
from PIL import Image

from vecdistill.errors import InputError
from vecdistill.pipelines.augment import augment, sample_view, warp
from vecdistill.pipelines.clean import clean_scene
from vecdistill.pipelines.config import LoopConfig
from vecdistill.pipelines.init import live_schedule, pixel_grid, random_scene
from vecdistill.pipelines.loop import LoopResult, LoopState, StepReport
from vecdistill.pipelines.losses import xing_loss, xing_loss_points
from vecdistill.pipelines.manifest import build_manifest, versions
from vecdistill.pipelines.reinit import Reinitializer, effective_opacity
from vecdistill.pipelines.snapshots import VideoRecorder, check_video_path, mp4_available
from vecdistill.svg.scene import Affine, Group, Path, Scene, Solid


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


# -- augmentation ---------------------------------------------------------------------


def test_identity_view_reproduces_the_image():
    img = torch.rand(1, 3, 12, 12)
    out = warp(img, torch.eye(3, dtype=torch.float64)[None], (1.0, 1.0, 1.0))
    assert torch.allclose(out, img, atol=1e-5)


def test_views_are_seeded_differentiable_and_filled_with_background():
    img = torch.zeros(2, 3, 16, 16, requires_grad=True)
    a = augment(img, gen(3), views=2, perspective_p=1.0, distortion=0.8, crop_scale=(0.95, 1.0), background=(1.0, 0.5, 0.0))
    b = augment(img.detach(), gen(3), views=2, perspective_p=1.0, distortion=0.8, crop_scale=(0.95, 1.0), background=(1.0, 0.5, 0.0))
    assert a.shape == (4, 3, 16, 16)
    assert torch.equal(a.detach(), b)
    # corners moved inward: some output pixels sample outside -> background colour
    corner = a[0, :, 0, 0].detach()
    assert corner[0] > 0.3 and corner[2] == 0
    a.sum().backward()
    assert img.grad is not None and img.grad.abs().sum() > 0


def test_crop_zooms_in():
    m = sample_view(gen(1), perspective_p=0.0, crop_scale=(0.5, 0.5))
    corners = m @ torch.tensor([[0.0, 1.0], [0.0, 1.0], [1.0, 1.0]], dtype=torch.float64)
    span = corners[:2, 1] - corners[:2, 0]
    assert torch.all(span < 0.9) and torch.all(span > 0.5)


# -- Xing loss ------------------------------------------------------------------------


def test_xing_is_zero_for_a_circle_and_positive_for_a_looped_cubic():
    circle = Path.circle((8, 8), 4, fill=Solid(torch.tensor([0, 0, 0, 1.0])))
    assert float(xing_loss(Scene(Group([circle]), 16, 16))) == 0.0
    looped = torch.tensor([[[0.0, 0.0], [10.0, 10.0], [0.0, 10.0], [8.0, 6.0]]], requires_grad=True)
    loss = xing_loss_points(looped)
    assert float(loss.detach()) > 0.5
    loss.backward()
    assert looped.grad.abs().sum() > 0


def test_xing_over_a_scene_is_the_mean_over_every_paths_cubics_and_follows_layout_edits():
    """The scene-level loss gathers every path's cubics at once; it must equal the loss of
    each path's cubics taken one path at a time (lines, quadratics, several subpaths and
    paths too short for a cubic included), with the same gradients, and see a path whose
    layout changed since the last call."""
    from vecdistill.pipelines.losses import cubic_indices

    g = gen(4)
    circle = Path.circle((8, 8), 4)
    mixed = Path(torch.rand(10, 2, generator=g) * 16, torch.tensor([2, 0, 1, 2]), [(2, False), (2, True)])
    line = Path(torch.rand(2, 2, generator=g) * 16, torch.tensor([0]), [(1, False)])
    loop = Path(torch.tensor([[0.0, 0.0], [10.0, 10.0], [0.0, 10.0], [8.0, 6.0]]), torch.tensor([2]), [(1, False)])
    scene = Scene(Group([circle, mixed, line, loop]), 16, 16)
    for _ in range(2):  # the second call takes the kept gather
        for p in scene.paths():
            p.points = p.points.detach().requires_grad_(True)
        loss = xing_loss(scene)
        loss.backward()
        got = [p.points.grad.clone() if p.points.grad is not None else None for p in scene.paths()]
        pts = [p.points.detach().requires_grad_(True) for p in scene.paths()]
        quads = [q[cubic_indices(p)] for q, p in zip(pts, scene.paths()) if p.points.shape[0] >= 4]
        ref = xing_loss_points(torch.cat(quads))
        ref.backward()
        assert torch.allclose(loss, ref) and float(ref.detach()) > 0
        for a, q in zip(got, pts):
            assert (a is None and (q.grad is None or not q.grad.any())) or torch.allclose(a, q.grad)
    circle.points = torch.tensor([[0.0, 0.0], [10.0, 10.0], [0.0, 10.0], [8.0, 6.0]])  # now a looped cubic
    circle.segments, circle.subpaths = torch.tensor([2]), [(1, False)]
    assert float(xing_loss(scene).detach()) > float(ref.detach())


# -- re-initialisation ----------------------------------------------------------------


def test_faded_paths_are_reinitialised_in_place_and_forgotten_by_adam():
    scene = random_scene("iconography", 32, 3, 4, gen(), radius=4.0, width=1.0)
    weak = scene.paths()[1]
    weak.fill.color.data[3] = 0.01
    pts_tensor, before = weak.points, weak.points.clone()
    opt = torch.optim.Adam([p.points for p in scene.paths()])
    for p in scene.paths():
        opt.state[p.points] = {"step": torch.tensor(1.0)}
    state = LoopState(100, 0.5, scene, LoopConfig(), opt, {"points": [p.points for p in scene.paths()]}, gen())
    factory_gen = gen(9)
    hook = Reinitializer(scene.paths, lambda: random_scene("iconography", 32, 1, 4, factory_gen, radius=4.0, width=1.0).paths()[0], every=100, until=0.8, min_opacity=0.05, min_area=4.0)
    hook(state)
    assert hook.count == 1
    assert weak.points is pts_tensor and not torch.equal(weak.points, before)
    assert effective_opacity(weak) == 1.0
    assert weak.points not in opt.state and scene.paths()[0].points in opt.state
    # not on other steps, nor late in training
    weak.fill.color.data[3] = 0.0
    state.step = 150
    hook(state)
    state.step, state.progress = 900, 0.9
    hook(state)
    assert hook.count == 1


# -- cleaning -------------------------------------------------------------------------


def test_clean_drops_invisible_degenerate_and_offcanvas_paths_only():
    red = torch.tensor([1.0, 0, 0, 1])
    keep = Path.circle((8, 8), 3, fill=Solid(red.clone()), id="keep")
    clear = Path.circle((8, 8), 3, fill=Solid(torch.tensor([1.0, 0, 0, 0.0])))
    flat = Path.polygon(torch.tensor([[1.0, 1], [5, 1], [9, 1]]), fill=Solid(red.clone()))
    away = Path.circle((80, 80), 3, fill=Solid(red.clone()))
    line = Path.polygon(torch.tensor([[1.0, 1], [9, 1]]), closed=False, stroke=Solid(red.clone()), stroke_width=1.0)
    empty_group = Group([Path.circle((8, 8), 3, fill=Solid(torch.tensor([0, 0, 0, 0.0])))])
    scene = Scene(Group([keep, clear, flat, away, line, empty_group, Group([], id="named")]), 16, 16)
    out, counts = clean_scene(scene)
    assert [p.id for p in out.paths()] == ["keep", None]
    assert counts == {"invisible": 2, "degenerate": 1, "outside": 1}
    assert any(isinstance(c, Group) and c.id == "named" for c in out.root.children)
    assert scene.num_paths() == 6  # the input is untouched


def test_clean_reads_a_scene_being_optimised_without_warnings():
    """Cleaning the scene of a run (its tensors require grad) says nothing on stderr."""
    import warnings

    red = torch.tensor([1.0, 0, 0, 1])
    stroke = Path.polygon(torch.tensor([[1.0, 1], [9, 5]]), closed=False, stroke=Solid(red.clone()), stroke_width=1.0)
    away = Path.circle((80, 80), 3, fill=Solid(red.clone()), stroke=Solid(red.clone()))
    scene = Scene(Group([stroke, away]), 16, 16)
    scene.requires_grad_(True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out, counts = clean_scene(scene)
    assert out.num_paths() == 1 and counts == {"outside": 1}


def test_clean_uses_composed_transforms_for_offcanvas_test():
    p = Path.circle((80, 80), 3, fill=Solid(torch.tensor([0, 0, 0, 1.0])))
    scene = Scene(Group([Group([p], transform=Affine.scale(0.1))]), 16, 16)
    out, counts = clean_scene(scene)
    assert out.num_paths() == 1 and counts == {}


# -- init -----------------------------------------------------------------------------


def test_live_schedule_adds_up_to_the_total():
    sched = live_schedule(total=40, first=8, per_stage=16, steps=100)
    assert sum(n for _, n in sched) == 32
    steps = [s for s, _ in sched]
    assert steps == sorted(steps) and steps[-1] <= 50
    assert live_schedule(8, 8, 4, 100) == []


def test_pixel_grid_tiles_the_canvas():
    cells = pixel_grid(32, 4, gen())
    area = sum(float((p.points[:, 0].max() - p.points[:, 0].min()) * (p.points[:, 1].max() - p.points[:, 1].min())) for p in cells)
    assert len(cells) == 16 and area == pytest.approx(32 * 32)


def test_bad_style_and_counts_are_input_errors():
    with pytest.raises(InputError, match="style"):
        random_scene("watercolour", 32, 4, 4, gen(), radius=2, width=1)
    with pytest.raises(InputError, match="paths"):
        random_scene("iconography", 32, 0, 4, gen(), radius=2, width=1)


# -- snapshots, video, manifest ---------------------------------------------------------


def report(step, steps=5, side=16):
    img = torch.full((1, 3, side, side), step / steps)
    return StepReport(step, steps, step / steps, 1.0, {}, False, img, Scene(Group([]), side, side))


def test_gif_video_has_one_frame_per_recorded_step(tmp_path):
    rec = VideoRecorder(tmp_path / "run.gif", every=2, fps=10, min_side=64)
    for s in range(5):
        rec(report(s))
    path = rec.close()
    with Image.open(path) as im:
        assert im.n_frames == 3 and im.size == (64, 64)


def test_video_path_checks():
    with pytest.raises(InputError, match=".gif or .mp4"):
        check_video_path("run.avi")
    if not mp4_available():
        with pytest.raises(InputError, match="imageio-ffmpeg"):
            check_video_path("run.mp4")


def test_manifest_is_json_with_timings_and_versions():
    result = LoopResult(
        scene=None, best_scene=None, best_step=3, final_loss=0.25, steps_done=4, skipped=1, objective_skipped=0,
        interrupted=False, timings={"render": 0.04, "backward": 0.08}, history=[1.0, float("nan"), 0.5, 0.25], wall_seconds=0.2,
    )
    m = build_manifest("make", LoopConfig(steps=4), result, prior={"name": "x"}, output="o.svg", path_count=7, argv=["vecdistill", "make"])
    text = json.dumps(m, allow_nan=False)
    back = json.loads(text)
    assert back["timings"]["per_step_ms"]["render"] == pytest.approx(10.0)
    assert back["config"]["steps"] == 4 and back["path_count"] == 7 and back["skipped_steps"] == 1
    assert back["loss_curve"]["values"][1] is None
    assert set(versions()) >= {"vecdistill", "torch", "diffusers"}
