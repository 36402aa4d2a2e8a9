"""Posterior Distillation Sampling (Koo, Park, Sung, CVPR 2024), with the exact posterior.

PDS works on a DDIM grid ``tau_0 < tau_1 < ...`` (500 steps, stride 2 for T = 1000). It
picks a grid index ``i``, sets ``t = tau_i``, ``t' = tau_{i-1}``, and draws ``eps, eps'`` once,
shared by both branches. For a branch with clean image ``x0`` and prompt ``y``::

    x_t   = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps
    x_t'  = sqrt(abar_t') x0 + sqrt(1 - abar_t') eps'
    x0^   = (x_t - sqrt(1 - abar_t) eps_hat(x_t, y, t)) / sqrt(abar_t)
    mu    = posterior mean of q(x_t' | x_t, x0^),   sigma = its standard deviation
    z     = (x_t' - mu) / sigma

and ``g = w(t) (z[current, target prompt] - z[reference, source prompt])``.

The posterior is exact *for the jump actually taken* ``t' -> t``: the forward transition
is ``q(x_t | x_t') = N(sqrt(alpha) x_t', beta I)`` with ``alpha = abar_t / abar_t'`` and
``beta = 1 - alpha``, hence::

    mu    = sqrt(abar_t') beta / (1 - abar_t) x0^ + sqrt(alpha) (1 - abar_t') / (1 - abar_t) x_t
    sigma = sqrt((1 - abar_t') / (1 - abar_t) beta)

The reference code plugs in the one-step ``alpha_t``, ``beta_t`` of the training schedule
although it jumps two steps; that is not the posterior of its own stride. Ours is checked
against Gaussian conditioning in tests/distill/test_pds.py.
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


def posterior(x_t: Tensor, x0: Tensor, abar_t: Tensor, abar_prev: Tensor) -> tuple[Tensor, Tensor]:
    """Mean and standard deviation of ``q(x_prev | x_t, x0)`` for the jump ``prev -> t``.

    ``x_t``, ``x0``: [B, ...]; ``abar_t``, ``abar_prev``: [B] with ``abar_t < abar_prev``.
    Returns (mean [B, ...], std [B, 1, ..., 1]) in ``x_t``'s dtype."""
    a_t = S.broadcast(abar_t, x_t)
    a_p = S.broadcast(abar_prev, x_t)
    alpha = a_t / a_p
    beta = 1 - alpha
    mean = a_p.sqrt() * beta / (1 - a_t) * x0 + alpha.sqrt() * (1 - a_p) / (1 - a_t) * x_t
    return mean, S.posterior_variance(a_t, a_p).sqrt()


@dataclass
class PDSConfig:
    """PDS settings (defaults: the official code with Stable Diffusion).

    guidance_scale: CFG scale for both branches (100 for SD).
    num_steps: DDIM grid size (500: stride 2 for T = 1000).
    t_min, t_max: grid indices i ~ U[t_min N, t_max N) (SVG editing uses t_min = 0.1).
    weighting: w(t), "uniform" in the reference (see schedules.weight).
    grad_clip: clip gradient values (None: off).
    """

    guidance_scale: float = 100.0
    num_steps: int = 500
    t_min: float = 0.02
    t_max: float = 0.98
    weighting: str = "uniform"
    grad_clip: float | None = None


class PDS(Objective):
    """PDS from ``source`` (describes the reference) to ``target``."""

    name = "pds"

    def __init__(self, prior: Prior, source: PromptCondition, target: PromptCondition, config: PDSConfig | None = None) -> None:
        self.prior = prior
        self.source = source
        self.target = target
        self.config = config or PDSConfig()
        check_choice("weighting", self.config.weighting, S.WEIGHTINGS)
        self.grid = S.ddim_grid(prior.num_train_timesteps, self.config.num_steps)

    def sample_steps(self, batch: int, generator: torch.Generator, device: torch.device) -> tuple[Tensor, Tensor]:
        """(t, t_prev) [B] int64: consecutive grid points ``tau_i``, ``tau_{i-1}``."""
        lo, hi = S.step_range(self.config.num_steps, self.config.t_min, self.config.t_max)
        lo = max(lo, 1)
        hi = max(hi, lo + 1)
        gen_dev = generator.device
        i = torch.randint(lo, hi, (batch,), generator=generator, device=gen_dev).cpu()
        return self.grid[i].to(device), self.grid[i - 1].to(device)

    def _z(self, x_t: Tensor, x_prev: Tensor, eps_hat: Tensor, abar_t: Tensor, abar_prev: Tensor) -> Tensor:
        a_t = S.broadcast(abar_t, x_t)
        x0_hat = (x_t - (1 - a_t).sqrt() * eps_hat) / a_t.sqrt()
        mean, std = posterior(x_t, x0_hat, abar_t, abar_prev)
        return (x_prev - mean) / std

    def gradient(self, x0: Tensor, reference: Tensor, t: Tensor, t_prev: Tensor, noise: Tensor, noise_prev: Tensor) -> Tensor:
        """The PDS gradient for given steps and the two shared noises; no grad."""
        with torch.no_grad():
            x0 = x0.detach()
            p = self.prior
            a_t, a_p = p.abar(t), p.abar(t_prev)
            xt_tgt, xt_src = p.add_noise(x0, noise, t), p.add_noise(reference, noise, t)
            xp_tgt, xp_src = p.add_noise(x0, noise_prev, t_prev), p.add_noise(reference, noise_prev, t_prev)
            e_tgt, e_src = guided_noise_many(p, [xt_tgt, xt_src], t, [self.target, self.source], self.config.guidance_scale)
            z_tgt = self._z(xt_tgt, xp_tgt, e_tgt.to(x0.dtype), a_t, a_p)
            z_src = self._z(xt_src, xp_src, e_src.to(x0.dtype), a_t, a_p)
            w = S.broadcast(S.weight(a_t, self.config.weighting), x0)
            return w * (z_tgt - z_src)

    def __call__(self, x0: Tensor, progress: float, generator: torch.Generator, reference: Tensor | None = None) -> DistillResult:
        c = self.config
        ref = check_reference(reference, x0, "PDS")
        t, t_prev = self.sample_steps(x0.shape[0], generator, x0.device)
        noise = S.randn(x0.shape, generator, x0.device, x0.dtype)
        noise_prev = S.randn(x0.shape, generator, x0.device, x0.dtype)
        g = self.gradient(x0, ref, t, t_prev, noise, noise_prev)
        return finish(x0, g, t, prior_calls(c.guidance_scale, pairs=2), c.grad_clip, {"t_prev_mean": float(t_prev.float().mean())})
