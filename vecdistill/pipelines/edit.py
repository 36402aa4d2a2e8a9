"""``edit``: move an existing SVG toward a target prompt (PDS by default; DDS, SDS).

    scene, manifest = edit("logo.svg", "logo_gold.svg", source="a red logo", target="a gold logo")

Only the existing paths' control points, solid fill/stroke colours (RGB; alpha is kept) and
stroke widths are optimised; everything else (ids, groups, transforms, gradients, clip paths, attributes the
loader kept) is left exactly as loaded, so the written SVG differs from the input only in
those values. ``only`` restricts the edit to some paths (ids of paths or of groups, whose
paths are all included); ``lock_colors`` / ``lock_geometry`` / ``lock_widths`` freeze a kind.

The reference image of PDS/DDS is the render of the input SVG (encoded by the prior). The
SVG is fitted into a square canvas of ``size`` pixels (its preserveAspectRatio honoured),
rendered ``supersample`` times larger and box-filtered down, as the PDS code does.
Learning rates are in canvas pixels: they are divided by the viewBox-to-canvas scale (path
and group transforms are not taken into account).

Presets (fields left at None): :data:`EDIT_SD_DEFAULTS` (the PDS SVG-editing row of
REFERENCE.md section 2: 1000 steps, CFG 100, t in [0.1, 0.98], Adam lr points 0.8,
colours 0.01, 512 px, 2 x 2 supersampling) and :data:`EDIT_EMBEDDED_DEFAULTS`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path as FilePath

import torch
import torch.nn.functional as F

from ..errors import InputError
from ..svg.scene import Group, Path, Scene, Solid
from .checkpoint import checkpointer_for
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
from .config import loop_config_from
from .loop import StepReport, clamp_groups, optimize
from .make import build_objective_for

EDIT_METHODS = ("pds", "dds", "sds")


@dataclass
class EditConfig(DistillOptions):
    """Settings of ``edit`` (None = the preset's value; see the module docstring).

    ``method``: "pds" | "dds" | "sds" (SDS ignores the source prompt and the reference).
    ``steps``, ``size`` (px, square canvas), ``supersample`` (render factor),
    ``guidance_scale``, ``t_range`` (fractions of T), ``weighting``: as in ``make``.
    ``only``: ids of the paths (or groups) to edit; None = all. ``lock_colors``,
    ``lock_geometry``, ``lock_widths``: do not optimise that kind. ``augment``: random
    perspective + crop (off by default: PDS compares with the reference pixel by pixel).
    """

    method: str = "pds"
    supersample: int | None = None
    only: tuple[str, ...] | None = None
    lock_colors: bool = False
    lock_geometry: bool = False
    lock_widths: bool = False
    lr_colors: float | None = None
    lr_widths: float | None = None


#: The PDS SVG-editing settings with Stable Diffusion (REFERENCE.md section 2).
EDIT_SD_DEFAULTS = EditConfig(
    steps=1000, size=512, supersample=2, guidance_scale=100.0, t_range=(0.1, 0.98), batch=1,
    lr_points=0.8, lr_colors=0.01, lr_widths=0.1, lr_warmup=0.0, lr_final=1.0, betas=(0.9, 0.999), augment=False,
)

#: Settings for the embedded 64 x 64 icon prior: a short run.
EDIT_EMBEDDED_DEFAULTS = replace(EDIT_SD_DEFAULTS, steps=200, size=None, supersample=2, guidance_scale=5.0, lr_points=0.3, lr_colors=0.02, lr_widths=0.05)


def _resolve_edit(config: EditConfig, prior) -> EditConfig:
    embedded = is_embedded(prior)
    cfg = resolve(config, EDIT_EMBEDDED_DEFAULTS if embedded else EDIT_SD_DEFAULTS)
    if cfg.size is None:
        cfg = replace(cfg, size=int(prior.image_size[0]) if embedded else 512)
    if cfg.size < 8 or cfg.supersample < 1 or cfg.steps < 0:
        raise InputError("size must be >= 8, supersample >= 1 and steps >= 0")
    return cfg


def selected_paths(scene: Scene, only: Sequence[str] | None) -> list[Path]:
    """The paths an edit may change: all, or those with / under the given ids."""
    if not only:
        return scene.paths()
    chosen: dict[int, Path] = {}
    missing = []
    for node_id in only:
        node = scene.find(node_id)
        if node is None:
            missing.append(node_id)
        elif isinstance(node, Group):
            sub = Scene(node, scene.width, scene.height, scene.view_box)
            chosen.update({id(p): p for p in sub.paths()})
        else:
            chosen[id(node)] = node
    if missing:
        known = [p.id for p in scene.paths() if p.id] + [g.id for g in scene.groups() if g.id]
        hint = f"; ids in this SVG: {', '.join(known[:12])}{' ...' if len(known) > 12 else ''}" if known else "; this SVG has no ids"
        raise InputError(f"--only: no path or group with id {', '.join(missing)}{hint}")
    order = scene.paths()
    return [p for p in order if id(p) in chosen]


def edit_groups(paths: Sequence[Path], cfg: EditConfig) -> dict[str, list[torch.Tensor]]:
    """The tensors to optimise by kind: points, solid colours, stroke widths (of stroked
    paths), minus the locked kinds. Gradients and opacities are never touched."""
    groups: dict[str, list[torch.Tensor]] = {}
    if not cfg.lock_geometry:
        groups["points"] = [p.points for p in paths]
    if not cfg.lock_colors:
        seen: set[int] = set()
        cols = []
        for p in paths:
            for paint in (p.fill, p.stroke):
                if isinstance(paint, Solid) and id(paint.color) not in seen:
                    seen.add(id(paint.color))
                    cols.append(paint.color)
        groups["colors"] = cols
    if not cfg.lock_widths and not cfg.lock_geometry:
        groups["widths"] = [p.stroke_width for p in paths if p.stroke is not None]
    return {k: v for k, v in groups.items() if v}


def supersampled_render(size: int, factor: int, background) -> Callable[[Scene], torch.Tensor]:
    """scene -> [3, size, size]: rasterized at ``size * factor`` then box-filtered down."""
    from ..raster import rasterize

    def render(scene: Scene) -> torch.Tensor:
        img = rasterize(scene, size * factor, size * factor, background=background)
        return F.avg_pool2d(img[None], factor)[0] if factor > 1 else img

    return render


def edit(
    svg: str | FilePath | Scene,
    out: str | None = None,
    source: str = "",
    target: str = "",
    config: EditConfig | None = None,
    *,
    prior=None,
    callbacks: Sequence[Callable[[StepReport], None]] = (),
    argv: list[str] | None = None,
) -> tuple[Scene, dict]:
    """Edit ``svg`` (a path, SVG text or a loaded Scene, which is not modified) from the
    ``source`` description toward ``target``; write to ``out`` (and ``OUT.json``) if given.
    Returns the edited scene and the manifest. Ctrl-C writes the best-so-far, then re-raises."""
    from ..svg.parse import load_svg

    config = config or EditConfig()
    if config.method not in EDIT_METHODS:
        raise InputError(f"edit: method must be one of {', '.join(EDIT_METHODS)}; got {config.method!r}")
    if not isinstance(target, str) or not target.strip():
        raise InputError("edit needs a --target prompt: what the SVG should become")
    if config.method != "sds" and (not isinstance(source, str) or not source.strip()):
        raise InputError(f"{config.method} needs a --source prompt describing the input SVG")
    if config.lock_colors and config.lock_geometry:
        raise InputError("--lock-colors with --lock-geometry leaves nothing to edit")
    out_path = check_outputs(out, config)
    device = parse_device(config.device)
    if isinstance(svg, Scene):
        scene = svg.clone()
    else:
        scene = load_svg(svg)
    scene = scene.to(device=device)
    for t in scene.param_groups().values():
        for x in t:
            x.requires_grad_(False)
    paths = selected_paths(scene, config.only)
    if not paths:
        raise InputError("the SVG has no paths to edit")

    prior = prior if prior is not None else load_prior_for(config)
    cfg = _resolve_edit(config, prior)
    generator = make_generator(cfg.seed, device)
    overrides = objective_overrides(cfg.method, guidance_scale=cfg.guidance_scale, t_range=cfg.t_range, weighting=cfg.weighting)
    objective = build_objective_for(cfg.method, prior, target, cfg.negative_prompt, overrides, source=source if cfg.method != "sds" else None)

    scale = scene.canvas_transform(cfg.size, cfg.size).scale_factor()
    loop_cfg = loop_config_from(cfg, lr_points=cfg.lr_points / scale, lr_widths=cfg.lr_widths / scale, lr_opacities=0.0, reinit_every=0, xing_weight=0.0)
    render = supersampled_render(cfg.size, cfg.supersample, loop_cfg.background)
    with torch.no_grad():
        reference_image = render(scene)[None]
    groups = edit_groups(paths, cfg)
    if not groups:
        raise InputError("nothing to optimise: the selected paths have no solid colours and geometry is locked")
    # the paints, not their colour tensors: a packed run (optimize(pack=True)) swaps the
    # tensors for views of one leaf, and the paint always holds the live one
    optimised = {id(c) for c in groups.get("colors", [])}
    solids = {id(paint): paint for p in paths for paint in (p.fill, p.stroke) if isinstance(paint, Solid) and id(paint.color) in optimised}
    alphas = [(paint, paint.color.detach()[3].clone()) for paint in solids.values()]

    def constrain(state) -> None:
        """Clamp, and keep each colour's alpha: an edit changes hue, not transparency."""
        clamp_groups(state.groups, loop_cfg)
        with torch.no_grad():
            for paint, a in alphas:
                paint.color[3] = a

    reporting = Reporting(cfg, loop_cfg.steps, out_path, desc=target[:24])
    result = optimize(
        scene, objective, loop_cfg, generator, encode=prior.encode, render=render, groups=groups,
        reference_image=reference_image if cfg.method != "sds" else None, callbacks=[*reporting.callbacks, *callbacks],
        constrain=constrain, checkpoint=checkpointer_for(out_path, cfg, cfg.checkpoint_every, cfg.resume), return_on_error=True, pack=True,
    )
    final = result.best_scene if result.interrupted else result.scene
    for t in final.param_groups().values():
        for x in t:
            x.requires_grad_(False)
    extra = {
        "source": source,
        "target": target,
        "input": str(svg) if not isinstance(svg, Scene) else None,
        "edited_paths": len(paths),
        "optimised": sorted(groups),
        "lr_scale_user_units_per_px": 1 / scale,
        "prompt_info": {name: getattr(getattr(objective, name, None), "info", None) for name in ("source", "target")}
        if cfg.method != "sds" else {"target": getattr(getattr(objective, "prompt", None), "info", None)},
    }
    manifest = finish_run("edit", final, result, cfg, prior, out_path, reporting, argv, extra)
    if result.error is not None:
        raise result.error
    if result.interrupted:
        raise KeyboardInterrupt
    return final, manifest
