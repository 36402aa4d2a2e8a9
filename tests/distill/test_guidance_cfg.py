"""Classifier-free guidance through the shared piece, with an exact prior."""

from __future__ import annotations

import torch

from vecdistill.distill.guidance import guided_noise, guided_noise_many
from vecdistill.priors.gmm import GaussianMixturePrior


class CountingPrior(GaussianMixturePrior):
    """Counts predict_noise_many calls and their rows."""

    def __init__(self, *a, **k) -> None:
        super().__init__(*a, **k)
        self.calls: list[int] = []

    def predict_noise_many(self, x_t, t, conds):
        self.calls.append(sum(x.shape[0] for x in x_t))
        return super().predict_noise_many(x_t, t, conds)


def _prior() -> CountingPrior:
    return CountingPrior({"red": ([[-2.0, 0.0]], 0.2), "blue": ([[2.0, 0.0], [2.0, 1.0]], 0.1)}, dtype=torch.float64)


def test_scale_one_is_the_conditional_prediction() -> None:
    p = _prior()
    x = torch.randn(16, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    t = torch.randint(0, 1000, (16,), generator=torch.Generator().manual_seed(1))
    prompt = p.encode_prompt("blue")
    torch.testing.assert_close(guided_noise(p, x, t, prompt, 1.0), p.predict_noise(x, t, prompt.cond), rtol=0, atol=0)
    # and the unconditional one is not the same (so the check has power)
    assert not torch.allclose(p.predict_noise(x, t, prompt.uncond), p.predict_noise(x, t, prompt.cond))


def test_scale_formula_and_zero() -> None:
    p = _prior()
    x = torch.randn(8, 2, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    t = torch.full((8,), 400)
    pr = p.encode_prompt("blue", negative="red")
    e_c, e_u = p.predict_noise(x, t, pr.cond), p.predict_noise(x, t, pr.uncond)
    torch.testing.assert_close(guided_noise(p, x, t, pr, 7.5), e_u + 7.5 * (e_c - e_u))
    torch.testing.assert_close(guided_noise(p, x, t, pr, 0.0), e_u)


def test_branches_share_one_batched_call() -> None:
    p = _prior()
    x = torch.randn(4, 2, dtype=torch.float64)
    t = torch.full((4,), 100)
    out = guided_noise_many(p, [x, x + 1], t, [p.encode_prompt("blue"), p.encode_prompt("red")], 5.0)
    assert p.calls == [16]  # 2 branches x (uncond + cond) x 4 rows, in one call
    assert len(out) == 2 and out[0].shape == x.shape
