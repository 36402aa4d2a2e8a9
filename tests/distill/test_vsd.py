"""VSD with the default trainable copy (zero-initialised residual on an exact prior)."""

from __future__ import annotations

import pytest
import torch

from vecdistill.distill import VSD, VSDConfig
from vecdistill.errors import InputError


def test_trainable_copy_starts_equal_to_prior(gmm_image) -> None:
    model = gmm_image.trainable_noise_model((3, 4, 4), rank=2, condition_dim=3)
    x = torch.randn(5, 3, 4, 4, dtype=torch.float64)
    t = torch.randint(0, 1000, (5,))
    cond = gmm_image.encode_prompt("cat").cond
    torch.testing.assert_close(model(x, t, cond, torch.randn(5, 3)), gmm_image.predict_noise(x, t, cond))
    assert all(p.requires_grad for p in model.trainable_parameters())


def test_vsd_gradient_zero_at_start_with_scale_one_then_learns(gmm2d) -> None:
    """eps_phi == eps_pretrained before training, so with CFG 1 the first gradient is 0;
    training on renders far from the class lowers the copy's loss and moves eps_phi away."""
    cfg = VSDConfig(guidance_scale=1.0, lora_lr=3e-2, lora_steps=1)
    obj = VSD(gmm2d, gmm2d.encode_prompt("blue"), cfg)
    x0 = torch.full((64, 2), -3.0, dtype=torch.float64, requires_grad=True)
    g = torch.Generator().manual_seed(0)
    first = obj(x0, 0.0, g)
    assert torch.count_nonzero(first.grad) == 0
    losses = [obj(x0, 0.0, g).info["lora_loss"] for _ in range(60)]
    assert sum(losses[-10:]) / 10 < 0.8 * sum(losses[:10]) / 10
    last = obj(x0, 0.0, g)
    assert last.grad.abs().max() > 1e-3 and last.prior_calls == 3


def test_vsd_condition_shape_checked(gmm2d) -> None:
    obj = VSD(gmm2d, gmm2d.encode_prompt("blue"), VSDConfig(condition_dim=4))
    x0 = torch.zeros(2, 2, dtype=torch.float64, requires_grad=True)
    obj(x0, 0.0, torch.Generator(), condition=torch.zeros(2, 4))
    with pytest.raises(InputError, match="condition"):
        obj(x0, 0.0, torch.Generator(), condition=torch.zeros(2, 3))


def test_same_seed_same_vsd_run_whatever_the_global_rng(gmm2d) -> None:
    """The trainable copy's random init comes from the run's generator, not torch's global RNG."""
    runs = []
    for global_seed in (1, 2):
        torch.manual_seed(global_seed)
        gen = torch.Generator().manual_seed(7)
        obj = VSD(gmm2d, gmm2d.encode_prompt("blue"), VSDConfig(guidance_scale=1.0, lora_lr=3e-2, lora_steps=1))
        x0 = torch.full((16, 2), -3.0, dtype=torch.float64, requires_grad=True)
        runs.append(torch.stack([obj(x0, 0.0, gen).grad for _ in range(5)]))
    assert runs[0].abs().max() > 0
    assert torch.equal(runs[0], runs[1])
