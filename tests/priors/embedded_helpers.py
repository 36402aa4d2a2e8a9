"""Shared pieces of the embedded-prior tests: a small icon subset and a float64 reference."""

from __future__ import annotations

import functools

import torch

from vecdistill.priors.icons import IconSet

SMALL_SET = (
    "2764.svg",  # red heart
    "1f499.svg",  # blue heart
    "1f49a.svg",  # green heart
    "2665.svg",  # heart suit
    "1f431.svg",  # cat face
    "1f408.svg",  # cat
    "1f436.svg",  # dog face
    "1f680.svg",  # rocket
    "2600.svg",  # sun
    "1f355.svg",  # pizza
    "1f34e.svg",  # red apple
    "2b50.svg",  # star
)


@functools.lru_cache(maxsize=1)
def small_icon_set() -> IconSet:
    """The icons of SMALL_SET (in the bundled set's order; an IconSet is immutable)."""
    return IconSet.load().subset(SMALL_SET)


def brute_force_eps(points: torch.Tensor, log_w: torch.Tensor, x_t: torch.Tensor, abar: torch.Tensor) -> torch.Tensor:
    """eps of the empirical distribution straight from the definition, in float64.

    ``points`` [N, D], ``log_w`` [N] (-inf = excluded), ``x_t`` [B, D], ``abar`` [B]."""
    points, log_w, x_t, abar = (v.double() for v in (points, log_w, x_t, abar))
    a = abar.view(-1, 1)
    dist = ((x_t[:, None, :] - a.sqrt()[:, :, None] * points[None]) ** 2).sum(-1)  # [B, N]
    logits = log_w[None] - dist / (2 * (1 - a))
    w = torch.softmax(logits, dim=1)
    x0 = w @ points
    return (x_t - a.sqrt() * x0) / (1 - a).sqrt()


def icon_x0(prior, file: str) -> torch.Tensor:
    """The icon ``file`` of ``prior``'s set in model space, [1, 3, R, R]."""
    index = [icon.file for icon in prior.icon_set.icons].index(file)
    return prior.all_icons()[index][None] * 2 - 1
