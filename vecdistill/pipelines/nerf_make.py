"""Text to 3D: optimise a NeRF so that its renders from random orbit views satisfy a
distillation objective (SDS by default; SDI or VSD) toward a prompt.

One step: draw ``batch`` random orbit cameras, a shading mode (albedo for the first
``shading.albedo_steps``, then textureless or lambertian with a random point light) and a
background colour; render at the scheduled resolution; ``x0 = prior.encode(image)``; the
objective gives a loss whose gradient w.r.t. x0 is its g; back-propagate into the field.

View-dependent prompts: ``"<prompt>, front view"`` / ``side view`` / ``back view`` by the
camera's azimuth (against the multi-face "Janus" problem), each encoded once. They are on
by default for network priors and off for the embedded icon prior, whose captions
describe flat icons (a suffix would only change which captions match).

The objective is the same object the SVG pipelines use (3D parity): nothing here knows
the method's maths.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from dataclasses import field as dc_field
from pathlib import Path
from typing import ClassVar

import torch

from ..errors import InputError
from ..nerf.cameras import (
    VIEW_SUFFIXES,
    ResolutionSchedule,
    orbit_cameras,
    sample_orbit,
    view_suffix,
)
from ..nerf.export import save_checkpoint
from ..nerf.shading import ShadingConfig, pick_mode, sample_light
from .common import is_embedded, objective_overrides, parse_dtype
from .nerf_common import (
    LoopState,
    NerfRunConfig,
    NerfScene,
    ProgressFn,
    check_outdir,
    checkpoint_state,
    load_for_resume,
    make_generator,
    manifest,
    parse_device,
    prepare_outdir,
    restore,
    run_loop,
    write_manifest,
    write_outputs,
)

Tensor = torch.Tensor


# objective settings used with the embedded icon prior when none are given (as ``vecdistill make``)
EMBEDDED_GUIDANCE = 30.0
EMBEDDED_T_RANGE = (0.05, 0.95)


@dataclass
class NerfMakeConfig(NerfRunConfig):
    """``nerf make`` options (CPU-sized defaults; see the README for the GPU preset).

    ``method``: sds | sdi | vsd. ``model``: None = the embedded icon prior, else a diffusers
    model id or folder. ``guidance_scale``, ``t_range`` (fractions of T), ``negative``:
    passed to the objective (None = the method's default; with the embedded prior
    guidance 30 and t in [0.05, 0.95], as for SVGs). ``resolution``: render size per
    step (square). ``batch``: views per step. ``view_prompts``: None = automatic (see the
    module docstring). ``eval_draws``: fixed (t, noise) draws of the objective averaged at
    the start and at the end, on fixed views, to report whether the loss went down.
    """

    pipeline: ClassVar[str] = "make"

    steps: int = 500
    method: str = "sds"
    model: str | None = None
    dtype: str | None = None
    guidance_scale: float | None = None
    t_range: tuple[float, float] | None = None
    negative: str = ""
    resolution: ResolutionSchedule = dc_field(default_factory=ResolutionSchedule)
    batch: int = 1
    shading: ShadingConfig = dc_field(default_factory=ShadingConfig)
    view_prompts: bool | None = None
    eval_draws: int = 8
    eval_views: int = 2


class ViewPrompts:
    """One objective per view suffix (or a single one), built once.

    ``objective_for(azimuth)`` returns the objective of that view. For VSD (whose trainable
    noise model must be shared by all views) a single objective is used and the suffix
    conditions are not applied.
    """

    def __init__(self, prompt: str, prior, config: NerfMakeConfig) -> None:
        from ..distill import build_objective

        scale, t_range = config.guidance_scale, config.t_range
        if is_embedded(prior):  # the SVG pipelines' settings for the exact 64 x 64 icon prior
            scale = EMBEDDED_GUIDANCE if scale is None else scale
            t_range = EMBEDDED_T_RANGE if t_range is None else t_range
        overrides = objective_overrides(config.method, guidance_scale=scale, t_range=t_range)
        use_views = config.view_prompts if config.view_prompts is not None else not is_embedded(prior)
        self.use_views = bool(use_views) and config.method != "vsd"
        self.base = build_objective(config.method, prior, prompt, negative=config.negative, **overrides)
        # the yardstick of :func:`evaluate`: SDS whatever the method (stateless, comparable)
        self.yardstick = build_objective("sds", prior, prompt, negative=config.negative,
                                         **objective_overrides("sds", guidance_scale=scale, t_range=t_range))
        self.by_suffix = {}
        if self.use_views:
            for suffix in VIEW_SUFFIXES:
                self.by_suffix[suffix] = build_objective(config.method, prior, f"{prompt}, {suffix}",
                                                         negative=config.negative, **overrides)

    def objective_for(self, azimuth: float):
        return self.by_suffix[view_suffix(azimuth)] if self.use_views else self.base

    def describe(self) -> dict:
        info = {"view_prompts": self.use_views}
        cond = getattr(self.base, "prompt", None)
        if cond is not None and getattr(cond, "info", None):
            info["prompt_info"] = cond.info
        return info


def _distill_loss(prompts: ViewPrompts, prior, images: Tensor, azimuths: Tensor, progress: float,
                  generator: torch.Generator, yardstick: bool = False) -> tuple[Tensor, dict]:
    """Sum of the objective losses over the batch, grouped by view suffix (``yardstick``:
    the evaluation SDS objective instead)."""
    x0 = prior.encode(images)
    if yardstick:
        result = prompts.yardstick(x0, progress, generator)
        return result.loss, {}
    groups: dict[int, list[int]] = {}
    for i, a in enumerate(azimuths.tolist()):
        groups.setdefault(id(prompts.objective_for(a)), []).append(i)
    total = x0.new_zeros(())
    ts = []
    for idx in groups.values():
        obj = prompts.objective_for(float(azimuths[idx[0]]))
        result = obj(x0[idx], progress, generator)
        total = total + result.loss
        ts += result.t.tolist()
    return total, {"t": ts[0] if ts else None}


@torch.no_grad()
def evaluate(scene: NerfScene, prompts: ViewPrompts, prior, config: NerfMakeConfig, device, seed: int = 12345) -> float:
    """The mean SDS loss (same prompt and guidance, whatever the training method; without
    view suffixes) over ``eval_draws`` fixed (t, noise) draws at fixed
    views (``eval_views`` azimuths evenly spaced at the evaluation elevation), albedo shading, white background.
    A lower value means the renders sit where the prior's denoiser agrees more with them."""
    n = config.eval_views
    size = config.resolution.end
    o = config.orbit
    azimuths = torch.arange(n) * (360.0 / n)
    cams = orbit_cameras(torch.full((n,), o.eval_elevation), azimuths, torch.full((n,), o.eval_distance),
                         torch.full((n,), o.eval_fov), size, size).to(device)
    from ..nerf.shading import Background

    img = scene.render(cams, config.render, jitter=False, background=Background("white").to(device)).image
    g = torch.Generator(device=device).manual_seed(seed)
    losses = []
    for _ in range(config.eval_draws):
        loss, _ = _distill_loss(prompts, prior, img, azimuths, 0.0, g, yardstick=True)
        losses.append(float(loss) / n)
    return sum(losses) / len(losses)


def make(prompt: str, out: str | Path, config: NerfMakeConfig | None = None, *, resume: bool = False, overwrite: bool = False,
         progress: ProgressFn | None = None, prior=None, argv: list[str] | None = None) -> tuple[NerfScene, dict]:
    """Optimise a NeRF toward ``prompt``; write the outputs into folder ``out``.

    ``prior``: a ready :class:`~vecdistill.priors.base.Prior` (tests); None loads
    ``config.model``. ``resume``: continue from ``out/checkpoint.pt`` when it exists.
    Returns the scene and the manifest.
    """
    config = config or NerfMakeConfig()
    if not str(prompt).strip():
        raise InputError("the prompt is empty; say what to make, e.g. 'a red apple'")
    if config.steps < 1 or config.batch < 1:
        raise InputError("--steps and --batch must be at least 1")
    check_outdir(out, resume=resume, overwrite=overwrite)  # before the model loads
    device = parse_device(config.device)
    if prior is None:
        from ..priors import load_prior

        prior = load_prior(config.model, device=device, dtype=parse_dtype(config.dtype))
    prompts = ViewPrompts(prompt, prior, config)  # bad prompts fail here, before any output
    out = prepare_outdir(out, resume=resume, overwrite=overwrite)
    generator = make_generator(config.seed, device)
    scene = NerfScene(config.field, config.occupancy, config.background, generator=generator).to(device)
    optimizer = scene.optimizer(config.lr)
    loop = LoopState()
    state = load_for_resume(out, "make", device) if resume else None
    if state is not None:
        restore(state, scene, optimizer, generator, loop)
    eval_start = state["extra"].get("eval_loss_start") if state else None
    if eval_start is None:
        eval_start = evaluate(scene, prompts, prior, config, device)

    def step_fn(step: int):
        progress_frac = step / max(1, config.steps)
        size = config.resolution(progress_frac)
        views = sample_orbit(config.batch, config.orbit, size, size, generator, device)
        mode = pick_mode(step, config.shading, generator)
        light = sample_light(views.cameras.positions, config.shading, generator) if mode != "albedo" else None
        skip = step >= config.occupancy.warmup_steps
        r = scene.render(views.cameras, config.render, generator=generator, mode=mode, light=light, skip_empty=skip)
        loss, info = _distill_loss(prompts, prior, r.image, views.azimuth.cpu(), progress_frac, generator)
        return loss, {"mode": mode, "res": size, **info}

    extra = {"prompt": prompt, "eval_loss_start": eval_start}

    def save() -> None:
        save_checkpoint(checkpoint_state(scene, optimizer, generator, loop, "make", config, extra), out / "checkpoint.pt")

    t0 = time.perf_counter()
    run_loop(step_fn, scene, optimizer, generator, loop, config, save, progress)
    train_s = time.perf_counter() - t0
    eval_end = evaluate(scene, prompts, prior, config, device)
    t1 = time.perf_counter()
    written = write_outputs(scene, out, config)
    data = manifest("nerf make", config, loop, {
        "argv": argv,
        "prompt": prompt,
        "model": prior.describe(),
        "method": config.method,
        **prompts.describe(),
        "eval_loss": {"start": eval_start, "end": eval_end},
        "seconds": {"train": round(train_s, 3), "outputs": round(time.perf_counter() - t1, 3)},
        "outputs": {"checkpoint": "checkpoint.pt", **written},
    })
    write_manifest(out, data)
    return scene, data

