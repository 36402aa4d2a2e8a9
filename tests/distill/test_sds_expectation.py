"""SDS's expectation over the noise, against closed forms with an exact prior.

With the exact mixture prior, eps_hat(x_t) = -sigma_t grad log p_t(x_t), so at a fixed t::

    E_eps[g] = -w(t) sigma_t E_{x_t ~ N(sqrt(abar) x0, sigma_t^2 I)}[grad log p_t(x_t)]

For a single Gaussian N(mu, s^2 I) the score of p_t is linear and
E_eps[g] = w(t) sigma_t sqrt(abar) (x0 - mu) / (abar s^2 + sigma_t^2). For a mixture the
expectation is computed independently by Gauss-Hermite quadrature in 2D.

Tolerance: the Monte Carlo mean of N i.i.d. gradients has standard error std/sqrt(N); we
require every coordinate within 5 standard errors (a false failure has probability < 1e-5
per coordinate) and also check the standard error is small against the value itself, so the
test has power.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vecdistill.distill.sds import SDS, SDSConfig
from vecdistill.priors.gmm import GaussianMixturePrior


def _mc(obj: SDS, x0: torch.Tensor, t: int, n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    xs = x0.expand(n, -1)
    noise = torch.randn(xs.shape, generator=g, dtype=torch.float64)
    grads = obj.gradient(xs, torch.full((n,), t), noise)
    return grads.mean(0), grads.std(0) / n**0.5


@pytest.mark.parametrize("weighting", ["1-abar", "uniform", "sqrt(abar)(1-abar)"])
def test_sds_expectation_single_gaussian_closed_form(weighting: str) -> None:
    mu, s2 = torch.tensor([1.0, -0.5]), 0.3
    prior = GaussianMixturePrior({"a": (mu[None], s2)}, dtype=torch.float64)
    obj = SDS(prior, prior.encode_prompt("a"), SDSConfig(guidance_scale=1.0, weighting=weighting))
    x0 = torch.tensor([[-0.7, 0.9]], dtype=torch.float64)
    t = 500
    abar = float(prior.alphas_cumprod[t])
    sigma = (1 - abar) ** 0.5
    w = {"1-abar": 1 - abar, "uniform": 1.0, "sqrt(abar)(1-abar)": abar**0.5 * (1 - abar)}[weighting]
    expected = w * sigma * abar**0.5 * (x0[0] - mu.double()) / (abar * s2 + sigma**2)
    # the same closed form through the prior's own score at the noise-free point
    via_score = -w * sigma * prior.score_abar(abar**0.5 * x0, torch.tensor([abar]), prior.classes["a"])[0]
    torch.testing.assert_close(via_score, expected)
    mean, se = _mc(obj, x0, t, 200_000)
    assert (se < 0.05 * expected.abs()).all()
    assert ((mean - expected).abs() < 5 * se).all(), (mean, expected, se)


def test_sds_expectation_mixture_matches_quadrature(gmm2d: GaussianMixturePrior) -> None:
    obj = SDS(gmm2d, gmm2d.encode_prompt("blue"), SDSConfig(guidance_scale=1.0, weighting="1-abar"))
    x0 = torch.tensor([[0.5, 0.8]], dtype=torch.float64)
    t = 300
    abar = float(gmm2d.alphas_cumprod[t])
    sigma = (1 - abar) ** 0.5
    nodes, weights = np.polynomial.hermite_e.hermegauss(60)  # for weight exp(-z^2/2)
    z1, z2 = np.meshgrid(nodes, nodes, indexing="ij")
    w2 = (weights[:, None] * weights[None, :]).ravel() / (2 * np.pi)
    z = torch.tensor(np.stack([z1.ravel(), z2.ravel()], 1))
    xt = abar**0.5 * x0 + sigma * z
    score = gmm2d.score_abar(xt, torch.full((len(z),), abar, dtype=torch.float64), gmm2d.classes["blue"])
    expected = -(1 - abar) * sigma * (torch.tensor(w2)[:, None] * score).sum(0)
    mean, se = _mc(obj, x0, t, 400_000, seed=1)
    assert (se < 0.05 * expected.abs()).all()
    assert ((mean - expected).abs() < 5 * se).all(), (mean, expected, se)
    # not the naive score at the noise-free point: the expectation smooths the mixture's score
    naive = -(1 - abar) * sigma * gmm2d.score_abar(abar**0.5 * x0, torch.tensor([abar]), gmm2d.classes["blue"])[0]
    assert ((naive - expected).abs() > 10 * se).any()


def test_sds_points_toward_the_class(gmm2d: GaussianMixturePrior) -> None:
    """Gradient descent on the expected SDS gradient moves a red point toward blue."""
    obj = SDS(gmm2d, gmm2d.encode_prompt("blue"), SDSConfig(guidance_scale=1.0))
    x0 = torch.tensor([[-2.0, 0.0]], dtype=torch.float64)
    mean, _ = _mc(obj, x0, 500, 20_000)
    assert mean[0] < 0  # -g points to +x, where blue is
