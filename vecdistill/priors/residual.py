"""The default trainable noise model for VSD: frozen prediction + a zero-initialised residual.

For priors without a network to put LoRA adapters on (Gaussian mixtures, the embedded icon
prior), VSD's trainable copy of the noise predictor is::

    eps_phi(x_t, t, c, condition) = eps_prior(x_t, t, c) + r_phi(x_t, t, condition)

with ``eps_prior`` evaluated under ``torch.no_grad`` and ``r_phi`` a small network whose last
layer starts at zero, so ``eps_phi == eps_prior`` before training. ``r_phi`` is an MLP for
vector samples ``[B, D]`` and a two-layer 3x3 convolution for images ``[B, C, H, W]``; it sees
sinusoidal features of ``t / T`` and the optional condition (e.g. a camera pose), broadcast
over pixels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

Tensor = torch.Tensor


def time_features(t: Tensor, num_train_timesteps: int, n: int = 8) -> Tensor:
    """Sinusoidal features of ``t / T``: [B] -> [B, n] float32 (n even)."""
    s = t.float()[:, None] / float(num_train_timesteps)
    freqs = (2.0 ** torch.arange(n // 2, device=t.device, dtype=torch.float32)) * math.pi
    return torch.cat([torch.sin(s * freqs), torch.cos(s * freqs)], dim=1)


class ResidualNoiseModel(nn.Module):
    """``eps_prior + r_phi`` (see the module docstring). ``rank`` sets the width,
    ``16 * rank`` hidden units/channels. Parameters live in float32 on the prior's device."""

    def __init__(self, prior: Any, sample_shape: Sequence[int], rank: int = 4, condition_dim: int = 0, n_time: int = 8) -> None:
        super().__init__()
        self.prior = [prior]  # a list keeps the prior out of the module's parameters
        self.sample_shape = tuple(int(s) for s in sample_shape)
        self.condition_dim = int(condition_dim)
        self.n_time = n_time
        hidden = 16 * max(1, int(rank))
        extra = n_time + self.condition_dim
        if len(self.sample_shape) == 3:
            c = self.sample_shape[0]
            self.net = nn.Sequential(nn.Conv2d(c + extra, hidden, 3, padding=1), nn.SiLU(), nn.Conv2d(hidden, c, 3, padding=1))
        else:
            d = math.prod(self.sample_shape)
            self.net = nn.Sequential(nn.Linear(d + extra, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, d))
        last = self.net[-1]
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)
        self.to(device=prior.device, dtype=torch.float32)

    def trainable_parameters(self) -> list[nn.Parameter]:
        return [p for p in self.parameters() if p.requires_grad]

    def forward(self, x_t: Tensor, t: Tensor, cond: Any, condition: Tensor | None = None) -> Tensor:
        """eps for ``x_t`` [B, *sample_shape], ``t`` [B] int64; returns x_t's dtype."""
        prior = self.prior[0]
        with torch.no_grad():
            base = prior.predict_noise(x_t, t, cond)
        B = x_t.shape[0]
        feats = [time_features(t, prior.num_train_timesteps, self.n_time)]
        if self.condition_dim:
            if condition is None:
                condition = torch.zeros(B, self.condition_dim, device=x_t.device)
            feats.append(condition.float().reshape(B, self.condition_dim))
        f = torch.cat(feats, dim=1).to(x_t.device)
        x = x_t.detach().float()
        if len(self.sample_shape) == 3:
            f = f[:, :, None, None].expand(-1, -1, *x.shape[2:])
            r = self.net(torch.cat([x, f], dim=1))
        else:
            r = self.net(torch.cat([x.reshape(B, -1), f], dim=1)).reshape(x.shape)
        return base + r.to(base.dtype)
