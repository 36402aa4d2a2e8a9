"""A packed run (``optimize(pack=True)``): the scene's points and solid colours optimised as
one leaf each, with the result of one tensor per path (up to float rounding) and the
scene's own tensors given back."""

import pytest
import torch

from vecdistill.pipelines.config import LoopConfig
from vecdistill.pipelines.loop import optimize
from vecdistill.pipelines.losses import FitImage
from vecdistill.pipelines.packed import Packing
from vecdistill.raster import rasterize
from vecdistill.raster.testscenes import circles_scene
from vecdistill.svg.scene import ClipPath, Path, Solid

SIZE = 24


def scene_of(n=6, seed=3):
    return circles_scene(n, SIZE, generator=torch.Generator().manual_seed(seed))


def target():
    other = circles_scene(5, SIZE, generator=torch.Generator().manual_seed(11))
    with torch.no_grad():
        return rasterize(other, SIZE, SIZE)[None]


def cfg(**kw):
    base = dict(steps=12, size=SIZE, augment=False, lr_points=0.5, lr_colors=0.05, lr_warmup=0.0, reinit_every=0)
    base.update(kw)
    return LoopConfig(**base)


class Worsening(FitImage):
    """FitImage whose reported loss jumps by 1 from step 7 on: the best step is 6."""

    calls = 0

    def __call__(self, x0, progress, generator, reference=None):
        r = super().__call__(x0, progress, generator)
        self.calls += 1
        if self.calls > 7:
            r.loss = r.loss + 1.0
        return r


class LaterWorse(FitImage):
    """FitImage whose reported loss jumps by 1 from 40 % of the run on."""

    def __call__(self, x0, progress, generator, reference=None):
        r = super().__call__(x0, progress, generator)
        if progress >= 0.4:
            r.loss = r.loss + 1.0
        return r


def run(scene, pack, config=None, **kw):
    return optimize(scene, Worsening(target()), config or cfg(), torch.Generator().manual_seed(0), encode=lambda x: x, pack=pack, **kw)


def values(scene):
    return [t.detach().clone() for p in scene.paths() for t in (p.points, p.fill.color)]


def same(xs, ys):
    """Equal up to float32 rounding: torch's fused Adam rounds the elements of a long tensor
    and of a short one differently (~1 ulp per step); a kind left unoptimised or moments
    reset wrongly would differ by the learning rate."""
    return len(xs) == len(ys) and all(torch.allclose(x, y, rtol=1e-5, atol=1e-5) for x, y in zip(xs, ys))


def test_a_packed_run_gives_the_per_path_result_and_the_scenes_own_tensors_back():
    plain, packed = scene_of(), scene_of()
    own = [t for p in packed.paths() for t in (p.points, p.fill.color)]
    seen = []
    a = run(plain, pack=False)
    b = run(packed, pack=True, callbacks=[lambda r: seen.append(r.scene.paths()[0].points._base is not None)])
    assert all(seen)  # the paths' tensors were views of the packed leaves during the run
    assert same(values(plain), values(packed))
    assert same(values(a.best_scene), values(b.best_scene))
    assert a.best_step == b.best_step == 6 and a.history == pytest.approx(b.history, rel=1e-4)
    after = [t for p in packed.paths() for t in (p.points, p.fill.color)]
    assert all(x is y for x, y in zip(own, after))  # the same tensor objects, leaves again
    assert all(t.is_leaf and t._base is None for t in after)


def test_the_packed_groups_are_one_leaf_per_kind():
    scene = scene_of()
    groups = {"points": [p.points for p in scene.paths()], "colors": [p.fill.color for p in scene.paths()]}
    packing = Packing(scene, groups)
    assert [g[0].shape for g in packing.groups.values()] == [(sum(p.points.shape[0] for p in scene.paths()), 2), (6, 4)]
    assert all(p.points._base is packing.leaves["points"] for p in scene.paths())
    packing.unpack()
    assert all(p.points is t for p, t in zip(scene.paths(), groups["points"]))


@pytest.mark.parametrize("case", ["subset", "clip", "replaced"])
def test_groups_the_rasterizer_cannot_read_as_one_leaf_stay_per_path(case):
    scene = scene_of()
    points = [p.points for p in scene.paths()]
    if case == "subset":
        points = points[1:]
    elif case == "clip":
        scene.paths()[2].clip_path = ClipPath([Path.circle((12.0, 12.0), 6.0)])
    else:
        points[3] = points[3].clone()  # not the scene's tensor
    packing = Packing(scene, {"points": points})
    assert not packing and packing.groups["points"] == points
    assert all(p.points._base is None for p in scene.paths())


def test_a_reset_zeroes_only_that_paths_rows_of_the_moments():
    scene = scene_of()
    packing = Packing(scene, {"points": [p.points for p in scene.paths()]})
    leaf = packing.leaves["points"]
    opt = torch.optim.Adam([leaf], lr=0.1)
    rasterize(scene, SIZE, SIZE).sum().backward()
    opt.step()
    before = {k: v.clone() for k, v in opt.state[leaf].items()}
    path = scene.paths()[2]
    assert packing.reset(opt, path.points) and not packing.reset(opt, torch.zeros(3))
    start = sum(p.points.shape[0] for p in scene.paths()[:2])
    rows = slice(start, start + path.points.shape[0])
    for name in ("exp_avg", "exp_avg_sq"):
        moved = opt.state[leaf][name]
        assert torch.all(moved[rows] == 0) and bool(before[name][rows].abs().sum() > 0)
        keep = torch.ones(leaf.shape[0], dtype=torch.bool)
        keep[rows] = False
        assert torch.equal(moved[keep], before[name][keep])


def test_paths_added_mid_run_are_packed_with_the_rest_moments_carried_over():
    """A hook adding paths unpacks the run; before the step renders the loop packs it again
    with the new paths' rows at the end: the old rows' moments are carried over unchanged,
    the new ones start at zero, and the new path is optimised."""
    scene = scene_of()
    extra = Path.circle((8.0, 8.0), 3.0, fill=Solid(torch.tensor([0.5, 0.2, 0.7, 1.0])))
    start = extra.points.clone()
    snap = {}

    def before(state):  # the first hook of step 5: the moments as the run left them
        if state.step == 5:
            snap["before"] = state.optimizer.state[state.packing.leaves["points"]]["exp_avg"].clone()
            snap["state"] = state

    def grow(state):
        if state.step == 5:
            state.scene.root.children.append(extra)
            state.add_params("points", [extra.points])
            state.add_params("colors", [extra.fill.color])

    def render(s):  # step 5's render comes after the repacking
        st = snap.pop("state", None)
        if st is not None:
            leaf = st.packing.leaves["points"]
            snap["after"] = st.optimizer.state[leaf]["exp_avg"].clone()
            snap["extra is a view"] = extra.points._base is leaf and extra.fill.color._base is st.packing.leaves["colors"]
        return rasterize(s, SIZE, SIZE)

    own = extra.points
    run(scene, pack=True, hooks=[before, grow], render=render)
    old = snap["before"].shape[0]
    assert snap["extra is a view"] and snap["after"].shape[0] == old + extra.points.shape[0]
    assert torch.equal(snap["after"][:old], snap["before"]) and bool(snap["before"].abs().sum() > 0)
    assert torch.all(snap["after"][old:] == 0)
    assert extra.points is own and own._base is None and not torch.equal(own, start)


def test_adopt_moves_per_path_moments_into_the_leaf_rows():
    scene = scene_of(3)
    tensors = [p.points for p in scene.paths()]
    opt = torch.optim.Adam(tensors[:2] + [tensors[2]], lr=0.1)
    for t in tensors[:2]:
        t.grad = torch.ones_like(t)
    tensors[2].grad = None  # no state yet, as a path just added
    opt.step()
    states = [dict(opt.state[t]) if t in opt.state else None for t in tensors]
    packing = Packing(scene, {"points": tensors})
    packing.adopt(opt)
    leaf = packing.leaves["points"]
    assert opt.param_groups[0]["params"] == [leaf] and list(opt.state) == [leaf]
    rows = opt.state[leaf]["exp_avg"].split([t.shape[0] for t in tensors])
    assert torch.equal(rows[0], states[0]["exp_avg"]) and torch.equal(rows[1], states[1]["exp_avg"])
    assert torch.all(rows[2] == 0) and float(opt.state[leaf]["step"]) == 1.0


def test_an_error_mid_run_still_gives_the_scene_its_own_tensors():
    scene = scene_of()
    own = [p.points for p in scene.paths()]

    def fail(state):
        if state.step == 3:
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        run(scene, pack=True, hooks=[fail])
    assert all(p.points is t and t._base is None for p, t in zip(scene.paths(), own))
    assert not torch.equal(own[0], scene_of().paths()[0].points)  # three steps' values were kept


def test_a_checkpointed_run_is_packed_and_its_checkpoint_holds_one_tensor_per_path(tmp_path):
    """A checkpoint names the scene's own tensors (one per path), a packed run's included:
    resumed from step 5 (and again from step 7), the packed run ends where the uninterrupted
    packed run ends, with its best-so-far."""
    from vecdistill.pipelines.checkpoint import Checkpointer

    config = cfg(steps=10)

    def fit(scene, **kw):  # worse from step 4 on, by step (not by call): the best step is 3
        return optimize(scene, LaterWorse(target()), config, torch.Generator().manual_seed(0), encode=lambda x: x, pack=True, **kw)

    ref = scene_of()
    expected = fit(ref)
    assert expected.best_step == 3
    scene, path = scene_of(), tmp_path / "run.pt"
    seen = []

    def stop_at(step):
        def stop(report):
            seen.append(report.scene.paths()[0].points._base is not None)
            if report.step == step:
                raise KeyboardInterrupt

        return stop

    fit(scene, callbacks=[stop_at(5)], checkpoint=Checkpointer(path, 1, config))
    assert seen and all(seen)
    saved = torch.load(path, weights_only=False)
    assert saved["step"] == 5 and len(saved["groups"]["points"]) == 6
    per_path = sum(len(ids) for ids in saved["groups"].values())
    assert sum(len(g["params"]) for g in saved["optimizer"]["param_groups"]) == per_path  # one entry per path tensor
    # resumed at 5 and stopped again at 7: the checkpoints written after a resume still
    # carry the best-so-far restored into the packed run
    fit(scene_of(), callbacks=[stop_at(7)], checkpoint=Checkpointer(path, 1, config, resume=True))
    assert torch.load(path, weights_only=False)["step"] == 7
    resumed = scene_of()
    result = fit(resumed, checkpoint=Checkpointer(path, 1, config, resume=True))
    assert result.resumed_from == 7 and result.best_step == 3
    assert all(torch.equal(x, y) for x, y in zip(values(ref), values(resumed)))
    # the best-so-far came from the checkpoint (no later step improved): the same values
    assert all(torch.equal(x, y) for x, y in zip(values(expected.best_scene), values(result.best_scene)))
