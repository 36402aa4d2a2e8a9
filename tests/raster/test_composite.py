"""The "over" compositing Function: its analytic backward against torch's gradcheck."""

from __future__ import annotations

import pytest
import torch

from vecdistill.raster import composite


def _fragments(g: torch.Generator, shuffled: bool):
    """12 fragments on 5 pixels (up to 4 layers deep): coverages, and colours and alpha
    factors from a 4-column table [4, 4]."""
    pixel = torch.tensor([0, 1, 1, 2, 3, 0, 1, 3, 4, 1, 0, 3])
    order = torch.tensor([0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2]) * 10 + torch.arange(12) % 3
    if shuffled:  # not in paint order: the sort by (pixel, order) path
        perm = torch.randperm(12, generator=g)
        pixel, order = pixel[perm], order[perm]
    cov = (0.05 + 0.9 * torch.rand(12, generator=g, dtype=torch.float64)).requires_grad_(True)
    table = torch.rand(4, 4, generator=g, dtype=torch.float64)
    table[3] = 0.2 + 0.75 * table[3]  # alpha factors
    table.requires_grad_(True)
    index = torch.randint(0, 4, (12,), generator=g)
    scale = torch.rand(12, generator=g, dtype=torch.float64).requires_grad_(True)
    return pixel, order, cov, table, index, scale


@pytest.mark.parametrize("shuffled", [False, True])
@pytest.mark.parametrize("own_scale", [False, True])
def test_over_backward_passes_gradcheck(shuffled, own_scale):
    g = torch.Generator().manual_seed(3 + 2 * shuffled + own_scale)
    pixel, order, cov, table, index, scale = _fragments(g, shuffled)
    order = order if shuffled else None

    def f(c, t, s):
        rgb, out_a = composite.over(pixel, order, c, t, index, s if own_scale else None, 5)
        return rgb, out_a

    assert torch.autograd.gradcheck(f, (cov, table, scale), eps=1e-6, atol=1e-7)


def test_over_matches_sequential_compositing():
    g = torch.Generator().manual_seed(9)
    pixel, order, cov, table, index, scale = _fragments(g, shuffled=True)
    for own_scale in (True, False):
        rgb, out_a = composite.over(pixel, order, cov, table, index, scale if own_scale else None, 5)
        ref_rgb, ref_a = torch.zeros(3, 5, dtype=torch.float64), torch.zeros(5, dtype=torch.float64)
        for i in torch.argsort(order).tolist():  # paint order, one fragment at a time
            p, a = int(pixel[i]), float(cov[i].detach() * table[3, index[i]].detach())
            s = float(scale[i].detach()) if own_scale else a
            ref_rgb[:, p] = table[:3, index[i]].detach() * s + ref_rgb[:, p] * (1 - a)
            ref_a[p] = a + ref_a[p] * (1 - a)
        assert torch.allclose(rgb, ref_rgb, atol=1e-8) and torch.allclose(out_a, ref_a, atol=1e-8)
