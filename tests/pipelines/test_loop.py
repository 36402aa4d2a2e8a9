"""The shared optimisation loop, tested with a toy renderer and an image-fitting objective."""

import math

import pytest
import torch

from vecdistill.distill.base import DistillResult
from vecdistill.errors import NumericalError
from vecdistill.pipelines.config import LoopConfig, lr_factor
from vecdistill.pipelines.loop import STAGES, default_groups, optimize
from vecdistill.pipelines.losses import FitImage
from vecdistill.svg.scene import Path, Solid

from .loop_helpers import blob_render, blob_scene, target_image


@pytest.fixture(name="target_image")
def _target_image():
    return target_image()


def cfg(**kw):
    base = dict(steps=60, size=16, augment=False, lr_points=0.3, lr_colors=0.05, lr_warmup=0.0, reinit_every=0)
    base.update(kw)
    return LoopConfig(**base)


def run(scene, objective, config, seed=0, **kw):
    return optimize(scene, objective, config, torch.Generator().manual_seed(seed), encode=lambda x: x, render=blob_render, **kw)


def test_fitting_lowers_the_loss_and_times_every_stage(target_image):
    scene = blob_scene()
    result = run(scene, FitImage(target_image), cfg())
    assert result.history[-1] < 0.5 * result.history[0]
    assert set(result.timings) == set(STAGES)
    assert result.timings["render"] > 0 and result.timings["backward"] > 0
    assert result.steps_done == 60 and not result.interrupted and result.skipped == 0


def test_same_seed_same_result_with_augmentation(target_image):
    outs = []
    for seed in (1, 1, 2):
        scene = blob_scene()
        run(scene, FitImage(target_image), cfg(augment=True, steps=15), seed=seed)
        outs.append(torch.cat([p.points.flatten() for p in scene.paths()]))
    assert torch.equal(outs[0], outs[1])
    assert not torch.equal(outs[0], outs[2])


class FlakyObjective:
    """FitImage, except that the listed steps return a NaN loss."""

    def __init__(self, target, bad_steps):
        self.fit = FitImage(target)
        self.bad = set(bad_steps)
        self.calls = 0

    def __call__(self, x0, progress, generator, reference=None):
        r = self.fit(x0, progress, generator)
        step, self.calls = self.calls, self.calls + 1
        if step in self.bad:
            return DistillResult(loss=r.loss * float("nan"), grad=r.grad, t=r.t, prior_calls=0)
        return r


def test_nonfinite_step_is_skipped_and_leaves_parameters_unchanged(target_image):
    scene = blob_scene()
    seen = []

    def record(report):
        seen.append((report.step, report.skipped, scene.paths()[0].points.detach().clone()))

    result = run(scene, FlakyObjective(target_image, {3}), cfg(steps=6), callbacks=[record])
    assert result.skipped == 1
    assert [s for s, skipped, _ in seen if skipped] == [3]
    assert torch.equal(seen[2][2], seen[3][2])  # step 3 did not move anything
    assert not torch.equal(seen[3][2], seen[4][2])
    assert math.isfinite(result.final_loss)


def test_a_nonfinite_gradient_under_a_finite_loss_skips_the_step(target_image):
    """One NaN in the gradient of one path's points (the loss itself finite) is enough to
    skip the step: nothing moves, the other paths included."""
    scene = blob_scene(n=5)
    seen = []

    def bad_at_step_2(state):
        pts = scene.paths()[-1].points
        if state.step != 2:
            return pts.sum() * 0
        return (pts[0, 0] - pts.detach()[0, 0]).abs().sqrt()  # value 0, gradient 0 * inf = NaN

    def record(report):
        seen.append((report.skipped, torch.cat([p.points.detach().flatten() for p in scene.paths()])))

    result = run(scene, FitImage(target_image), cfg(steps=4), aux_losses={"bad": bad_at_step_2}, callbacks=[record])
    assert [skipped for skipped, _ in seen] == [False, False, True, False]
    assert torch.equal(seen[1][1], seen[2][1]) and not torch.equal(seen[2][1], seen[3][1])
    assert result.skipped == 1 and math.isfinite(result.final_loss)


def test_steps_keep_colours_opacities_and_widths_in_range(target_image):
    """After every optimiser step colours and opacities are in [0, 1] and stroke widths in
    [min_width, max_width], however far the learning rates push them."""
    scene = blob_scene(n=4)
    for p in scene.paths():
        p.stroke, p.stroke_width = Solid(torch.tensor([0.5, 0.5, 0.5, 1.0])), torch.tensor(1.0)
    config = cfg(steps=5, lr_colors=50.0, lr_widths=50.0, lr_opacities=50.0, min_width=0.5, max_width=2.0)
    groups = default_groups(scene, config, ("points", "colors", "widths", "opacities"))
    assert {"colors", "widths", "opacities"} <= set(groups)

    def check(report):
        for p in scene.paths():
            for c in (p.fill.color, p.stroke.color, p.opacity, p.fill_opacity):
                assert 0.0 <= float(c.detach().min()) and float(c.detach().max()) <= 1.0
            assert 0.5 <= float(p.stroke_width.detach()) <= 2.0

    run(scene, FitImage(target_image), config, groups=groups, callbacks=[check])


def test_the_run_leaves_the_callers_thread_count_alone(target_image, two_threads):
    """The optimiser step (and the constraint after it) runs on one CPU thread (many tiny
    tensors); the caller's count is back after every step and after the run."""
    inside, counts = [], []
    run(blob_scene(), FitImage(target_image), cfg(steps=3), constrain=lambda st: inside.append(torch.get_num_threads()),
        callbacks=[lambda r: counts.append(torch.get_num_threads())])
    assert inside == [1, 1, 1] and counts == [2, 2, 2] and torch.get_num_threads() == 2


def test_a_run_of_nonfinite_steps_stops_with_numerical_error(target_image):
    """The loop gives up after ``max_skipped`` non-finite steps in a row: it raises
    NumericalError, or (with checkpointing support) returns it in ``result.error`` with the
    run marked interrupted so that the caller can write the best-so-far first."""
    error = None
    try:
        result = run(blob_scene(), FlakyObjective(target_image, range(100)), cfg(steps=20, max_skipped=4))
    except NumericalError as exc:
        error = exc
    else:
        error = getattr(result, "error", None)
        assert result.interrupted and result.steps_done == 4 and result.skipped == 5
    assert isinstance(error, NumericalError) and "not finite" in str(error)


def test_keyboard_interrupt_ends_the_loop_with_the_best_so_far(target_image):
    scene = blob_scene()

    def stop(report):
        if report.step == 9:
            raise KeyboardInterrupt

    result = run(scene, FitImage(target_image), cfg(), callbacks=[stop])
    assert result.interrupted and result.steps_done == 10
    assert len(result.history) == 10
    assert 0 <= result.best_step <= 9
    # the best scene is a detached copy, not the live one
    assert result.best_scene.paths()[0].points is not scene.paths()[0].points


class WorseningObjective:
    """FitImage whose reported loss jumps by 1 from step ``worse_from`` on (same gradients):
    the best step is the last one before it."""

    def __init__(self, target, worse_from):
        self.fit = FitImage(target)
        self.worse_from = worse_from
        self.calls = 0

    def __call__(self, x0, progress, generator, reference=None):
        r = self.fit(x0, progress, generator)
        step, self.calls = self.calls, self.calls + 1
        jump = 1.0 if step >= self.worse_from else 0.0
        return DistillResult(loss=r.loss + jump, grad=r.grad, t=r.t, prior_calls=0)


def test_the_best_scene_holds_the_values_of_the_best_step(target_image):
    """The best-so-far is refreshed on every improving step (in place while the structure
    is unchanged): the result's best scene holds exactly the values the scene had after the
    best step, not those of an earlier improvement or of the last step; after paths are
    added mid-run, the best scene has the new structure."""
    scene = blob_scene()
    snapshots = []
    record = lambda r: snapshots.append([p.points.detach().clone() for p in r.scene.paths()])  # noqa: E731
    result = run(scene, WorseningObjective(target_image, 15), cfg(steps=25), callbacks=[record])
    assert result.best_step == 14  # improved on every step before the jump
    best = [p.points for p in result.best_scene.paths()]
    assert all(torch.equal(b, s) for b, s in zip(best, snapshots[14]))
    assert not torch.equal(best[0], snapshots[13][0]) and not torch.equal(best[0], scene.paths()[0].points.detach())

    def grow(state):
        if state.step == 10:
            extra = Path.circle((8.0, 8.0), 2.0, fill=Solid(torch.tensor([0.5, 0.5, 0.5, 1.0])))
            state.scene.root.children.append(extra)
            state.add_params("points", [extra.points])

    snapshots.clear()
    result = run(blob_scene(), WorseningObjective(target_image, 15), cfg(steps=25), hooks=[grow], callbacks=[record])
    best = [p.points for p in result.best_scene.paths()]
    assert result.best_step == 14 and len(best) == 4
    assert all(torch.equal(b, s) for b, s in zip(best, snapshots[14]))


def test_learning_rates_follow_warmup_then_cosine(target_image):
    seen = []

    def hook(state):
        seen.append({g["name"]: g["lr"] for g in state.optimizer.param_groups} if state.step else None)

    config = cfg(steps=20, lr_warmup=0.25, lr_final=0.1)
    run(blob_scene(), FitImage(target_image), config, hooks=[hook])
    # the lr is set after hooks run, so hook at step k sees step k-1's rate
    rates = [s["points"] for s in seen[1:]]
    expected = [config.lr_points * lr_factor(k, 20, 0.25, 0.1) for k in range(19)]
    assert rates == pytest.approx(expected)
    assert lr_factor(0, 20, 0.25, 0.1) < lr_factor(5, 20, 0.25, 0.1) == pytest.approx(1.0)
    assert lr_factor(19, 20, 0.25, 0.1) == pytest.approx(0.1)


def test_groups_with_zero_rate_are_frozen(target_image):
    scene = blob_scene()
    before = [p.points.clone() for p in scene.paths()]
    run(scene, FitImage(target_image), cfg(lr_points=0.0, steps=10))
    assert all(torch.equal(b, p.points) for b, p in zip(before, scene.paths()))
    assert "points" not in default_groups(scene, cfg(lr_points=0.0))


def test_a_hook_can_add_paths_that_are_then_optimised(target_image):
    scene = blob_scene(n=1)
    new = Path.circle((4.0, 12.0), 2.0, fill=Solid(torch.tensor([0.9, 0.9, 0.1, 1.0])))
    start = new.points.clone()

    def add(state):
        if state.step == 5:
            state.scene.root.children.append(new)
            state.add_params("points", [new.points])
            state.add_params("colors", [new.fill.color])

    run(scene, FitImage(target_image), cfg(steps=30), hooks=[add])
    assert scene.num_paths() == 2
    assert not torch.equal(new.points, start)


def test_colours_are_clamped_to_unit_range(target_image):
    scene = blob_scene()
    run(scene, FitImage(target_image * 0 - 5), cfg(lr_colors=0.5, steps=20))
    cols = torch.stack([p.fill.color for p in scene.paths()])
    assert cols.min() >= 0 and cols.max() <= 1 and cols.min() == 0
