"""Delta Denoising Score (Hertz et al. 2023).

The current image ``x0`` and the reference ``x0_src`` are noised with the *same* ``eps`` and
``t``; the gradient is the difference of the guided predictions::

    g = w(t) (eps_hat(z_t^tgt, y_tgt, t) - eps_hat(z_t^src, y_src, t))

The shared noise cancels the noisy part of SDS: with equal prompts and ``x0 == x0_src`` the
gradient is exactly zero. Both branches (and their unconditional halves) go through one
batched prior call.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..priors.base import Prior, PromptCondition
from . import schedules as S
from .base import DistillResult, Objective
from .common import check_choice, check_reference, finish
from .guidance import guided_noise_many, prior_calls

Tensor = torch.Tensor


@dataclass
class DDSConfig:
    """DDS settings (defaults: the reference notebook with Stable Diffusion).

    guidance_scale: CFG scale for both branches (7.5).
    t_min, t_max: t ~ U[t_min T, t_max T) (0.05, 0.95: t in [50, 950)).
    weighting: w(t), "uniform" in the reference (see schedules.weight).
    grad_clip: clip gradient values (None: off).
    """

    guidance_scale: float = 7.5
    t_min: float = 0.05
    t_max: float = 0.95
    weighting: str = "uniform"
    grad_clip: float | None = None


class DDS(Objective):
    """DDS from ``source`` (describes the reference) to ``target`` (the wanted edit)."""

    name = "dds"

    def __init__(self, prior: Prior, source: PromptCondition, target: PromptCondition, config: DDSConfig | None = None) -> None:
        self.prior = prior
        self.source = source
        self.target = target
        self.config = config or DDSConfig()
        check_choice("weighting", self.config.weighting, S.WEIGHTINGS)

    def gradient(self, x0: Tensor, reference: Tensor, t: Tensor, noise: Tensor) -> Tensor:
        """The DDS gradient for given ``t`` [B] and shared ``noise``; no grad."""
        with torch.no_grad():
            x0 = x0.detach()
            z_tgt = self.prior.add_noise(x0, noise, t)
            z_src = self.prior.add_noise(reference, noise, t)
            e_tgt, e_src = guided_noise_many(self.prior, [z_tgt, z_src], t, [self.target, self.source], self.config.guidance_scale)
            w = S.broadcast(S.weight(self.prior.abar(t), self.config.weighting), x0)
            return w * (e_tgt.to(x0.dtype) - e_src.to(x0.dtype))

    def __call__(self, x0: Tensor, progress: float, generator: torch.Generator, reference: Tensor | None = None) -> DistillResult:
        c = self.config
        ref = check_reference(reference, x0, "DDS")
        t = S.sample_timesteps(self.prior.num_train_timesteps, x0.shape[0], c.t_min, c.t_max, generator, x0.device)
        noise = S.randn(x0.shape, generator, x0.device, x0.dtype)
        g = self.gradient(x0, ref, t, noise)
        return finish(x0, g, t, prior_calls(c.guidance_scale, pairs=2), c.grad_clip, {})
