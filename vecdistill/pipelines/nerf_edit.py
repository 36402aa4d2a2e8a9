"""3D editing: move a reconstructed NeRF from a source prompt toward a target prompt with
PDS (default; or DDS / SDS), rendering the scene's own training views.

Each step picks a training view at random, renders it (white background, albedo shading)
at ``resolution``, and calls the objective with ``x0 = prior.encode(render)`` and
``reference = prior.encode(the dataset's image of that view)``: PDS's source branch sees
the original image, its target branch the current render (REFERENCE.md sections 1 and 3).

SCENE is a checkpoint of ``vecdistill nerf fit`` (the file or its folder); its dataset is
found through the path the checkpoint recorded, or ``dataset=`` when it moved.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import torch

from ..errors import InputError
from ..nerf.dataset import load_transforms
from ..nerf.export import load_checkpoint, save_checkpoint
from ..nerf.field import FieldConfig
from ..nerf.occupancy import OccupancyConfig
from ..nerf.shading import Background
from .common import objective_overrides, parse_dtype
from .nerf_common import (
    LoopState,
    NerfRunConfig,
    NerfScene,
    ProgressFn,
    check_outdir,
    checkpoint_state,
    config_from_dict,
    load_for_resume,
    make_generator,
    manifest,
    parse_device,
    prepare_outdir,
    restore,
    run_loop,
    scene_from_checkpoint,
    write_manifest,
    write_outputs,
)

Tensor = torch.Tensor


@dataclass
class NerfEditConfig(NerfRunConfig):
    """``nerf edit`` options. ``method``: pds | dds | sds. ``resolution``: square render
    size (the dataset images are resized to it for the reference). ``model``,
    ``guidance_scale``, ``t_range``: as for ``nerf make``. ``lr``: smaller than for a fresh
    field (the scene is already fitted)."""

    pipeline: ClassVar[str] = "edit"

    method: str = "pds"
    model: str | None = None
    dtype: str | None = None
    guidance_scale: float | None = None
    t_range: tuple[float, float] | None = None
    resolution: int = 64
    steps: int = 200
    lr: float = 5e-3
    background: str = "white"


def _resize(images: Tensor, size: int) -> Tensor:
    if images.shape[-2:] == (size, size):
        return images
    return torch.nn.functional.interpolate(images, size=(size, size), mode="bilinear", antialias=True, align_corners=False)


@torch.no_grad()
def view_distance(scene: NerfScene, cameras, goal: Tensor, config: NerfEditConfig) -> float:
    """Mean squared difference between renders of ``cameras`` (white background, at the
    goal's size) and ``goal`` images [N, 3, H, W]: how far the scene is from a set of
    target views."""
    dev = goal.device
    white = Background("white").to(dev)
    cams = cameras.resized(goal.shape[-1], goal.shape[-2])
    total = 0.0
    for i in range(len(cams)):
        img = scene.render(cams[i], config.render, jitter=False, background=white).image
        total += float(((img - goal[i:i + 1]) ** 2).mean())
    return total / len(cams)


def edit(scene_path: str | Path, out: str | Path, source: str, target: str, config: NerfEditConfig | None = None, *,
         dataset: str | Path | None = None, resume: bool = False, overwrite: bool = False, progress: ProgressFn | None = None, prior=None,
         argv: list[str] | None = None) -> tuple[NerfScene, dict]:
    """Edit the fitted scene at ``scene_path`` from ``source`` toward ``target`` into ``out``.

    ``prior``: a ready prior (tests); None loads ``config.model``. Returns the scene and the
    manifest.
    """
    config = config or NerfEditConfig()
    if not str(target).strip() or not str(source).strip():
        raise InputError("give both --source (what the scene shows) and --target (what it should become)")
    if config.steps < 1:
        raise InputError("--steps must be at least 1")
    check_outdir(out, resume=resume, overwrite=overwrite)  # before the model loads
    device = parse_device(config.device)
    fitted = load_checkpoint(scene_path, map_location=device)
    if fitted.get("pipeline") not in ("fit", "edit"):
        raise InputError(f"{scene_path} is a 'nerf {fitted.get('pipeline')}' checkpoint; nerf edit needs the output of 'nerf fit' (it uses the fitted images)")
    data_path = dataset or fitted["extra"].get("dataset")
    if data_path is None or not Path(data_path).exists():
        raise InputError(f"the scene's dataset {data_path} is missing; pass --dataset with the transforms.json folder")
    data = load_transforms(data_path)
    images = _resize(data.composited(), config.resolution).to(device)
    cameras = data.cameras.resized(config.resolution, config.resolution).to(device)
    # the scene's architecture comes from the fit; the options of this run do the rest
    config.field = config_from_dict(FieldConfig, fitted["config"]["field"])
    config.occupancy = config_from_dict(OccupancyConfig, fitted["config"]["occupancy"])
    if prior is None:
        from ..priors import load_prior

        prior = load_prior(config.model, device=device, dtype=parse_dtype(config.dtype))
    from ..distill import build_objective

    overrides = objective_overrides(config.method, guidance_scale=config.guidance_scale, t_range=config.t_range)
    objective = build_objective(config.method, prior, target, source=source, **overrides)
    out = prepare_outdir(out, resume=resume, overwrite=overwrite)
    generator = make_generator(config.seed, device)
    scene = scene_from_checkpoint(fitted, device)
    optimizer = scene.optimizer(config.lr)
    loop = LoopState()
    state = load_for_resume(out, "edit", device) if resume else None
    if state is not None:
        restore(state, scene, optimizer, generator, loop)
    white = Background("white").to(device)
    with torch.no_grad():
        references = torch.cat([prior.encode(images[i:i + 1]) for i in range(len(images))])

    def step_fn(step: int):
        i = int(torch.randint(len(images), (), generator=generator, device=generator.device))
        r = scene.render(cameras[i], config.render, generator=generator, background=white,
                         skip_empty=step >= config.occupancy.warmup_steps)
        x0 = prior.encode(r.image)
        result = objective(x0, step / max(1, config.steps), generator, reference=references[i:i + 1])
        return result.loss, {"view": i}

    extra = {"source": source, "target": target, "scene": str(Path(scene_path).resolve()),
             "dataset": str(Path(data.path).resolve())}

    def save() -> None:
        save_checkpoint(checkpoint_state(scene, optimizer, generator, loop, "edit", config, extra), out / "checkpoint.pt")

    t0 = time.perf_counter()
    run_loop(step_fn, scene, optimizer, generator, loop, config, save, progress)
    train_s = time.perf_counter() - t0
    change = view_distance(scene, cameras, images, config)
    t1 = time.perf_counter()
    written = write_outputs(scene, out, config)
    data_m = manifest("nerf edit", config, loop, {
        "argv": argv,
        **extra,
        "model": prior.describe(),
        "method": config.method,
        "mse_to_source_images": change,
        "seconds": {"train": round(train_s, 3), "outputs": round(time.perf_counter() - t1, 3)},
        "outputs": {"checkpoint": "checkpoint.pt", **written},
    })
    write_manifest(out, data_m)
    return scene, data_m
