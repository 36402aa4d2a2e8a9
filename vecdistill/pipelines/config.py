"""Configuration of the optimisation loop and learning-rate schedules.

:class:`LoopConfig` holds every hyper-parameter of :func:`vecdistill.pipelines.loop.optimize`
(the loop shared by ``make``, ``edit`` and ``word``). Pipeline configs (``MakeConfig``,
``EditConfig``, ...) are flat dataclasses whose field names are the TOML keys and CLI flags;
each builds its :class:`LoopConfig` with :func:`loop_config_from`, which copies the fields
the two share by name.

Units: learning rates are per optimiser step, in the unit of the tensor they move (points:
SVG user units, which for ``make`` are pixels of the render canvas; colours: [0, 1] RGBA;
widths: user units; opacities: [0, 1]). Fractions (``lr_warmup``, ``reinit_until``) are of
the total number of steps.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

PARAM_GROUPS = ("points", "colors", "widths", "opacities")


@dataclass
class LoopConfig:
    """Hyper-parameters of one optimisation run (see the module docstring for units).

    ``steps``: optimiser steps. ``size``: render canvas in pixels (square); the objective's
    prior resizes to its own ``image_size`` if they differ. ``batch``: augmented views per
    step (each is one batch row of the prior). ``background``: RGB in [0, 1] behind the
    paths.

    Learning rates: ``lr_<group>`` per parameter group (0 freezes the group), Adam with
    ``betas``; the rate ramps linearly from 0 over the first ``lr_warmup`` fraction, then
    follows a cosine from 1 down to ``lr_final`` (a factor of the base rate).

    Augmentation (``augment``): with probability ``aug_perspective_p`` a random perspective
    (corners moved by up to ``aug_distortion`` of half the side), then a random crop
    covering ``aug_crop_scale`` of the area, resized back to ``size``.

    Path re-initialisation: every ``reinit_every`` steps (0 = never) until ``reinit_until``
    of training, paths whose effective opacity is below ``reinit_min_opacity`` or whose
    area is below ``reinit_min_area`` (canvas pixels squared) are replaced by fresh circles.

    ``xing_weight``: weight of the self-intersection loss (0 = off). ``max_width``: stroke
    widths are clamped to [``min_width``, ``max_width``] user units.
    ``max_skipped``: consecutive non-finite steps tolerated before NumericalError.
    ``ema``: smoothing of the loss used to pick the best-so-far state.
    """

    steps: int = 500
    size: int = 64
    batch: int = 1
    background: tuple[float, float, float] = (1.0, 1.0, 1.0)
    lr_points: float = 1.0
    lr_colors: float = 0.01
    lr_widths: float = 0.1
    lr_opacities: float = 0.01
    lr_warmup: float = 0.05
    lr_final: float = 0.4
    betas: tuple[float, float] = (0.9, 0.9)
    augment: bool = True
    aug_perspective_p: float = 0.7
    aug_distortion: float = 0.5
    aug_crop_scale: tuple[float, float] = (0.7, 0.9)
    reinit_every: int = 100
    reinit_until: float = 0.8
    reinit_min_opacity: float = 0.05
    reinit_min_area: float = 64.0
    xing_weight: float = 0.0
    min_width: float = 0.0
    max_width: float = 1e9
    max_skipped: int = 50
    ema: float = 0.9

    def lr(self, group: str) -> float:
        return float(getattr(self, f"lr_{group}"))


def lr_factor(step: int, steps: int, warmup: float, final: float) -> float:
    """Multiplier of the base learning rate at ``step`` (0-based) of ``steps``.

    Linear warm-up from ``1/(w+1)`` to 1 over the first ``w = round(warmup * steps)`` steps,
    then a cosine from 1 to ``final`` at the last step.
    """
    w = int(round(warmup * steps))
    if step < w:
        return (step + 1) / (w + 1)
    span = max(steps - 1 - w, 1)
    x = min(max((step - w) / span, 0.0), 1.0)
    return final + (1.0 - final) * 0.5 * (1.0 + math.cos(math.pi * x))


def loop_config_from(config, **overrides) -> LoopConfig:
    """A :class:`LoopConfig` from any pipeline config: fields of the same name are copied,
    then ``overrides`` applied."""
    names = {f.name for f in dataclasses.fields(LoopConfig)}
    values = {n: getattr(config, n) for n in names if hasattr(config, n)}
    values.update(overrides)
    return LoopConfig(**values)
