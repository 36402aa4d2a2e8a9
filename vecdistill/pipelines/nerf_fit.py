"""Reconstruction: fit a NeRF to posed images (transforms.json) with a photometric loss.

Each step draws ``rays`` random pixels from all training images, renders them, and
minimises the mean squared error against the pixels' colours. Images with an alpha channel
are composited on a random colour per ray and the renderer uses the same colour as its
background, so the field must explain the alpha (no white "floaters" standing in for the
background); opaque images use a white background. The field starts without the density
blob (``blob="none"``): the geometry comes from the images.

The checkpoint records the dataset's path: ``vecdistill nerf edit`` reads it to find the
images its source branch uses.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from dataclasses import field as dc_field
from pathlib import Path
from typing import ClassVar

import torch

from ..errors import InputError
from ..nerf.dataset import PosedImages, load_transforms
from ..nerf.export import save_checkpoint
from ..nerf.field import FieldConfig
from ..nerf.renderer import render_rays
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


@dataclass
class NerfFitConfig(NerfRunConfig):
    """``nerf fit`` options. ``rays``: pixels per step. ``max_size``: downscale images so
    the longer side is at most this (None = full size). ``eval_views``: training views
    rendered in full at the start and end for the manifest's PSNR."""

    pipeline: ClassVar[str] = "fit"

    rays: int = 1024
    max_size: int | None = 128
    eval_views: int = 4
    background: str = "white"
    field: FieldConfig = dc_field(default_factory=lambda: FieldConfig(blob="none"))


def _random_rays(data: PosedImages, n: int, generator: torch.Generator, device) -> tuple[Tensor, Tensor, Tensor]:
    """``n`` random pixels: origins, directions [n, 3] and RGBA targets [n, 4]."""
    cams = data.cameras
    g = generator
    idx = torch.randint(len(data), (n,), generator=g, device=g.device).to(device)
    py = torch.randint(cams.height, (n,), generator=g, device=g.device).to(device)
    px = torch.randint(cams.width, (n,), generator=g, device=g.device).to(device)
    o, d = cams.rays_at(idx, px.float() + 0.5, py.float() + 0.5)
    rgba = data.images[idx, :, py, px]
    return o, d, rgba


@torch.no_grad()
def psnr(scene: NerfScene, data: PosedImages, config: NerfRunConfig, views: int) -> float:
    """Mean PSNR (dB) of full renders of the first ``views`` training images on white."""
    from ..nerf.shading import Background

    dev = next(scene.parameters()).device
    white = Background("white").to(dev)
    n = min(views, len(data))
    target = data.composited()[:n].to(dev)
    vals = []
    for i in range(n):
        img = scene.render(data.cameras[i], config.render, jitter=False, background=white).image
        mse = float(((img - target[i:i + 1]) ** 2).mean())
        vals.append(-10 * torch.log10(torch.tensor(max(mse, 1e-10))).item())
    return sum(vals) / len(vals)


def fit(dataset: str | Path, out: str | Path, config: NerfFitConfig | None = None, *, resume: bool = False, overwrite: bool = False,
        progress: ProgressFn | None = None, argv: list[str] | None = None) -> tuple[NerfScene, dict]:
    """Reconstruct the scene of ``dataset`` (a transforms.json or its folder) into ``out``."""
    config = config or NerfFitConfig()
    if config.steps < 1 or config.rays < 1:
        raise InputError("--steps and --rays must be at least 1")
    check_outdir(out, resume=resume, overwrite=overwrite)  # before the dataset loads
    device = parse_device(config.device)
    data = load_transforms(dataset, max_size=config.max_size)
    data.images = data.images.to(device)
    data.cameras = data.cameras.to(device)
    out = prepare_outdir(out, resume=resume, overwrite=overwrite)
    has_alpha = bool((data.images[:, 3] < 1).any())
    generator = make_generator(config.seed, device)
    scene = NerfScene(config.field, config.occupancy, config.background, generator=generator).to(device)
    optimizer = scene.optimizer(config.lr)
    loop = LoopState()
    state = load_for_resume(out, "fit", device) if resume else None
    if state is not None:
        restore(state, scene, optimizer, generator, loop)
    psnr_start = state["extra"].get("psnr_start") if state else psnr(scene, data, config, config.eval_views)

    def step_fn(step: int):
        o, d, rgba = _random_rays(data, config.rays, generator, device)
        if has_alpha:
            bg = torch.rand(o.shape[0], 3, generator=generator, device=generator.device).to(device)
        else:
            bg = scene.background(d[:, None, :]).squeeze(1)
        target = rgba[:, :3] * rgba[:, 3:] + bg * (1 - rgba[:, 3:])
        skip = scene.occupancy if step >= config.occupancy.warmup_steps else None
        r = render_rays(scene.field, o, d, config.render, generator=generator, occupancy=skip, background=bg)
        loss = ((r.rgb - target) ** 2).mean()
        return loss, {}

    extra = {"dataset": str(Path(data.path).resolve()), "psnr_start": psnr_start, "max_size": config.max_size}

    def save() -> None:
        save_checkpoint(checkpoint_state(scene, optimizer, generator, loop, "fit", config, extra), out / "checkpoint.pt")

    t0 = time.perf_counter()
    run_loop(step_fn, scene, optimizer, generator, loop, config, save, progress)
    train_s = time.perf_counter() - t0
    psnr_end = psnr(scene, data, config, config.eval_views)
    t1 = time.perf_counter()
    written = write_outputs(scene, out, config)
    data_m = manifest("nerf fit", config, loop, {
        "argv": argv,
        "dataset": extra["dataset"],
        "images": len(data),
        "image_size": [data.cameras.width, data.cameras.height],
        "alpha": has_alpha,
        "psnr": {"start": psnr_start, "end": psnr_end},
        "seconds": {"train": round(train_s, 3), "outputs": round(time.perf_counter() - t1, 3)},
        "outputs": {"checkpoint": "checkpoint.pt", **written},
    })
    write_manifest(out, data_m)
    return scene, data_m
