"""What the exact pass does on the sketch style's initial scene under ``exact="all"``.

    python benchmarks/exact_pass_stats.py

The scene of ``compare_revisions.py``'s sketch case (``make --style sketch``'s initial scene
with Stable Diffusion's preset: 128 open strokes 1.28 px wide at 512^2). Prints the pixels
handed to the host pass (``exact_cells.resolve``), those swept, the most pieces and the most
crossings of two pieces in one swept pixel (one render, the NumPy pass's sweep watched), and
the host pass's wall time, NumPy (``exact_cells.resolve_numpy``) and compiled
(``jit_exact``, where the compiled kernels are available) alternating (medians of
``--repeats`` further forwards each, unwatched, one torch thread); appends to the results
file.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path as FsPath

sys.path.insert(0, str(FsPath(__file__).resolve().parents[1]))

from vecdistill.runtime import configure_process  # noqa: E402

configure_process()

import torch  # noqa: E402

from vecdistill.pipelines.init import random_scene  # noqa: E402
from vecdistill.raster import exact_cells, rasterize  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=9)
    ap.add_argument("--out", default=str(FsPath(__file__).resolve().parent / "results" / "raster_cpu.txt"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    size = 512
    scene = random_scene("sketch", size, 128, 4, torch.Generator().manual_seed(3), radius=20 / 600 * size, width=1.28)
    stats = {"handed": 0, "swept": 0, "pieces": 0, "crossings": 0}
    seconds: dict[str, list[float]] = {"numpy": [], "compiled": []}
    resolve, sweep = exact_cells.resolve, exact_cells._sweep
    passes = {"numpy": exact_cells.resolve_numpy, "compiled": resolve}  # (resolve: compiled where jit.available())
    which = ["numpy"]

    def timed_resolve(pieces, max_pieces):
        t0 = time.perf_counter()
        out = passes[which[0]](pieces, max_pieces)
        seconds[which[0]].append(time.perf_counter() - t0)
        stats["handed"] = int((pieces.cell[1:] != pieces.cell[:-1]).sum()) + 1
        return out

    def counted_sweep(xa, ya, xb, yb, valid, area, evenodd, pairs, hit=None):
        hit = exact_cells._crossing(valid, pairs) if hit is None else hit
        stats["swept"] += xa.shape[0]
        stats["pieces"] = max(stats["pieces"], int(valid.sum(1).max()))
        stats["crossings"] = max(stats["crossings"], int(hit.sum(1).max()))
        return sweep(xa, ya, xb, yb, valid, area, evenodd, pairs, hit)

    # the counts from one render with the NumPy pass's sweep watched; the times from renders
    # without (the counting's own work stays out), the NumPy and the compiled pass alternating
    try:
        exact_cells._sweep, exact_cells.resolve = counted_sweep, exact_cells.resolve_numpy
        with torch.no_grad():
            rasterize(scene, size, size, exact="all")
        exact_cells._sweep, exact_cells.resolve = sweep, timed_resolve
        for _ in range(args.repeats):
            for name in passes:
                which[0] = name
                with torch.no_grad():
                    rasterize(scene, size, size, exact="all")
    finally:
        exact_cells.resolve, exact_cells._sweep = resolve, sweep
    numpy_ms, compiled_ms = (statistics.median(seconds[k]) * 1e3 for k in ("numpy", "compiled"))
    lines = [
        f"# exact_pass_stats ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}): the sketch scene (128 strokes of 1.28 px, 512^2), exact='all'",
        "",
        "| pixels handed to the host pass | swept | most pieces in a swept pixel | most crossings in a swept pixel | host pass ms, NumPy (median) | compiled, jit_exact (median) | ratio |",
        "|---|---|---|---|---|---|---|",
        f"| {stats['handed']} | {stats['swept']} | {stats['pieces']} | {stats['crossings']} | {numpy_ms:.1f} | {compiled_ms:.1f} | {compiled_ms / numpy_ms:.2f} |",
        "",
    ]
    print("\n".join(lines))
    with open(args.out, "a") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
