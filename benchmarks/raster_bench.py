"""Rasterizer benchmark: speed against cairosvg in the same run, accuracy (PSNR against
cairosvg) on the circle scenes and on real icon sets.

    python benchmarks/raster_bench.py                      # full table -> stdout, appended to the results file
    python benchmarks/raster_bench.py --quick              # small smoke run

Scenes: N closed paths of 4 cubic segments, jittered circles of radius 5 % of the width
at random centres with random RGBA fills (vecdistill.raster.testscenes.circles_scene),
N = 64 / 256 / 1024 at 256^2 and 512^2. For each: the median time of cairosvg rendering
the same scene written as SVG (``cairosvg.svg2png`` on the SVG text prepared beforehand:
cairosvg parses, draws and encodes the PNG; the reference of the ratio), of its drawing
alone (parse and draw onto its surface, no PNG written; shown for comparison), our
forward, our forward + backward (gradients for points, colours), the
ratio (fwd+bwd) / cairosvg, the covered pixels (pixels inside layers' bounding boxes with
non-zero coverage), the memory held for backward (saved tensors), PSNR, and forward +
backward of the same scene with its points and colours packed into one leaf tensor each
(``vecdistill.raster.pack_parameters``) instead of one per path. Icon sets (``--icons`` files per
set, fetched by ``benchmarks/icon_corpus.py fetch``): PSNR against cairosvg, and ours and
cairosvg's against cairosvg at ``--supersample`` times the size, box-filtered (the pixels'
area coverage, see ``vecdistill.svg.export.cairo_render``), with which of the two is closer.
Torch threads stay at the default. Medians of --repeats runs, interleaved. Every forward +
backward starts, as an optimisation step does, with the leaves' gradients cleared
(``zero_grad(set_to_none=True)``, untimed). The time split of the 256-path case ends with the
fixed cost (the same paths on a 4^2 canvas) and the number of torch operations one forward +
backward dispatches.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import statistics
import sys
import time
from pathlib import Path as FsPath

sys.path.insert(0, str(FsPath(__file__).resolve().parents[1]))

from vecdistill.runtime import configure_process  # noqa: E402

configure_process()  # before torch loads: OpenMP and heap settings (vecdistill/runtime.py)

import torch  # noqa: E402
from icon_corpus import ACCURACY_SETS, spread  # noqa: E402  (benchmarks/icon_corpus.py: fetch the sets with it)
from timing import step_seconds, sync  # noqa: E402  (benchmarks/timing.py)

from vecdistill.raster import coverage, pack_parameters, rasterize, rasterize_batch  # noqa: E402
from vecdistill.raster.testscenes import circles_scene  # noqa: E402
from vecdistill.svg.export import cairo_render  # noqa: E402
from vecdistill.svg.write import to_svg_string  # noqa: E402


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float(((a.double() - b.double()) ** 2).mean())
    return 99.0 if mse == 0 else -10 * math.log10(mse)


def saved_bytes(fn) -> tuple[object, int]:
    """Run ``fn`` and count the bytes of tensors autograd saves for backward."""
    total = [0]
    seen: set[int] = set()

    def pack(t):
        key = t.untyped_storage().data_ptr()
        if key not in seen:
            seen.add(key)
            total[0] += t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    return out, total[0]


def leaves(scene) -> list[torch.Tensor]:
    """The scene's tensors that take gradients (the leaves an optimiser steps)."""
    return [t for t in scene.parameters() if t.requires_grad and t.is_leaf]


def cairosvg_seconds(svg: bytes, size: int) -> tuple[float, float]:
    """Wall seconds of cairosvg rendering ``svg`` at ``size``^2 once: ``(svg2png, drawing
    alone)``. The first is ``cairosvg.svg2png`` (parse, draw, PNG encoding), the ratio's
    reference, with nothing of ours in it (decoding the PNG into a tensor is left out); the
    second parses and draws onto cairosvg's surface without writing the PNG."""
    import io

    import cairosvg
    from cairosvg.parser import Tree
    from cairosvg.surface import PNGSurface

    t0 = time.perf_counter()
    cairosvg.svg2png(bytestring=svg, output_width=size, output_height=size, unsafe=False)
    t1 = time.perf_counter()
    surface = PNGSurface(Tree(bytestring=svg, unsafe=False), io.BytesIO(), 96, output_width=size, output_height=size)
    surface.cairo.flush()
    t2 = time.perf_counter()
    return t1 - t0, t2 - t1


def covered_pixels(scene, size) -> int:
    count = [0]
    orig = coverage.rasterize_layers

    def spy(*args, **kwargs):
        f = orig(*args, **kwargs)
        count[0] += int(f.cov.shape[0])
        return f

    coverage.rasterize_layers = spy
    try:
        from vecdistill.raster import render

        render.coverage.rasterize_layers = spy
        rasterize(scene, size, size)
    finally:
        coverage.rasterize_layers = orig
    return count[0]


def bench_circles(ns, sizes, repeats, out):
    out("## Speed and accuracy on circle scenes (ms, medians)")
    out("")
    out("| canvas | paths | cairosvg (svg2png) | cairosvg drawing alone | ours fwd | ours fwd+bwd | ratio fwd+bwd / cairosvg | covered px | ms per 100k px | saved for bwd (MB) | PSNR vs cairosvg (dB) | fwd+bwd, packed leaves | ratio, packed |")
    out("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for size in sizes:
        for n in ns:
            scene = circles_scene(n, size, generator=torch.Generator().manual_seed(n + size))
            svg = to_svg_string(scene, precision=4)
            scene.requires_grad_(True, kinds=("points", "colors"))
            packed = circles_scene(n, size, generator=torch.Generator().manual_seed(n + size))
            packed_leaves = list(pack_parameters(packed).values())  # one leaf for all points, one for all colours
            scene_leaves = leaves(scene)
            ref = cairo_render(svg, size, size)
            with torch.no_grad():
                img = rasterize(scene, size, size)
            quality = psnr(img, ref)
            _, mem = saved_bytes(lambda s=scene, z=size: rasterize(s, z, z))
            px = covered_pixels(scene, size)
            tc, td, tf, tfb, tpk = [], [], [], [], []
            svg_bytes = svg.encode()
            for _ in range(repeats):
                c, d = cairosvg_seconds(svg_bytes, size)
                tc.append(c)
                td.append(d)
                t0 = time.perf_counter()
                with torch.no_grad():
                    rasterize(scene, size, size)
                tf.append(time.perf_counter() - t0)
                tfb.append(step_seconds(lambda s=scene, z=size: rasterize(s, z, z), scene_leaves))
                tpk.append(step_seconds(lambda s=packed, z=size: rasterize(s, z, z), packed_leaves))
            c, dr, f, fb, pk = (statistics.median(x) * 1e3 for x in (tc, td, tf, tfb, tpk))
            out(
                f"| {size}^2 | {n} | {c:.1f} | {dr:.1f} | {f:.1f} | {fb:.1f} | {fb / c:.2f} | {px} | {fb / px * 1e5:.1f} | {mem / 2**20:.1f} | {quality:.1f} | {pk:.1f} | {pk / c:.2f} |"
            )
    out("")


def compiled_kernels() -> str:
    """The compiled CPU kernels' state, for the header line: Numba's version, or why not."""
    from importlib.metadata import version

    from vecdistill.raster import jit

    return f"compiled CPU kernels: Numba {version('numba')}" if jit.available() else "compiled CPU kernels: off (per-operation path)"


_COMPILE_CHILD = """
import time, torch
t0 = time.perf_counter()
from vecdistill.raster import jit_composite, jit_coverage, jit_exact
t1 = time.perf_counter()
for dtype in (torch.float32, torch.float64):
    jit_coverage.compile_for(dtype)
    jit_composite.compile_for(dtype)
jit_exact.compile_for()  # (float64 only)
print(f"{t1 - t0:.2f} {time.perf_counter() - t1:.2f}")
"""


def bench_compile_time(out) -> None:
    """Seconds a process spends before its first compiled render: importing Numba,
    ``jit_coverage``, ``jit_composite`` and ``jit_exact``, and compiling (or loading) their
    kernels for both dtypes (the exact pass's: float64 only); in a child
    process with an empty Numba cache (a fresh ``NUMBA_CACHE_DIR``), then in a second child
    that finds the first one's cache."""
    import subprocess
    import tempfile

    from vecdistill.raster import jit

    if not jit.available():
        out("## Compile time of the compiled CPU kernels: not available here; skipped")
        out("")
        return
    out("## Compile time of the compiled CPU kernels (child processes, seconds)")
    out("")
    out("| process | import Numba + the kernel modules | all kernels, float32 and float64 |")
    out("|---|---|---|")
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        for name in ("first (empty cache)", "second (cached)"):
            r = subprocess.run([sys.executable, "-c", _COMPILE_CHILD], env=env, capture_output=True, text=True, check=True)
            imported, compiled = r.stdout.split()[-2:]
            out(f"| {name} | {imported} | {compiled} |")
    out("")


def bench_compiled(n: int, size: int, repeats: int, out) -> None:
    """Forward + backward of the n-path circle scene with the compiled CPU kernels
    (``vecdistill.raster.jit``, Numba) and with the per-operation path
    (``jit.disabled()``, as ``VECDISTILL_JIT=0``), interleaved in one process: medians and
    their ratio, one leaf per path and packed leaves."""
    from vecdistill.raster import jit

    if not jit.available():
        out("## Compiled CPU kernels: not available here (Numba not installed, VECDISTILL_JIT=0, or failed); skipped")
        out("")
        return
    out(f"## Compiled CPU kernels (coverage and compositing) against the per-operation path: {n} paths at {size}^2, forward + backward, wall ms (medians of {repeats}, interleaved)")
    out("")
    out("| leaves | compiled | per-operation | ratio |")
    out("|---|---|---|---|")
    scene = circles_scene(n, size, generator=torch.Generator().manual_seed(n + size))
    scene.requires_grad_(True, kinds=("points", "colors"))
    packed = circles_scene(n, size, generator=torch.Generator().manual_seed(n + size))
    cases = {"one leaf per path": (scene, leaves(scene)), "packed": (packed, list(pack_parameters(packed).values()))}
    for name, (s, ps) in cases.items():
        times: dict[bool, list[float]] = {True: [], False: []}
        for _ in range(repeats + 1):  # (the first pair warms up: plans built, kernels loaded)
            for on in (True, False):
                with contextlib.nullcontext() if on else jit.disabled():
                    times[on].append(step_seconds(lambda s=s: rasterize(s, size, size), ps))
        a, b = (statistics.median(times[on][1:]) * 1e3 for on in (True, False))
        out(f"| {name} | {a:.1f} | {b:.1f} | {a / b:.2f} |")
    out("")


def bench_threads(cases, repeats, out):
    """Forward + backward wall ms (medians, interleaved) at torch's thread count with the
    rasterizer's thread policy (vecdistill/raster/threads.py: one thread below its canvas
    pixel threshold), with the policy off (torch's count for every operation), and on 1 thread."""
    from vecdistill.raster import threads

    default = torch.get_num_threads()
    keep = threads.SERIAL_BELOW
    out(f"## Thread policy: forward + backward, wall ms (medians of {repeats}); torch threads {default}, OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}")
    out("")
    out(f"| canvas | paths | fragments | policy ({default} threads) | policy off ({default} threads) | 1 thread | policy / off |")
    out("|---|---|---|---|---|---|---|")
    modes = {"policy": (default, keep), "off": (default, 0), "one": (1, 0)}
    try:
        for n, size in cases:
            scene = circles_scene(n, size, generator=torch.Generator().manual_seed(n + size))
            scene.requires_grad_(True, kinds=("points", "colors"))
            fragments = covered_pixels(scene, size)  # (also the warm-up render)
            params = leaves(scene)
            times = {m: [] for m in modes}
            for r in range(repeats + 1):
                for m, (count, serial_below) in modes.items():
                    torch.set_num_threads(count)
                    threads.SERIAL_BELOW = serial_below
                    t = step_seconds(lambda s=scene, z=size: rasterize(s, z, z), params)
                    if r:
                        times[m].append(t)
            p, o, one = (statistics.median(times[m]) * 1e3 for m in modes)
            out(f"| {size}^2 | {n} | {fragments} | {p:.1f} | {o:.1f} | {one:.1f} | {p / o:.2f} |")
    finally:
        torch.set_num_threads(default)
        threads.SERIAL_BELOW = keep
    out("")


def bench_ops(repeats: int, out) -> None:
    """Microseconds of single torch operations at the sizes a 256-path render at 256^2 works
    on (139148 fragments, 222720 buffer cells): what the coverage and flattening code's
    choices (float masks, lerp, int32 cells, scatter_add, NumPy's nonzero) rest on."""
    from timing import median_ms

    from vecdistill.raster.coverage import flat_nonzero

    g = torch.Generator().manual_seed(0)
    n, cells = 139148, 222720
    a, b = torch.rand(n, generator=g), torch.rand(n, generator=g)
    mask = a > 0.5
    fmask = mask.float()
    idx = torch.randint(0, 65536, (n,), generator=g)
    idx32 = idx.int()
    buffer = torch.rand(cells, generator=g) * (torch.rand(cells, generator=g) > 0.4)
    ops = {
        "a + b": lambda: a + b,
        "a >= b (into bool)": lambda: a >= b,
        "torch.ge(a, b, out=float tensor)": lambda: torch.ge(a, b, out=torch.empty_like(a)),
        "bool -> float": lambda: mask.float(),
        "float -> bool (.bool())": lambda: a.bool(),
        "torch.where(mask, a, b)": lambda: torch.where(mask, a, b),
        "torch.lerp(b, a, float mask)": lambda: torch.lerp(b, a, fmask),
        "float -> int64": lambda: a.long(),
        "float -> int32": lambda: a.int(),
        "index_select (int64 index)": lambda: a.index_select(0, idx),
        "index_add_ into 65536": lambda: torch.zeros(65536).index_add_(0, idx, a),
        "scatter_add_ into 65536": lambda: torch.zeros(65536).scatter_add_(0, idx, a),
        "index_add_ into 65536, int32 index": lambda: torch.zeros(65536).index_add_(0, idx32, a),
        "cumsum, float64": lambda: torch.cumsum(a.double(), 0),
        "log": lambda: torch.log(a),
        "exp": lambda: torch.exp(a),
        f"nonzero over {cells} cells (bool)": lambda: buffer.bool().nonzero(),
        f"coverage.flat_nonzero over {cells} cells (bool; NumPy)": lambda: flat_nonzero(buffer.bool()),
    }
    out(f"## Single operations on {n} elements, microseconds (medians of {repeats}, torch threads {torch.get_num_threads()})")
    out("")
    out("| operation | us | x (a + b) |")
    out("|---|---|---|")
    base = None
    for name, fn in ops.items():
        us = 1000 * median_ms(fn, repeats)
        base = base or us
        out(f"| {name} | {us:.0f} | {us / base:.1f} |")
    out("")
    bench_cache_states(a, b, repeats, out)


def bench_cache_states(a: torch.Tensor, b: torch.Tensor, repeats: int, out) -> None:
    """Microseconds of one multiply ``a * b`` over the fragments in three cache states: its
    inputs hot (the call repeated), twenty such products alive at once (more than a core's
    L2 holds), and right after a 16 MB buffer was written (the state the rest of a render
    leaves): why a render's passes cost several times their hot timing. On one thread, as
    renders run (:mod:`vecdistill.raster.threads`)."""
    from vecdistill.raster.threads import at_most

    with at_most(1):
        _cache_states(a, b, repeats, out)


def _cache_states(a: torch.Tensor, b: torch.Tensor, repeats: int, out) -> None:
    flush = torch.empty(4 * 2**20)

    def timed(before=None) -> float:
        times = []
        for _ in range(repeats):
            if before is not None:
                before()
            t0 = time.perf_counter()
            a * b
            times.append(time.perf_counter() - t0)
        return 1e6 * statistics.median(times)

    hot = timed()
    alive_times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        kept = [a * b for _ in range(20)]
        alive_times.append((time.perf_counter() - t0) / 20)
        del kept
    alive = 1e6 * statistics.median(alive_times)
    cold = timed(lambda: flush.add_(1.0))
    out(f"## One multiply over the {a.shape[0]} fragments by cache state, microseconds (medians of {repeats})")
    out("")
    out("| state | us | x hot |")
    out("|---|---|---|")
    for name, us in (("inputs hot (repeated)", hot), ("twenty products alive", alive), ("after a 16 MB write", cold)):
        out(f"| {name} | {us:.0f} | {us / hot:.1f} |")
    out("")


def bench_icons(per_set, size, out, exact: str = "auto", factor: int = 16):
    from vecdistill.svg.parse import load_svg

    how = "" if exact == "auto" else f', rasterize(..., exact="{exact}")'
    out(f"## Accuracy on real icon sets ({size}^2{how}, PSNR vs cairosvg rendering the original file)")
    out("")
    fine = f" | ours vs {factor}x cairosvg: mean PSNR | cairosvg vs {factor}x: mean PSNR | closer to it: ours / as close / cairosvg" if factor else ""
    out(f"| set | files | mean PSNR (dB) | median | min | failed to load | ours ms / icon (fwd){fine} |")
    out("|---|---|---|---|---|---|---|" + ("---|---|---|" if factor else ""))
    for name in ACCURACY_SETS:
        files = spread(name, per_set)
        if not files:
            out(f"| {name} | 0 | - | - | - | - | - |" + (" - | - | - |" if factor else ""))
            continue
        scores, failed, times, ours_fine, cairo_fine = [], 0, [], [], []
        for f in files:
            text = f.read_text(errors="replace")
            try:
                scene = load_svg(text)
                ref = cairo_render(text, size, size)
            except Exception:
                failed += 1
                continue
            t0 = time.perf_counter()
            with torch.no_grad():
                img = rasterize(scene, size, size, exact=exact)
            times.append(time.perf_counter() - t0)
            scores.append(min(psnr(img, ref), 99.0))
            if factor:
                truth = cairo_render(text, size, size, supersample=factor)  # (see its docstring)
                ours_fine.append(min(psnr(img, truth), 99.0))
                cairo_fine.append(min(psnr(ref, truth), 99.0))
        if scores:
            row = f"| {name} | {len(scores)} | {statistics.mean(scores):.1f} | {statistics.median(scores):.1f} | {min(scores):.1f} | {failed} | {statistics.median(times) * 1e3:.1f} |"
            if factor:
                # (as close: within 0.05 dB, or both beyond 90 dB, i.e. exact but for rounding)
                tied = [abs(o - c) < 0.05 or min(o, c) >= 90 for o, c in zip(ours_fine, cairo_fine)]
                closer = sum(o > c and not t for o, c, t in zip(ours_fine, cairo_fine, tied))
                row += f" {statistics.mean(ours_fine):.1f} | {statistics.mean(cairo_fine):.1f} | {closer} / {sum(tied)} / {len(tied) - closer - sum(tied)} |"
            out(row)
    out("")


def bench_views(n: int, size: int, batch: int, repeats: int, out, device: torch.device | None = None) -> None:
    """Forward + backward of ``batch`` views of one scene (random crops/zooms as pixel ->
    pixel matrices, the augmentation the pipelines use) against one view, same run, on
    ``device`` (default: the CPU)."""
    device = device or torch.device("cpu")
    scene = circles_scene(n, size, generator=torch.Generator().manual_seed(n + size)).to(device)
    scene.requires_grad_(True, kinds=("points", "colors"))
    g = torch.Generator().manual_seed(1)
    scale = 1 + 0.3 * torch.rand(batch, generator=g)
    shift = (torch.rand(batch, 2, generator=g) - 0.5) * 0.2 * size
    views = torch.zeros(batch, 3, 3)
    views[:, 0, 0] = views[:, 1, 1] = scale
    views[:, :2, 2] = shift - (scale.unsqueeze(1) - 1) * size / 2
    views[:, 2, 2] = 1
    views = views.to(device)
    one, many = [], []
    params = leaves(scene)
    warm = 0 if device.type == "cpu" else 3  # (kernel and plan warm-up off the CPU)
    for r in range(warm + repeats):
        a = step_seconds(lambda: rasterize(scene, size, size), params, device)
        b = step_seconds(lambda: rasterize_batch(scene, size, size, views=views), params, device)
        if r >= warm:
            one.append(a)
            many.append(b)
    a, b = statistics.median(one) * 1e3, statistics.median(many) * 1e3
    where = "" if device.type == "cpu" else f" on {device_name(device)} (target: under 4x one view)"
    out(f"## Batched views: {batch} views of the {n}-path scene at {size}^2, forward + backward (ms, medians){where}")
    out("")
    out("| one view | batch | batch / one view |")
    out("|---|---|---|")
    out(f"| {a:.2f} | {b:.2f} | {b / a:.1f}x |")
    out("")


def device_name(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else str(device)


@contextlib.contextmanager
def fused_kernels_off():
    """The rasterizer's per-operation path for the block (``VECDISTILL_FUSED=0``; the
    variable's previous state after it)."""
    before = os.environ.get("VECDISTILL_FUSED")
    os.environ["VECDISTILL_FUSED"] = "0"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("VECDISTILL_FUSED")
        else:
            os.environ["VECDISTILL_FUSED"] = before


def bench_device(device: str, repeats: int, out) -> None:
    """The issue's accelerator targets on ``device`` (e.g. ``cuda``): forward and forward +
    backward of the circle scenes (wall ms with a synchronise around each run, medians,
    cleared gradients), the same with packed leaves, and with the per-operation path instead
    of the fused kernels (``VECDISTILL_FUSED=0``; interleaved), peak memory, and 16 augmented
    views at 512^2 against one view."""
    dev = torch.device(device)
    out(f"## On {device_name(dev)}: forward and forward + backward (wall ms, medians of {repeats}; target: 512^2 / 256 paths under 3 ms)")
    out("")
    out("| canvas | paths | fwd | fwd+bwd | fwd+bwd, packed leaves | fwd+bwd, per-operation path (VECDISTILL_FUSED=0) | peak memory (MB) |")
    out("|---|---|---|---|---|---|---|")
    for size in (256, 512):
        for n in (64, 256, 1024):
            scene = circles_scene(n, size, generator=torch.Generator().manual_seed(n + size)).to(dev)
            scene.requires_grad_(True, kinds=("points", "colors"))
            packed = circles_scene(n, size, generator=torch.Generator().manual_seed(n + size)).to(dev)
            cases = {"one leaf per path": (scene, leaves(scene)), "packed": (packed, list(pack_parameters(packed).values()))}

            def render(s=scene, z=size):
                return rasterize(s, z, z)

            for s_, ps in cases.values():  # warm-up (kernels, plans)
                for _ in range(3):
                    step_seconds(lambda s_=s_, z=size: rasterize(s_, z, z), ps, dev)
            if dev.type == "cuda":
                torch.cuda.reset_peak_memory_stats(dev)
            times: dict[str, list[float]] = {"fwd": [], "both": [], "packed": [], "per-operation": []}
            for r in range(repeats + 1):
                with torch.no_grad():
                    sync(dev)
                    t0 = time.perf_counter()
                    render()
                    sync(dev)
                    fwd = time.perf_counter() - t0
                both = step_seconds(render, cases["one leaf per path"][1], dev)
                pk = step_seconds(lambda s_=packed, z=size: rasterize(s_, z, z), cases["packed"][1], dev)
                with fused_kernels_off():
                    per_op = step_seconds(render, cases["one leaf per path"][1], dev)
                if r:  # the first round warms the per-operation path
                    for key, value in zip(times, (fwd, both, pk, per_op)):
                        times[key].append(value)
            peak = torch.cuda.max_memory_allocated(dev) / 2**20 if dev.type == "cuda" else float("nan")
            ms = {key: statistics.median(v) * 1e3 for key, v in times.items()}
            out(f"| {size}^2 | {n} | {ms['fwd']:.2f} | {ms['both']:.2f} | {ms['packed']:.2f} | {ms['per-operation']:.2f} | {peak:.0f} |")
    out("")
    bench_views(256, 512, 16, repeats, out, dev)


def bench_stages(n: int, size: int, repeats: int, out) -> None:
    """Where a forward + backward of the n-path circle scene goes, stage by stage (the plan
    check, flattening, coverage, compositing, the rest of the forward; the compositing and
    coverage backward functions, the rest of the backward: flattening's and the glue's
    autograd, the leaves' gradient accumulation), at ``size``^2 and, interleaved, at 4^2:
    the same paths on a canvas of a handful of pixels, where what is left is the fixed
    part (dispatch, Python, the plan check); the difference is what grows with the pixels.
    Also the minor page faults per step (the heap settings of ``vecdistill.runtime``;
    ``VECDISTILL_MALLOPT=0`` to compare). Process CPU ms, medians."""
    import resource

    from vecdistill.raster import composite, render

    scene = circles_scene(n, size, generator=torch.Generator().manual_seed(n + size))
    scene.requires_grad_(True, kinds=("points", "colors"))
    spent: dict[str, float] = {}
    forward = {"plan check": (render, "plan_for"), "flatten": (render, "flatten"), "coverage": (coverage, "rasterize_layers"), "compositing": (composite, "over")}
    backward = {"compositing backward": composite._Over, "coverage backward": coverage._WindingArea}
    from vecdistill.raster import jit

    if jit.available():  # the compiled compositing's backward (the per-operation one then idles)
        from vecdistill.raster import jit_composite

        backward["compiled compositing backward"] = jit_composite._JitOver

    def timed(name, fn):
        def run(*args, **kwargs):
            t0 = time.process_time()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[name] = spent.get(name, 0.0) + time.process_time() - t0
        return run

    saved = {name: getattr(mod, attr) for name, (mod, attr) in forward.items()}
    saved_bwd = {name: cls.__dict__["backward"] for name, cls in backward.items()}
    for name, (mod, attr) in forward.items():
        setattr(mod, attr, timed(name, saved[name]))
    for name, cls in backward.items():
        cls.backward = staticmethod(timed(name, saved_bwd[name].__func__))
    sizes = (4, size)
    rows: dict[int, dict[str, list[float]]] = {z: {} for z in sizes}
    try:
        params = leaves(scene)
        for z in sizes:
            rasterize(scene, z, z).sum().backward()  # warm-up: plans built
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        for _ in range(repeats):
            for z in sizes:
                spent.clear()
                for t in params:
                    t.grad = None
                t0 = time.process_time()
                img = rasterize(scene, z, z)
                t1 = time.process_time()
                img.sum().backward()
                t2 = time.process_time()
                r = rows[z]
                for name in (*forward, *backward):
                    r.setdefault(name, []).append(spent.get(name, 0.0))
                r.setdefault("rest of the forward", []).append(t1 - t0 - sum(spent.get(k, 0.0) for k in forward))
                r.setdefault("rest of the backward", []).append(t2 - t1 - sum(spent.get(k, 0.0) for k in backward))
                r.setdefault("forward", []).append(t1 - t0)
                r.setdefault("backward", []).append(t2 - t1)
                r.setdefault("forward + backward", []).append(t2 - t0)
        faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults) / (repeats * len(sizes))
    finally:
        for name, (mod, attr) in forward.items():
            setattr(mod, attr, saved[name])
        for name, cls in backward.items():
            cls.backward = saved_bwd[name]
    heap = "off (VECDISTILL_MALLOPT=0)" if os.environ.get("VECDISTILL_MALLOPT") == "0" else "on"
    out(f"## Where the time goes: {n} paths at {size}^2 and at 4^2, one leaf per path, process CPU ms (medians of {repeats}, interleaved; heap settings {heap})")
    out("")
    out(f"| stage | at 4^2 (the fixed part) | at {size}^2 | difference |")
    out("|---|---|---|---|")
    order = ("plan check", "flatten", "coverage", "compositing", "rest of the forward", "forward",
             "compositing backward", "compiled compositing backward", "coverage backward", "rest of the backward", "backward", "forward + backward")
    for name in (n for n in order if n in rows[sizes[0]]):
        small, big = (statistics.median(rows[z][name]) * 1e3 for z in sizes)
        out(f"| {name} | {small:.2f} | {big:.2f} | {big - small:.2f} |")
    out("")
    out("| part | value |")
    out("|---|---|")
    out(f"| minor page faults per forward + backward | {faults:.0f} |")
    for name, value in bench_parts(scene, size, repeats).items():
        out(f"| {name} | {value if isinstance(value, int) else f'{value:.2f}'} |")
    out("")


def bench_parts(scene, size: int, repeats: int) -> dict[str, float | int]:
    """Parts the docs quote, process CPU ms (medians): the render plan per call (a kept one:
    the fingerprint walk and the opacity read; and one built anew: the scene walk and its
    tables), and the stable sort of the fragments' pixel keys with 16- and 32-bit keys; the
    fixed cost of a forward + backward (wall ms of the same paths on a 4^2 canvas), and the
    number of torch operations a forward + backward dispatches (ints)."""
    from timing import median_ms as timed_ms

    from vecdistill.raster import composite
    from vecdistill.raster.plan import clear_plans, plan_for

    def median_ms(fn) -> float:
        return timed_ms(fn, repeats, clock=time.process_time)

    def fresh() -> None:
        clear_plans()
        plan_for([scene], size, size)

    parts = {"render plan, kept (per call)": median_ms(lambda: plan_for([scene], size, size)), "render plan, built anew": median_ms(fresh)}
    seen: list = []
    over = composite.over
    composite.over = lambda pixel, *rest: seen.append(pixel) or over(pixel, *rest)
    try:
        with torch.no_grad():
            rasterize(scene, size, size)
    finally:
        composite.over = over
    pixel = seen[0]
    parts[f"stable sort of the {pixel.numel()} fragments' pixel keys, int16"] = median_ms(lambda: torch.sort((pixel - 2**15).to(torch.int16), stable=True))
    parts["the same, int32 keys"] = median_ms(lambda: torch.sort(pixel.int(), stable=True))
    # the fixed cost: the same paths on a 4^2 canvas (a handful of pixels, one segment per
    # vertex): what is left is per-operation dispatch, the plan's fingerprint and autograd
    tiny = circles_scene(len(scene.paths()), 4, generator=torch.Generator().manual_seed(1))
    tiny.requires_grad_(True, kinds=("points", "colors"))
    tiny_leaves = leaves(tiny)
    fixed = [step_seconds(lambda: rasterize(tiny, 4, 4), tiny_leaves) for _ in range(repeats + 1)][1:]
    parts["the same paths at 4^2, forward + backward, wall (the fixed cost)"] = statistics.median(fixed) * 1e3
    packed = circles_scene(len(scene.paths()), size, generator=torch.Generator().manual_seed(len(scene.paths()) + size))
    packed_leaves = list(pack_parameters(packed).values())
    for name, s, ps in (("one leaf per path", scene, leaves(scene)), ("packed leaves", packed, packed_leaves)):
        rasterize(s, size, size).sum().backward()  # warm: the plan is built
        parts[f"torch operations dispatched per forward + backward, {name}"] = count_operations(
            lambda s=s, ps=ps: step_seconds(lambda: rasterize(s, size, size), ps)
        )
    return parts


LAUNCH = "fused kernel launch"  # a stubbed kernel launch (bench_fused_counts): one operation


def count_operations(fn) -> int:
    """Torch operations ``fn`` dispatches, counted by the profiler: ATen calls not made from
    inside another ATen call (those of custom autograd Functions and of autograd's backward
    functions included), less the render plan's host reads of scalars (one transfer for
    all of them off the CPU); a stubbed kernel launch (:data:`LAUNCH`) counts as one."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        fn()
    skip = ("aten::item", "aten::_local_scalar_dense")

    def nested(e) -> bool:
        p = e.cpu_parent
        while p is not None:
            if p.name.startswith("aten::") or p.name == LAUNCH:
                return True
            p = p.cpu_parent
        return False

    return sum(1 for e in prof.events() if (e.name == LAUNCH or (e.name.startswith("aten::") and e.name not in skip)) and not nested(e))


def bench_fused_counts(out) -> None:
    """Torch operations a forward + backward of a 64-path scene at 64^2 (packed leaves)
    dispatches with the per-operation path and with the fused kernels
    (``vecdistill/raster/fused*.py``) added stage by stage: compositing, coverage,
    flattening. Their launches are stubbed on the CPU and counted as one operation each
    (the compositing and coverage stubs skip the kernels' work; the coverage stub reports
    no longer edges or walls, which a real scene may add a few dozen operations for; the
    flattening stub computes its vertices, inside the launch, so that the stages after it
    see the real geometry). Also the host reads of device values each makes (a sync each on
    a GPU; :mod:`vecdistill.raster.device_reads`). Needs Triton."""
    import vecdistill.raster.flatten as flatten
    from vecdistill.raster import fused, fused_coverage, fused_flatten, jit
    from vecdistill.raster.device_reads import count_device_reads
    from vecdistill.raster.kernel_gate import standing_in

    if fused.triton is None:
        out("(fused kernel counts: Triton is not installed)")
        return

    class Stub:
        """A kernel whose launch only marks itself, then runs ``work`` (if any) on its arguments."""

        def __init__(self, work=None) -> None:
            self.work = work

        def __getitem__(self, grid):
            def launch(*args, **kwargs):
                with torch.profiler.record_function(LAUNCH):
                    if self.work is not None:
                        self.work(*args, **kwargs)

            return launch

    def cubics(ctrl, counts, n_eval, first, seg_sub, points, subs, S, M, WRITE_SUB, **_):
        total = points.shape[0]
        (pts,) = flatten.cubic_points_per_operation([ctrl], counts, n_eval, total, M)
        points.copy_(pts)
        if WRITE_SUB:
            subs.copy_(seg_sub.repeat_interleave(n_eval, output_size=total))

    stubs = {
        (fused, "_over_forward"): Stub(),
        (fused, "_over_backward"): Stub(),
        # no longer edges or walls, no pieces entering a pixel (no crossed pixels: cells all the sink)
        (fused_coverage, "_coverage_forward"): Stub(lambda *a, **k: (a[7].zero_(), a[6].fill_(a[3].shape[0] - 1))),
        (fused_coverage, "_coverage_backward"): Stub(),
        (fused_flatten, "_cubics_forward"): Stub(cubics),
        (fused_flatten, "_cubics_backward"): Stub(lambda *a, **k: a[4].zero_()),
    }
    saved = {key: getattr(*key) for key in stubs}
    modes = {  # the stages whose (stubbed) kernels run
        "per-operation path": (),
        "fused compositing": ("compositing",),
        "fused compositing and coverage": ("compositing", "coverage"),
        "fused compositing, coverage and flattening": ("compositing", "coverage", "flattening"),
    }
    scene = circles_scene(64, 64, generator=torch.Generator().manual_seed(1))
    params = list(pack_parameters(scene).values())
    out("## Torch operations and device reads per forward + backward, 64 paths at 64^2, packed leaves (kernel launches stubbed, one each)")
    out("")
    out("| path | operations | device reads | of which the exact pass's (crossed pixels, on the host) |")
    out("|---|---|---|---|")
    try:
        for (module, name), stub in stubs.items():
            setattr(module, name, stub)
        for name, stages in modes.items():
            with standing_in(*stages), jit.disabled():  # (the CPU's compiled kernels never run on a GPU)
                step = lambda: step_seconds(lambda: rasterize(scene, 64, 64), params)  # noqa: E731
                step()  # warm: the plan is built
                reads, sites = count_device_reads(step)
                exact = sum(v for k, v in sites.items() if k.startswith("exact pass"))
                out(f"| {name} | {count_operations(step)} | {reads} | {exact} |")
    finally:
        for (module, name), kernel in saved.items():
            setattr(module, name, kernel)
    out("")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes, few repeats")
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--icons", type=int, default=200, help="files per icon set")
    ap.add_argument("--icon-size", type=int, default=128)
    ap.add_argument("--exact", choices=("auto", "all"), default="auto", help="the icon renders' exact mode (vecdistill render uses all)")
    ap.add_argument("--supersample", type=int, default=16, help="also compare ours and cairosvg with cairosvg at this many times the size, box-filtered (0: skip)")
    ap.add_argument("--no-icons", action="store_true")
    ap.add_argument("--no-circles", action="store_true")
    ap.add_argument("--views", type=int, default=16, help="batch size of the batched-views case (0: skip)")
    ap.add_argument("--no-stages", action="store_true", help="skip the time split of the 256-path case")
    ap.add_argument("--ns", default="64,256,1024", help="path counts of the circle scenes")
    ap.add_argument("--sizes", default="256,512", help="canvas sizes of the circle scenes")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: leave the default)")
    ap.add_argument("--thread-policy", action="store_true", help="also time the rasterizer's thread policy (at the default thread count)")
    ap.add_argument("--ops", action="store_true", help="also time single torch operations the rasterizer's code choices rest on")
    ap.add_argument("--compile-time", action="store_true", help="also time the compiled CPU kernels' first compilation and a cached load (child processes)")
    ap.add_argument("--fused-count", action="store_true", help="also count the operations the fused GPU kernels save (Triton needed)")
    ap.add_argument("--device", default=None, help="also run the accelerator targets on this device (e.g. cuda)")
    ap.add_argument("--append", action="store_true", help="append to the results file (the default; kept for older command lines)")
    ap.add_argument("--overwrite", action="store_true", help="replace the results file instead of appending to it")
    ap.add_argument("--out", default=str(FsPath(__file__).resolve().parent / "results" / "raster_cpu.txt"))
    args = ap.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    lines: list[str] = []

    def out(s: str) -> None:
        print(s, flush=True)
        lines.append(s)

    out(
        f"# raster_bench ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}), torch {torch.__version__}, "
        f"threads {torch.get_num_threads()}, load average {os.getloadavg()[0]:.1f}, {compiled_kernels()}"
    )
    out("")
    if args.quick:
        bench_circles([64, 256], [256], 3, out)
        bench_compiled(256, 256, 3, out)
        if not args.no_icons:
            bench_icons(10, 64, out, factor=4)
    else:
        if not args.no_circles:
            ns = [int(x) for x in args.ns.split(",")]
            sizes = [int(x) for x in args.sizes.split(",")]
            bench_circles(ns, sizes, args.repeats, out)
            bench_compiled(256, 256, args.repeats, out)
            if args.views:
                bench_views(256, 256, args.views, max(3, args.repeats // 3), out)
            if not args.no_stages:
                bench_stages(256, 256, max(5, args.repeats), out)
        if args.compile_time:
            bench_compile_time(out)
        if args.fused_count:
            bench_fused_counts(out)
        if args.device:
            bench_device(args.device, args.repeats, out)
        if args.ops:
            bench_ops(max(51, args.repeats), out)
        if args.thread_policy:
            bench_threads([(64, 256), (256, 256), (1024, 256), (256, 512), (1024, 512)], args.repeats, out)
        if not args.no_icons:
            bench_icons(args.icons, args.icon_size, out, args.exact, args.supersample)
    if not args.quick:
        FsPath(args.out).parent.mkdir(parents=True, exist_ok=True)
        # appending by default: the docs quote earlier runs that a plain rerun must not erase
        old = FsPath(args.out).read_text() + "\n" if not args.overwrite and FsPath(args.out).exists() else ""
        FsPath(args.out).write_text(old + "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
