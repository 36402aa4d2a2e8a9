"""Timestep schedules and the random draws every objective shares.

Timesteps are integers in ``[0, T)`` with ``T = prior.num_train_timesteps`` (1000 for Stable
Diffusion). Ranges are given as fractions of ``T`` (``t_min=0.02, t_max=0.98`` means
``t in [20, 980)``), as the reference codes do.

All randomness goes through an explicit ``torch.Generator``; draws are made on the
generator's device and moved to the target device, so the same seed gives the same numbers
on CPU and CUDA.
"""

from __future__ import annotations

import math

import torch

Tensor = torch.Tensor


def randn(shape: tuple[int, ...] | torch.Size, generator: torch.Generator, device: torch.device | str, dtype: torch.dtype = torch.float32) -> Tensor:
    """Standard normal noise of ``shape``, drawn from ``generator`` (on its device), returned
    on ``device`` in ``dtype``."""
    gen_device = generator.device if generator is not None else torch.device("cpu")
    return torch.randn(tuple(shape), generator=generator, device=gen_device, dtype=torch.float32).to(device=device, dtype=dtype)


def uniform(generator: torch.Generator, low: float = 0.0, high: float = 1.0) -> float:
    """One float drawn uniformly from ``[low, high)``."""
    gen_device = generator.device if generator is not None else torch.device("cpu")
    u = torch.rand((), generator=generator, device=gen_device).item()
    return low + (high - low) * u


def lerp(start: float, end: float, progress: float) -> float:
    """Linear interpolation ``start -> end`` as ``progress`` goes 0 -> 1 (clamped)."""
    p = min(max(float(progress), 0.0), 1.0)
    return start + (end - start) * p


def step_range(num_train_timesteps: int, t_min: float, t_max: float) -> tuple[int, int]:
    """The integer range ``[lo, hi)`` for fractions ``t_min <= t_max`` of ``T``.

    ``lo = floor(t_min T)``, ``hi = max(lo + 1, ceil(t_max T))`` clipped to ``T``; raises
    ``ValueError`` for fractions outside ``[0, 1]`` or ``t_min > t_max``."""
    if not (0.0 <= t_min <= t_max <= 1.0):
        raise ValueError(f"timestep range must satisfy 0 <= t_min <= t_max <= 1, got [{t_min}, {t_max}]")
    T = int(num_train_timesteps)
    lo = min(int(math.floor(t_min * T)), T - 1)
    hi = min(max(lo + 1, int(math.ceil(t_max * T))), T)
    return lo, hi


def sample_timesteps(
    num_train_timesteps: int,
    batch: int,
    t_min: float,
    t_max: float,
    generator: torch.Generator,
    device: torch.device | str = "cpu",
) -> Tensor:
    """``batch`` integer timesteps drawn uniformly from ``step_range(T, t_min, t_max)``;
    [batch] int64 on ``device``."""
    lo, hi = step_range(num_train_timesteps, t_min, t_max)
    gen_device = generator.device if generator is not None else torch.device("cpu")
    t = torch.randint(lo, hi, (batch,), generator=generator, device=gen_device)
    return t.to(device)


def annealed_t_max(t_max: float, t_max_end: float | None, progress: float) -> float:
    """The upper end of the t range at ``progress``: ``t_max`` without annealing, else linear
    ``t_max -> t_max_end`` (e.g. 0.98 -> 0.5)."""
    return t_max if t_max_end is None else lerp(t_max, t_max_end, progress)


def annealed_timestep(num_train_timesteps: int, start: float, end: float, progress: float) -> int:
    """A deterministic timestep annealed linearly ``start -> end`` (fractions of ``T``), e.g.
    SDI's 0.98 -> 0.25; an int in ``[0, T)``."""
    T = int(num_train_timesteps)
    return min(max(int(round(lerp(start, end, progress) * T)), 0), T - 1)


def ddim_grid(num_train_timesteps: int, num_steps: int, offset: int = 0) -> Tensor:
    """The DDIM grid ``tau_i = i * (T // num_steps) + offset`` for ``i = 0 .. num_steps-1``,
    ascending, int64. PDS uses 500 steps (stride 2)."""
    T = int(num_train_timesteps)
    if not 1 <= num_steps <= T:
        raise ValueError(f"num_steps must be in [1, {T}], got {num_steps}")
    stride = T // num_steps
    grid = torch.arange(num_steps, dtype=torch.long) * stride + int(offset)
    return grid.clamp(max=T - 1)


def inversion_grid(t: int, stride: int) -> list[int]:
    """The coarse grid DDIM inversion walks from 0 up to ``t``: ``[0, s, 2s, ..., t]`` with
    step ``s = stride`` (the last step may be shorter). ``len - 1`` inversion steps."""
    if stride < 1:
        raise ValueError(f"inversion stride must be >= 1, got {stride}")
    grid = list(range(0, int(t), int(stride)))
    if not grid or grid[-1] != int(t):
        grid.append(int(t))
    if grid[0] != 0:
        grid.insert(0, 0)
    return grid


def weight(abar: Tensor, weighting: str) -> Tensor:
    """The SDS-family weighting w(t) from ``abar`` ([B] float):

    - ``"1-abar"``: ``1 - abar`` (stable-dreamfusion, VectorFusion; the default);
    - ``"uniform"``: 1;
    - ``"sqrt(abar)(1-abar)"``: Word-As-Image / fantasia3d;
    - ``"x0"``: ``sqrt(1 - abar) / sqrt(abar)``, which turns ``eps_hat - eps`` into
      ``x0 - x0_hat`` (SDI's form).
    """
    if weighting == "1-abar":
        return 1 - abar
    if weighting == "uniform":
        return torch.ones_like(abar)
    if weighting == "sqrt(abar)(1-abar)":
        return abar.sqrt() * (1 - abar)
    if weighting == "x0":
        return (1 - abar).sqrt() / abar.sqrt()
    raise ValueError(f"unknown weighting {weighting!r}; use one of {', '.join(WEIGHTINGS)}")


WEIGHTINGS = ("1-abar", "uniform", "sqrt(abar)(1-abar)", "x0")


def posterior_variance(abar_t: Tensor, abar_prev: Tensor) -> Tensor:
    """Variance of the DDPM posterior ``q(x_prev | x_t, x0)`` for the jump ``prev -> t``
    (``abar_t < abar_prev``): ``(1 - abar_prev) / (1 - abar_t) * (1 - abar_t / abar_prev)``.
    Exact for any stride (the one-step ``beta_t`` is only right for adjacent steps)."""
    return (1 - abar_prev) / (1 - abar_t) * (1 - abar_t / abar_prev)


def broadcast(v: Tensor, like: Tensor) -> Tensor:
    """[B] -> [B, 1, ..., 1] matching ``like``'s rank, dtype and device."""
    return v.to(device=like.device, dtype=like.dtype).view(-1, *([1] * (like.dim() - 1)))
