"""DDS: shared noise and timestep, zero at the start of an edit with equal prompts."""

from __future__ import annotations

import pytest
import torch

from vecdistill.distill import DDS, SDS, DDSConfig, SDSConfig
from vecdistill.errors import InputError


def test_dds_zero_for_equal_prompts_at_reference(gmm2d) -> None:
    x0 = torch.randn(32, 2, dtype=torch.float64, requires_grad=True)
    red = gmm2d.encode_prompt("red")
    obj = DDS(gmm2d, red, red, DDSConfig(guidance_scale=7.5))
    r = obj(x0, 0.5, torch.Generator().manual_seed(0), reference=x0.detach().clone())
    assert torch.count_nonzero(r.grad) == 0 and float(r.loss.detach()) == 0.0
    # once the image has moved, the same objective pulls it back (non-zero)
    r2 = obj(x0 + 0.5, 0.5, torch.Generator().manual_seed(0), reference=x0.detach())
    assert r2.grad.abs().max() > 1e-3


def test_dds_is_difference_of_sds_with_shared_noise(gmm2d) -> None:
    """g_DDS = g_SDS(x0, y_tgt) - g_SDS(ref, y_src) with the same t and eps (the eps cancels)."""
    g = torch.Generator().manual_seed(1)
    x0 = torch.randn(16, 2, generator=g, dtype=torch.float64)
    ref = torch.randn(16, 2, generator=g, dtype=torch.float64)
    t = torch.randint(50, 950, (16,), generator=g)
    noise = torch.randn(16, 2, generator=g, dtype=torch.float64)
    src, tgt = gmm2d.encode_prompt("red"), gmm2d.encode_prompt("blue")
    dds = DDS(gmm2d, src, tgt, DDSConfig(guidance_scale=3.0))
    cfg = SDSConfig(guidance_scale=3.0, weighting="uniform")
    expected = SDS(gmm2d, tgt, cfg).gradient(x0, t, noise) - SDS(gmm2d, src, cfg).gradient(ref, t, noise)
    torch.testing.assert_close(dds.gradient(x0, ref, t, noise), expected)


def test_dds_needs_reference(gmm2d) -> None:
    red = gmm2d.encode_prompt("red")
    with pytest.raises(InputError, match="reference"):
        DDS(gmm2d, red, red)(torch.zeros(2, 2, dtype=torch.float64), 0.0, torch.Generator())
    with pytest.raises(InputError, match="shape"):
        DDS(gmm2d, red, red)(torch.zeros(2, 2, dtype=torch.float64), 0.0, torch.Generator(), reference=torch.zeros(3, 2))
