"""Cost of one step of each distillation objective, relative to SDS in the same run.

    python3 benchmarks/distill_bench.py                 # tiny random SD pipeline, CPU
    python3 benchmarks/distill_bench.py --model PATH --device cuda --steps 20

For each method: median wall time of ``objective(x0, progress, generator)`` + ``loss.backward()``
over ``--steps`` steps with progress swept 0 -> 1 (SDI's t anneals 0.98 -> 0.25, so its cost
is averaged over the run), the mean noise-predictor rows per sample (``prior_calls``) and
the ratio of the median time to SDS's. Prints one JSON object.
"""

from __future__ import annotations

from vecdistill.runtime import configure_process

configure_process()  # before torch loads: OpenMP and heap settings (vecdistill/runtime.py)

import argparse
import json
import statistics
import tempfile
import time

import torch

from vecdistill.distill import build_objective
from vecdistill.priors import load_prior
from vecdistill.priors.tiny import build_tiny_pipeline

METHODS = ("sds", "sdi", "dds", "pds", "vsd")


def bench(model: str, device: str, steps: int, batch: int, warmup: int = 2) -> dict:
    prior = load_prior(model, device=device)
    gen = torch.Generator().manual_seed(0)
    img = torch.rand(batch, 3, *prior.image_size, generator=gen)
    x0 = prior.encode(img.to(device)).detach()
    ref = (x0 + 0.1 * torch.randn(x0.shape, generator=gen).to(device)).detach()
    out = {}
    for method in METHODS:
        obj = build_objective(method, prior, "a red apple", source="a green apple")
        times, rows = [], []
        for i in range(warmup + steps):
            x = x0.clone().requires_grad_()
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            r = obj(x, (i - warmup) / max(1, steps - 1) if i >= warmup else 0.0, gen, reference=ref)
            r.loss.backward()
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            if i >= warmup:
                times.append(time.perf_counter() - t0)
                rows.append(r.prior_calls)
        out[method] = {"median_ms": round(1000 * statistics.median(times), 2), "prior_rows": round(statistics.mean(rows), 2)}
    for m in METHODS:
        out[m]["vs_sds"] = round(out[m]["median_ms"] / out["sds"]["median_ms"], 2)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="diffusers folder or id (default: a tiny random pipeline)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--steps", type=int, default=15)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model or str(build_tiny_pipeline(f"{tmp}/tiny"))
        result = bench(model, args.device, args.steps, args.batch)
    print(json.dumps({"model": args.model or "tiny random SD pipeline (32x32 images, 4x16x16 latents)", "device": args.device,
                      "steps": args.steps, "batch": args.batch, "results": result}, indent=1))


if __name__ == "__main__":
    main()
