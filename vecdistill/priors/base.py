"""The prior interface: a frozen diffusion model seen by the distillation objectives.

Forward process (DDPM, epsilon parameterisation), integer timesteps ``t`` in
``[0, num_train_timesteps)``::

    x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps,   eps ~ N(0, I)

A prior maps images to its space (``encode``: identity-like for pixel models, the VAE for
latent models), predicts the noise ``eps(x_t, t, cond)`` and turns prompts into conditions
(``encode_prompt``, cached). Classifier-free guidance lives in
:mod:`vecdistill.distill.guidance`, not here.

Conditions are opaque to the objectives: a :class:`PromptCondition` carries the prior's own
representation for the prompt (``cond``) and for the negative / empty prompt (``uncond``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

Tensor = torch.Tensor


@dataclass(eq=False)
class PromptCondition:
    """A prompt as one prior sees it.

    ``cond``/``uncond``: the prior's condition for the prompt and for the negative (or
    empty) prompt. ``text``/``negative``: the strings. ``info``: what the prior wants to
    report (e.g. the captions the embedded prior matched).
    """

    text: str
    negative: str
    cond: Any
    uncond: Any
    info: dict = field(default_factory=dict)


class Prior(ABC):
    """A frozen epsilon-prediction diffusion model.

    Attributes set by implementations:
      ``alphas_cumprod``: [T] float32 on ``device``, abar_t for t = 0..T-1.
      ``device``, ``dtype``: where and in which precision the model runs.
      ``image_size``: the (H, W) in pixels the model expects from renderers.
      ``name``: a short description for manifests.
    """

    alphas_cumprod: Tensor
    device: torch.device
    dtype: torch.dtype
    image_size: tuple[int, int]
    name: str = "prior"

    def __init__(self) -> None:
        self._prompt_cache: dict[tuple[str, str], PromptCondition] = {}

    @property
    def num_train_timesteps(self) -> int:
        return int(self.alphas_cumprod.shape[0])

    # -- images <-> model space ---------------------------------------------------------
    @abstractmethod
    def encode(self, images: Tensor) -> Tensor:
        """Images [B, 3, H, W] in [0, 1] -> x0 in model space (differentiable).

        Images of another size than ``image_size`` are resized (bilinear, antialiased)."""

    def decode(self, x0: Tensor) -> Tensor:
        """x0 in model space -> images [B, 3, H, W] in [0, 1] (for previews)."""
        return ((x0.float() + 1) / 2).clamp(0, 1)

    # -- noise prediction ---------------------------------------------------------------
    @abstractmethod
    def predict_noise(self, x_t: Tensor, t: Tensor, cond: Any) -> Tensor:
        """eps(x_t, t, cond) for a batch: ``x_t`` [B, ...], ``t`` [B] int64, one condition
        (from a :class:`PromptCondition`'s ``cond`` or ``uncond``) shared by the batch."""

    def predict_noise_many(self, x_t: Sequence[Tensor], t: Sequence[Tensor], conds: Sequence[Any]) -> list[Tensor]:
        """Several predictions at once: element i is ``predict_noise(x_t[i], t[i], conds[i])``.

        Implementations backed by a network override this to run one batched forward pass
        (classifier-free guidance and DDS/PDS use it)."""
        return [self.predict_noise(x, tt, c) for x, tt, c in zip(x_t, t, conds)]

    # -- prompts ------------------------------------------------------------------------
    def encode_prompt(self, text: str, negative: str = "") -> PromptCondition:
        """The condition for ``text`` (and ``negative``), cached per (text, negative)."""
        key = (text, negative)
        if key not in self._prompt_cache:
            self._prompt_cache[key] = self._encode_prompt(text, negative)
        return self._prompt_cache[key]

    @abstractmethod
    def _encode_prompt(self, text: str, negative: str) -> PromptCondition:
        """Uncached prompt encoding; implementations raise PromptError for bad prompts."""

    # -- VSD: a trainable copy of the noise predictor -------------------------------------
    def trainable_noise_model(self, sample_shape: Sequence[int], rank: int = 4, condition_dim: int = 0) -> torch.nn.Module:
        """A trainable noise predictor initialised to equal this prior's (VSD's "LoRA" model).

        Returns a module called as ``model(x_t, t, cond, condition=None) -> eps`` (``condition``:
        optional [B, condition_dim] camera / particle features) with ``model.trainable_parameters()``.
        Default: the frozen prediction plus a small zero-initialised residual network
        (:class:`vecdistill.priors.residual.ResidualNoiseModel`); network priors override it
        (DiffusersPrior: a peft LoRA on the UNet attention layers)."""
        from .residual import ResidualNoiseModel

        return ResidualNoiseModel(self, sample_shape, rank=rank, condition_dim=condition_dim)

    # -- schedule helpers ---------------------------------------------------------------
    def abar(self, t: Tensor) -> Tensor:
        """abar_t for integer ``t`` (any shape), float32 on ``t``'s device."""
        return self.alphas_cumprod.to(t.device)[t.long()].float()

    def add_noise(self, x0: Tensor, noise: Tensor, t: Tensor) -> Tensor:
        """x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) noise, ``t`` [B] broadcast over x0."""
        a = self.abar(t).to(x0.dtype).view(-1, *([1] * (x0.dim() - 1)))
        return a.sqrt() * x0 + (1 - a).sqrt() * noise

    def describe(self) -> dict:
        """What manifests record about this prior."""
        return {
            "name": self.name,
            "device": str(self.device),
            "dtype": str(self.dtype).replace("torch.", ""),
            "image_size": list(self.image_size),
            "num_train_timesteps": self.num_train_timesteps,
        }
