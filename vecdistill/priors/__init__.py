"""Priors: the frozen diffusion models the objectives distill from.

``load_prior(model=None)`` gives the embedded icon prior (offline, exact); a diffusers model
id or local pipeline folder gives a :class:`~vecdistill.priors.diffusers_prior.DiffusersPrior`.
Importing this package does not import diffusers or transformers.
"""

from __future__ import annotations

import torch

from .base import Prior, PromptCondition


def load_prior(model: str | None = None, device: torch.device | str = "cpu", dtype: torch.dtype | None = None) -> Prior:
    """The prior for ``model``: None -> the embedded icon prior
    (:class:`vecdistill.priors.embedded.EmbeddedPrior`); a hub id or a local diffusers folder
    -> :class:`vecdistill.priors.diffusers_prior.DiffusersPrior` (float16 on CUDA, float32 on
    CPU unless ``dtype`` says otherwise). Raises ModelError when the model cannot be loaded."""
    if model is None or str(model).strip() == "":
        from .embedded import EmbeddedPrior

        return EmbeddedPrior(device=device, dtype=dtype)
    from .diffusers_prior import DiffusersPrior

    return DiffusersPrior(str(model), device=device, dtype=dtype)


__all__ = ["Prior", "PromptCondition", "load_prior"]
