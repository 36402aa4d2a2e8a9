"""Do two revisions render the same? Images and gradients, compared bit for bit.

    python benchmarks/same_outputs.py BASE [NEW] [--icons 10] [--append]

Each revision (``NEW`` default: the working tree) renders, in a process of its own (the
revision's package extracted by ``benchmarks/revisions.py``, on ``sys.path``), the benchmark's 256-path circle scene at
256^2 and the first ``--icons`` files of each icon set found in the icon corpus
(``benchmarks/icon_corpus.py fetch`` fetches them: tabler-icons outlines, twemoji, simple-icons,
material two-tone, whose even-odd fills go through the exact pass) at 48^2, with gradients of
``(image ** 2).sum()`` with respect to every path's points. Prints how many scenes' images
and gradients are bitwise identical and, where not, the largest image difference and the
largest relative L2 difference of a gradient. ``--append`` adds the table to the results
file. A change meant to move no pixel shows 0 differing images.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path as FsPath

import torch
from icon_corpus import icon_files
from revisions import add_revision_arguments, extract_package

ROOT = FsPath(__file__).resolve().parents[1]
SETS = ("tabler-icons", "twemoji-svg", "simple-icons", "material-two-tone")  # (benchmarks/icon_corpus.py)

# one revision's renders, in a child process: argv = package root, output file, icon files...
CHILD = r"""
import sys
sys.path.insert(0, sys.argv[1])
import torch
import vecdistill
assert vecdistill.__file__.startswith(sys.argv[1]), vecdistill.__file__
from vecdistill.raster import rasterize
from vecdistill.raster.testscenes import circles_scene
from vecdistill.svg.parse import load_svg
scenes = [(circles_scene(256, 256, generator=torch.Generator().manual_seed(512)), 256)]
scenes += [(load_svg(f), 48) for f in sys.argv[3:]]
out = []
for scene, size in scenes:
    scene.requires_grad_(True)
    img = rasterize(scene, size, size)
    points = [p.points for p in scene.paths()]
    grads = torch.autograd.grad((img * img).sum(), points, allow_unused=True)
    out.append((img.detach(), [None if g is None else g.detach() for g in grads]))
torch.save(out, sys.argv[2])
"""


def renders(rev: str | None, files: list[str], tmp: FsPath, name: str):
    """The renders of revision ``rev`` (None: the working tree)."""
    root = ROOT if rev is None else extract_package(rev, tmp / name)
    out = tmp / f"{name}.pt"
    subprocess.run([sys.executable, "-c", CHILD, str(root), str(out), *files], check=True)
    return torch.load(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_revision_arguments(ap)
    ap.add_argument("--icons", type=int, default=10, help="files per icon set (those found)")
    ap.add_argument("--append", action="store_true", help="append the table to benchmarks/results/raster_cpu.txt")
    args = ap.parse_args()
    files = [str(f) for name in SETS for f in icon_files(name, args.icons)]
    with tempfile.TemporaryDirectory() as tmp:
        a = renders(args.base, files, FsPath(tmp), "base")
        b = renders(args.new, files, FsPath(tmp), "new")
    images = gradients = 0
    worst_image = worst_grad = 0.0
    for (ia, ga), (ib, gb) in zip(a, b):
        if not torch.equal(ia, ib):
            images += 1
            worst_image = max(worst_image, float((ia - ib).abs().max()))
        pairs = [(u, v) for u, v in zip(ga, gb) if u is not None or v is not None]
        if any(u is None or v is None or not torch.equal(u, v) for u, v in pairs):
            gradients += 1
            worst_grad = max([worst_grad] + [float((u - v).norm() / u.norm().clamp_min(1e-30)) for u, v in pairs if u is not None and v is not None])
    lines = [
        f"# same_outputs ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}): {args.base} against {args.new or 'the working tree'}, "
        f"the circle scene and {len(files)} icons",
        "",
        "| scenes | images differing | largest pixel difference | gradients differing | largest relative L2 gradient difference |",
        "|---|---|---|---|---|",
        f"| {len(a)} | {images} | {worst_image:.3g} | {gradients} | {worst_grad:.3g} |",
        "",
    ]
    print("\n".join(lines))
    if args.append:
        with open(ROOT / "benchmarks" / "results" / "raster_cpu.txt", "a") as f:
            f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
