"""Classifier-free guidance, the one shared piece every objective calls.

``eps_hat = eps_u + s (eps_c - eps_u)`` with ``eps_u`` the prediction for the negative (or
empty) prompt and ``eps_c`` for the prompt. Scale ``s = 1`` is exactly the conditional
prediction; ``s = 0`` the unconditional one. (threestudio orders the embeddings the other
way round and ends up with an effective scale of s + 1; we do not.)
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..priors.base import Prior, PromptCondition

Tensor = torch.Tensor


def guided_noise_many(
    prior: Prior,
    x_t: Sequence[Tensor],
    t: Tensor | Sequence[Tensor],
    prompts: Sequence[PromptCondition],
    scale: float,
) -> list[Tensor]:
    """Guided predictions for several (x_t, prompt) pairs in one batched prior call.

    ``x_t``: list of [B, ...]; ``t``: one [B] int64 shared by all, or one per pair;
    ``prompts``: one per pair. Returns one [B, ...] guided eps per pair. With ``scale == 1``
    only the conditional branch is evaluated.
    """
    ts = list(t) if isinstance(t, (list, tuple)) else [t] * len(x_t)
    if scale == 1.0:
        return prior.predict_noise_many(list(x_t), ts, [p.cond for p in prompts])
    xs, tts, conds = [], [], []
    for x, tt, p in zip(x_t, ts, prompts):
        xs += [x, x]
        tts += [tt, tt]
        conds += [p.uncond, p.cond]
    eps = prior.predict_noise_many(xs, tts, conds)
    return [eps[2 * i] + scale * (eps[2 * i + 1] - eps[2 * i]) for i in range(len(prompts))]


def guided_noise(prior: Prior, x_t: Tensor, t: Tensor, prompt: PromptCondition, scale: float) -> Tensor:
    """eps_hat(x_t, t, prompt) with guidance ``scale``; ``x_t`` [B, ...], ``t`` [B]."""
    return guided_noise_many(prior, [x_t], t, [prompt], scale)[0]


def prior_calls(scale: float, pairs: int = 1) -> int:
    """Noise-predictor evaluations (batch rows per sample) for ``pairs`` guided predictions."""
    return pairs * (1 if scale == 1.0 else 2)
