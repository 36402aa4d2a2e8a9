"""``vecdistill nerf make | fit | edit``: text to 3D, reconstruction, 3D editing.

Thin: parse options into the pipelines' config dataclasses, show a progress bar, print the
output folder. The pipelines live in :mod:`vecdistill.pipelines.nerf_make`,
:mod:`~vecdistill.pipelines.nerf_fit` and :mod:`~vecdistill.pipelines.nerf_edit`.
"""

from __future__ import annotations

import sys

import click

PRESETS = ("tiny", "cpu", "gpu")


def _common(fn):
    """Options every nerf subcommand has."""
    opts = [
        click.option("--steps", type=click.IntRange(min=1), default=None, help="Optimisation steps (default: the preset's)."),
        click.option("--seed", type=int, default=0, show_default=True, help="Seed of all randomness."),
        click.option("--device", default=None, help="cpu, cuda, cuda:N (default: cuda when available, else cpu)."),
        click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=None, help="Adam learning rate."),
        click.option("--samples", type=click.IntRange(min=2), default=None, help="Samples per ray."),
        click.option("--preset", type=click.Choice(PRESETS), default=None,
                     help="Sizes: tiny (a smoke test), cpu (small field, 64 samples) or gpu (bigger field and renders). Default: gpu on CUDA, else cpu."),
        click.option("--threads", type=click.IntRange(min=1), default=None,
                     help="CPU threads for torch (default: torch's; 1 is fastest on a busy shared CPU)."),
        click.option("--mesh-resolution", type=click.IntRange(min=8), default=None, help="Marching-tetrahedra grid cells per axis."),
        click.option("--save-every", type=click.IntRange(min=0), default=None, help="Checkpoint every N steps (0: only at the end)."),
        click.option("--resume", is_flag=True, help="Continue from OUTDIR/checkpoint.pt if it exists."),
        click.option("--overwrite", is_flag=True, help="Replace a run already in OUTDIR (default: refuse)."),
        click.option("--quiet", "-q", is_flag=True, help="No progress bar."),
    ]
    for opt in reversed(opts):
        fn = opt(fn)
    return fn


def _prior_options(fn):
    opts = [
        click.option("--model", default=None, help="Diffusers model id or folder (default: the embedded icon prior, offline)."),
        click.option("--dtype", default=None, help="Prior precision: float32, float16, bfloat16."),
        click.option("--guidance-scale", type=float, default=None, help="Classifier-free guidance scale (default: the method's)."),
        click.option("--t-range", nargs=2, type=float, default=None, help="Timestep range as fractions of T, e.g. 0.02 0.98."),
    ]
    for opt in reversed(opts):
        fn = opt(fn)
    return fn


def _device(device: str | None) -> str:
    if device is not None:
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _apply(config, preset_name: str, opts: dict):
    """Preset sizes first, then the options the user gave."""
    from ..pipelines.nerf_common import apply_preset

    apply_preset(config, preset_name)
    if opts.get("threads"):
        import torch

        torch.set_num_threads(opts["threads"])
    for key in ("steps", "lr"):
        if opts.get(key) is not None:
            setattr(config, key, opts[key])
    if opts.get("samples") is not None:
        config.render.samples = opts["samples"]
    if opts.get("mesh_resolution") is not None:
        config.mesh_resolution = opts["mesh_resolution"]
    if opts.get("save_every") is not None:
        config.save_every = opts["save_every"]
    config.seed = opts["seed"]
    return config


class _Bar:
    """tqdm on stderr, or nothing with --quiet."""

    def __init__(self, quiet: bool, desc: str) -> None:
        self.bar = None
        self.quiet = quiet
        self.desc = desc

    def __call__(self, step: int, total: int, info: dict) -> None:
        if self.quiet:
            return
        if self.bar is None:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, initial=step - 1, desc=self.desc, unit="step", file=sys.stderr, dynamic_ncols=True)
        self.bar.set_postfix(loss=f"{info.get('loss', float('nan')):.4g}", refresh=False)
        self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _run(name: str, pipeline, args: tuple, opts: dict, outdir: str, key: str, **kwargs) -> None:
    """Run a NeRF pipeline with a progress bar, the shared resume/overwrite options and the
    command line in its manifest, then print what it wrote and its quality number ``key``."""
    bar = _Bar(opts["quiet"], name)
    try:
        _, manifest = pipeline(*args, resume=opts["resume"], overwrite=opts["overwrite"], progress=bar,
                               argv=sys.argv[1:], **kwargs)
    finally:
        bar.close()
    _report(outdir, manifest, key)


def _report(out: str, manifest: dict, key: str) -> None:
    outs = manifest.get("outputs", {})
    click.echo(f"wrote {out}: " + ", ".join(str(v) for k, v in outs.items() if k in ("checkpoint", "turntable", "video", "mesh")))
    if key in manifest:
        click.echo(f"{key}: {manifest[key]}")


@click.group("nerf")
def nerf() -> None:
    """Text to 3D (make), reconstruction from posed images (fit) and 3D editing (edit) with
    a NeRF rendered in plain torch (no CUDA extensions)."""


@nerf.command("make")
@click.argument("prompt")
@click.argument("outdir", type=click.Path(file_okay=False))
@click.option("--method", type=click.Choice(["sds", "sdi", "vsd"]), default="sds", show_default=True, help="Distillation objective.")
@_prior_options
@click.option("--negative", default="", help="Negative prompt.")
@click.option("--resolution", type=click.IntRange(min=8), default=None, help="Render size in pixels (square).")
@click.option("--background", type=click.Choice(["random", "white", "mlp"]), default="random", show_default=True,
              help="Behind the object while training: a random colour per view, white, or a small MLP of the ray direction.")
@click.option("--view-prompts/--no-view-prompts", default=None, help="Append front/side/back view to the prompt (default: on for diffusers models, off for the embedded prior).")
@_common
def make_cmd(prompt, outdir, method, model, dtype, guidance_scale, t_range, negative, resolution, background, view_prompts, **opts) -> None:
    """Make a 3D object from PROMPT into folder OUTDIR (checkpoint, turntable, mesh, manifest)."""
    from ..pipelines.nerf_make import NerfMakeConfig, make

    device = _device(opts["device"])
    config = NerfMakeConfig(method=method, model=model, dtype=dtype, guidance_scale=guidance_scale,
                            t_range=tuple(t_range) if t_range else None, negative=negative,
                            view_prompts=view_prompts, background=background, device=device)
    _apply(config, opts["preset"] or ("gpu" if device.startswith("cuda") else "cpu"), opts)
    if resolution is not None:
        config.resolution.start = config.resolution.end = resolution
    _run("nerf make", make, (prompt, outdir, config), opts, outdir, "eval_loss")


@nerf.command("fit")
@click.argument("dataset", type=click.Path())
@click.argument("outdir", type=click.Path(file_okay=False))
@click.option("--rays", type=click.IntRange(min=1), default=None, help="Rays (pixels) per step.")
@click.option("--max-size", type=click.IntRange(min=8), default=None, help="Downscale images to this longer side.")
@click.option("--bound", type=click.FloatRange(min=0, min_open=True), default=None, help="The scene is the cube [-bound, bound]^3 (scene units of the poses).")
@_common
def fit_cmd(dataset, outdir, rays, max_size, bound, **opts) -> None:
    """Reconstruct the scene of DATASET (a transforms.json or its folder, instant-ngp /
    nerfstudio format) into folder OUTDIR."""
    from ..pipelines.nerf_fit import NerfFitConfig, fit

    device = _device(opts["device"])
    config = NerfFitConfig(device=device)
    _apply(config, opts["preset"] or ("gpu" if device.startswith("cuda") else "cpu"), opts)
    if rays is not None:
        config.rays = rays
    if max_size is not None:
        config.max_size = max_size
    if bound is not None:
        config.field.bound = bound
    _run("nerf fit", fit, (dataset, outdir, config), opts, outdir, "psnr")


@nerf.command("edit")
@click.argument("scene", type=click.Path())
@click.argument("outdir", type=click.Path(file_okay=False))
@click.option("--source", required=True, help="What the scene shows now, e.g. 'a red apple'.")
@click.option("--target", required=True, help="What it should become, e.g. 'a green apple'.")
@click.option("--method", type=click.Choice(["pds", "dds", "sds"]), default="pds", show_default=True, help="Editing objective.")
@_prior_options
@click.option("--dataset", type=click.Path(), default=None, help="The scene's transforms.json folder, if it moved since the fit.")
@click.option("--resolution", type=click.IntRange(min=8), default=None, help="Render size of the training views (square).")
@_common
def edit_cmd(scene, outdir, source, target, method, model, dtype, guidance_scale, t_range, dataset, resolution, **opts) -> None:
    """Edit the fitted SCENE (checkpoint.pt of 'nerf fit', or its folder) from --source
    toward --target into folder OUTDIR."""
    from ..pipelines.nerf_edit import NerfEditConfig, edit

    device = _device(opts["device"])
    config = NerfEditConfig(method=method, model=model, dtype=dtype, guidance_scale=guidance_scale,
                            t_range=tuple(t_range) if t_range else None, device=device)
    _apply(config, opts["preset"] or ("gpu" if device.startswith("cuda") else "cpu"), opts)
    if resolution is not None:
        config.resolution = resolution
    _run("nerf edit", edit, (scene, outdir, source, target, config), opts, outdir, "mse_to_source_images", dataset=dataset)
