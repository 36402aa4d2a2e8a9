"""The embedded icon prior: exact denoiser, CFG, batching, prompts, encode/decode."""

from __future__ import annotations

import pytest
import torch
from embedded_helpers import brute_force_eps, icon_x0, small_icon_set

from vecdistill.distill.guidance import guided_noise, guided_noise_many
from vecdistill.errors import InputError, PromptError
from vecdistill.priors.embedded import EmbeddedPrior

RES = 16
pytestmark = pytest.mark.usefixtures("one_thread_module")


@pytest.fixture(scope="module")
def prior(tmp_path_factory):
    return EmbeddedPrior(resolution=RES, cache_dir=tmp_path_factory.mktemp("cache"), icon_set=small_icon_set())


@pytest.fixture(scope="module")
def prior64(tmp_path_factory):
    return EmbeddedPrior(resolution=RES, dtype=torch.float64, cache_dir=tmp_path_factory.mktemp("cache64"), icon_set=small_icon_set())


def _noisy(prior, t_values, seed=0, near=None):
    """x_t [B, 3, R, R] drawn around icons (``near``: icon indices) at timesteps ``t_values``."""
    g = torch.Generator().manual_seed(seed)
    icons = prior.all_icons() * 2 - 1
    idx = torch.tensor(near if near is not None else [i % len(icons) for i in range(len(t_values))])
    t = torch.tensor(t_values)
    noise = torch.randn(icons[idx].shape, generator=g)
    return prior.add_noise(icons[idx], noise, t), t


def _reference(prior, cond, x_t, t):
    points = prior.denoiser.points().double()
    return brute_force_eps(points, cond.log_weights, x_t.reshape(len(t), -1), prior.abar(t)).view_as(x_t)


@pytest.mark.parametrize("which", ["cond", "uncond"])
def test_noise_matches_float64_brute_force(prior, which):
    prompt = prior.encode_prompt("heart")  # several hearts: a non-trivial mixture
    cond = getattr(prompt, which)
    x_t, t = _noisy(prior, [0, 5, 50, 300, 600, 900, 999, 999])
    # also points between two icons, where the softmax is not one-hot
    icons = prior.all_icons() * 2 - 1
    mid = 0.5 * (icons[0] + icons[1])
    t_mid = torch.tensor([200, 980])
    x_mid = prior.add_noise(mid.expand(2, -1, -1, -1), torch.zeros(2, *mid.shape), t_mid)
    x_t, t = torch.cat([x_t, x_mid]), torch.cat([t, t_mid])
    eps = prior.predict_noise(x_t, t, cond)
    ref = _reference(prior, cond, x_t, t)
    assert eps.dtype == torch.float32
    torch.testing.assert_close(eps.double(), ref, atol=2e-4, rtol=1e-4)


def test_float64_prior_is_exact(prior64):
    cond = prior64.encode_prompt("heart").uncond
    x_t, t = _noisy(prior64, [3, 400, 999])
    x_t = x_t.double()
    eps = prior64.predict_noise(x_t, t, cond)
    torch.testing.assert_close(eps, _reference(prior64, cond, x_t, t), atol=1e-10, rtol=1e-10)


def test_denoiser_recovers_the_icon_at_low_noise(prior):
    x_t, t = _noisy(prior, [20, 20, 20], near=[0, 4, 7])
    x0 = prior.predict_x0_many([x_t], [t], [prior.encode_prompt("").cond])[0]
    torch.testing.assert_close(x0, prior.all_icons()[[0, 4, 7]] * 2 - 1, atol=1e-4, rtol=0)


def test_conditional_prediction_pulls_toward_the_matched_icon(prior):
    """At high noise the conditional x0 estimate of "red heart" is the red heart itself,
    while the unconditional one is a blend of all icons."""
    prompt = prior.encode_prompt("red heart")
    rocket = [icon.file for icon in prior.icon_set.icons].index("1f680.svg")
    x_t, t = _noisy(prior, [990], near=[rocket])
    cond_x0, uncond_x0 = prior.predict_x0_many([x_t, x_t], [t, t], [prompt.cond, prompt.uncond])
    heart, _ = prior.icons_for("red heart")
    heart = heart * 2 - 1
    assert torch.allclose(cond_x0, heart, atol=1e-5)
    assert (uncond_x0 - heart).abs().mean() > 0.05


def test_cfg_scale_one_is_the_conditional_prediction(prior):
    prompt = prior.encode_prompt("cat")
    x_t, t = _noisy(prior, [100, 500, 900])
    cond = prior.predict_noise(x_t, t, prompt.cond)
    uncond = prior.predict_noise(x_t, t, prompt.uncond)
    torch.testing.assert_close(guided_noise(prior, x_t, t, prompt, 1.0), cond)
    torch.testing.assert_close(guided_noise(prior, x_t, t, prompt, 0.0), uncond)
    torch.testing.assert_close(guided_noise(prior, x_t, t, prompt, 7.5), uncond + 7.5 * (cond - uncond), atol=1e-5, rtol=1e-5)


def test_batch_equals_per_sample(prior):
    prompt = prior.encode_prompt("sun")
    x_t, t = _noisy(prior, [10, 250, 700, 999], seed=3)
    batched = prior.predict_noise(x_t, t, prompt.cond)
    single = torch.cat([prior.predict_noise(x_t[i:i + 1], t[i:i + 1], prompt.cond) for i in range(4)])
    torch.testing.assert_close(batched, single, atol=1e-6, rtol=1e-6)


def test_many_in_one_pass_equals_separate_calls(prior):
    a, b = prior.encode_prompt("cat"), prior.encode_prompt("pizza")
    x1, t1 = _noisy(prior, [100, 800], seed=1)
    x2, t2 = _noisy(prior, [50, 400, 999], seed=2)
    many = prior.predict_noise_many([x1, x1, x2, x2], [t1, t1, t2, t2], [a.cond, a.uncond, b.cond, b.uncond])
    separate = [prior.predict_noise(x1, t1, a.cond), prior.predict_noise(x1, t1, a.uncond),
                prior.predict_noise(x2, t2, b.cond), prior.predict_noise(x2, t2, b.uncond)]
    for m, s in zip(many, separate):
        torch.testing.assert_close(m, s, atol=1e-6, rtol=1e-6)
    guided = guided_noise_many(prior, [x1, x2], [t1, t2], [a, b], 5.0)
    torch.testing.assert_close(guided[1], separate[3] + 5.0 * (separate[2] - separate[3]), atol=1e-5, rtol=1e-5)


def test_scalar_timestep_is_broadcast(prior):
    prompt = prior.encode_prompt("rocket")
    x_t, t = _noisy(prior, [300, 300])
    torch.testing.assert_close(prior.predict_noise(x_t, torch.tensor(300), prompt.cond), prior.predict_noise(x_t, t, prompt.cond))


def test_schedule_is_stable_diffusions(prior):
    ac = prior.alphas_cumprod
    assert ac.shape == (1000,) and ac.dtype == torch.float32
    assert ac[0].item() == pytest.approx(1 - 0.00085, rel=1e-6)
    assert ac[-1].item() == pytest.approx(0.0047, abs=2e-4)  # SD 1.5's final abar


def test_encode_resizes_and_scales_decode_inverts(prior):
    images = torch.rand(2, 3, 4 * RES, 4 * RES, requires_grad=True)
    x0 = prior.encode(images)
    assert x0.shape == (2, 3, RES, RES)
    assert x0.min() >= -1 and x0.max() <= 1
    x0.sum().backward()
    assert images.grad is not None and images.grad.abs().sum() > 0
    small = torch.rand(1, 3, RES, RES)
    torch.testing.assert_close(prior.decode(prior.encode(small)), small)
    with pytest.raises(InputError):
        prior.encode(torch.rand(3, RES, RES))


def test_prompt_info_lists_matched_captions(prior):
    prompt = prior.encode_prompt("red heart")
    assert prompt.info["matched"] == ["red heart"]
    assert prompt.info["tier"] == "exact" and prompt.info["ignored_words"] == []
    white = prior.encode_prompt("a white cat")  # white cannot be drawn on the white background
    assert sorted(white.info["matched"]) == ["cat", "cat face"] and white.info["ignored_words"] == ["white"]
    assert white.info["colour"] is None and white.info["tier"] == "partial"
    # a colour no caption has with "animal" chooses among the animals by the icons' pixels
    yellow = prior.encode_prompt("a yellow animal")
    assert sorted(yellow.info["matched"]) == ["cat", "cat face"] and yellow.info["colour"] == "yellow"
    assert yellow.info["tier"] == "colour" and yellow.info["ignored_words"] == [] and yellow.info["secondary"] == []
    assert prior.encode_prompt("an orange animal").info["matched"] == ["dog face"]
    images, captions = prior.icons_for("red heart")
    assert captions == ["red heart"] and images.shape == (1, 3, RES, RES)
    torch.testing.assert_close(images * 2 - 1, icon_x0(prior, "2764.svg"))


def test_negative_prompt_is_the_unconditional_branch(prior):
    prompt = prior.encode_prompt("heart", negative="cat")
    allowed = torch.isfinite(prompt.uncond.log_weights).nonzero().squeeze(1).tolist()
    assert sorted(prior.icon_set.icons[i].name for i in allowed) == ["cat", "cat face"]
    for negative in ("blurry, low quality", "cat with a hat"):  # no word / not all words match
        ignored = prior.encode_prompt("heart", negative=negative)
        assert torch.isfinite(ignored.uncond.log_weights).all()
        assert "negative_note" in ignored.info


def test_unmatched_prompt_raises_with_suggestions(prior):
    with pytest.raises(PromptError, match="rocket"):
        prior.encode_prompt("rockt")
    with pytest.raises(PromptError, match="prior captions"):
        prior.encode_prompt("zzzzqqq")


def test_wrong_shapes_and_resolution_are_input_errors(prior, tmp_path):
    cond = prior.encode_prompt("sun").cond
    with pytest.raises(InputError):
        prior.predict_noise(torch.zeros(1, 3, RES + 1, RES), torch.tensor([10]), cond)
    with pytest.raises(InputError):
        EmbeddedPrior(resolution=4, cache_dir=tmp_path, icon_set=small_icon_set())


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_prior_matches_cpu(prior, tmp_path):
    gpu = EmbeddedPrior(resolution=RES, device="cuda", cache_dir=tmp_path, icon_set=small_icon_set())
    prompt_cpu, prompt_gpu = prior.encode_prompt("cat"), gpu.encode_prompt("cat")
    x_t, t = _noisy(prior, [10, 500, 990])
    for a, b in ((prompt_cpu.cond, prompt_gpu.cond), (prompt_cpu.uncond, prompt_gpu.uncond)):
        eps_gpu = gpu.predict_noise(x_t.cuda(), t.cuda(), b)
        assert eps_gpu.device.type == "cuda"
        torch.testing.assert_close(eps_gpu.cpu(), prior.predict_noise(x_t, t, a), atol=1e-4, rtol=1e-4)


def test_shared_samples_equal_duplicated_samples(prior):
    """A sample asked for under two conditions is computed once (CFG); the result equals
    giving the sample twice."""
    a = prior.encode_prompt("cat")
    x_t, t = _noisy(prior, [40, 700, 999], seed=5)
    shared = prior.predict_noise_many([x_t, x_t], [t, t], [a.uncond, a.cond])
    copies = prior.predict_noise_many([x_t, x_t.clone()], [t, t.clone()], [a.uncond, a.cond])
    for s, c in zip(shared, copies):
        torch.testing.assert_close(s, c, atol=1e-6, rtol=1e-6)
    den = prior.denoiser
    flat = x_t.reshape(3, -1)
    lw = torch.stack([a.uncond.log_weights, a.cond.log_weights])
    twice = den.posterior_mean(flat, prior.abar(t), lw, rows=torch.tensor([0, 0, 0, 1, 1, 1]), samples=torch.tensor([0, 1, 2, 0, 1, 2]))
    torch.testing.assert_close(twice[3:], den.posterior_mean(flat, prior.abar(t), lw[1:]), atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("t_values", [[999], [10, 300, 800, 999]])
def test_cfg_pair_matches_float64_brute_force(prior, t_values):
    """predict_noise_many for a CFG pair (the same x_t under cond and uncond, one pass) gives
    each branch's exact prediction, for a batch of 1 and of 4."""
    prompt = prior.encode_prompt("heart", negative="cat")  # both branches restricted
    plain = prior.encode_prompt("red heart")
    x_t, t = _noisy(prior, t_values, seed=9)
    for p in (prompt, plain):
        cond, uncond = prior.predict_noise_many([x_t, x_t], [t, t], [p.cond, p.uncond])
        torch.testing.assert_close(cond.double(), _reference(prior, p.cond, x_t, t), atol=2e-4, rtol=1e-4)
        torch.testing.assert_close(uncond.double(), _reference(prior, p.uncond, x_t, t), atol=2e-4, rtol=1e-4)


def test_a_colour_no_matched_icon_has_recolours_them(prior, prior64):
    """"a purple cat": no cat is purple, so the condition is the matched cats recoloured
    purple (vecdistill.priors.colours.recolour), an exact empirical distribution of its own:
    predictions equal the float64 definition over those images, also next to ordinary
    conditions in one call (CFG's two branches)."""
    from vecdistill.priors.colours import NAMES, colour_shares

    purple = prior.encode_prompt("a purple cat")
    assert purple.info["tier"] == "recoloured" and purple.info["colour"] == "purple" and purple.info["ignored_words"] == []
    assert sorted(purple.info["matched"]) == ["cat", "cat face"] and purple.cond.own is not None
    images, captions = prior.icons_for("a purple cat")
    assert sorted(captions) == ["cat", "cat face"]
    assert [NAMES[int(k)] for k in colour_shares(images).argmax(1)] == ["purple", "purple"]
    for p in (prior, prior64):
        cond = p.encode_prompt("a purple cat").cond
        points = cond.own.points()
        x_t, t = _noisy(p, [50, 400, 900], seed=3)
        x_t = x_t.to(p.dtype)  # (predictions come back in x_t's dtype)
        eps_cond, eps_uncond = p.predict_noise_many([x_t, x_t], [t, t], [cond, p._all])
        abar = p.abar(t)
        expected = brute_force_eps(points.double(), torch.zeros(points.shape[0]), x_t.flatten(1), abar).view_as(x_t)
        tol = 1e-9 if p.compute_dtype == torch.float64 else 2e-4
        assert torch.allclose(eps_cond.double(), expected, atol=tol, rtol=0)
        assert torch.equal(eps_uncond, p.predict_noise(x_t, t, p._all))
        x0 = p.predict_x0_many([x_t], [t], [cond])[0]
        a = abar.view(-1, 1, 1, 1).to(x_t.dtype)
        assert torch.allclose((x_t - (1 - a).sqrt() * eps_cond) / a.sqrt(), x0, atol=1e-3)
