"""The Gaussian-mixture prior's closed forms, checked against independent computations."""

from __future__ import annotations

import math

import pytest
import torch

from vecdistill.errors import InputError, PromptError
from vecdistill.priors.gmm import GaussianMixturePrior

pytestmark = pytest.mark.usefixtures("one_thread")


def _prior(shape=None, dim=2) -> GaussianMixturePrior:
    g = torch.Generator().manual_seed(0)
    m = torch.randn(5, dim, generator=g)
    return GaussianMixturePrior(
        {"a": (m[:2], [0.1, 0.3], [0.3, 0.7]), "b": (m[2:], torch.rand(3, dim, generator=g) + 0.05)},
        shape=shape,
        class_weights={"a": 1.0, "b": 3.0},
        dtype=torch.float64,
    )


def test_clean_density_matches_torch_distributions() -> None:
    p = _prior()
    x = torch.randn(7, 2, dtype=torch.float64)
    ones = torch.ones(7, dtype=torch.float64)
    for name, mix in p.classes.items():
        comps = torch.distributions.Independent(torch.distributions.Normal(mix.means, mix.variances.sqrt()), 1)
        ref = torch.logsumexp(comps.log_prob(x[:, None, :]) + mix.log_weights, dim=1)
        torch.testing.assert_close(p.log_density_abar(x, ones, mix), ref, msg=name)
    # the unconditional mixture is the class-weighted union: p = 1/4 p_a + 3/4 p_b
    pa, pb = (p.log_density_abar(x, ones, p.classes[c]).exp() for c in "ab")
    torch.testing.assert_close(p.log_density_abar(x, ones, p.encode_prompt("a").uncond).exp(), 0.25 * pa + 0.75 * pb)


def test_score_is_gradient_of_log_density() -> None:
    p = _prior()
    x = torch.randn(6, 2, dtype=torch.float64, requires_grad=True)
    t = torch.tensor([0, 10, 200, 500, 800, 999])
    for cond in (p.classes["a"], p.classes["b"], p.union):
        (grad,) = torch.autograd.grad(p.log_density(x, t, cond).sum(), x)
        torch.testing.assert_close(p.score(x.detach(), t, cond), grad)


def test_noise_prediction_is_the_posterior_mean_of_the_noise() -> None:
    """eps*(x_t) = E[eps | x_t]: the residual eps - eps*(x_t) is uncorrelated with any function
    of x_t (here x_t itself and eps*(x_t)), and eps* beats a wrong prediction in MSE."""
    p = _prior()
    n, t = 200_000, 300
    g = torch.Generator().manual_seed(1)
    cond = p.classes["b"]
    x0 = p.sample(n, cond, g).double()
    eps = torch.randn(n, 2, generator=g, dtype=torch.float64)
    tt = torch.full((n,), t)
    x_t = p.add_noise(x0, eps, tt)
    pred = p.predict_noise(x_t, tt, cond)
    resid = eps - pred
    for f in (x_t, pred):
        corr = (resid[:, :, None] * f[:, None, :]).mean(0)
        se = (resid[:, :, None] * f[:, None, :]).std(0) / math.sqrt(n)
        assert (corr.abs() < 5 * se).all(), corr
    wrong = p.predict_noise(x_t, tt, p.classes["a"])
    assert ((eps - pred) ** 2).mean() < ((eps - wrong) ** 2).mean()


def test_images_are_flattened_vectors() -> None:
    p = _prior(shape=(2, 1, 1))
    q = _prior()
    x = torch.randn(4, 2, 1, 1, dtype=torch.float64)
    t = torch.full((4,), 333)
    e = p.predict_noise(x, t, p.classes["a"])
    assert e.shape == x.shape
    torch.testing.assert_close(e.reshape(4, 2), q.predict_noise(x.reshape(4, 2), t, q.classes["a"]))
    assert p.encode(x) is not None and p.image_size == (1, 1)


def test_errors() -> None:
    p = _prior()
    with pytest.raises(PromptError, match="knows: a, b"):
        p.encode_prompt("zebra")
    with pytest.raises(InputError, match="shape"):
        p.encode(torch.zeros(1, 3, 8, 8))
    with pytest.raises(InputError, match="variances"):
        GaussianMixturePrior({"a": ([[0.0, 0.0]], -1.0)})
    assert p.encode_prompt("").cond is p.union


def test_batched_predictions_equal_single_calls() -> None:
    p = _prior()
    g = torch.Generator().manual_seed(4)
    xs = [torch.randn(3, 2, generator=g, dtype=torch.float64) for _ in range(4)]
    ts = [torch.randint(0, 1000, (3,), generator=g) for _ in range(4)]
    conds = [p.union, p.classes["a"], p.union, p.classes["b"]]
    many = p.predict_noise_many(xs, ts, conds)
    for x, t, c, e in zip(xs, ts, conds, many):
        torch.testing.assert_close(e, p.predict_noise(x, t, c))
