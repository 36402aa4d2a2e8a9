"""``make``: text to SVG by score distillation (VectorFusion's pipeline).

    scene, manifest = make("red heart", "heart.svg")

Every hyper-parameter is a :class:`MakeConfig` field (the TOML keys and CLI flags have the
same names). A field left at None takes its value from the preset of the prior in use:

- :data:`EMBEDDED_DEFAULTS` for the embedded icon prior (64 x 64 pixel space): a short run
  that converges in well under a minute on 2 CPU cores.
- :data:`SD_DEFAULTS` for a diffusers model (Stable Diffusion): VectorFusion's settings
  (REFERENCE.md section 2): 128 paths of 4 cubics, SDS with CFG 100, t in [0.05, 0.95],
  w(t) = 1 - abar, Adam betas (0.9, 0.9), lr points 1.0 / colours 0.01 / widths 0.1,
  random perspective + crop, re-initialisation every 100 steps until 80 %, Xing loss.

then from :data:`STYLE_OVERRIDES` for the style: ``iconography`` (closed filled paths),
``pixelart`` (a grid of squares, colours only), ``sketch`` (open black strokes, points and
widths).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import torch

from ..errors import InputError
from ..svg.scene import Scene
from .checkpoint import checkpointer_for
from .clean import clean_scene
from .common import (
    DistillOptions,
    Reporting,
    check_outputs,
    finish_run,
    is_embedded,
    load_prior_for,
    make_generator,
    objective_overrides,
    parse_device,
    resolve,
)
from .config import LoopConfig, loop_config_from
from .init import (
    STYLES,
    ProgressiveAdd,
    init_kind,
    live_schedule,
    load_image,
    new_path,
    random_scene,
    scene_from_svg,
)
from .loop import LoopResult, StepReport, default_groups, optimize
from .losses import FitImage
from .reinit import Reinitializer

MAKE_METHODS = ("sds", "sdi", "vsd")


@dataclass
class MakeConfig(DistillOptions):
    """Settings of ``make`` (None = the preset's value; see the module docstring).

    ``method``: "sds" | "sdi" | "vsd". ``style``: "iconography" | "pixelart" | "sketch".
    ``paths``: number of paths (pixelart: cells, rounded to a square grid). ``segments``:
    cubic segments per path. ``steps``: optimiser steps. ``size``: render canvas in px.
    ``guidance_scale``, ``t_range`` (fractions of T), ``weighting``: the objective's.
    ``negative_prompt``: the unconditional branch's prompt. ``init``: "circles" | "live" |
    a .svg or image path. ``init_radius``: circle radius, fraction of the canvas.
    ``stroke_width``: sketch strokes' initial width, fraction of the canvas.
    ``live_first``/``live_per_stage``: LIVE-style addition (``init="live"``) starts with
    this many paths and adds this many per stage over the first half of the run.
    ``init_fit_steps``: with an image ``init``, steps fitting circles to it before
    distilling. ``clean``: drop invisible/degenerate paths from the output.
    The remaining fields are :class:`~vecdistill.pipelines.config.LoopConfig`'s.
    """

    method: str = "sds"
    style: str = "iconography"
    paths: int | None = None
    segments: int | None = None
    init: str = "circles"
    init_radius: float | None = None
    stroke_width: float | None = None
    live_first: int | None = None
    live_per_stage: int | None = None
    init_fit_steps: int | None = None
    lr_colors: float | None = None
    lr_widths: float | None = None
    lr_opacities: float | None = None
    aug_perspective_p: float | None = None
    aug_distortion: float | None = None
    aug_crop_scale: tuple[float, float] | None = None
    reinit_every: int | None = None
    reinit_until: float | None = None
    reinit_min_opacity: float | None = None
    reinit_min_area: float | None = None
    xing_weight: float | None = None
    clean: bool = True


_LOOP = LoopConfig()

#: VectorFusion's settings for Stable Diffusion (REFERENCE.md section 2).
SD_DEFAULTS = MakeConfig(
    paths=128, segments=4, steps=1000, size=512, guidance_scale=100.0, t_range=(0.05, 0.95), weighting="1-abar",
    init_radius=20 / 600, stroke_width=1.5 / 600, live_first=16, live_per_stage=16, init_fit_steps=200, batch=1,
    lr_points=1.0, lr_colors=0.01, lr_widths=0.1, lr_opacities=0.01, lr_warmup=0.05, lr_final=0.4, betas=(0.9, 0.9),
    augment=True, aug_perspective_p=0.7, aug_distortion=0.5, aug_crop_scale=(0.7, 0.9),
    reinit_every=100, reinit_until=0.8, reinit_min_opacity=0.05, reinit_min_area=64 * (512 / 600) ** 2, xing_weight=0.01,
)

#: Fast settings for the embedded 64 x 64 icon prior (exact scores: few steps are needed).
#: The canvas is the prior's image size (64 px).
#: Guidance 2: the prior's conditional score is exact, and large scales (30) drive the
#: colours out of range; 1-5 reach the icon ("red heart": 19.7 dB PSNR at 64^2 with 2).
EMBEDDED_DEFAULTS = replace(
    SD_DEFAULTS,
    paths=24, steps=150, size=None, guidance_scale=2.0, t_range=(0.05, 0.95), init_radius=0.12,
    stroke_width=0.03, live_first=8, live_per_stage=8, init_fit_steps=100,
    lr_points=1.0, lr_colors=0.03, lr_widths=0.05, lr_final=0.2,
    aug_perspective_p=0.3, aug_distortion=0.3, aug_crop_scale=(0.85, 1.0),
    reinit_every=50, reinit_min_area=16.0, xing_weight=0.01,
)

#: Per style, on top of the preset (keys: MakeConfig fields).
STYLE_OVERRIDES: dict[str, dict] = {
    "iconography": {},
    "pixelart": {"paths": 64, "lr_points": 0.0, "lr_widths": 0.0, "reinit_every": 0, "xing_weight": 0.0},
    "sketch": {"lr_colors": 0.0, "xing_weight": 0.0, "reinit_min_area": 0.0},
}

#: Which parameter groups each style optimises.
STYLE_GROUPS = {"iconography": ("points", "colors"), "pixelart": ("colors",), "sketch": ("points", "widths")}


def _resolve_make(config: MakeConfig, prior) -> MakeConfig:
    embedded = is_embedded(prior)
    preset = EMBEDDED_DEFAULTS if embedded else SD_DEFAULTS
    cfg = resolve(config, preset, STYLE_OVERRIDES[config.style])
    if cfg.size is None:
        cfg = replace(cfg, size=int(prior.image_size[0]) if embedded else 512)
    for name in ("paths", "segments", "steps", "size"):
        if getattr(cfg, name) < (0 if name == "steps" else 1):
            raise InputError(f"--{name} must be positive, got {getattr(cfg, name)}")
    return cfg


def _validate(config: MakeConfig) -> None:
    if config.method not in MAKE_METHODS:
        raise InputError(f"make: method must be one of {', '.join(MAKE_METHODS)}; got {config.method!r}")
    if config.style not in STYLES:
        raise InputError(f"style must be one of {', '.join(STYLES)}; got {config.style!r}")
    init_kind(config.init)


def initial_scene(cfg: MakeConfig, prior, generator: torch.Generator, device) -> tuple[Scene, list, dict]:
    """The initial scene for ``cfg.init``, the hooks it needs during the run and facts for
    the manifest. An image ``init`` is fitted here (``init_fit_steps`` steps of MSE)."""
    kind = init_kind(cfg.init)
    size = cfg.size

    def factory():
        return new_path(cfg.style, size, cfg.segments, generator, radius=cfg.init_radius * size, width=cfg.stroke_width * size, device=device)

    hooks: list = []
    info: dict = {"init": kind}
    if kind == "svg":
        scene = scene_from_svg(cfg.init, size, device)
        info["units_per_px"] = 1.0 / scene.root.transform.scale_factor()
        return scene, hooks, info
    first = cfg.live_first if kind == "live" and cfg.style != "pixelart" else cfg.paths
    scene = random_scene(cfg.style, size, min(first, cfg.paths), cfg.segments, generator, radius=cfg.init_radius * size, width=cfg.stroke_width * size, device=device)
    if kind == "live" and cfg.style != "pixelart":
        adder = ProgressiveAdd(live_schedule(cfg.paths, first, cfg.live_per_stage, cfg.steps), factory)
        hooks.append(adder)
        info["live"] = adder
    if cfg.style != "pixelart" and cfg.reinit_every > 0:
        reinit = Reinitializer(scene.paths, factory, cfg.reinit_every, cfg.reinit_until, cfg.reinit_min_opacity, cfg.reinit_min_area, use_area=cfg.style != "sketch")
        hooks.append(reinit)
        info["reinit"] = reinit
    if kind == "image":
        target = load_image(cfg.init, size, device)
        fit_cfg = loop_config_from(cfg, steps=cfg.init_fit_steps, augment=False, xing_weight=0.0, reinit_every=0, lr_warmup=0.0)
        groups = default_groups(scene, fit_cfg, STYLE_GROUPS[cfg.style])
        fit = optimize(scene, FitImage(target), fit_cfg, generator, encode=lambda x: x, groups=groups, pack=True)
        info["fit_loss"] = fit.final_loss
    return scene, hooks, info


def make(
    prompt: str,
    out: str | None = None,
    config: MakeConfig | None = None,
    *,
    prior=None,
    callbacks: Sequence[Callable[[StepReport], None]] = (),
    argv: list[str] | None = None,
) -> tuple[Scene, dict]:
    """Make an SVG for ``prompt``; write it to ``out`` (and ``OUT.json``) if given.

    ``prior``: an already loaded prior (else ``config.model`` is loaded). ``callbacks``:
    extra loop callbacks (after the progress bar/snapshots/video). ``argv``: the command
    line, recorded in the manifest. Returns the (cleaned) scene and the manifest. On
    Ctrl-C the best-so-far scene and the manifest are written, then KeyboardInterrupt
    is re-raised.
    """
    config = config or MakeConfig()
    if not isinstance(prompt, str) or not prompt.strip():
        raise InputError("the prompt is empty; say what to draw, e.g. \"red heart\"")
    _validate(config)
    target = check_outputs(out, config)
    device = parse_device(config.device)
    prior = prior if prior is not None else load_prior_for(config)
    cfg = _resolve_make(config, prior)
    generator = make_generator(cfg.seed, device)
    overrides = objective_overrides(cfg.method, guidance_scale=cfg.guidance_scale, t_range=cfg.t_range, weighting=cfg.weighting)
    objective = build_objective_for(cfg.method, prior, prompt, cfg.negative_prompt, overrides)
    scene, hooks, info = initial_scene(cfg, prior, generator, device)
    scale = info.get("units_per_px", 1.0)  # a user's SVG keeps its own units
    loop_cfg = loop_config_from(cfg, lr_points=cfg.lr_points * scale, lr_widths=cfg.lr_widths * scale)
    groups = default_groups(scene, loop_cfg, STYLE_GROUPS[cfg.style] if info["init"] != "svg" else ("points", "colors", "widths"))
    reporting = Reporting(cfg, loop_cfg.steps, target, desc=prompt[:24])
    checkpoint = checkpointer_for(target, cfg, cfg.checkpoint_every, cfg.resume)
    result = optimize(scene, objective, loop_cfg, generator, encode=prior.encode, groups=groups, hooks=hooks, callbacks=[*reporting.callbacks, *callbacks], checkpoint=checkpoint, return_on_error=True, pack=True)
    final, manifest = _finish(prompt, cfg, prior, result, target, reporting, argv, info, objective)
    if result.error is not None:
        raise result.error
    if result.interrupted:
        raise KeyboardInterrupt
    return final, manifest


def build_objective_for(method: str, prior, target, negative: str, overrides: dict, source=None):
    """``build_objective`` (imported lazily) for a pipeline."""
    from ..distill import build_objective

    return build_objective(method, prior, target, source=source, negative=negative, **overrides)


def _finish(prompt: str, cfg: MakeConfig, prior, result: LoopResult, target, reporting: Reporting, argv, info: dict, objective):
    scene = result.best_scene if result.interrupted else result.scene
    dropped: dict = {}
    if cfg.clean:
        scene, dropped = clean_scene(scene)
    extra = {
        "prompt": prompt,
        "init": info["init"],
        "dropped_paths": dropped,
        "reinitialised_paths": info["reinit"].count if "reinit" in info else 0,
        "added_paths": info["live"].added if "live" in info else 0,
        "prompt_info": getattr(getattr(objective, "prompt", None), "info", None),
    }
    if "fit_loss" in info:
        extra["init_fit_loss"] = info["fit_loss"]
    manifest = finish_run("make", scene, result, cfg, prior, target, reporting, argv, extra)
    return scene, manifest
