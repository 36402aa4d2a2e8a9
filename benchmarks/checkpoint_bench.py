"""Cost of --checkpoint-every: a short embedded-prior ``make`` run (the preset's 24 paths at
64 px) without checkpointing, with checkpointing on but never due (the in-memory copy of
each step boundary) and with a checkpoint written after every step (the worst case),
interleaved repeats, medians; plus the checkpoint's size.

    python3 benchmarks/checkpoint_bench.py [--steps 20] [--repeats 3] [--threads 1]
"""

from __future__ import annotations

from vecdistill.runtime import configure_process

configure_process()  # before torch loads: OpenMP and heap settings (vecdistill/runtime.py)

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from vecdistill.pipelines.checkpoint import checkpoint_path
from vecdistill.pipelines.make import MakeConfig, make
from vecdistill.priors.embedded import EmbeddedPrior


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--method", default="sds")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    prior = EmbeddedPrior()
    never = 10**9  # checkpointing on, never due: the per-step in-memory boundary copy only
    times: dict[int, list[float]] = {0: [], never: [], 1: []}
    size = 0
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):
            for every in times:
                out = Path(tmp) / f"run{r}_{every}.svg"
                cfg = MakeConfig(steps=args.steps, quiet=True, method=args.method, checkpoint_every=every)
                t = time.perf_counter()
                make("red heart", str(out), cfg, prior=prior)
                times[every].append((time.perf_counter() - t) / args.steps)
                if every == 1:
                    size = checkpoint_path(out).stat().st_size
    base, copy, ckpt = (statistics.median(times[k]) for k in (0, never, 1))
    print(f"method {args.method}, {args.steps} steps x {args.repeats} repeats, {args.threads} thread(s)")
    print(f"per step: no checkpointing {1000 * base:.1f} ms; boundary copy only {1000 * copy:.1f} ms (ratio {copy / base:.3f}); "
          f"written every step {1000 * ckpt:.1f} ms (ratio {ckpt / base:.3f})")
    print(f"checkpoint size: {size / 1024:.1f} KiB")


if __name__ == "__main__":
    main()
