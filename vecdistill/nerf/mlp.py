"""A small fully-connected network with seeded initialisation (field decoder, background)."""

from __future__ import annotations

import math

import torch
from torch import nn

Tensor = torch.Tensor


class MLP(nn.Module):
    """``in_dim -> hidden (x layers, ReLU) -> out_dim``, no output activation.

    Weights are drawn uniformly in +-sqrt(6 / fan_in) / 2 (He-like) and biases start at
    zero, from ``generator`` (a seed fixes the network). ``forward``: [M, in_dim] ->
    [M, out_dim].
    """

    def __init__(self, in_dim: int, out_dim: int, hidden: int = 32, layers: int = 1,
                 generator: torch.Generator | None = None) -> None:
        super().__init__()
        dims = [in_dim] + [hidden] * layers + [out_dim]
        mods: list[nn.Module] = []
        for i in range(len(dims) - 1):
            lin = nn.Linear(dims[i], dims[i + 1])
            bound = math.sqrt(6.0 / dims[i]) / 2
            with torch.no_grad():
                lin.weight.uniform_(-bound, bound, generator=generator)
                lin.bias.zero_()
            mods.append(lin)
            if i < len(dims) - 2:
                mods.append(nn.ReLU())
        self.net = nn.Sequential(*mods)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)
