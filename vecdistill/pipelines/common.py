"""Pieces the SVG pipelines (make, edit, word) share: the run config fields every command
has, preset resolution, prior and objective construction, the callbacks for progress /
snapshots / video, and writing the outputs (SVG + manifest) atomically."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import InputError
from ..fileio import check_output_path
from .loop import LoopResult
from .manifest import build_manifest, manifest_path, write_manifest
from .progress import ProgressBar
from .snapshots import SnapshotWriter, VideoRecorder, check_video_path

DTYPES = {"float32": torch.float32, "fp32": torch.float32, "float16": torch.float16, "fp16": torch.float16, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16}


@dataclass
class RunOptions:
    """Fields every pipeline config has (and every command's shared options set).

    ``model``: None for the embedded icon prior, else a diffusers model id or folder.
    ``seed``: all randomness. ``device``: "cpu", "cuda", "cuda:1"... ``dtype``: the prior's
    precision ("float32", "float16", "bfloat16"; None = the prior's default).
    ``quiet``: no progress bar. ``save_every``: snapshot every N steps (0 = never) into
    ``OUT_snapshots/``. ``video``: a .gif/.mp4 path of the optimisation; ``video_every``:
    steps between frames (0 = about 100 frames). ``precision``: digits in the SVG.
    ``overwrite``: replace existing outputs. ``checkpoint_every``: write ``OUT.ckpt`` every
    N steps (0 = never; see :mod:`~vecdistill.pipelines.checkpoint`). ``resume``: continue
    from ``OUT.ckpt`` (same settings; replaces OUT.svg/OUT.json).
    """

    model: str | None = None
    seed: int = 0
    device: str = "cpu"
    dtype: str | None = None
    quiet: bool = False
    save_every: int = 0
    video: str | None = None
    video_every: int = 0
    precision: int = 3
    overwrite: bool = False
    checkpoint_every: int = 0
    resume: bool = False


@dataclass
class DistillOptions(RunOptions):
    """Fields every SVG distillation pipeline (make, edit, word) has; None means the preset's
    value for the prior in use. ``steps``: optimiser steps. ``size``: render canvas in px.
    ``guidance_scale``, ``t_range`` (fractions of T), ``weighting`` (SDS w(t)): the
    objective's. ``negative_prompt``: the unconditional branch's prompt. ``batch``: augmented
    views per step. ``lr_points``, ``lr_warmup``, ``lr_final``, ``betas``, ``augment``: see
    :class:`~vecdistill.pipelines.config.LoopConfig`.
    """

    steps: int | None = None
    size: int | None = None
    guidance_scale: float | None = None
    t_range: tuple[float, float] | None = None
    weighting: str | None = None
    negative_prompt: str = ""
    batch: int | None = None
    lr_points: float | None = None
    lr_warmup: float | None = None
    lr_final: float | None = None
    betas: tuple[float, float] | None = None
    augment: bool | None = None


def resolve(config, preset, style_overrides: dict | None = None):
    """``config`` with every None field taken from ``style_overrides`` then ``preset``."""
    values = {}
    for f in dataclasses.fields(config):
        v = getattr(config, f.name)
        if v is None:
            if style_overrides and f.name in style_overrides:
                v = style_overrides[f.name]
            elif hasattr(preset, f.name):
                v = getattr(preset, f.name)
        values[f.name] = v
    return dataclasses.replace(config, **values)


def parse_dtype(name: str | None) -> torch.dtype | None:
    if name is None:
        return None
    if name not in DTYPES:
        raise InputError(f"dtype must be one of {', '.join(sorted(DTYPES))}; got {name!r}")
    return DTYPES[name]


def parse_device(name: str) -> torch.device:
    try:
        dev = torch.device(name)
    except (RuntimeError, TypeError):
        raise InputError(f"unknown device {name!r}; use cpu, cuda or cuda:N") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"device {name} asked for but CUDA is not available; use --device cpu")
    return dev


def load_prior_for(options: RunOptions):
    """The prior named by ``options.model`` on ``options.device`` in ``options.dtype``."""
    from ..priors import load_prior

    return load_prior(options.model, device=parse_device(options.device), dtype=parse_dtype(options.dtype))


def is_embedded(prior) -> bool:
    """True for the embedded icon prior (it gets the embedded presets)."""
    return type(prior).__name__ == "EmbeddedPrior"


def make_generator(seed: int, device: torch.device) -> torch.Generator:
    """The run's generator on ``device``, seeded."""
    return torch.Generator(device=device).manual_seed(int(seed))


def objective_overrides(method: str, **values) -> dict:
    """Overrides for ``build_objective``: the non-None ``values`` that ``method``'s config
    has. ``t_range`` (a (lo, hi) pair of fractions of T) becomes ``t_min``/``t_max``."""
    from ..distill import METHODS

    if method not in METHODS:
        raise InputError(f"unknown method {method!r}; use one of {', '.join(METHODS)}")
    fields = {f.name for f in dataclasses.fields(METHODS[method][1])}
    t_range = values.pop("t_range", None)
    if t_range is not None:
        lo, hi = (float(x) for x in t_range)
        if not 0 <= lo < hi <= 1:
            raise InputError(f"t range must satisfy 0 <= lo < hi <= 1 (fractions of T); got {lo}, {hi}")
        values["t_min"], values["t_max"] = lo, hi
    return {k: v for k, v in values.items() if v is not None and k in fields}


def check_outputs(out: str | None, options: RunOptions) -> Path | None:
    """Validate the output path (and the video path) before a long run."""
    if options.video is not None:
        check_video_path(options.video)
    if options.save_every < 0:
        raise InputError(f"--save-every must be >= 0, got {options.save_every}")
    if out is None:
        return None
    target = check_output_path(out, overwrite=options.overwrite or options.resume)
    if target.suffix.lower() != ".svg":
        raise InputError(f"output {target.name} must end in .svg")
    from .checkpoint import check_checkpoint_path

    check_checkpoint_path(target, options.checkpoint_every, options.resume, options.overwrite)
    return target


class Reporting:
    """The callbacks a run asked for (progress bar, snapshots, video) and their closing."""

    def __init__(self, options: RunOptions, steps: int, out: Path | None, desc: str) -> None:
        self.callbacks = []
        self.bar = None if options.quiet else ProgressBar(steps, desc)
        if self.bar is not None:
            self.callbacks.append(self.bar)
        self.snapshots = None
        if options.save_every > 0:
            folder = (out.with_name(out.stem + "_snapshots") if out is not None else Path("snapshots"))
            self.snapshots = SnapshotWriter(folder, options.save_every, options.precision)
            self.callbacks.append(self.snapshots)
        self.video = None
        if options.video is not None:
            every = options.video_every or max(1, steps // 100)
            self.video = VideoRecorder(options.video, every=every)
            self.callbacks.append(self.video)

    def close(self) -> dict:
        """Finish the bar and write the video; returns what was written (for the manifest)."""
        if self.bar is not None:
            self.bar.close()
        written = {}
        if self.video is not None:
            path = self.video.close()
            written["video"] = str(path) if path else None
        if self.snapshots is not None:
            written["snapshots"] = str(self.snapshots.folder)
        return written


def write_outputs(scene, out: Path | None, manifest: dict, precision: int) -> None:
    """Write the SVG and ``OUT.json`` next to it (both atomically); nothing if ``out`` is None."""
    if out is None:
        return
    from ..svg.write import save_svg

    save_svg(scene, out, precision=precision)
    write_manifest(manifest, manifest_path(out))


def finish_run(command: str, scene, result: LoopResult, config, prior, out: Path | None, reporting: Reporting, argv, extra: dict) -> dict:
    """Close the reporting, build the manifest and write the outputs; returns the manifest."""
    written = reporting.close()
    describe = prior.describe() if prior is not None else None
    manifest = build_manifest(
        command,
        config,
        result,
        prior=describe,
        output=str(out) if out is not None else None,
        path_count=scene.num_paths(),
        argv=argv,
        extra={**extra, **written},
    )
    write_outputs(scene, out, manifest, config.precision)
    return manifest
