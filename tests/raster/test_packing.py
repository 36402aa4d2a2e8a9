"""pack_parameters: one leaf tensor per kind, read by the rasterizer as one view."""

from __future__ import annotations

import torch

from vecdistill.raster import pack_parameters, rasterize
from vecdistill.raster.packing import packed_rows
from vecdistill.raster.testscenes import circles_scene


def _pair(n=12, size=48):
    make = lambda: circles_scene(n, size, generator=torch.Generator().manual_seed(7), stroke_width=1.5, dtype=torch.float64)  # noqa: E731
    return make(), make()


def _render_both(plain, packed, seed):
    """Render both scenes (asserting the same image) and backpropagate the same weighted
    sum through each."""
    weights = torch.rand(3, 48, 48, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    a, b = rasterize(plain, 48, 48), rasterize(packed, 48, 48)
    assert torch.equal(a, b)
    (a * weights).sum().backward()
    (b * weights).sum().backward()


def test_packed_scene_renders_the_same_with_the_same_gradients():
    plain, packed = _pair()
    plain.requires_grad_(True, kinds=("points", "colors"))
    leaves = pack_parameters(packed)
    assert leaves["points"].shape == (sum(p.points.shape[0] for p in plain.paths()), 2)
    assert leaves["colors"].shape == (2 * 12, 4)  # fill and stroke of every path
    _render_both(plain, packed, 1)
    paths = plain.paths()
    assert torch.allclose(leaves["points"].grad, torch.cat([p.points.grad for p in paths]), atol=1e-12)
    colors = torch.stack([c for p in paths for c in (p.fill.color.grad, p.stroke.color.grad)])
    assert torch.allclose(leaves["colors"].grad, colors, atol=1e-12)


def test_an_optimiser_step_on_the_leaves_moves_the_scene():
    plain, packed = _pair()
    leaves = pack_parameters(packed)
    opt = torch.optim.SGD(list(leaves.values()), lr=1.0)
    rasterize(packed, 48, 48).sum().backward()
    step = {k: v.grad.clone() for k, v in leaves.items()}
    opt.step()
    with torch.no_grad():
        start = 0
        for p in plain.paths():
            n = p.points.shape[0]
            p.points -= step["points"][start : start + n]
            start += n
        for k, c in enumerate(c for p in plain.paths() for c in (p.fill.color, p.stroke.color)):
            c -= step["colors"][k]
    assert torch.allclose(rasterize(packed, 48, 48), rasterize(plain, 48, 48), atol=1e-12)


def test_a_replaced_tensor_falls_back_to_the_general_path():
    plain, packed = _pair()
    pack_parameters(packed)
    moved = packed.paths()[3]
    moved.points = moved.points.detach() + 2.0  # no longer a view of the packed leaf
    assert packed_rows([p.points for p in packed.paths()]) is None
    with torch.no_grad():
        plain.paths()[3].points += 2.0
    assert torch.allclose(rasterize(packed, 48, 48), rasterize(plain, 48, 48), atol=1e-12)


def test_packed_rows_finds_the_rows_of_any_views_of_one_leaf():
    base = torch.arange(20.0).reshape(10, 2).clone()  # a tensor of its own, as pack_parameters makes
    found = packed_rows([base[0:3], base[3:7], base[7:10]])
    assert found is not None and found[0] is base and found[1].tolist() == list(range(10))
    assert packed_rows([base[3:5], base[0:2]])[1].tolist() == [3, 4, 0, 1]  # another order
    assert packed_rows([base[0:2], base[4:6]])[1].tolist() == [0, 1, 4, 5]  # a gap
    assert packed_rows([base[2], base[3], base[2]])[1].tolist() == [2, 3, 2]  # rows, as for colours
    assert packed_rows([torch.zeros(3, 2)]) is None  # not a view
    assert packed_rows([base[0:3], torch.zeros(3, 2)]) is None  # not all of one leaf
    assert packed_rows([base[:, :1]]) is None  # not whole rows
    assert packed_rows([base[1:4][1:]])[1].tolist() == [2, 3]  # a view of a view: same base


def test_a_subset_of_packed_paths_renders_with_the_same_gradients():
    """A path skipped for a zero opacity leaves a gap in the packed rows: the rasterizer
    still reads the leaf by one gather, with the gradients of the general path."""
    plain, packed = _pair()
    plain.requires_grad_(True, kinds=("points", "colors"))
    leaves = pack_parameters(packed)
    for s in (plain, packed):
        s.paths()[4].opacity = torch.tensor(0.0, dtype=torch.float64)  # not drawn
        s.paths()[9].fill = None  # one colour row fewer
    _render_both(plain, packed, 2)
    paths = plain.paths()
    zero = torch.zeros_like(paths[4].points)
    expected = torch.cat([zero if k == 4 else p.points.grad for k, p in enumerate(paths)])
    assert torch.allclose(leaves["points"].grad, expected, atol=1e-12)
    none = torch.zeros(4, dtype=torch.float64)  # path 4 is not drawn; path 9 lost its fill
    grads = [none if k == 4 or (k == 9 and c == 0) else (p.fill if c == 0 else p.stroke).color.grad for k, p in enumerate(paths) for c in (0, 1)]
    assert torch.allclose(leaves["colors"].grad, torch.stack(grads), atol=1e-12)
    from vecdistill.raster.plan import plan_for

    plan = plan_for([packed], 48, 48)
    assert plan.tables.packed is not None and plan.colors_packed is not None  # the packed path ran
