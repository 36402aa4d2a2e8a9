#!/usr/bin/env python3
"""Benchmark of the embedded icon prior: build/cache times and noise-prediction speed.

    python3 benchmarks/embedded_prior_bench.py [--resolution 64] [--batch 4] [--repeats 40] [--threads 1,2]
        [--single-pass 32,64,128]

Measures, for each torch thread count of ``--threads`` (medians over ``--repeats``,
milliseconds; the timed calls run round-robin, so every column of a row saw the same load):
  - building the prior from scratch (rendering every icon; a fresh temporary cache folder)
    and constructing it again from that cache (once, before the timings);
  - ``predict_noise`` for a batch at the working resolution over the whole set (the
    unconditional branch), for the conditional branch of "red heart", and for a CFG pair
    (cond + uncond in one ``predict_noise_many`` pass), at t = 100, 500, 900;
  - references in the same run: the definition computed directly (per sample,
    ``||x_t - sqrt(abar) y_i||^2`` over all icons, softmax, weighted mean; float32; fewer
    repeats), and the floor of any exact method, one dense product of the batch with the
    icon matrix in the fastest orientation (every icon's distance must be computed), plus
    the same product in the other orientation (``x @ Y.T``, what the prior used before);
  - the largest error of the unconditional prediction against the definition in float64;
  - with ``--single-pass``: at t = 900 only, an experiment the prior does not use (it lost):
    the unconditional prediction in one pass over the icon matrix in row blocks of each
    given size ("online softmax", :func:`single_pass_eps`), timed in the same round robin
    as ``predict_noise`` (key ``single_pass_<rows>_ms``).
Prints one JSON object and a Markdown table; the load average (``os.getloadavg``) before
and after each thread count is in the JSON. Memory: the icon matrix (N x 3 R^2 float32) and
its transposed copy, ``prior.denoiser.nbytes``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import tempfile
import time

from vecdistill.runtime import configure_process

configure_process()  # before torch loads: OpenMP and heap settings (vecdistill/runtime.py)

import torch  # noqa: E402

from vecdistill.priors.embedded import EmbeddedPrior  # noqa: E402

T_VALUES = (100, 500, 900)


def round_robin_ms(fns: dict, repeats: int) -> dict:
    """Median milliseconds of each function, timed in turn ``repeats`` times (after a warm-up)."""
    for fn in fns.values():
        fn()
    times: dict = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(v) * 1e3 for name, v in times.items()}


def naive_eps(points: torch.Tensor, x_t: torch.Tensor, abar: torch.Tensor) -> torch.Tensor:
    """The definition, one sample at a time: points [N, D], x_t [B, D], abar [B]."""
    out = []
    for x, a in zip(x_t, abar):
        dist = ((x[None] - a.sqrt() * points) ** 2).sum(1)
        w = torch.softmax(-dist / (2 * (1 - a)), 0)
        out.append((x - a.sqrt() * (w @ points)) / (1 - a).sqrt())
    return torch.stack(out)


def single_pass_eps(denoiser, x_t: torch.Tensor, abar: torch.Tensor, rows_per_block: int) -> torch.Tensor:
    """The unconditional eps [B, D] reading the icon matrix once (``x_t`` [B, D], ``abar``
    [B]; float32): per block of rows, its logits (as the denoiser defines them) and,
    while the block is in cache, its weighted sum ``exp(logits - ref) @ Y_b``. ``ref`` is
    the first block's largest logit per sample, at most the global largest, so the weights
    below ``exp(-40)`` of it that are zeroed (no float32 denormals) are a subset of those
    the denoiser prunes; a sample whose later logits exceed ``ref`` by more than 80 would
    overflow and raises instead (at t = 900 they stay within a few units; at low noise
    they would not). An experiment for the benchmark only."""
    y = denoiser.centered
    n, b = y.shape[0], x_t.shape[0]
    a = abar.view(-1, 1)
    sa, inv = a.sqrt(), 1 / (1 - a)
    shifted = torch.addcmul(x_t, sa, denoiser.center, value=-1)
    scaled = shifted * (sa * inv)  # logits = Y scaled^T + bias
    bias = (a * inv).T * denoiser._neg_half_sqnorm[:, None]  # [N, B]
    logits = torch.empty(n, b)
    acc = torch.zeros_like(x_t)
    ref = None
    for i in range(0, n, rows_per_block):
        block, out = y[i:i + rows_per_block], logits[i:i + rows_per_block]
        torch.addmm(bias[i:i + rows_per_block], block, scaled.T, out=out)
        if ref is None:
            ref = out.amax(0)
        torch.nn.functional.threshold_(out.sub_(ref).exp_(), math.exp(-40), 0.0)
        acc.addmm_(out.T, block)
    total = logits.sum(0)
    if not bool(torch.isfinite(total).all()) or bool((logits.amax(0) > math.exp(80)).any()):
        raise FloatingPointError("single pass: logits exceed the first block's largest by more than 80")
    return (shifted - sa * (acc / total[:, None])) / (1 - a).sqrt()


def measure(prior, prompt, points, x_t, t, repeats: int, single_pass: tuple[int, ...] = ()) -> dict:
    """Median times (ms) of one noise level: ours (uncond, cond, CFG pair) and references;
    the single-pass experiment for each block size of ``single_pass``."""
    flat = x_t.reshape(x_t.shape[0], -1)
    icons = prior.denoiser.centered
    fns = {
        "uncond_ms": lambda: prior.predict_noise(x_t, t, prompt.uncond),
        "cond_ms": lambda: prior.predict_noise(x_t, t, prompt.cond),
        "cfg_pair_ms": lambda: prior.predict_noise_many([x_t, x_t], [t, t], [prompt.uncond, prompt.cond]),
        "floor_one_product_ms": lambda: icons @ flat.T,
        "product_other_orientation_ms": lambda: flat @ icons.T,
    }
    abar = prior.abar(t)
    eps = prior.predict_noise(x_t, t, prompt.uncond).reshape(flat.shape)
    for rows in single_pass:
        assert torch.allclose(single_pass_eps(prior.denoiser, flat, abar, rows), eps, atol=1e-5)
        fns[f"single_pass_{rows}_ms"] = lambda rows=rows: single_pass_eps(prior.denoiser, flat, abar, rows)
    row = round_robin_ms(fns, repeats)
    row["reference_direct_ms"] = round_robin_ms({"direct": lambda: naive_eps(points, flat, abar)}, max(3, repeats // 10))["direct"]
    eps = eps.double()
    exact = naive_eps(points.double(), flat.double(), abar.double())
    row["max_abs_error_vs_float64"] = float((eps - exact).abs().max())
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--resolution", type=int, default=64)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=40)
    parser.add_argument("--threads", default="1,2", help="torch thread counts, comma-separated (0: torch's default)")
    parser.add_argument("--single-pass", default="", help="row-block sizes of the single-pass experiment at t = 900, comma-separated")
    args = parser.parse_args()
    thread_counts = [int(v) for v in args.threads.split(",")]
    single_pass = tuple(int(v) for v in args.single_pass.split(",") if v)

    result: dict = {"resolution": args.resolution, "batch": args.batch, "repeats": args.repeats, "torch": torch.__version__}
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
    result.update(icons=n, icon_matrix_mib=round(n * d * 4 / 2**20, 1), denoiser_mib=round(prior.denoiser.nbytes / 2**20, 1))
    prompt = prior.encode_prompt("red heart")
    g = torch.Generator().manual_seed(0)
    icons = prior.all_icons()
    x0 = icons[torch.randint(0, n, (args.batch,), generator=g)] * 2 - 1
    noise = torch.randn(x0.shape, generator=g)
    points = prior.denoiser.points()
    default_threads = torch.get_num_threads()
    for threads in thread_counts:
        torch.set_num_threads(threads or default_threads)
        block: dict = {"load_before": round(os.getloadavg()[0], 2)}
        for t_value in T_VALUES:
            t = torch.full((args.batch,), t_value)
            x_t = prior.add_noise(x0, noise, t)
            row = measure(prior, prompt, points, x_t, t, args.repeats, single_pass if t_value == 900 else ())
            row["speedup_uncond_vs_direct"] = row["reference_direct_ms"] / row["uncond_ms"]
            row["uncond_over_floor"] = row["uncond_ms"] / row["floor_one_product_ms"]
            block[f"t={t_value}"] = {k: (float(f"{v:.3g}") if k.startswith("max_abs") else round(v, 2)) for k, v in row.items()}
        block["load_after"] = round(os.getloadavg()[0], 2)
        result[f"threads={torch.get_num_threads()}"] = block
    torch.set_num_threads(default_threads)
    print(json.dumps(result, indent=1))
    print(table(result))


def table(result: dict) -> str:
    """The timings as a Markdown table (rows: quantities; columns: threads x t)."""
    blocks = [(k, v) for k, v in result.items() if k.startswith("threads=")]
    head = "| | " + " | ".join(f"{k.split('=')[1]} thr, t = {t}" for k, _ in blocks for t in T_VALUES) + " |"
    lines = [head, "|---" * (1 + len(blocks) * len(T_VALUES)) + "|"]
    names = [("uncond_ms", "unconditional branch (all icons), ms"), ("cond_ms", 'conditional branch ("red heart"), ms'),
             ("cfg_pair_ms", "CFG pair, one `predict_noise_many`, ms"), ("floor_one_product_ms", "floor: one product `Y @ x.T`, ms"),
             ("product_other_orientation_ms", "the product as `x @ Y.T`, ms"), ("reference_direct_ms", "reference: the definition directly, ms"),
             ("speedup_uncond_vs_direct", "speed-up vs the definition"), ("max_abs_error_vs_float64", "max abs error vs float64")]
    extra = sorted({k for _, b in blocks for k in b["t=900"] if k.startswith("single_pass_")}, key=lambda k: int(k.split("_")[2]))
    names += [(k, f"single pass (experiment), blocks of {k.split('_')[2]} rows, ms") for k in extra]
    for key, label in names:
        lines.append(f"| {label} | " + " | ".join(str(b[f"t={t}"].get(key, "")) for _, b in blocks for t in T_VALUES) + " |")
    loads = ", ".join(f"{k}: {b['load_before']} -> {b['load_after']}" for k, b in blocks)
    return "\n".join(lines) + f"\n\nload average (1 min) before -> after: {loads}"


if __name__ == "__main__":
    main()
