"""Small pieces every objective file shares: checking inputs and packaging a result."""

from __future__ import annotations

import torch

from ..errors import InputError
from .base import DistillResult, sanitize, target_loss

Tensor = torch.Tensor


def finish(x0: Tensor, grad: Tensor, t: Tensor, prior_calls: int, clip: float | None, info: dict) -> DistillResult:
    """Sanitize ``grad`` (zero it if non-finite, clip it if asked), build the target-trick loss
    on ``x0`` and package a :class:`DistillResult`; ``info`` gets the gradient's RMS."""
    grad = grad.detach().to(x0.dtype)
    grad, skipped = sanitize(grad, clip)
    info = dict(info)
    info["grad_rms"] = float(grad.float().pow(2).mean().sqrt())
    return DistillResult(loss=target_loss(x0, grad), grad=grad, t=t.detach(), prior_calls=int(prior_calls), skipped=skipped, info=info)


def check_reference(reference: Tensor | None, x0: Tensor, method: str) -> Tensor:
    """The reference x0 for editing methods, broadcast to ``x0``'s batch; raises InputError if
    it is missing or of another shape."""
    if reference is None:
        raise InputError(f"{method} edits an image: pass reference= (the encoded source image)")
    ref = reference.detach().to(device=x0.device, dtype=x0.dtype)
    if ref.shape[0] == 1 and x0.shape[0] > 1:
        ref = ref.expand_as(x0)
    if ref.shape != x0.shape:
        raise InputError(f"{method}: reference shape {tuple(ref.shape)} does not match x0 {tuple(x0.shape)}")
    return ref


def check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    """Raise InputError unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise InputError(f"{name} must be one of {', '.join(choices)}; got {value!r}")
