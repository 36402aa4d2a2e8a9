"""What every objective shares: build_objective, the target trick, no Jacobian, nan guard,
clipping, determinism."""

from __future__ import annotations

import pytest
import torch

from vecdistill.distill import METHODS, SDS, SDSConfig, build_objective
from vecdistill.errors import InputError
from vecdistill.priors.base import Prior
from vecdistill.priors.gmm import GaussianMixturePrior


def _call(obj, x0, seed=0):
    return obj(x0, 0.3, torch.Generator().manual_seed(seed), reference=x0.detach() + 0.1)


@pytest.mark.parametrize("method", sorted(METHODS))
def test_every_method_target_trick_and_determinism(gmm_image, method) -> None:
    obj = build_objective(method, gmm_image, "dog", source="cat", guidance_scale=5.0)
    x0 = (torch.rand(3, 3, 4, 4, dtype=torch.float64) * 2 - 1).requires_grad_()
    r = _call(obj, x0)
    r.loss.backward()
    torch.testing.assert_close(x0.grad, r.grad)
    assert r.grad.shape == x0.shape and torch.isfinite(r.grad).all() and r.grad.abs().max() > 0
    assert r.t.shape == (3,) and r.prior_calls >= 2 and not r.skipped
    again = _call(build_objective(method, gmm_image, "dog", source="cat", guidance_scale=5.0), x0)
    torch.testing.assert_close(again.grad, r.grad, rtol=0, atol=0)


def test_build_objective_errors(gmm2d) -> None:
    with pytest.raises(InputError, match="unknown method"):
        build_objective("sjc", gmm2d, "blue")
    with pytest.raises(InputError, match="source"):
        build_objective("pds", gmm2d, "blue")
    with pytest.raises(InputError, match="valid:.*guidance_scale"):
        build_objective("sds", gmm2d, "blue", guidance=3)
    with pytest.raises(InputError, match="weighting"):
        build_objective("sds", gmm2d, "blue", weighting="bogus")


class NetPrior(GaussianMixturePrior):
    """A prior whose prediction goes through a parameter, to see if gradients leak into it;
    ``poison`` makes it return NaN."""

    def __init__(self, *a, **k) -> None:
        super().__init__(*a, **k)
        self.scale = torch.nn.Parameter(torch.ones((), dtype=torch.float64))
        self.poison = False

    predict_noise_many = Prior.predict_noise_many  # route every call through predict_noise

    def predict_noise(self, x_t, t, cond):
        eps = super().predict_noise(x_t, t, cond) * self.scale
        return eps * float("nan") if self.poison else eps


def _netprior() -> NetPrior:
    return NetPrior({"a": ([[1.0, 0.0]], 0.1), "b": ([[-1.0, 0.0]], 0.1)}, dtype=torch.float64)


@pytest.mark.parametrize("method", sorted(METHODS))
def test_no_gradient_through_the_predictor(method) -> None:
    p = _netprior()
    x0 = torch.randn(4, 2, dtype=torch.float64, requires_grad=True)
    obj = build_objective(method, p, "a", source="b", guidance_scale=3.0)
    r = _call(obj, x0)
    r.loss.backward()
    assert p.scale.grad is None


def test_nan_guard_and_clip() -> None:
    p = _netprior()
    x0 = torch.randn(4, 2, dtype=torch.float64, requires_grad=True)
    p.poison = True
    r = SDS(p, p.encode_prompt("a"), SDSConfig(guidance_scale=3.0))(x0, 0.0, torch.Generator())
    assert r.skipped and torch.count_nonzero(r.grad) == 0 and torch.isfinite(r.loss)
    p.poison = False
    r = SDS(p, p.encode_prompt("a"), SDSConfig(guidance_scale=50.0, grad_clip=0.01))(x0 * 5, 0.0, torch.Generator())
    assert r.grad.abs().max() <= 0.01 + 1e-12 and r.grad.abs().max() == pytest.approx(0.01)


def test_sds_t_range_and_annealing(gmm2d) -> None:
    obj = SDS(gmm2d, gmm2d.encode_prompt("blue"), SDSConfig(t_min=0.2, t_max=0.9, t_max_end=0.5))
    x0 = torch.zeros(512, 2, dtype=torch.float64, requires_grad=True)
    early = obj(x0, 0.0, torch.Generator().manual_seed(0)).t
    late = obj(x0, 1.0, torch.Generator().manual_seed(0)).t
    assert early.min() >= 200 and early.max() < 900 and early.max() > 800
    assert late.min() >= 200 and late.max() < 500
