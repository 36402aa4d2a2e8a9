"""What every objective returns, and the target trick that turns a gradient into a loss.

An objective is called with the current x0 (the prior's encoding of the rendered image,
[B, ...], requiring grad) and the optimisation progress in [0, 1]; it returns a
:class:`DistillResult` whose ``loss`` has ``d loss / d x0 == grad`` exactly. The noise
predictor's Jacobian is never formed: ``grad`` is computed under ``torch.no_grad``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

Tensor = torch.Tensor


@dataclass
class DistillResult:
    """``loss``: scalar, ``d loss / d x0 == grad``. ``grad``: [B, ...] detached.
    ``t``: [B] the timesteps used. ``prior_calls``: noise-predictor batch rows evaluated
    per sample this step (a cost measure). ``skipped``: True if the gradient was non-finite
    and zeroed. ``info``: method-specific scalars for logs."""

    loss: Tensor
    grad: Tensor
    t: Tensor
    prior_calls: int
    skipped: bool = False
    info: dict = field(default_factory=dict)


def target_loss(x0: Tensor, grad: Tensor) -> Tensor:
    """The target trick: ``0.5 * sum((x0 - (x0 - grad).detach())^2)``, whose gradient with
    respect to ``x0`` is ``grad``. Summed (not averaged) so the gradient is exactly ``grad``."""
    target = (x0 - grad).detach()
    return 0.5 * ((x0 - target) ** 2).sum()


def sanitize(grad: Tensor, clip: float | None = None) -> tuple[Tensor, bool]:
    """Zero a non-finite gradient (returns it with ``skipped=True``); optionally clip its
    values to ``[-clip, clip]``."""
    if not torch.isfinite(grad).all():
        return torch.zeros_like(grad), True
    if clip is not None and clip > 0:
        grad = grad.clamp(-clip, clip)
    return grad, False


class Objective:
    """The calling convention of every objective (SDS, SDI, DDS, PDS, VSD).

    Construction binds the prior, the prompt(s) and a config dataclass:
    ``SDS(prior, prompt, config)``, ``DDS(prior, source, target, config)``...
    A call computes one step's gradient::

        result = objective(x0, progress, generator, reference=None)

    ``x0``: [B, ...] the prior's encoding of the current render (requires grad).
    ``progress``: optimisation progress in [0, 1] (for annealed timestep schedules).
    ``generator``: the ``torch.Generator`` all randomness (t, noise) is drawn from.
    ``reference``: [B, ...] x0 of the reference image (editing methods: the source branch
    uses it; it may change per call, e.g. per NeRF view); ignored by SDS/SDI/VSD.
    """

    prior = None

    def __call__(self, x0: Tensor, progress: float, generator: torch.Generator, reference: Tensor | None = None) -> DistillResult:
        raise NotImplementedError
