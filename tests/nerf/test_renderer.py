"""The volume renderer against closed forms, its gradients, normals and empty-space skipping."""

from __future__ import annotations

import math

import pytest
import torch

from vecdistill.nerf.cameras import OrbitConfig, sample_orbit
from vecdistill.nerf.field import FieldConfig, RadianceField
from vecdistill.nerf.occupancy import OccupancyConfig, OccupancyGrid
from vecdistill.nerf.renderer import RenderConfig, finite_difference_normals, render, render_rays

TINY = FieldConfig(levels=4, log2_hashmap_size=12, base_resolution=4, max_resolution=32, hidden=16)


class ConstantBall:
    """Density ``sigma`` inside a ball of ``radius``, albedo 0.5 grey: an analytic field."""

    bound = 1.0

    def __init__(self, sigma: float, radius: float) -> None:
        self.sigma, self.radius = sigma, radius

    def density(self, x):
        return self.sigma * ((x * x).sum(-1) < self.radius ** 2).to(x.dtype)

    def __call__(self, x):
        return self.density(x), torch.full((x.shape[0], 3), 0.5)


class GaussianBlob:
    """Density ``a exp(-|x|^2 / (2 s^2))`` (smooth, radially symmetric)."""

    bound = 1.0

    def __init__(self, a: float = 20.0, s: float = 0.25) -> None:
        self.a, self.s = a, s

    def density(self, x):
        return self.a * torch.exp(-(x * x).sum(-1) / (2 * self.s ** 2))

    def __call__(self, x):
        return self.density(x), torch.full((x.shape[0], 3), 0.5)


def _rays_across(n: int, max_offset: float):
    """Rays along +x starting at x = -3, offset in y from 0 to ``max_offset``."""
    b = torch.linspace(0.0, max_offset, n)
    o = torch.stack([torch.full((n,), -3.0), b, torch.zeros(n)], dim=-1)
    d = torch.tensor([[1.0, 0.0, 0.0]]).expand(n, 3).contiguous()
    return o, d, b


@pytest.mark.parametrize("jitter", [False, True])
def test_opacity_of_constant_ball_matches_closed_form(jitter):
    sigma, radius = 2.0, 0.6
    o, d, b = _rays_across(24, 0.59)
    g = torch.Generator().manual_seed(0)
    out = render_rays(ConstantBall(sigma, radius), o, d, RenderConfig(samples=4096), generator=g, jitter=jitter,
                      background=torch.ones(24, 3))
    chord = 2 * torch.sqrt(radius ** 2 - b ** 2)
    exact = 1 - torch.exp(-sigma * chord)
    assert (out.opacity - exact).abs().max() < 1e-3
    # colour: grey albedo over a white background
    assert (out.rgb[:, 0] - (0.5 * exact + (1 - exact))).abs().max() < 1e-3
    # expected depth of a constant medium entered at t0 over a chord L
    t0 = 3 - chord / 2
    e = torch.exp(-sigma * chord)
    depth = t0 + 1 / sigma - chord * e / (1 - e)
    assert (out.depth - depth).abs().max() < 1e-3


def test_gaussian_blob_optical_depth_with_few_samples():
    # integral of a exp(-r^2 / 2 s^2) along a line at distance b: a s sqrt(2 pi) exp(-b^2 / 2 s^2)
    f = GaussianBlob()
    o, d, b = _rays_across(16, 0.6)
    out = render_rays(f, o, d, RenderConfig(samples=128), jitter=False)
    tau = f.a * f.s * math.sqrt(2 * math.pi) * torch.exp(-b ** 2 / (2 * f.s ** 2))
    assert (out.opacity - (1 - torch.exp(-tau))).abs().max() < 1e-3


def test_rays_missing_the_cube_see_only_background():
    o = torch.tensor([[-3.0, 2.0, 0.0]])
    d = torch.tensor([[1.0, 0.0, 0.0]])
    out = render_rays(GaussianBlob(), o, d, RenderConfig(samples=16), background=torch.tensor([[0.2, 0.4, 0.6]]))
    assert out.opacity.item() == 0.0
    assert torch.allclose(out.rgb, torch.tensor([[0.2, 0.4, 0.6]]))


def test_finite_difference_normals_point_outward():
    p = torch.tensor([[0.2, 0.0, 0.0], [0.0, -0.3, 0.0], [0.1, 0.1, 0.1]])
    n = finite_difference_normals(GaussianBlob().density, p, 1e-2)
    expected = p / p.norm(dim=-1, keepdim=True)
    assert torch.allclose(n, expected, atol=1e-3)


@pytest.mark.parametrize("mode", ["albedo", "lambertian", "textureless"])
def test_render_gradients_are_finite_and_reach_the_field(mode):
    gen = torch.Generator().manual_seed(1)
    field = RadianceField(TINY, generator=gen)
    cams = sample_orbit(2, OrbitConfig(), 12, 12, gen).cameras
    light = cams.positions * 1.5
    out = render(field, cams, RenderConfig(samples=16), generator=gen, mode=mode, light=light)
    assert out.image.shape == (2, 3, 12, 12)
    assert 0 <= out.image.min() and out.image.max() <= 1
    assert out.opacity.max() > 0.5  # the density blob is visible
    out.image.square().mean().backward()
    grads = [p.grad for p in field.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    assert sum(float(g.abs().sum()) for g in grads) > 0


def test_lambertian_is_brighter_facing_the_light():
    # a smooth blob lit from +x: the +x side of the image is brighter than the -x side
    f = GaussianBlob()
    from vecdistill.nerf.cameras import orbit_cameras

    cam = orbit_cameras(torch.tensor([0.0]), torch.tensor([-90.0]), torch.tensor([2.0]), torch.tensor([50.0]), 16, 16)
    out = render(f, cam, RenderConfig(samples=64), mode="textureless", light=torch.tensor([[5.0, 0.0, 0.0]]), jitter=False)
    img = out.image[0, 0]
    # camera at -y looking at +y: world +x is image right
    assert img[6:10, 9:12].mean() > img[6:10, 4:7].mean() + 0.2


def test_occupancy_skipping_keeps_the_image_and_saves_work():
    gen = torch.Generator().manual_seed(0)
    field = RadianceField(TINY, generator=gen)
    grid = OccupancyGrid(1.0, OccupancyConfig(resolution=16, threshold=0.05))
    for _ in range(3):
        frac = grid.update(field.density, gen)
    assert 0 < frac < 0.6
    # samples go only into the occupied cells' box, which holds the blob (radius ~0.5)
    lo, hi = grid.box
    assert (hi - lo).max() < 2.0 and (lo < -0.3).all() and (hi > 0.3).all()
    cams = sample_orbit(1, OrbitConfig(), 16, 16, gen).cameras
    with torch.no_grad():
        full = render(field, cams, RenderConfig(samples=48), jitter=False)
        fast = render(field, cams, RenderConfig(samples=48), jitter=False, occupancy=grid)
    assert fast.evaluated_fraction < 0.6 * full.evaluated_fraction
    assert (full.image - fast.image).abs().max() < 0.02


def test_same_seed_same_field_and_render():
    def once():
        g = torch.Generator().manual_seed(7)
        f = RadianceField(TINY, generator=g)
        cams = sample_orbit(1, OrbitConfig(), 8, 8, g).cameras
        return render(f, cams, RenderConfig(samples=8), generator=g).image

    assert torch.equal(once(), once())


def test_backgrounds():
    from vecdistill.nerf.shading import Background

    d = torch.nn.functional.normalize(torch.randn(2, 5, 3, generator=torch.Generator().manual_seed(0)), dim=-1)
    g = torch.Generator().manual_seed(0)
    rand = Background("random")(d, g)
    assert torch.equal(rand[0, 0], rand[0, 4]) and not torch.equal(rand[0, 0], rand[1, 0])  # one colour per image
    assert torch.equal(Background("random")(d, None), torch.ones(2, 5, 3))  # evaluation: white
    mlp = Background("mlp", generator=torch.Generator().manual_seed(0))
    out = mlp(d, g)
    assert out.shape == (2, 5, 3) and 0 <= out.min() and out.max() <= 1
    out.sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in mlp.parameters())
    with pytest.raises(ValueError, match="background"):
        Background("plaid")
