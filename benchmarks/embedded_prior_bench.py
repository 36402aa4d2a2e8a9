#!/usr/bin/env python3
"""Benchmark of the embedded icon prior: build/cache times and noise-prediction speed.

    python3 benchmarks/embedded_prior_bench.py [--resolution 64] [--batch 4] [--repeats 15] [--threads N]

Measures (medians over ``--repeats``, milliseconds):
  - building the prior from scratch (rendering every icon; a fresh temporary cache folder)
    and constructing it again from that cache;
  - ``predict_noise`` for a batch at the working resolution over the whole set (the
    unconditional branch), for the conditional branch of "red heart", and for a CFG pair
    (cond + uncond in one ``predict_noise_many`` pass), at t = 100, 500, 900;
  - references in the same run: the definition computed directly (per sample,
    ``||x_t - sqrt(abar) y_i||^2`` over all icons, softmax, weighted mean), float32; and
    the floor of any exact method, one dense product of the batch with the icon matrix
    (every icon's distance must be computed).
Prints one JSON object; the memory of the icon matrix is N * 3 R^2 * 4 bytes.
"""

from __future__ import annotations

import os

# Before torch loads OpenMP: spinning OpenMP threads make torch 10-30x slower on a shared CPU.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import json
import statistics
import tempfile
import time

import torch

from vecdistill.priors.embedded import EmbeddedPrior


def median_ms(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def naive_eps(points: torch.Tensor, x_t: torch.Tensor, abar: torch.Tensor) -> torch.Tensor:
    """The definition, one sample at a time: points [N, D], x_t [B, D], abar [B]."""
    out = []
    for x, a in zip(x_t, abar):
        dist = ((x[None] - a.sqrt() * points) ** 2).sum(1)
        w = torch.softmax(-dist / (2 * (1 - a)), 0)
        out.append((x - a.sqrt() * (w @ points)) / (1 - a).sqrt())
    return torch.stack(out)


def measure(prior, prompt, points, x_t, t, repeats: int) -> dict:
    """Median times (ms) of one noise level: ours (uncond, cond, CFG pair) and references."""
    flat = x_t.reshape(x_t.shape[0], -1)
    return {
        "uncond_ms": median_ms(lambda: prior.predict_noise(x_t, t, prompt.uncond), repeats),
        "cond_ms": median_ms(lambda: prior.predict_noise(x_t, t, prompt.cond), repeats),
        "cfg_pair_ms": median_ms(lambda: prior.predict_noise_many([x_t, x_t], [t, t], [prompt.uncond, prompt.cond]), repeats),
        "reference_direct_ms": median_ms(lambda: naive_eps(points, flat, prior.abar(t)), max(3, repeats // 3)),
        "floor_one_matmul_ms": median_ms(lambda: flat @ points.T, repeats),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--resolution", type=int, default=64)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: leave torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    result: dict = {"resolution": args.resolution, "batch": args.batch, "threads": torch.get_num_threads()}
    with tempfile.TemporaryDirectory() as cache:
        start = time.perf_counter()
        prior = EmbeddedPrior(resolution=args.resolution, cache_dir=cache)
        result["build_s"] = round(time.perf_counter() - start, 3)
        start = time.perf_counter()
        again = EmbeddedPrior(resolution=args.resolution, cache_dir=cache)
        result["load_from_cache_s"] = round(time.perf_counter() - start, 3)
        assert again.loaded_from_cache
        del again

    n = len(prior.icon_set)
    d = 3 * args.resolution**2
    result.update(icons=n, icon_matrix_mb=round(n * d * 4 / 2**20, 1))
    prompt = prior.encode_prompt("red heart")
    g = torch.Generator().manual_seed(0)
    icons = prior.all_icons()
    x0 = icons[torch.randint(0, n, (args.batch,), generator=g)] * 2 - 1
    points = prior.denoiser.points()
    for t_value in (100, 500, 900):
        t = torch.full((args.batch,), t_value)
        x_t = prior.add_noise(x0, torch.randn(x0.shape, generator=g), t)
        row = measure(prior, prompt, points, x_t, t, args.repeats)
        row["speedup_uncond_vs_reference"] = row["reference_direct_ms"] / row["uncond_ms"]
        row["uncond_over_floor"] = row["uncond_ms"] / row["floor_one_matmul_ms"]
        result[f"t={t_value}"] = {k: round(v, 2) for k, v in row.items()}
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
