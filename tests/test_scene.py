"""The scene model: transforms, canvas mapping, parameters, copies."""

import math

import pytest
import torch

from vecdistill.svg.scene import Affine, ClipPath, Group, LinearGradient, Path, Scene, Solid


def _scene():
    grad = LinearGradient(offsets=torch.tensor([0.0, 1.0]), colors=torch.rand(2, 4), id="g")
    a = Path.circle((10, 10), 5, fill=Solid(torch.tensor([1.0, 0, 0, 1])), id="a")
    b = Path.polygon(torch.tensor([[0.0, 0], [5, 0], [5, 5]]), fill=grad, stroke=Solid(torch.rand(4)), id="b")
    c = Path.polygon(torch.tensor([[1.0, 1], [2, 1], [2, 2]]), fill=grad, id="c")
    clip = ClipPath([Path.circle((0, 0), 3)], id="clip")
    inner = Group([b, c], transform=Affine.translate(3, 4), clip_path=clip, id="inner")
    return Scene(Group([a, inner]), 100, 50, view_box=(0, 0, 20, 10))


def test_affine_composition_matches_matrix_product():
    t1, t2 = Affine.rotate(30, 2, 3), Affine(1, 2, 3, 4, 5, 6)
    m = (t1 @ t2).matrix(torch.float64)
    assert torch.allclose(m, t1.matrix(torch.float64) @ t2.matrix(torch.float64))
    p = torch.tensor([[1.5, -2.0]], dtype=torch.float64)
    assert torch.allclose((t1 @ t2).apply(p), t1.apply(t2.apply(p)))
    assert torch.allclose((t2 @ t2.inverse()).matrix(torch.float64), torch.eye(3, dtype=torch.float64))


def test_rotate_about_centre_keeps_the_centre():
    p = Affine.rotate(77, 4, -2).apply(torch.tensor([4.0, -2.0]))
    assert torch.allclose(p, torch.tensor([4.0, -2.0]), atol=1e-6)


def test_circle_points_lie_on_the_circle():
    path = Path.circle((3, 4), 2, segments=4)
    anchors = path.points[::3]
    r = (anchors - torch.tensor([3.0, 4.0])).norm(dim=-1)
    assert torch.allclose(r, torch.full_like(r, 2.0), atol=1e-6)
    (segs, pts, closed), = path.subpath_ranges()
    assert closed and pts.stop == 12 and segs.stop == 4


@pytest.mark.parametrize(
    "par,expected",
    [
        ("xMidYMid meet", Affine(5, 0, 0, 5, 0, 0)),  # 20x10 -> 100x50 exactly
        ("none", Affine(5, 0, 0, 5, 0, 0)),
    ],
)
def test_canvas_transform_exact_fit(par, expected):
    s = _scene()
    s.preserve_aspect_ratio = par
    assert s.canvas_transform(100, 50) == expected


def test_canvas_transform_meet_and_slice_centre():
    s = _scene()  # viewBox 20x10 on a 100x100 canvas
    meet = s.canvas_transform(100, 100)
    assert meet.a == 5 and meet.f == pytest.approx(25)  # letterboxed vertically
    s.preserve_aspect_ratio = "xMinYMin slice"
    sl = s.canvas_transform(100, 100)
    assert sl.a == 10 and sl.e == 0 and sl.f == 0


def test_walk_composes_transforms_in_paint_order():
    s = _scene()
    items = list(s.walk())
    assert [i.path.id for i in items] == ["a", "b", "c"]
    assert items[1].transform == Affine.translate(3, 4)
    assert [g.id for g in items[1].groups] == [None, "inner"]


def test_parameters_unique_and_trainable():
    s = _scene()
    groups = s.param_groups()
    # the gradient shared by b and c appears once
    assert sum(t is s.find("b").fill.colors for t in groups["colors"]) == 1
    params = s.parameters()
    assert len({id(p) for p in params}) == len(params)
    s.requires_grad_(True)
    loss = sum(p.float().sum() for p in s.parameters())
    loss.backward()
    assert all(p.grad is not None for p in s.parameters())


def test_clone_is_deep_and_keeps_sharing():
    s = _scene()
    c = s.clone()
    c.find("a").points.add_(1.0)
    assert not torch.equal(c.find("a").points, s.find("a").points)
    assert c.find("b").fill is c.find("c").fill  # shared gradient stays shared
    assert c.find("inner").clip_path.children[0].points is not s.find("inner").clip_path.children[0].points


def test_to_dtype_moves_every_float_tensor():
    s = _scene().to(dtype=torch.float64)
    assert s.find("a").points.dtype == torch.float64
    assert s.find("inner").clip_path.children[0].points.dtype == torch.float64
    assert s.find("a").segments.dtype == torch.long
    assert math.isclose(float(s.find("a").opacity), 1.0)


def test_visibility():
    p = Path.circle((0, 0), 1)
    assert not p.is_visible()  # no fill, no stroke
    p.fill = Solid(torch.tensor([0.0, 0, 0, 1]))
    assert p.is_visible()
    p.fill_opacity = torch.tensor(0.0)
    assert not p.is_visible()


def test_visibility_of_a_path_being_optimised_reads_its_values_without_warnings():
    import warnings

    p = Path.circle((1, 1), 1, fill=Solid(torch.tensor([0, 0, 0, 1.0])), stroke=Solid(torch.tensor([0, 0, 0, 1.0])))
    for t in (p.opacity, p.fill_opacity, p.stroke_opacity, p.stroke_width):
        t.requires_grad_(True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert p.is_visible()
        with torch.no_grad():
            p.opacity.fill_(0.0)
        assert not p.is_visible()
