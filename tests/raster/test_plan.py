"""Render plans (vecdistill/raster/plan.py): kept while the scene's structure is unchanged,
rebuilt as soon as anything the walk depends on changes. Every edit below is checked the
same way: the render after the edit equals a render with no kept plans at all."""

import copy
import gc
import weakref

import torch

from vecdistill.raster import pack_parameters, rasterize, rasterize_batch
from vecdistill.raster.plan import _PLANS, clear_plans, plan_for
from vecdistill.svg.scene import Group, Path, Scene, Solid


def _scene() -> Scene:
    a = Path.circle((10.0, 12.0), 7.0, fill=Solid(torch.tensor([0.9, 0.1, 0.1, 1.0])))
    b = Path.circle((18.0, 16.0), 6.0, fill=Solid(torch.tensor([0.1, 0.2, 0.9, 0.8])))
    c = Path.circle((14.0, 20.0), 5.0, fill=Solid(torch.tensor([0.1, 0.8, 0.2, 1.0])),
                    stroke=Solid(torch.tensor([0.0, 0.0, 0.0, 1.0])), stroke_width=1.5)
    return Scene(Group([a, Group([b, c])]), 32.0, 32.0)


def _fresh(scene: Scene, **kw) -> torch.Tensor:
    clear_plans()
    with torch.no_grad():
        return rasterize(scene, 32, 32, **kw)


def _kept(scene: Scene, **kw) -> torch.Tensor:
    with torch.no_grad():
        return rasterize(scene, 32, 32, **kw)


def _assert_follows(scene: Scene, edit) -> None:
    """Render (keeping a plan), edit, render again: equal to a render without plans, and
    different from before the edit."""
    before = _kept(scene)
    _kept(scene)
    edit(scene)
    after = _kept(scene)
    assert not torch.equal(after, before), "the edit changed nothing visible"
    assert torch.equal(after, _fresh(scene))


def test_plan_is_kept_while_nothing_changes():
    s = _scene()
    p1 = plan_for([s], 32, 32)
    with torch.no_grad():
        s.root.children[0].points.add_(1.0)  # values only: the same plan
    assert plan_for([s], 32, 32) is p1
    assert plan_for([s], 64, 64) is not p1  # another canvas: another plan
    assert plan_for([s], 32, 32) is p1  # several kept per scene


def test_point_and_colour_values_are_read_every_call():
    s = _scene()
    _assert_follows(s, lambda s: s.root.children[0].points.add_(2.0))
    _assert_follows(s, lambda s: s.root.children[0].fill.color.copy_(torch.tensor([0.0, 1.0, 1.0, 1.0])))


def test_structure_edits_make_a_new_plan():
    edits = [
        lambda s: s.root.children.append(Path.circle((5.0, 5.0), 4.0, fill=Solid(torch.tensor([0.0, 0.0, 0.0, 1.0])))),
        lambda s: s.root.children.pop(0),
        lambda s: s.root.children.reverse(),
        lambda s: s.root.children[1].children.pop(),
        lambda s: setattr(s.root.children[0], "fill", Solid(torch.tensor([0.0, 1.0, 0.0, 1.0]))),
        lambda s: setattr(s.root.children[0], "fill", None),
        lambda s: setattr(s.root.children[0], "points", s.root.children[0].points + 3.0),
        lambda s: setattr(s.root.children[0].fill, "color", torch.tensor([0.0, 0.0, 1.0, 1.0])),
        lambda s: setattr(s.root.children[1].children[1], "linejoin", "round") or setattr(s.root.children[1].children[1], "stroke_width", torch.tensor(4.0)),
        lambda s: setattr(s, "view_box", (0.0, 0.0, 16.0, 16.0)),
        lambda s: s.root.children.__setitem__(0, copy.deepcopy(s.root.children[1].children[0])),
    ]
    for edit in edits:
        _assert_follows(_scene(), edit)


def test_opacity_values_are_checked_every_call_even_through_data():
    # an opacity decides which groups are isolated and what the layers' alphas are; a
    # change through ``.data`` does not bump the tensor's version, and must still be seen
    s = _scene()
    _assert_follows(s, lambda s: s.root.children[1].opacity.fill_(0.5))
    _assert_follows(s, lambda s: s.root.children[1].children[1].opacity.data.fill_(0.3))
    _assert_follows(s, lambda s: s.root.children[0].fill_opacity.data.fill_(0.0))
    _assert_follows(s, lambda s: s.root.children[1].children[1].stroke_width.data.fill_(0.0))
    # new memory under the same tensor (the kept plan's views of the old memory are stale)
    _assert_follows(s, lambda s: setattr(s.root.children[0].fill_opacity, "data", torch.tensor(0.25)))
    _assert_follows(s, lambda s: setattr(s.root.children[1].opacity, "data", torch.tensor(0.75, dtype=torch.float64)))


def test_optimised_widths_and_opacities_keep_the_plan_until_the_walk_would_change():
    """Widths and opacities that require grad (an optimiser moves them every step) are read
    by every render: moving them keeps the plan, and the render still follows them; a value
    that changes what the walk does (0 or 1) makes a new plan."""
    s = _scene()
    grp, c = s.root.children[1], s.root.children[1].children[1]
    for t in (grp.opacity, c.opacity, c.stroke_width, c.fill_opacity):
        t.requires_grad_(True)
    with torch.no_grad():
        grp.opacity.fill_(0.7)
        c.fill_opacity.fill_(0.8)
    _kept(s)
    p1 = plan_for([s], 32, 32)
    for edit in (lambda: c.stroke_width.fill_(2.5), lambda: grp.opacity.fill_(0.4), lambda: c.fill_opacity.fill_(0.6)):
        before = _kept(s)
        with torch.no_grad():
            edit()
        assert plan_for([s], 32, 32) is p1
        after = _kept(s)
        assert not torch.equal(after, before) and torch.equal(after, _fresh(s))
        _kept(s)
        p1 = plan_for([s], 32, 32)
    for edit in (lambda: grp.opacity.fill_(1.0), lambda: c.fill_opacity.fill_(0.0), lambda: c.opacity.fill_(0.0)):
        with torch.no_grad():
            edit()
        assert plan_for([s], 32, 32) is not p1  # isolation or a skipped layer changed
        assert torch.equal(_kept(s), _fresh(s))
        p1 = plan_for([s], 32, 32)


def test_gradients_reach_an_opacity_that_starts_requiring_grad_later():
    s = _scene()
    _kept(s)  # a plan with the layer opacities computed once (no grads then)
    op = s.root.children[0].fill_opacity
    op.requires_grad_(True)
    rasterize(s, 32, 32).sum().backward()
    assert op.grad is not None and op.grad.abs() > 0


def test_packed_scene_and_batches_follow_edits():
    s = _scene()
    leaves = pack_parameters(s)
    with torch.no_grad():
        ref = _kept(s)
        leaves["points"].add_(1.5)
    moved = _kept(s)
    assert not torch.equal(moved, ref) and torch.equal(moved, _fresh(s))
    t = _scene()
    with torch.no_grad():
        batch = rasterize_batch([s, t], 32, 32)
        t.root.children.pop()
        batch2 = rasterize_batch([s, t], 32, 32)
    assert torch.equal(batch2[0], batch[0]) and not torch.equal(batch2[1], batch[1])
    clear_plans()
    with torch.no_grad():
        assert torch.equal(batch2, rasterize_batch([s, t], 32, 32))


def test_plans_do_not_keep_their_scene_alive():
    s = _scene()
    _kept(s)
    ref = weakref.ref(s)
    assert s in _PLANS
    del s
    gc.collect()
    assert ref() is None
