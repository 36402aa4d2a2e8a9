"""What one ``make`` step costs, stage by stage, with a Stable-Diffusion-1.5-shaped model.

    python benchmarks/make_step_bench.py [--size 128] [--paths 128] [--repeats 5] [--device cpu]

Two priors, each driven by the real loop (:func:`vecdistill.pipelines.loop.optimize`, SDS
with CFG 100, augmentation on):

- ``sd15``: a diffusers prior whose UNet has Stable Diffusion 1.5's configuration (860M
  parameters, random weights, built from ``vecdistill.priors.tiny.tiny_sd15_unet_config``)
  and whose VAE has SD's AutoencoderKL configuration (random weights). The text encoder is
  the tiny random one, so the UNet's cross-attention input width is 32 instead of 768 (the
  only change to the UNet: the key/value projections of 77 text tokens). Rendering at
  ``--size`` px gives ``size/8`` latents.
- ``embedded``: the embedded icon prior at its 64 x 64 working size, run as ``make`` runs
  (points and colours packed into one leaf each, ``optimize(pack=True)``) and with one
  tensor per path, in the same run.

Per stage (render, augment, encode, objective = the prior's noise prediction, backward,
optimiser, rest = hooks/aux/callbacks, step = wall): the mean ms of the ``--repeats``
steady-state steps of a run (a run of ``repeats + 1`` steps minus a run of one: the first
step also builds the optimiser's state), the median of three such runs; and "ours" =
render + augment + optimiser + rest as a fraction of the objective (the UNet) measured in
the same run.
"""

from __future__ import annotations

from vecdistill.runtime import configure_process

configure_process()  # before torch loads: OpenMP and heap settings (vecdistill/runtime.py)

import argparse
import statistics
import tempfile
import time

import torch


def build_sd15_prior(folder: str, size: int, device: str):
    """A DiffusersPrior with an SD-1.5-shaped UNet and SD's VAE (random weights)."""
    import diffusers

    from vecdistill.priors.diffusers_prior import DiffusersPrior
    from vecdistill.priors.tiny import TEXT_DIM, build_tiny_pipeline, tiny_sd15_unet_config

    path = build_tiny_pipeline(folder)
    prior = DiffusersPrior(str(path), device=device)
    cfg = tiny_sd15_unet_config()
    cfg["cross_attention_dim"] = TEXT_DIM
    cfg["sample_size"] = size // 8
    torch.manual_seed(0)
    prior.unet = diffusers.UNet2DConditionModel(**cfg).to(device).eval().requires_grad_(False)
    prior.vae = diffusers.AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4,
        down_block_types=["DownEncoderBlock2D"] * 4, up_block_types=["UpDecoderBlock2D"] * 4,
        block_out_channels=[128, 256, 512, 512], layers_per_block=2, sample_size=size,
    ).to(device).eval().requires_grad_(False)
    prior.image_size = (size, size)
    return prior


#: The table's stages (ms per step), in column order.
COLUMNS = ("render", "augment", "encode", "objective", "backward", "optimizer", "rest", "step")


def step_timings(prior, size: int, paths: int, repeats: int, device: str, pack: bool = True) -> dict[str, float]:
    """Mean ms per stage of the steady-state steps of one run: a run of ``repeats + 1``
    steps minus a run of 1 step (the first step also builds the optimiser's state), each
    on a fresh scene; the median of three such differences per stage. ``pack``: the scene's
    points and colours as one leaf each, as ``make`` runs (else one tensor per path)."""
    from vecdistill.distill import build_objective
    from vecdistill.pipelines.config import LoopConfig
    from vecdistill.pipelines.init import random_scene
    from vecdistill.pipelines.loop import optimize

    objective = build_objective("sds", prior, "red heart", guidance_scale=100.0, t_min=0.05, t_max=0.95)

    def run(steps: int) -> dict[str, float]:
        gen = torch.Generator(device=device).manual_seed(0)
        scene = random_scene("iconography", size, paths, 4, gen, radius=size * 20 / 600, width=1.0, device=device)
        cfg = LoopConfig(steps=steps, size=size, reinit_every=0, xing_weight=0.01)
        start = time.perf_counter()
        t = dict(optimize(scene, objective, cfg, gen, encode=prior.encode, pack=pack).timings)
        t["step"] = time.perf_counter() - start
        t["rest"] = t["hooks"] + t["aux"] + t["callbacks"]
        return t

    run(1)  # warm-up
    rows = []
    for _ in range(3):
        one, many = run(1), run(repeats + 1)
        rows.append({k: (many[k] - one[k]) / repeats for k in COLUMNS})
    return {k: 1000 * statistics.median(r[k] for r in rows) for k in rows[0]}


def report(name: str, t: dict[str, float]) -> None:
    ours = t["render"] + t["augment"] + t["optimizer"] + t["rest"]
    print(f"| {name} | " + " | ".join(f"{t[c]:.1f}" for c in COLUMNS) + f" | {ours / t['objective']:.3f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=128, help="render size for the SD-shaped prior (latents size/8)")
    ap.add_argument("--paths", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--skip-sd", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    print(f"device {args.device}, {torch.get_num_threads()} threads, {args.paths} paths, ms per steady-state step (mean of {args.repeats} steps after the first, median of 3 runs)")
    print("| prior | render | augment | encode | objective (UNet) | backward | optimiser | rest | step | ours / objective |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    from vecdistill.priors import load_prior

    emb = load_prior(None, device=args.device)
    for pack in (True, False):  # as make runs (packed leaves), then one tensor per path
        how = "" if pack else ", one tensor per path"
        report(f"embedded 64^2{how}", step_timings(emb, 64, args.paths, args.repeats, args.device, pack))
    if not args.skip_sd:
        with tempfile.TemporaryDirectory() as folder:
            sd = build_sd15_prior(folder, args.size, args.device)
            report(f"SD-1.5-shaped, {args.size}^2 ({args.size // 8}^2 latents)", step_timings(sd, args.size, args.paths, args.repeats, args.device))
    print("ours = render + augment + optimiser + rest (hooks, Xing loss, callbacks)")


if __name__ == "__main__":
    main()
