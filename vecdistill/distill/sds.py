"""Score Distillation Sampling (DreamFusion).

With ``x_t = sqrt(abar_t) x0 + sigma_t eps``, ``sigma_t = sqrt(1 - abar_t)``, the gradient is::

    g = w(t) (eps_hat(x_t, y, t) - eps)

where ``eps_hat`` is the classifier-free-guided prediction (:mod:`.guidance`). Its expectation
over ``eps`` at a fixed ``t`` (proved in tests/distill/test_sds_expectation.py with an exact
Gaussian-mixture prior, where ``eps_hat = -sigma_t grad log p_t``)::

    E_eps[g] = -w(t) sigma_t E_{x_t ~ N(sqrt(abar_t) x0, sigma_t^2 I)}[grad log p_t(x_t)]
             = w(t) (sigma_t / sqrt(abar_t)) grad_x0 KL(q(x_t | x0) || p_t)

(``E[eps] = 0``; the entropy of ``q(x_t | x0)`` does not depend on x0). For a Gaussian
``p_0`` the score of ``p_t`` is linear and this is exactly ``-w(t) sigma_t grad log p_t(sqrt(abar_t) x0)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..priors.base import Prior, PromptCondition
from . import schedules as S
from .base import DistillResult, Objective
from .common import check_choice, finish
from .guidance import guided_noise, prior_calls

Tensor = torch.Tensor


@dataclass
class SDSConfig:
    """SDS settings (defaults: DreamFusion / VectorFusion with Stable Diffusion).

    guidance_scale: CFG scale s in ``eps_u + s (eps_c - eps_u)`` (100 for SD; 1 = conditional).
    t_min, t_max: the timestep range as fractions of T (t ~ U[t_min T, t_max T)).
    t_max_end: if set, t_max is annealed linearly to it over the run (e.g. 0.98 -> 0.5).
    weighting: w(t): "1-abar" | "uniform" | "sqrt(abar)(1-abar)" (see schedules.weight).
    grad_clip: clip each gradient value to [-grad_clip, grad_clip] (None: no clipping).
    """

    guidance_scale: float = 100.0
    t_min: float = 0.02
    t_max: float = 0.98
    t_max_end: float | None = None
    weighting: str = "1-abar"
    grad_clip: float | None = None


class SDS(Objective):
    """SDS toward ``prompt`` (a :class:`PromptCondition` of ``prior``)."""

    name = "sds"

    def __init__(self, prior: Prior, prompt: PromptCondition, config: SDSConfig | None = None) -> None:
        self.prior = prior
        self.prompt = prompt
        self.config = config or SDSConfig()
        check_choice("weighting", self.config.weighting, S.WEIGHTINGS)

    def gradient(self, x0: Tensor, t: Tensor, noise: Tensor) -> Tensor:
        """The raw SDS gradient for given timesteps ``t`` [B] and noise (shape of x0); no grad."""
        with torch.no_grad():
            x0 = x0.detach()
            x_t = self.prior.add_noise(x0, noise, t)
            eps_hat = guided_noise(self.prior, x_t, t, self.prompt, self.config.guidance_scale)
            w = S.broadcast(S.weight(self.prior.abar(t), self.config.weighting), x0)
            return w * (eps_hat.to(x0.dtype) - noise)

    def __call__(self, x0: Tensor, progress: float, generator: torch.Generator, reference: Tensor | None = None) -> DistillResult:
        c = self.config
        t_max = S.annealed_t_max(c.t_max, c.t_max_end, progress)
        t = S.sample_timesteps(self.prior.num_train_timesteps, x0.shape[0], min(c.t_min, t_max), t_max, generator, x0.device)
        noise = S.randn(x0.shape, generator, x0.device, x0.dtype)
        g = self.gradient(x0, t, noise)
        return finish(x0, g, t, prior_calls(c.guidance_scale), c.grad_clip, {"t_max": t_max})
