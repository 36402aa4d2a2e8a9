"""PDS: the exact posterior for the stride used, and zero at the reference with equal prompts."""

from __future__ import annotations

import torch

from vecdistill.distill import PDS, PDSConfig
from vecdistill.distill.pds import posterior


def _gaussian_conditioning(x_t, x0, a_t, a_p):
    """q(x_prev | x_t, x0) by conditioning the joint Gaussian of (x_prev, x_t) given x0:
    x_prev = sqrt(a_p) x0 + sqrt(1-a_p) e1, x_t = sqrt(a_t/a_p) x_prev + sqrt(1-a_t/a_p) e2."""
    cov = (a_t / a_p) ** 0.5 * (1 - a_p)
    var_t = (a_t / a_p) * (1 - a_p) + (1 - a_t / a_p)
    mean = a_p**0.5 * x0 + cov / var_t * (x_t - a_t**0.5 * x0)
    var = (1 - a_p) - cov**2 / var_t
    return mean, var**0.5


def test_posterior_matches_gaussian_conditioning(gmm2d) -> None:
    pds = PDS(gmm2d, gmm2d.encode_prompt("red"), gmm2d.encode_prompt("blue"))
    assert int(pds.grid[1] - pds.grid[0]) == 2  # 500 steps on T = 1000: stride 2
    g = torch.Generator().manual_seed(0)
    ac = gmm2d.alphas_cumprod.double()
    for i in (1, 10, 250, 499):
        t, tp = int(pds.grid[i]), int(pds.grid[i - 1])
        a_t, a_p = float(ac[t]), float(ac[tp])
        x0 = torch.randn(4, 2, generator=g, dtype=torch.float64)
        x_t = torch.randn(4, 2, generator=g, dtype=torch.float64)
        mean, std = posterior(x_t, x0, torch.full((4,), a_t, dtype=torch.float64), torch.full((4,), a_p, dtype=torch.float64))
        m_ref, s_ref = _gaussian_conditioning(x_t, x0, a_t, a_p)
        torch.testing.assert_close(mean, m_ref, rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(std.expand(4, 2), torch.full((4, 2), s_ref, dtype=torch.float64), rtol=1e-10, atol=1e-12)


def test_one_step_formula_is_not_the_posterior_of_stride_two(gmm2d) -> None:
    """The reference's one-step alpha_t/beta_t differ from the exact jump (why we derive them)."""
    ac = gmm2d.alphas_cumprod.double()
    t, tp = 600, 598
    a_t, a_p = float(ac[t]), float(ac[tp])
    beta_one = 1 - float(ac[t] / ac[t - 1])
    std_one = ((1 - a_p) / (1 - a_t) * beta_one) ** 0.5
    _, s_ref = _gaussian_conditioning(torch.zeros(1), torch.zeros(1), a_t, a_p)
    assert abs(std_one / s_ref - 1) > 0.2  # about 1/sqrt(2) of the true std


def test_pds_zero_at_reference_with_equal_prompts(gmm_image) -> None:
    x0 = (torch.rand(6, 3, 4, 4, dtype=torch.float64) * 2 - 1).requires_grad_()
    cat = gmm_image.encode_prompt("cat")
    r = PDS(gmm_image, cat, cat, PDSConfig(guidance_scale=100.0))(x0, 0.0, torch.Generator().manual_seed(0), reference=x0.detach().clone())
    assert torch.count_nonzero(r.grad) == 0
    moved = PDS(gmm_image, cat, cat, PDSConfig(guidance_scale=100.0))(x0 + 0.3, 0.0, torch.Generator().manual_seed(0), reference=x0.detach())
    assert moved.grad.abs().max() > 1e-3


def test_pds_target_branch_is_standard_normal_with_exact_x0(gmm2d) -> None:
    """If x0_hat were the true x0, z = (x_prev - mu) / sigma ~ N(0, I) for x_prev ~ q(. | x_t, x0):
    check by sampling the forward chain x0 -> x_prev -> x_t."""
    g = torch.Generator().manual_seed(5)
    ac = gmm2d.alphas_cumprod.double()
    t, tp, n = 400, 398, 100_000
    a_t, a_p = ac[t], ac[tp]
    x0 = torch.randn(n, 2, generator=g, dtype=torch.float64)
    x_prev = a_p.sqrt() * x0 + (1 - a_p).sqrt() * torch.randn(n, 2, generator=g, dtype=torch.float64)
    x_t = (a_t / a_p).sqrt() * x_prev + (1 - a_t / a_p).sqrt() * torch.randn(n, 2, generator=g, dtype=torch.float64)
    mean, std = posterior(x_t, x0, torch.full((n,), float(a_t), dtype=torch.float64), torch.full((n,), float(a_p), dtype=torch.float64))
    z = (x_prev - mean) / std
    assert z.mean(0).abs().max() < 5 / n**0.5
    assert (z.var(0) - 1).abs().max() < 5 * (2 / n) ** 0.5
