"""Before/after timing of the rasterizer in one process: two revisions, interleaved runs.

    python benchmarks/compare_revisions.py HEAD~1                # HEAD~1 against the working tree
    python benchmarks/compare_revisions.py c10e286 b246dde --repeats 60

Separate benchmark runs on a shared VM drift by tens of percent between runs; here each
revision's ``vecdistill`` package is extracted (``git archive``) and imported under its own
name into one process, and the two are timed in alternating order (A B, B A, ...) on the same
scene, so drift hits both alike. Cases, each the 256-path circle scene at 256^2 (the
benchmark's headline, ``raster_bench.py``): ``step`` (forward + backward, one leaf per path,
from cleared gradients), ``packed`` (the same with packed leaves), ``over`` (compositing
alone: forward and backward of ``composite.over`` on that render's fragments, captured from
the base revision's render), ``stroked`` (forward + backward, one leaf per path, of the same
circles with 1.5-pixel strokes: stroke outlines overlap at every pixel they pass, so the
pixels that several contours enter are many), ``sketch`` (forward + backward of ``make
--style sketch``'s initial scene with Stable Diffusion's preset: 128 open strokes 1.28 pixels
wide at 512^2, points and widths optimised), ``icons`` (forward + backward of 20 outline
icons of @tabler/icons at 128^2, their strokes 10.7 pixels wide, in one timing; needs the
npm package, unpacked by ``benchmarks/icon_corpus.py fetch``; ``--icon-size`` changes the
canvas). Prints wall-clock medians and the ratio new / base. ``--exact all`` renders the new
revision with ``rasterize(..., exact="all")``: ``compare_revisions.py HEAD --exact all``
(with a clean working tree) is the cost of that mode against the default on the same code;
``--base-exact all`` renders the base so too (a base revision that has the option).
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import tempfile
import time
from pathlib import Path as FsPath

ROOT = FsPath(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vecdistill.runtime import configure_process  # noqa: E402

configure_process()  # before torch loads (vecdistill/runtime.py)

import torch  # noqa: E402
from revisions import add_revision_arguments, extract_package  # noqa: E402  (benchmarks/revisions.py)
from timing import step_seconds  # noqa: E402  (benchmarks/timing.py)


def load_revision(rev: str | None, alias: str, workdir: FsPath):
    """The ``vecdistill`` package of git revision ``rev`` (None: the working tree), imported
    as the top-level package ``alias`` (the package's own imports are relative)."""
    src = (ROOT if rev is None else extract_package(rev, workdir / alias)) / "vecdistill"
    spec = importlib.util.spec_from_file_location(alias, src / "__init__.py", submodule_search_locations=[str(src)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[alias] = module
    spec.loader.exec_module(module)
    return module


def _import(pkg, name: str):
    return importlib.import_module(f"{pkg.__name__}.{name}")


def _scene(pkg, size: int, n: int, stroke_width: float = 0.0):
    """``pkg``'s n-path circle scene at ``size``^2, the benchmark's seed (``raster_bench.py``),
    stroked ``stroke_width`` pixels wide when > 0."""
    make = _import(pkg, "raster.testscenes").circles_scene
    return make(n, size, generator=torch.Generator().manual_seed(n + size), stroke_width=stroke_width)


def step_case(pkg, packed: bool, size: int = 256, n: int = 256, stroke_width: float = 0.0, opts: dict | None = None):
    """A function timing one forward + backward of ``pkg``'s rasterizer (seconds); ``opts``:
    keyword arguments of its ``rasterize`` (e.g. ``exact``)."""
    render = _import(pkg, "raster.render")  # (the package's lazy exports name "vecdistill.*": import the modules)
    scene = _scene(pkg, size, n, stroke_width)
    if packed:
        params = list(_import(pkg, "raster.packing").pack_parameters(scene).values())
    else:
        scene.requires_grad_(True, kinds=("points", "colors"))
        params = [t for t in scene.parameters() if t.requires_grad and t.is_leaf]
    return lambda: step_seconds(lambda: render.rasterize(scene, size, size, **(opts or {})), params)


def sketch_case(pkg, size: int = 512, n: int = 128, width: float = 1.28, opts: dict | None = None):
    """A function timing one forward + backward of ``pkg``'s rasterizer on the sketch style's
    initial scene (``pipelines.init.random_scene``), seed 3 (seconds)."""
    render = _import(pkg, "raster.render")
    scene = _import(pkg, "pipelines.init").random_scene("sketch", size, n, 4, torch.Generator().manual_seed(3), radius=20 / 600 * size, width=width)
    scene.requires_grad_(True, kinds=("points", "widths"))
    params = [t for t in scene.parameters() if t.requires_grad and t.is_leaf]
    return lambda: step_seconds(lambda: render.rasterize(scene, size, size, **(opts or {})), params)


def icons_case(pkg, n: int = 20, size: int = 128, opts: dict | None = None):
    """A function timing forward + backward of ``pkg``'s rasterizer over ``n`` tabler icons
    (every 30th file; seconds, all together), or None without the corpus."""
    from icon_corpus import icon_files

    files = [str(f) for f in icon_files("tabler-icons", n, every=30)]
    if not files:
        return None
    render, load = _import(pkg, "raster.render"), _import(pkg, "svg.parse").load_svg
    scenes = [load(FsPath(f).read_text()) for f in files]
    for scene in scenes:
        scene.requires_grad_(True, kinds=("points", "colors", "widths"))
    params = [[t for t in scene.parameters() if t.requires_grad and t.is_leaf] for scene in scenes]
    return lambda: sum(step_seconds(lambda s=s: render.rasterize(s, size, size, **(opts or {})), p) for s, p in zip(scenes, params))


def captured_over_inputs(pkg, size: int = 256, n: int = 256) -> list:
    """The arguments of ``composite.over`` in ``pkg``'s render of the circle scene, as leaves."""
    render = _import(pkg, "raster.render")
    scene = _scene(pkg, size, n)
    seen = []
    original = render.composite.over

    def spy(*args):
        seen.append(args)
        return original(*args)

    render.composite.over = spy
    try:
        render.rasterize(scene, size, size)
    finally:
        render.composite.over = original
    return [a.detach().requires_grad_(a.is_floating_point()) if isinstance(a, torch.Tensor) else a for a in seen[0]]


def over_case(pkg, args: list, phase: str):
    """A function timing ``pkg``'s ``composite.over`` on ``args``: its forward, or its
    backward (for fixed random output gradients)."""
    over = _import(pkg, "raster.composite").over
    n_pix = args[-1]
    g_rgb = torch.rand(3, n_pix, generator=torch.Generator().manual_seed(1))
    g_a = torch.rand(n_pix, generator=torch.Generator().manual_seed(2))

    def run() -> float:
        for a in args:
            if isinstance(a, torch.Tensor):
                a.grad = None
        t0 = time.perf_counter()
        rgb, alpha = over(*args)
        t1 = time.perf_counter()
        if phase == "forward":
            return t1 - t0
        torch.autograd.backward([rgb, alpha], [g_rgb, g_a])
        return time.perf_counter() - t1

    return run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_revision_arguments(ap)
    ap.add_argument("--repeats", type=int, default=40, help="runs of each revision per case (after 3 warm-ups)")
    ap.add_argument("--cases", default="step,packed,over", help="comma-separated: step, packed, over, stroked, sketch, icons")
    ap.add_argument("--threads", type=int, default=1, help="torch threads")
    ap.add_argument("--exact", choices=("auto", "all"), default="auto", help="the new revision renders with rasterize(..., exact=this) (the base with its default): with the same code for both, the cost of exact='all'")
    ap.add_argument("--base-exact", choices=("auto", "all"), default="auto", help="the same for the base revision (one that has the option)")
    ap.add_argument("--icon-size", type=int, default=128, help="canvas of the icons case")
    args = ap.parse_args()
    opts = {} if args.exact == "auto" else {"exact": args.exact}
    base_opts = {} if args.base_exact == "auto" else {"exact": args.base_exact}
    torch.set_num_threads(args.threads)
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = set(cases) - {"step", "packed", "over", "stroked", "sketch", "icons"}
    if unknown:
        ap.error(f"unknown case(s) {sorted(unknown)}: choose from step, packed, over, stroked, sketch, icons")
    with tempfile.TemporaryDirectory() as tmp:
        base = load_revision(args.base, "vd_base", FsPath(tmp))
        new = load_revision(args.new, "vd_new", FsPath(tmp))
        label = args.new or "working tree"
        how = "" if not opts else f", with exact={args.exact!r}"
        base_how = "" if not base_opts else f", with exact={args.base_exact!r}"
        print(f"# compare_revisions: {args.base} (base{base_how}) against {label} (new{how}), torch {torch.__version__}, threads {args.threads}, {args.repeats} interleaved runs each")
        print("")
        print("| case | base ms | new ms | new / base |")
        print("|---|---|---|---|")
        for case in cases:
            if case == "over":
                inputs = captured_over_inputs(base)
                pairs = [(f"over, {phase}", over_case(base, inputs, phase), over_case(new, inputs, phase)) for phase in ("forward", "backward")]
            elif case == "icons":
                run_base, run_new = icons_case(base, size=args.icon_size, opts=base_opts), icons_case(new, size=args.icon_size, opts=opts)
                if run_base is None:
                    print("| icons | - | - | - (no tabler icons: python benchmarks/icon_corpus.py fetch) |")
                    continue
                pairs = [(f"forward + backward, 20 tabler icons at {args.icon_size}^2", run_base, run_new)]
            elif case == "sketch":
                pairs = [("forward + backward, sketch scene (128 strokes, 512^2)", sketch_case(base, opts=base_opts), sketch_case(new, opts=opts))]
            elif case == "stroked":
                title = "forward + backward, 1.5 px strokes, one leaf per path"
                pairs = [(title, step_case(base, False, stroke_width=1.5, opts=base_opts), step_case(new, False, stroke_width=1.5, opts=opts))]
            else:
                title = "forward + backward, one leaf per path" if case == "step" else "forward + backward, packed leaves"
                pairs = [(title, step_case(base, case == "packed", opts=base_opts), step_case(new, case == "packed", opts=opts))]
            for title, run_base, run_new in pairs:
                times: dict[str, list[float]] = {"base": [], "new": []}
                for _ in range(3):
                    run_base(), run_new()
                for i in range(args.repeats):
                    order = (("base", run_base), ("new", run_new)) if i % 2 == 0 else (("new", run_new), ("base", run_base))
                    for name, fn in order:
                        times[name].append(fn())
                b, w = (statistics.median(times[k]) * 1e3 for k in ("base", "new"))
                print(f"| {title} | {b:.2f} | {w:.2f} | {w / b:.2f} |")


if __name__ == "__main__":
    main()
