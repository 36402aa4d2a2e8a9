"""Cost of --checkpoint-every: a short embedded-prior ``make`` run (the preset's 24 paths at
64 px) without checkpointing, with checkpointing on but never due (the in-memory copy of
each step boundary) and with a checkpoint written after every step (the worst case),
interleaved repeats, medians; plus the checkpoint's size, and what copying Adam's state at a
boundary costs with the kept copy (``pipelines.kept.KeptCopy``) against a fresh clone of every
tensor (the copy before it), for the tensors of 24 and 128 paths.

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
from vecdistill.pipelines.kept import KeptCopy
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
    state_copies()


def fresh_clones(value):
    """The boundary's copy of a nested state before ``KeptCopy``: every tensor cloned."""
    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    if isinstance(value, dict):
        return {k: fresh_clones(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(fresh_clones(v) for v in value)
    return value


def state_copies(repeats: int = 200) -> None:
    """Adam's state over every tensor of an n-path circle scene (points, colours, widths,
    opacities), copied as a step boundary does: ms, medians of alternating calls."""
    from vecdistill.raster.testscenes import circles_scene

    for n in (24, 128):
        scene = circles_scene(n, 64, generator=torch.Generator().manual_seed(0))
        scene.requires_grad_(True)
        params = [t for t in scene.parameters() if t.requires_grad]
        opt = torch.optim.Adam(params, lr=0.01)
        for p in params:
            p.grad = torch.zeros_like(p)
        opt.step()
        kept = KeptCopy()
        kept.copy(opt.state_dict())
        fresh, reused = [], []
        for _ in range(repeats):
            t = time.perf_counter()
            fresh_clones(opt.state_dict())
            fresh.append(time.perf_counter() - t)
            t = time.perf_counter()
            kept.copy(opt.state_dict())
            reused.append(time.perf_counter() - t)
        a, b = statistics.median(fresh) * 1e3, statistics.median(reused) * 1e3
        print(f"Adam state of {n} paths ({3 * len(params)} tensors): fresh clones {a:.2f} ms, kept copy {b:.2f} ms ({b / a:.2f}x)")


if __name__ == "__main__":
    main()
