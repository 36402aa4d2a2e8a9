"""SDI: the inverted noise reproduces x_t, DDIM inversion is consistent, costs are reported."""

from __future__ import annotations

import math

import torch

from vecdistill.distill import SDI, SDIConfig
from vecdistill.distill import schedules as S


def test_kappa_reproduces_the_inverted_latent_and_gradient_is_x0_minus_x0hat(gmm2d) -> None:
    obj = SDI(gmm2d, gmm2d.encode_prompt("blue"), SDIConfig(guidance_scale=2.0))
    x0 = torch.randn(8, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    x_t, calls = obj.invert(x0, 600, torch.Generator().manual_seed(1))
    assert calls == 6  # grid 0, 100, ..., 600
    t = torch.full((8,), 600)
    kappa = obj.kappa(x0, x_t, t)
    torch.testing.assert_close(gmm2d.add_noise(x0, kappa, t), x_t, rtol=1e-12, atol=1e-12)
    # the reference's form: g = x0 - x0_hat(x_{t+delta}, t), the prediction made at t
    r = obj(x0.clone().requires_grad_(), 0.5, torch.Generator().manual_seed(2))
    t = S.annealed_timestep(1000, 0.98, 0.25, 0.5)
    assert int(r.t[0]) == t
    g = torch.Generator().manual_seed(2)  # replay the call's random stream
    delta = int(S.uniform(g, 0, 100))
    assert r.info["t_jump"] == t + delta
    xt, _ = obj.invert(x0, t, g)
    if delta:
        xt = obj._step(xt, t, t + delta, g)
    eps_hat = obj.prior.predict_noise_many([xt, xt], [r.t, r.t], [obj.prompt.uncond, obj.prompt.cond])
    eps_g = eps_hat[0] + 2.0 * (eps_hat[1] - eps_hat[0])
    a = gmm2d.alphas_cumprod.double()[t]
    x0_hat = (xt - (1 - a).sqrt() * eps_g) / a.sqrt()
    torch.testing.assert_close(r.grad, x0 - x0_hat)
    # kappa at the evaluation timestep reproduces the jumped latent
    torch.testing.assert_close(gmm2d.add_noise(x0, obj.kappa(x0, xt, r.t), r.t), xt, rtol=1e-12, atol=1e-12)


def test_plain_ddim_inversion_then_ddim_sampling_returns_x0(gmm2d) -> None:
    """With eta = 0 and a fine grid, inverting to t and running DDIM back recovers x0."""
    obj = SDI(gmm2d, gmm2d.encode_prompt("blue"), SDIConfig(inversion_guidance_scale=1.0, inversion_eta=0.0, inversion_stride=4))
    x0 = torch.tensor([[2.1, 0.2], [1.8, -1.4], [2.3, -0.3]], dtype=torch.float64)
    x_t, _ = obj.invert(x0, 400, None)
    kappa = obj.kappa(x0, x_t, torch.full((3,), 400))
    assert kappa.abs().max() > 0.1  # the latent is really noised
    x = x_t
    grid = S.inversion_grid(400, 4)
    blue = gmm2d.encode_prompt("blue").cond
    for v, u in zip(grid[::-1][:-1], grid[::-1][1:]):  # DDIM v -> u
        tv = torch.full((3,), v)
        eps = gmm2d.predict_noise(x, tv, blue)
        a_v, a_u = gmm2d.abar(tv).double()[:, None], gmm2d.abar(torch.full((3,), u)).double()[:, None]
        x0_hat = (x - (1 - a_v).sqrt() * eps) / a_v.sqrt()
        x = a_u.sqrt() * x0_hat + (1 - a_u).sqrt() * eps
    assert (x - x0).abs().max() < 0.05


def test_annealing_and_reported_cost(gmm2d) -> None:
    obj = SDI(gmm2d, gmm2d.encode_prompt("red"), SDIConfig(guidance_scale=7.5, jump_max=0))
    x0 = torch.zeros(2, 2, dtype=torch.float64, requires_grad=True)
    start = obj(x0, 0.0, torch.Generator().manual_seed(0))
    end = obj(x0, 1.0, torch.Generator().manual_seed(0))
    assert int(start.t[0]) == 980 and int(end.t[0]) == 250
    assert start.info["guided_calls"] == math.ceil(980 / 100) + 1
    assert end.info["guided_calls"] == math.ceil(250 / 100) + 1
    assert start.prior_calls == 2 * start.info["guided_calls"]  # CFG: 2 rows per guided call


def test_eta_noise_is_scaled_by_the_steps_posterior_std(gmm2d) -> None:
    obj = SDI(gmm2d, gmm2d.encode_prompt("red"), SDIConfig(inversion_eta=0.3))
    x = torch.randn(4, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    plain = obj._step(x, 200, 300, None)
    noisy = obj._step(x, 200, 300, torch.Generator().manual_seed(7))
    z = S.randn((4, 2), torch.Generator().manual_seed(7), "cpu", torch.float64)
    ac = gmm2d.alphas_cumprod.double()
    std = ((1 - ac[200]) / (1 - ac[300]) * (1 - ac[300] / ac[200])).sqrt()
    torch.testing.assert_close(noisy - plain, 0.3 * std * z)
