"""Every objective on tiny random diffusers pipelines (latent and pixel space), CPU fp32."""

from __future__ import annotations

import pytest
import torch

from vecdistill.distill import METHODS, VSD, VSDConfig, build_objective
from vecdistill.priors import load_prior


@pytest.fixture(scope="module", params=["latent", "pixel"])
def prior(request, tiny_sd_path, tiny_pixel_path):
    return load_prior(str(tiny_sd_path if request.param == "latent" else tiny_pixel_path))


@pytest.mark.parametrize("method", sorted(METHODS))
def test_objective_runs_with_finite_image_gradients(prior, method) -> None:
    img = torch.rand(2, 3, *prior.image_size, generator=torch.Generator().manual_seed(0), requires_grad=True)
    x0 = prior.encode(img)
    assert x0.dtype == torch.float32
    ref = prior.encode(torch.rand(2, 3, *prior.image_size)).detach()
    extra = {"inversion_stride": 250} if method == "sdi" else {}
    obj = build_objective(method, prior, "a red cat", source="a cat", guidance_scale=7.5, **extra)
    r = obj(x0, 0.5, torch.Generator().manual_seed(1), reference=ref)
    r.loss.backward()
    assert r.grad.shape == x0.shape and r.grad.dtype == torch.float32
    assert torch.isfinite(r.grad).all() and r.grad.abs().max() > 0 and not r.skipped
    assert img.grad is not None and torch.isfinite(img.grad).all() and img.grad.abs().max() > 0
    assert all(p.grad is None for p in prior.unet.parameters() if not p.requires_grad)


def test_lora_copy_starts_equal_trains_and_leaves_the_prior_alone(tiny_sd_path) -> None:
    p = load_prior(str(tiny_sd_path))
    pr = p.encode_prompt("a red cat")
    obj = VSD(p, pr, VSDConfig(guidance_scale=1.0, lora_lr=1e-2, condition_dim=3))
    x0 = p.encode(torch.rand(2, 3, 32, 32)).detach().requires_grad_()
    x_t, t = torch.randn(2, 4, 16, 16), torch.tensor([300, 700])
    before = p.predict_noise(x_t, t, pr.cond)
    first = obj(x0, 0.0, torch.Generator().manual_seed(0), condition=torch.randn(2, 3))
    # zero-initialised LoRA B and condition MLP: the copy equals the prior, VSD(CFG 1) gives 0
    assert first.grad.abs().max() < 1e-5
    trainable = {id(q) for q in obj.model.trainable_parameters()}
    in_unet = [n for n, q in p.unet.named_parameters() if id(q) in trainable]
    assert in_unet and all("lora_" in n for n in in_unet)  # only LoRA weights of the UNet train
    assert len(trainable) == len(in_unet) + 4  # + the condition MLP (2 layers x weight, bias)
    for _ in range(3):
        obj(x0, 0.0, torch.Generator().manual_seed(1), condition=torch.randn(2, 3))
    torch.testing.assert_close(p.predict_noise(x_t, t, pr.cond), before)  # adapters off outside
    with torch.no_grad():
        lora = obj.model(x_t, t, pr.cond, torch.zeros(2, 3))
    assert (lora - before).abs().max() > 1e-6
    assert p.unet.class_embedding is None
