"""Seconds per optimisation step of the NeRF pipelines (make / fit / edit) at a preset.

Runs each pipeline for ``--steps`` steps (outputs off) and reports the median seconds per
step over the second half of the run (the occupancy grid's warm-up is shortened to a
quarter of the run so that the second half runs with empty-space skipping). make and edit
use the embedded prior; fit and edit use a synthetic 16-view, 128 px ball dataset. The reference
measured in the same run is the volume renderer without empty-space skipping: a
forward + backward pass of the same render with and without the occupancy grid
(``skip_ratio`` = time without / time with). Also compared: torch with 1 thread vs the
default thread count (on a shared CPU, many small ops make extra threads a loss).

    python3 benchmarks/nerf_bench.py --preset cpu --steps 40 --json out.json

Prints a markdown table; ``--json`` also writes the numbers. CPU only unless ``--device``.
"""

from __future__ import annotations

from vecdistill.runtime import configure_process

configure_process()  # before torch loads: OpenMP and heap settings (vecdistill/runtime.py)

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vecdistill.nerf.cameras import OrbitConfig, sample_orbit  # noqa: E402
from vecdistill.nerf.dataset import write_transforms  # noqa: E402
from vecdistill.pipelines.nerf_common import NerfScene, apply_preset  # noqa: E402
from vecdistill.pipelines.nerf_edit import NerfEditConfig, edit  # noqa: E402
from vecdistill.pipelines.nerf_fit import NerfFitConfig, fit  # noqa: E402
from vecdistill.pipelines.nerf_make import NerfMakeConfig, make  # noqa: E402


def short_warmup(config, steps: int):
    """Start skipping empty space early enough that the measured half runs with it."""
    config.occupancy.warmup_steps = min(config.occupancy.warmup_steps, steps // 4)
    config.occupancy.update_every = max(1, min(config.occupancy.update_every, steps // 8))
    return config


def steady_median(seconds: list[float]) -> float:
    half = seconds[len(seconds) // 2:]
    return statistics.median(half)


def ball_dataset(folder: Path, n: int, size: int) -> Path:
    """Exact renders of an opaque red ball (radius 0.5) from ``n`` orbit views."""
    g = torch.Generator().manual_seed(0)
    cams = sample_orbit(n, OrbitConfig(fov=(50.0, 50.0), distance=(1.8, 1.8)), size, size, g).cameras
    o, d = cams.rays()
    b = (o * d).sum(-1)
    hit = (b * b - ((o * o).sum(-1) - 0.25)) > 0
    rgb = torch.tensor([0.9, 0.15, 0.1]).view(1, 1, 1, 3) * hit[..., None]
    rgba = torch.cat([rgb, hit[..., None].float()], -1).permute(0, 3, 1, 2)
    write_transforms(folder, rgba, cams)
    return folder


def render_reference(preset: str, size: int, device: str, repeats: int) -> dict:
    """Forward + backward of one render, with and without empty-space skipping."""
    config = apply_preset(NerfMakeConfig(), preset)
    g = torch.Generator().manual_seed(0)
    scene = NerfScene(config.field, config.occupancy, "white", generator=g).to(device)
    for _ in range(3):
        scene.occupancy.update(scene.field.density, g)
    cams = sample_orbit(1, config.orbit, size, size, g, device).cameras
    out = {}
    for skip in (True, False):
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            r = scene.render(cams, config.render, generator=g, skip_empty=skip)
            r.image.mean().backward()
            times.append(time.perf_counter() - t0)
        out["skip" if skip else "no_skip"] = statistics.median(times)
    out["skip_ratio"] = out["no_skip"] / out["skip"]
    out["occupied_fraction"] = scene.occupancy.occupied_fraction()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="cpu", choices=["tiny", "cpu", "gpu"])
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, nargs="*", default=[1, 2], help="torch thread counts to compare")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    from vecdistill.priors import load_prior

    prior = load_prior(None, device=args.device)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = ball_dataset(tmp / "data", 16, 128)
        for threads in args.threads:
            torch.set_num_threads(threads)
            res = {"threads": threads}
            mc = apply_preset(NerfMakeConfig(device=args.device), args.preset)
            short_warmup(mc, args.steps)
            mc.steps, mc.outputs, mc.eval_draws = args.steps, False, 1
            _, m = make("red apple", tmp / f"make{threads}", mc, prior=prior)
            res["make_s_per_step"] = steady_median(_secs(tmp / f"make{threads}"))
            res["make_resolution"] = mc.resolution.end
            fc = apply_preset(NerfFitConfig(device=args.device), args.preset)
            short_warmup(fc, args.steps)
            fc.steps, fc.outputs = args.steps, False
            _, m = fit(data, tmp / f"fit{threads}", fc)
            res["fit_s_per_step"] = steady_median(_secs(tmp / f"fit{threads}"))
            res["fit_rays"] = fc.rays
            ec = apply_preset(NerfEditConfig(device=args.device), args.preset)
            short_warmup(ec, args.steps)
            ec.steps, ec.outputs = args.steps, False
            _, m = edit(tmp / f"fit{threads}", tmp / f"edit{threads}", "red apple", "green apple", ec, prior=prior)
            res["edit_s_per_step"] = steady_median(_secs(tmp / f"edit{threads}"))
            res["edit_resolution"] = ec.resolution
            res.update({f"render_{k}": v for k, v in render_reference(args.preset, mc.resolution.end, args.device, 5).items()})
            rows.append(res)
    info = {"preset": args.preset, "steps": args.steps, "device": args.device, "torch": torch.__version__,
            "samples_per_ray": apply_preset(NerfMakeConfig(), args.preset).render.samples, "rows": rows}
    print(f"preset {args.preset}, {args.steps} steps each, median of the second half, device {args.device}\n")
    print("| threads | make s/step | fit s/step | edit s/step | render fwd+bwd, skipping | without | ratio |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['threads']} | {r['make_s_per_step']:.3f} | {r['fit_s_per_step']:.3f} | {r['edit_s_per_step']:.3f} | "
              f"{r['render_skip']:.3f} | {r['render_no_skip']:.3f} | {r['render_skip_ratio']:.2f}x |")
    if args.json:
        Path(args.json).write_text(json.dumps(info, indent=2))


def _secs(out: Path) -> list[float]:
    """Per-step seconds from a run's checkpoint (the manifest keeps only the totals)."""
    from vecdistill.nerf.export import load_checkpoint

    return load_checkpoint(out)["step_seconds"]


if __name__ == "__main__":
    main()
