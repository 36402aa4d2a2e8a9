"""ACAP and tone losses: zero where the letter keeps its shape, positive where it does not."""

from __future__ import annotations

import pytest
import torch

from vecdistill.pipelines.word_losses import (
    ACAPLoss,
    ToneLoss,
    flatten_path,
    gaussian_blur,
    inside,
    lowpass,
    tone_weight,
    triangulate_glyph,
)
from vecdistill.svg.scene import Affine
from vecdistill.text import word_scene

# small tensors on a shared CPU: one torch thread is several times faster
pytestmark = pytest.mark.usefixtures("one_thread")

@pytest.fixture(scope="module")
def letters():
    scene, _ = word_scene("Rg8", "quicksand", size=100)
    return scene.paths()


def test_triangles_cover_the_glyph_interior_only(letters):
    for path in letters:
        all_faces = triangulate_glyph(path, keep_outside=True)
        faces = triangulate_glyph(path)
        assert 0 < faces.shape[0] < all_faces.shape[0]
        centroids = path.points.double()[faces].mean(1).numpy()
        assert inside(centroids, flatten_path(path), path.fill_rule).all()


def test_inside_knows_the_counter_of_an_o_is_empty():
    scene, _ = word_scene("o", "roboto", size=100, margin=0.0)
    path = scene.paths()[0]
    centre = path.points.mean(0, keepdim=True).double().numpy()
    polys = flatten_path(path)
    assert not inside(centre, polys, "nonzero")[0]
    ring = centre.copy()
    ring[0, 0] = float(path.points[:, 0].min()) + 3.0  # inside the left stroke
    assert inside(ring, polys, "nonzero")[0]


def test_acap_is_zero_for_the_original_and_for_similarity_transforms(letters):
    loss = ACAPLoss(letters)
    assert loss.num_triangles > 30
    assert float(loss(letters)) == 0.0
    similarity = Affine.translate(31, -7) @ Affine.rotate(40, 50, 50) @ Affine.scale(0.6)
    moved = [similarity.apply(p.points) for p in letters]
    assert float(loss(moved)) < 1e-9


@pytest.mark.parametrize("transform", [Affine.skew_x(15), Affine.scale(1.0, 1.6)])
def test_acap_is_positive_for_shears_and_stretches(letters, transform):
    loss = ACAPLoss(letters)
    value = float(loss([transform.apply(p.points) for p in letters]))
    assert value > 1e-3


def test_acap_penalises_a_local_dent_and_its_gradient_points_back(letters):
    path = letters[0]
    loss = ACAPLoss([path])
    points = path.points.detach().clone()
    points[3] += torch.tensor([6.0, -4.0])
    points.requires_grad_(True)
    value = loss([points])
    value.backward()
    value = float(value.detach())
    assert value > 0
    # one small gradient step toward the original lowers the loss
    with torch.no_grad():
        stepped = points - 20.0 * points.grad
    assert float(loss([stepped])) < value


def test_gaussian_blur_preserves_mean_and_smooths():
    g = torch.Generator().manual_seed(0)
    img = torch.rand(1, 3, 32, 32, generator=g)
    out = gaussian_blur(img, 2.0)
    assert out.shape == img.shape
    assert abs(float(out.mean() - img.mean())) < 0.02
    assert float(out.std()) < 0.5 * float(img.std())
    assert torch.equal(gaussian_blur(img, 0.0), img)


def test_tone_loss_is_zero_for_the_original_and_grows_with_a_shift():
    img = torch.ones(1, 3, 40, 40)
    img[..., 10:30, 12:20] = 0.0
    tone = ToneLoss(img, sigma=3.0, weight=100.0, peak=0.6, width=0.04)
    assert float(tone(img, 0.6)) == 0.0
    shifted = torch.roll(img, 6, dims=-1)
    assert float(tone(shifted, 0.6)) > 0.0
    # the paper's bump: full weight at the peak, almost nothing far from it
    assert tone.weight_at(0.6) == 100.0
    assert tone.weight_at(0.0) < 1e-6 * 100
    assert tone_weight(0.2, 5.0, 0.6, 0.0) == 5.0  # width 0: constant


def test_lowpass_at_large_sigma_matches_the_full_resolution_blur():
    img = torch.ones(1, 3, 300, 300)
    img[..., 100:200, 120:170] = 0.0
    full = gaussian_blur(img, 15.0)
    small = lowpass(img, 15.0)
    assert small.shape[-2:] == (60, 60)  # computed at a fifth of the size
    back = torch.nn.functional.interpolate(small, size=(300, 300), mode="bilinear", align_corners=False)
    assert float((full - back).abs().max()) < 0.02
    assert torch.equal(lowpass(img, 2.0), gaussian_blur(img, 2.0))  # small sigma: no shortcut
