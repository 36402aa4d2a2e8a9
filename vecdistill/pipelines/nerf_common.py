"""What the NeRF pipelines (make, fit, edit) share: the scene module, the optimisation loop
with checkpoints, resume and progress, and the outputs (checkpoint, turntable, mesh,
manifest).

Output folder layout (every file written atomically)::

    checkpoint.pt     field + background + occupancy + optimizer + generator state, step,
                      losses, config (``vecdistill nerf edit`` and ``--resume`` read it)
    turntable.gif     a loop around the object (turntable.mp4 too with imageio-ffmpeg)
    mesh.ply          marching-tetrahedra surface with vertex colours (binary PLY)
    mesh.obj          the same mesh as OBJ with ``v x y z r g b`` vertex colours
    manifest.json     command, config, seed, model, timings, losses, outputs
"""

from __future__ import annotations

import json
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields, is_dataclass
from dataclasses import field as dc_field
from pathlib import Path
from typing import ClassVar

import torch
from torch import nn

from .. import signals
from ..errors import InputError, NumericalError, OutputError
from ..fileio import atomic_write_text
from ..nerf.cameras import OrbitConfig, turntable
from ..nerf.export import (
    load_checkpoint,
    mp4_available,
    to_uint8_frames,
    write_gif,
    write_mp4,
    write_obj,
    write_ply,
)
from ..nerf.field import FieldConfig, RadianceField
from ..nerf.mesh import extract_mesh
from ..nerf.occupancy import OccupancyConfig, OccupancyGrid
from ..nerf.renderer import RenderConfig, render
from ..nerf.shading import Background
from .common import make_generator, parse_device  # noqa: F401 - re-exported for the NeRF pipelines

Tensor = torch.Tensor

# progress(step, total, info) -- the CLI passes a tqdm updater; the library never prints
ProgressFn = Callable[[int, int, dict], None]


@dataclass
class NerfRunConfig:
    """Options every NeRF pipeline has. Units: lr per Adam step; sizes in pixels."""

    pipeline: ClassVar[str] = ""  # make | fit | edit: which preset section applies

    steps: int = 1000
    seed: int = 0
    device: str = "cpu"
    lr: float = 1e-2
    field: FieldConfig = dc_field(default_factory=FieldConfig)
    occupancy: OccupancyConfig = dc_field(default_factory=OccupancyConfig)
    render: RenderConfig = dc_field(default_factory=RenderConfig)
    orbit: OrbitConfig = dc_field(default_factory=OrbitConfig)
    background: str = "random"  # white | random | mlp
    turntable_frames: int = 24
    turntable_size: int = 96
    mesh_resolution: int = 64
    mesh_level: float | None = None  # density iso-level; None = automatic
    save_every: int = 200  # checkpoint every this many steps (and at the end)
    max_bad_steps: int = 20  # consecutive non-finite losses before giving up
    outputs: bool = True  # write turntable, mesh (the checkpoint and manifest are always written)


def config_to_dict(config) -> dict:
    """A dataclass (nested) as JSON-ready dict."""
    return json.loads(json.dumps(asdict(config), default=str))


def config_from_dict(cls, data: dict):
    """Rebuild dataclass ``cls`` from :func:`config_to_dict` output (nested dataclasses
    and tuples restored; unknown keys ignored)."""
    kwargs = {}
    defaults = cls()
    for f in fields(cls):
        if f.name not in data:
            continue
        value = data[f.name]
        default = getattr(defaults, f.name)
        if is_dataclass(default) and isinstance(value, dict):
            value = config_from_dict(type(default), value)
        elif isinstance(default, tuple) and isinstance(value, list):
            value = tuple(value)
        kwargs[f.name] = value
    return cls(**kwargs)


class NerfScene(nn.Module):
    """The trainable scene: radiance field, background, occupancy grid."""

    def __init__(self, field_config: FieldConfig, occupancy_config: OccupancyConfig, background: str,
                 generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.field = RadianceField(field_config, generator=generator)
        self.background = Background(background, generator=generator)
        self.occupancy = OccupancyGrid(field_config.bound, occupancy_config)

    def render(self, cameras, config: RenderConfig, *, generator=None, jitter=True, mode="albedo", light=None,
               skip_empty: bool = True, background: Background | None = None):
        """Render ``cameras`` through the field (see :func:`vecdistill.nerf.renderer.render`);
        ``background`` replaces the scene's own."""
        return render(self.field, cameras, config, generator=generator, jitter=jitter,
                      occupancy=self.occupancy if skip_empty else None, mode=mode, light=light,
                      background=self.background if background is None else background)

    def optimizer(self, lr: float) -> torch.optim.Optimizer:
        params = [p for p in self.parameters() if p.requires_grad]
        return torch.optim.Adam(params, lr=lr, betas=(0.9, 0.99), eps=1e-15)


def scene_from_checkpoint(state: dict, device: torch.device | str = "cpu") -> NerfScene:
    """The scene a checkpoint holds, rebuilt with the sizes it was made with."""
    cfg = state["config"]
    scene = NerfScene(config_from_dict(FieldConfig, cfg["field"]), config_from_dict(OccupancyConfig, cfg["occupancy"]),
                      cfg.get("background", "white"))
    scene.load_state_dict(state["scene"])
    return scene.to(device)


RUN_FILES = ("checkpoint.pt", "manifest.json")


def check_outdir(out: str | Path, resume: bool = False, overwrite: bool = False) -> Path:
    """Check, touching nothing, that ``out`` can take a run: OutputError when it is a file,
    or when it already holds a run (a checkpoint or manifest) and neither ``resume``
    (continue it) nor ``overwrite`` (replace it) was asked for. Pipelines call it before
    loading models, so a refused run costs nothing."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputError(f"output {out} is a file; give a folder")
    if not (resume or overwrite) and any((out / name).exists() for name in RUN_FILES):
        raise OutputError(f"{out} already holds a run; pass --resume to continue it or --overwrite to replace it")
    return out


def prepare_outdir(out: str | Path, resume: bool = False, overwrite: bool = False) -> Path:
    """:func:`check_outdir`, then create the folder (and parents); OutputError when that is
    impossible."""
    out = check_outdir(out, resume, overwrite)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create output folder {out}: {exc.strerror}") from None
    return out


@dataclass
class LoopState:
    """Where an optimisation stands: ``step`` done so far, per-step ``losses``, seconds per
    step ``step_seconds``, non-finite steps skipped ``skipped``."""

    step: int = 0
    losses: list = dc_field(default_factory=list)
    step_seconds: list = dc_field(default_factory=list)
    skipped: int = 0


def checkpoint_state(scene: NerfScene, optimizer, generator: torch.Generator, loop: LoopState, kind: str,
                     config, extra: dict | None = None) -> dict:
    return {
        "pipeline": kind,
        "scene": scene.state_dict(),
        "optimizer": optimizer.state_dict(),
        "generator": generator.get_state(),
        "step": loop.step,
        "losses": list(loop.losses),
        "step_seconds": list(loop.step_seconds),
        "skipped": loop.skipped,
        "config": config_to_dict(config),
        "extra": extra or {},
    }


def restore(state: dict, scene: NerfScene, optimizer, generator: torch.Generator, loop: LoopState) -> None:
    """Load a checkpoint's state into freshly built objects (in place)."""
    try:
        scene.load_state_dict(state["scene"])
    except RuntimeError:
        raise InputError("the checkpoint's field has another size than the options given; resume with the options it was made with") from None
    if optimizer is not None and state.get("optimizer"):
        optimizer.load_state_dict(state["optimizer"])
    generator.set_state(state["generator"])
    loop.step = int(state["step"])
    loop.losses = list(state.get("losses", []))
    loop.step_seconds = list(state.get("step_seconds", []))
    loop.skipped = int(state.get("skipped", 0))


def run_loop(step_fn: Callable[[int], tuple[Tensor, dict]], scene: NerfScene, optimizer, generator: torch.Generator,
             loop: LoopState, config: NerfRunConfig, save: Callable[[], None], progress: ProgressFn | None = None) -> None:
    """Optimise from ``loop.step`` to ``config.steps``.

    ``step_fn(step) -> (loss, info)`` renders and returns a scalar loss (gradients are
    taken here). The occupancy grid is refreshed every ``occupancy.update_every`` steps
    (with ``generator``); ``save()`` is called every ``save_every`` steps, at the end, and
    on Ctrl-C (then the KeyboardInterrupt propagates). A Ctrl-C or SIGTERM is held until the
    step it lands in has ended (:func:`vecdistill.signals.held`), so the checkpoint it saves
    is a step boundary and a resume continues exactly; a second one stops at once and saves
    nothing (the last checkpoint on disk stays). Non-finite losses skip the step;
    ``max_bad_steps`` in a row raise NumericalError.
    """
    occ = config.occupancy
    bad = 0
    whole = True  # the live state is a step boundary
    try:
        while loop.step < config.steps:
            with signals.held():
                whole = False
                step = loop.step
                t0 = time.perf_counter()
                if step >= occ.warmup_steps and step % max(1, occ.update_every) == 0:
                    scene.occupancy.update(scene.field.density, generator)
                optimizer.zero_grad(set_to_none=True)
                loss, info = step_fn(step)
                if not torch.isfinite(loss):
                    bad += 1
                    loop.skipped += 1
                    if bad >= config.max_bad_steps:
                        save()
                        raise NumericalError(f"loss was not finite for {bad} steps in a row at step {step}; lower --lr or the guidance scale")
                else:
                    bad = 0
                    loss.backward()
                    optimizer.step()
                loop.step += 1
                loop.losses.append(float(loss.detach()))
                loop.step_seconds.append(time.perf_counter() - t0)
                whole = True
                if progress is not None:
                    progress(loop.step, config.steps, {"loss": loop.losses[-1], **info})
                if config.save_every and loop.step % config.save_every == 0 and loop.step < config.steps:
                    save()
    except KeyboardInterrupt:
        if whole:
            save()
        raise
    save()


@torch.no_grad()
def write_outputs(scene: NerfScene, out: Path, config: NerfRunConfig) -> dict:
    """Turntable GIF (+ MP4 when possible) and mesh (PLY + OBJ). Returns what was written
    and facts about it (mesh size, iso level)."""
    dev = next(scene.parameters()).device
    written: dict = {}
    if not config.outputs:
        return written
    cams = turntable(config.turntable_frames, config.orbit, config.turntable_size, config.turntable_size, dev)
    frames = []
    for i in range(len(cams)):
        frames += to_uint8_frames(scene.render(cams[i], config.render, jitter=False).image)
    write_gif(frames, out / "turntable.gif")
    written["turntable"] = "turntable.gif"
    if mp4_available():
        write_mp4(frames, out / "turntable.mp4")
        written["video"] = "turntable.mp4"
    mesh, level = extract_mesh(scene.field, config.mesh_resolution, config.mesh_level, device=dev)
    write_ply(mesh, out / "mesh.ply")
    write_obj(mesh, out / "mesh.obj")
    written.update({"mesh": ["mesh.ply", "mesh.obj"], "mesh_vertices": int(len(mesh.vertices)),
                    "mesh_faces": int(len(mesh.faces)), "mesh_level": level})
    return written


def manifest(command: str, config, loop: LoopState, extra: dict) -> dict:
    """The JSON manifest of a run."""
    secs = loop.step_seconds
    return {
        "command": command,
        "config": config_to_dict(config),
        "seed": config.seed,
        "steps_done": loop.step,
        "losses": [round(x, 6) for x in loop.losses],
        "skipped_steps": loop.skipped,
        "timings": {
            "total_step_seconds": round(sum(secs), 3),
            "median_step_seconds": round(statistics.median(secs), 4) if secs else None,
        },
        "versions": {"torch": torch.__version__, "python": platform.python_version()},
        **extra,
    }


def write_manifest(out: Path, data: dict) -> None:
    atomic_write_text(out / "manifest.json", json.dumps(data, indent=2, default=str))


def load_for_resume(out: Path, kind: str, device: torch.device) -> dict | None:
    """The checkpoint in ``out`` for ``--resume`` (None when there is none); InputError
    when it belongs to another pipeline."""
    path = out / "checkpoint.pt"
    if not path.is_file():
        return None
    state = load_checkpoint(path, map_location=device)
    if state.get("pipeline") != kind:
        raise InputError(f"{path} was written by 'nerf {state.get('pipeline')}', not 'nerf {kind}'; use another output folder")
    return state


# Sizes per preset. "tiny": a smoke test. "cpu": what runs in minutes on a laptop CPU (README: measured seconds
# per step). "gpu": threestudio-like sizes for one CUDA GPU (not measured here).
PRESETS: dict[str, dict] = {
    "tiny": {  # seconds on a CPU: for checking an installation and for the tests
        "field": {"levels": 4, "features_per_level": 2, "log2_hashmap_size": 12, "base_resolution": 4,
                  "max_resolution": 32, "hidden": 16},
        "samples": 24, "chunk": 16384, "occupancy_resolution": 16, "mesh_resolution": 24, "turntable": (4, 24),
        "make": {"steps": 20, "resolution": (24, 24), "eval_draws": 4},
        "fit": {"steps": 60, "rays": 256, "max_size": 32}, "edit": {"steps": 10, "resolution": 24},
    },
    "cpu": {
        "field": {"levels": 8, "features_per_level": 2, "log2_hashmap_size": 15, "base_resolution": 8,
                  "max_resolution": 128, "hidden": 32},
        "samples": 64, "chunk": 16384, "occupancy_resolution": 32, "mesh_resolution": 64, "turntable": (24, 96),
        "make": {"steps": 500, "resolution": (64, 64)}, "fit": {"steps": 1000, "rays": 1024, "max_size": 128},
        "edit": {"steps": 200, "resolution": 64},
    },
    "gpu": {
        "field": {"levels": 16, "features_per_level": 2, "log2_hashmap_size": 19, "base_resolution": 16,
                  "max_resolution": 2048, "hidden": 64},
        "samples": 128, "chunk": 65536, "occupancy_resolution": 64, "mesh_resolution": 128, "turntable": (60, 256),
        "make": {"steps": 10000, "resolution": (64, 128)}, "fit": {"steps": 5000, "rays": 4096, "max_size": 800},
        "edit": {"steps": 3000, "resolution": 128},
    },
}


def apply_preset(config: NerfRunConfig, name: str) -> NerfRunConfig:
    """Set ``config``'s sizes from preset ``name`` (cpu | gpu), in place; returns it. The
    field's ``blob``/``bound`` and the pipeline's other choices are kept."""
    if name not in PRESETS:
        raise InputError(f"unknown preset {name!r}; use one of {', '.join(PRESETS)}")
    p = PRESETS[name]
    for key, value in p["field"].items():
        setattr(config.field, key, value)
    config.render.samples = p["samples"]
    config.render.chunk = p["chunk"]
    config.occupancy.resolution = p["occupancy_resolution"]
    if name == "tiny":
        config.occupancy.update_every, config.occupancy.warmup_steps = 8, 8
    config.mesh_resolution = p["mesh_resolution"]
    config.turntable_frames, config.turntable_size = p["turntable"]
    specific = p.get(config.pipeline, {})
    for key, value in specific.items():
        if key == "resolution" and isinstance(value, tuple):
            config.resolution.start, config.resolution.end = value
        else:
            setattr(config, key, value)
    return config
