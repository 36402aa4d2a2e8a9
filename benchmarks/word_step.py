"""What one ``word`` step costs, by part, and what the shape losses add.

    python benchmarks/word_step.py [--size 64] [--repeats 15] [--text CAT] [--letters A]

Times (forward + backward, median of ``--repeats`` after one warm-up) on the letters that
``word`` optimises (subdivided as by default, in their square view):

- ``render``: the rasterizer on the letter view at ``--size`` px (the reference row);
- ``acap``: the ACAP angle loss; ``tone``: the blurred-tone loss on the render;
- ``sds``: one SDS call of the embedded prior on the render (no backward through it).

and the ratio of each to ``render`` measured in the same run.
"""

from __future__ import annotations

from vecdistill.runtime import configure_process

configure_process()  # before torch loads: OpenMP and heap settings (vecdistill/runtime.py)

import argparse

import torch
from timing import median_ms


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--text", default="CAT")
    ap.add_argument("--letters", default="A")
    args = ap.parse_args()
    torch.manual_seed(0)

    from vecdistill.distill import build_objective
    from vecdistill.pipelines.word import EMBEDDED_DEFAULTS, WordConfig, letter_view, prepare_word
    from vecdistill.pipelines.word_losses import ACAPLoss, ToneLoss
    from vecdistill.priors.embedded import EmbeddedPrior
    from vecdistill.raster import rasterize
    from vecdistill.svg.scene import Group, Scene

    cfg = WordConfig(letters=args.letters, subdivide=EMBEDDED_DEFAULTS.subdivide)
    scene, _, _, letters = prepare_word(args.text, cfg, torch.device("cpu"))
    view = Scene(Group(children=letters), args.size, args.size, view_box=letter_view(letters, 0.1))
    for p in letters:
        p.points.requires_grad_(True)

    def render():
        return rasterize(view, args.size, args.size)

    with torch.no_grad():
        original = render().unsqueeze(0)
    acap = ACAPLoss(letters)
    tone = ToneLoss(original, 0.05 * args.size, 100.0, 0.6, 0.15)
    prior = EmbeddedPrior()
    sds = build_objective("sds", prior, "cat", guidance_scale=30.0)
    gen = torch.Generator().manual_seed(0)

    def run_render():
        render().sum().backward()

    def run_acap():
        acap(letters).backward()

    image = original.clone().requires_grad_(True)

    def run_tone():
        tone(image, 0.6).backward()

    def run_sds():
        sds(prior.encode(original), 0.5, gen)

    rows = [("render", median_ms(run_render, args.repeats))]
    rows += [(name, median_ms(fn, args.repeats)) for name, fn in (("acap", run_acap), ("tone", run_tone), ("sds", run_sds))]
    ref = rows[0][1]
    points = sum(int(p.points.shape[0]) for p in letters)
    print(f"word step parts: text {args.text!r}, letters {args.letters!r} ({points} control points, "
          f"{acap.num_triangles} triangles), {args.size} px, median of {args.repeats}, {torch.get_num_threads()} threads")
    print(f"{'part':<8} {'ms':>9} {'x render':>9}")
    for name, ms in rows:
        print(f"{name:<8} {ms:>9.2f} {ms / ref:>9.2f}")


if __name__ == "__main__":
    main()
