"""The embedded prior on the whole bundled set at its default 64 x 64 (slow: renders ~1250
icons once into a temporary cache)."""

from __future__ import annotations

import pytest
import torch
from embedded_helpers import brute_force_eps

from vecdistill.distill import build_objective
from vecdistill.priors.embedded import EmbeddedPrior

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_thread_module")]


@pytest.fixture(scope="module")
def prior(tmp_path_factory):
    return EmbeddedPrior(cache_dir=tmp_path_factory.mktemp("cache"))


def test_full_set_noise_matches_float64_brute_force(prior):
    assert prior.image_size == (64, 64) and len(prior.icon_set) > 1000
    prompt = prior.encode_prompt("heart")
    g = torch.Generator().manual_seed(0)
    icons = prior.all_icons()
    x0 = icons[torch.randint(0, len(icons), (2,), generator=g)] * 2 - 1
    t = torch.tensor([30, 990])
    x_t = prior.add_noise(x0, torch.randn(x0.shape, generator=g), t)
    points = prior.denoiser.points().double()
    eps = prior.predict_noise(x_t, t, prompt.uncond)
    ref = torch.cat([brute_force_eps(points, prompt.uncond.log_weights, x_t[i:i + 1].reshape(1, -1), prior.abar(t[i:i + 1])) for i in range(2)])
    torch.testing.assert_close(eps.double().reshape(2, -1), ref, atol=5e-4, rtol=1e-4)


def test_full_set_cfg_pair_matches_float64_brute_force(prior):
    """A batch of 4 from low to high noise under "red heart" and the unconditional branch in
    one pass: peaked rows gather their icons, spread ones read the transposed copy."""
    prompt = prior.encode_prompt("red heart")
    g = torch.Generator().manual_seed(1)
    icons = prior.all_icons()
    x0 = icons[torch.randint(0, len(icons), (4,), generator=g)] * 2 - 1
    t = torch.tensor([30, 500, 900, 990])
    x_t = prior.add_noise(x0, torch.randn(x0.shape, generator=g), t)
    points = prior.denoiser.points().double()
    cond, uncond = prior.predict_noise_many([x_t, x_t], [t, t], [prompt.cond, prompt.uncond])
    for eps, c in ((cond, prompt.cond), (uncond, prompt.uncond)):
        ref = torch.cat([brute_force_eps(points, c.log_weights, x_t[i:i + 1].reshape(1, -1), prior.abar(t[i:i + 1])) for i in range(4)])
        torch.testing.assert_close(eps.double().reshape(4, -1), ref, atol=5e-4, rtol=1e-4)


def test_pixel_sds_for_red_heart_converges_to_the_heart_icon(prior):
    """SDS on raw pixels from a grey image: the result is closest to the bundled heart."""
    heart, captions = prior.icons_for("red heart")
    assert captions == ["red heart"]
    heart = heart * 2 - 1
    objective = build_objective("sds", prior, "red heart", guidance_scale=7.5)
    x0 = torch.zeros(1, 3, 64, 64, requires_grad=True)
    opt = torch.optim.Adam([x0], lr=0.05)
    gen = torch.Generator().manual_seed(0)
    for step in range(60):
        result = objective(x0, step / 60, gen)
        opt.zero_grad()
        result.loss.backward()
        opt.step()
        with torch.no_grad():
            x0.clamp_(-1, 1)
    x = x0.detach()
    psnr = 10 * torch.log10(4 / ((x - heart) ** 2).mean())
    assert psnr > 25
    distances = ((prior.all_icons() * 2 - 1 - x) ** 2).flatten(1).mean(1)
    assert prior.icon_set.icons[int(distances.argmin())].name == "red heart"
