"""Variational Score Distillation (ProlificDreamer).

A trainable copy ``eps_phi`` of the noise predictor (``prior.trainable_noise_model``: a peft
LoRA of rank 4 on the UNet attention layers for diffusers models, a zero-initialised residual
network for exact priors) models the distribution of the current renders. Each call:

1. ``t ~ U[t_min T, t_max T)``, ``x_t = sqrt(abar_t) x0 + sigma_t eps``, and::

       g = w(t) (eps_hat_pretrained(x_t, y, t) - eps_phi(x_t, y, t, condition))

   (the pretrained prediction with CFG 7.5; ``eps_phi`` conditional, no CFG). Both under
   ``torch.no_grad``: no Jacobian of either network.
2. ``lora_steps`` Adam steps (lr 1e-4) on ``|| eps_phi(x'_t', y, t', condition) - eps' ||^2`` with
   ``x0`` detached, fresh ``t' ~ U[0, T)`` and ``eps'``: ``eps_phi`` tracks the renders.

``condition``: optional [B, condition_dim] features (camera pose, particle one-hot) fed to
``eps_phi`` (through the UNet's class embedding for diffusers models).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..errors import InputError
from ..priors.base import Prior, PromptCondition
from . import schedules as S
from .base import DistillResult, Objective
from .common import check_choice, finish
from .guidance import guided_noise, prior_calls

Tensor = torch.Tensor


@dataclass
class VSDConfig:
    """VSD settings (defaults: ProlificDreamer / SVGDreamer with Stable Diffusion).

    guidance_scale: CFG scale of the pretrained prediction (7.5).
    t_min, t_max, t_max_end: the timestep range (fractions of T) and optional t_max annealing.
    weighting: w(t), "1-abar" by default (see schedules.weight).
    lora_rank: rank of the LoRA (width of the residual network for exact priors).
    lora_lr: Adam learning rate of the trainable copy (1e-4).
    lora_steps: training steps of the copy per call (1).
    lora_t_min, lora_t_max: t' range of its training (the whole [0, T)).
    condition_dim: size of the optional camera / particle condition (0: none).
    grad_clip: clip gradient values (None: off).
    """

    guidance_scale: float = 7.5
    t_min: float = 0.02
    t_max: float = 0.98
    t_max_end: float | None = None
    weighting: str = "1-abar"
    lora_rank: int = 4
    lora_lr: float = 1e-4
    lora_steps: int = 1
    lora_t_min: float = 0.0
    lora_t_max: float = 1.0
    condition_dim: int = 0
    grad_clip: float | None = None


class VSD(Objective):
    """VSD toward ``prompt``; the trainable copy is built on the first call (it needs x0's shape)."""

    name = "vsd"

    def __init__(self, prior: Prior, prompt: PromptCondition, config: VSDConfig | None = None) -> None:
        self.prior = prior
        self.prompt = prompt
        self.config = config or VSDConfig()
        check_choice("weighting", self.config.weighting, S.WEIGHTINGS)
        self.model: torch.nn.Module | None = None
        self.optimizer: torch.optim.Optimizer | None = None

    def _ensure_model(self, x0: Tensor, generator: torch.Generator) -> torch.nn.Module:
        """Build the trainable copy on first use. Its random initialisation (the residual
        network's or the LoRA's) draws from a seed taken from the run's ``generator``, so the
        same seed gives the same VSD run; the global torch RNG is left as it was."""
        if self.model is None:
            c = self.config
            seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device))
            with torch.random.fork_rng(devices=[x0.device] if x0.device.type == "cuda" else []):
                torch.manual_seed(seed)
                self.model = self.prior.trainable_noise_model(tuple(x0.shape[1:]), rank=c.lora_rank, condition_dim=c.condition_dim)
            self.optimizer = torch.optim.Adam(self.model.trainable_parameters(), lr=c.lora_lr)
        return self.model

    def _check_condition(self, condition: Tensor | None, x0: Tensor) -> Tensor | None:
        d = self.config.condition_dim
        if condition is None:
            return None
        if d == 0 or condition.shape != (x0.shape[0], d):
            raise InputError(f"VSD condition must be [B, condition_dim] = [{x0.shape[0]}, {d}], got {tuple(condition.shape)}")
        return condition.detach()

    def train_step(self, x0: Tensor, generator: torch.Generator, condition: Tensor | None = None) -> float:
        """One Adam step of the trainable copy on the detached renders; returns its MSE."""
        c, p = self.config, self.prior
        model = self._ensure_model(x0, generator)
        x0d = x0.detach()
        t = S.sample_timesteps(p.num_train_timesteps, x0.shape[0], c.lora_t_min, c.lora_t_max, generator, x0.device)
        noise = S.randn(x0.shape, generator, x0.device, x0.dtype)
        x_t = p.add_noise(x0d, noise, t)
        pred = model(x_t, t, self.prompt.cond, condition)
        loss = torch.nn.functional.mse_loss(pred.float(), noise.float())
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return float(loss.detach())

    def __call__(self, x0: Tensor, progress: float, generator: torch.Generator, reference: Tensor | None = None, condition: Tensor | None = None) -> DistillResult:
        c, p = self.config, self.prior
        condition = self._check_condition(condition, x0)
        model = self._ensure_model(x0, generator)
        t_max = S.annealed_t_max(c.t_max, c.t_max_end, progress)
        t = S.sample_timesteps(p.num_train_timesteps, x0.shape[0], min(c.t_min, t_max), t_max, generator, x0.device)
        noise = S.randn(x0.shape, generator, x0.device, x0.dtype)
        with torch.no_grad():
            x_t = p.add_noise(x0.detach(), noise, t)
            eps_pre = guided_noise(p, x_t, t, self.prompt, c.guidance_scale).to(x0.dtype)
            eps_phi = model(x_t, t, self.prompt.cond, condition).to(x0.dtype)
            w = S.broadcast(S.weight(p.abar(t), c.weighting), x0)
            g = w * (eps_pre - eps_phi)
        losses = [self.train_step(x0, generator, condition) for _ in range(c.lora_steps)]
        rows = prior_calls(c.guidance_scale) + 1 + c.lora_steps
        return finish(x0, g, t, rows, c.grad_clip, {"lora_loss": sum(losses) / max(1, len(losses)), "t_max": t_max})
