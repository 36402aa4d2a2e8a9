"""Score Distillation via reparametrized DDIM / inversion (SDI, Lukoianov et al. 2024).

SDS adds fresh noise ``eps`` at every step, which makes it DDIM with maximal variance. SDI
instead *infers* the noise that DDIM would have put into ``x0``:

1. ``t`` is annealed deterministically, ``t_start -> t_end`` (0.98 -> 0.25) over the run.
2. DDIM inversion of ``x0`` from 0 up to ``t`` on a coarse grid ``[0, s, 2s, ..., t]``
   (stride ``s = 100``: about 10 steps) with inversion guidance scale -7.5. A step
   ``u -> v`` computes ``eps = eps_hat(x_u, u)``, ``x0^ = (x_u - sqrt(1-abar_u) eps) / sqrt(abar_u)``,
   ``x_v = sqrt(abar_v) x0^ + sqrt(1-abar_v) eps + eta sigma_uv z`` with ``z ~ N(0, I)`` and
   ``sigma_uv^2`` the DDPM posterior variance of the jump (``eta = 0.3``: "a little extra
   noise", as the reference code adds; ``eta = 0`` is plain DDIM inversion).
3. A final inversion step ``t -> t + delta`` with ``delta ~ U[0, jump_max)`` (100).
4. The prediction is made at timestep ``t_eval`` on ``x_{t+delta}``: ``t_eval = t`` as the
   reference code does (the jump acts as extra noise the model is not told about), or
   ``t + delta`` with ``predict_at_jump=True``. ``kappa = (x_{t+delta} - sqrt(abar) x0) / sqrt(1 - abar)``
   at ``t_eval`` is the noise that reproduces the inverted latent exactly:
   ``x_{t+delta} = sqrt(abar) x0 + sqrt(1 - abar) kappa``.
5. ``g = w (eps_hat(x_{t+delta}, y, t_eval) - kappa)``. With the default weighting ``"x0"``
   (``w = sqrt(1-abar)/sqrt(abar)``) this is exactly ``x0 - x0^``, the reference's form.

Cost: one guided prediction per inversion step (``len(grid) - 1``), one for the jump (if
``delta > 0``) and one for the gradient: ``ceil(t / s) + 2`` at most, reported in
``DistillResult.info["guided_calls"]``; ``prior_calls`` counts batch rows (x2 with CFG).
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
class SDIConfig:
    """SDI settings (defaults: threestudio's SDI with Stable Diffusion 2.1).

    guidance_scale: CFG scale of the final prediction (7.5).
    t_start, t_end: t annealed linearly from t_start T to t_end T over the run (0.98 -> 0.25).
    inversion_guidance_scale: CFG scale used while inverting (-7.5).
    inversion_stride: the coarse inversion grid's step in timesteps (100: about 10 steps).
    inversion_eta: extra noise per inversion step, in units of the step's posterior std (0.3).
    jump_max: the final jump delta ~ U[0, jump_max) timesteps (0: no jump).
    predict_at_jump: predict at t + delta instead of t (the reference predicts at t).
    weighting: "x0" (g = x0 - x0_hat, the reference) or any SDS weighting.
    grad_clip: clip gradient values (None: off).
    """

    guidance_scale: float = 7.5
    t_start: float = 0.98
    t_end: float = 0.25
    inversion_guidance_scale: float = -7.5
    inversion_stride: int = 100
    inversion_eta: float = 0.3
    jump_max: int = 100
    predict_at_jump: bool = False
    weighting: str = "x0"
    grad_clip: float | None = None


class SDI(Objective):
    """SDI toward ``prompt``."""

    name = "sdi"

    def __init__(self, prior: Prior, prompt: PromptCondition, config: SDIConfig | None = None) -> None:
        self.prior = prior
        self.prompt = prompt
        self.config = config or SDIConfig()
        check_choice("weighting", self.config.weighting, S.WEIGHTINGS)

    def _step(self, x: Tensor, u: int, v: int, generator: torch.Generator | None) -> Tensor:
        """One DDIM inversion step ``u -> v`` (v > u) for x [B, ...]."""
        p, c = self.prior, self.config
        B = x.shape[0]
        tu = torch.full((B,), u, dtype=torch.long, device=x.device)
        tv = torch.full((B,), v, dtype=torch.long, device=x.device)
        eps = guided_noise(p, x, tu, self.prompt, c.inversion_guidance_scale).to(x.dtype)
        a_u, a_v = S.broadcast(p.abar(tu), x), S.broadcast(p.abar(tv), x)
        x0_hat = (x - (1 - a_u).sqrt() * eps) / a_u.sqrt()
        x_v = a_v.sqrt() * x0_hat + (1 - a_v).sqrt() * eps
        if c.inversion_eta > 0 and generator is not None:
            std = S.posterior_variance(a_v, a_u).sqrt()
            x_v = x_v + c.inversion_eta * std * S.randn(x.shape, generator, x.device, x.dtype)
        return x_v

    def invert(self, x0: Tensor, t: int, generator: torch.Generator | None) -> tuple[Tensor, int]:
        """DDIM-invert ``x0`` [B, ...] up to timestep ``t`` on the coarse grid; returns
        (x_t, guided predictions used). ``generator=None`` disables the eta noise."""
        with torch.no_grad():
            grid = S.inversion_grid(t, self.config.inversion_stride)
            x = x0.detach()
            for u, v in zip(grid[:-1], grid[1:]):
                x = self._step(x, u, v, generator)
            return x, len(grid) - 1

    def kappa(self, x0: Tensor, x_t: Tensor, t: Tensor) -> Tensor:
        """The noise that reproduces ``x_t`` from ``x0`` at ``t``: ``(x_t - sqrt(abar) x0) / sqrt(1-abar)``."""
        a = S.broadcast(self.prior.abar(t), x0)
        return (x_t - a.sqrt() * x0) / (1 - a).sqrt()

    def __call__(self, x0: Tensor, progress: float, generator: torch.Generator, reference: Tensor | None = None) -> DistillResult:
        c, p = self.config, self.prior
        T = p.num_train_timesteps
        t = S.annealed_timestep(T, c.t_start, c.t_end, progress)
        delta = int(S.uniform(generator, 0, c.jump_max)) if c.jump_max > 0 else 0
        t_jump = min(t + delta, T - 1)
        t_eval = t_jump if c.predict_at_jump else t
        with torch.no_grad():
            x0d = x0.detach()
            x_t, calls = self.invert(x0d, t, generator)
            if t_jump > t:
                x_t = self._step(x_t, t, t_jump, generator)
                calls += 1
            te = torch.full((x0.shape[0],), t_eval, dtype=torch.long, device=x0.device)
            kappa = self.kappa(x0d, x_t, te)
            eps_hat = guided_noise(p, x_t, te, self.prompt, c.guidance_scale).to(x0.dtype)
            w = S.broadcast(S.weight(p.abar(te), c.weighting), x0)
            g = w * (eps_hat - kappa)
        rows = calls * prior_calls(c.inversion_guidance_scale) + prior_calls(c.guidance_scale)
        info = {"guided_calls": calls + 1, "t": t, "t_jump": t_jump, "kappa_std": float(kappa.float().std())}
        return finish(x0, g, te, rows, c.grad_clip, info)
