"""Runs the fused compositing kernels under Triton's interpreter and prints what
``test_fused.py`` asserts, as JSON (a child process: Triton reads ``TRITON_INTERPRET`` when
the kernels are first defined, so they must be loaded in a process that set it first).

    TRITON_INTERPRET=1 python tests/raster/fused_checks.py
"""

from __future__ import annotations

import json
import os

import torch

from vecdistill.raster import composite


def fragments(seed: int, frags: int = 600, pixels: int = 70, columns: int = 9):
    """Random fragments: some pixels with many, the odd ones with none; every fifth
    coverage 1 and column 0 opaque, so opaque fragments hide others (their gradients are
    then the 2^20-amplified differences the kernels must get right)."""
    g = torch.Generator().manual_seed(seed)
    pixel = torch.randint(0, pixels, (frags,), generator=g) // 2 * 2
    cov = torch.rand(frags, generator=g)
    cov[::5] = 1.0
    index = torch.randint(0, columns, (frags,), generator=g)
    table = torch.rand(4, columns, generator=g)
    table[3, 0] = 1.0
    scale = torch.rand(frags, generator=g)
    key, perm = torch.sort(pixel, stable=True)
    return cov, table, scale, index, key, perm, pixels


def run(over, cov, table, scale, index, pix, perm, pixels, dtype=torch.float32):
    """[rgb, alpha, d cov, d table(, d scale)] for a fixed weighted sum of the image."""
    leaves = [t.to(dtype).clone().requires_grad_() for t in (cov, table) + (() if scale is None else (scale,))]
    rgb, alpha = over(leaves[0], leaves[1], leaves[2] if scale is not None else None, index, pix, perm, pixels, composite._SHRINK32)
    g = torch.Generator().manual_seed(7)
    w_rgb, w_a = torch.rand(3, pixels, generator=g), torch.rand(pixels, generator=g) - 0.5  # (the same for both dtypes)
    torch.autograd.backward([rgb, alpha], [w_rgb.to(dtype), w_a.to(dtype)])
    return [rgb.detach(), alpha.detach()] + [t.grad for t in leaves]


def compare() -> list[dict]:
    """Per case and output: the largest error against float64 of the fused kernels and of
    the per-operation float32 path, and whether the empty pixels stayed transparent."""
    from vecdistill.raster import fused

    names = ["rgb", "alpha", "d_cov", "d_table", "d_scale"]
    cases = []
    for seed in (0, 1):
        for with_scale in (False, True):
            cov, table, scale, index, pix, perm, pixels = fragments(seed)
            scale = scale if with_scale else None
            ours = run(fused.over_sorted, cov, table, scale, index, pix, perm, pixels)
            ref = run(composite.over_sorted, cov, table, scale, index, pix, perm, pixels)
            exact = run(composite.over_sorted, cov, table, scale, index, pix, perm, pixels, dtype=torch.float64)
            errors = {
                name: [float((o.double() - e).abs().max()), float((r.double() - e).abs().max())]
                for name, o, r, e in zip(names, ours, ref, exact)
            }
            cases.append({"seed": seed, "scale": with_scale, "errors": errors, "empty_transparent": bool((ours[1][1::2] == 0).all())})
    return cases


def opaque() -> dict:
    """One pixel: a half-transparent red fragment under an opaque blue one; the image, the
    red colour's gradient of the red channel, and the opaque coverage's."""
    from vecdistill.raster import fused

    cov = torch.tensor([1.0, 1.0], requires_grad=True)
    table = torch.tensor([[1.0, 0.0], [0.0, 0.0], [0.0, 1.0], [0.5, 1.0]], requires_grad=True)
    rgb, alpha = fused.over_sorted(cov, table, None, torch.tensor([0, 1]), torch.zeros(2, dtype=torch.long), torch.arange(2), 1, composite._SHRINK32)
    rgb[0, 0].backward()
    return {"rgb": rgb[:, 0].tolist(), "alpha": float(alpha[0].detach()), "d_red": float(table.grad[0, 0]), "d_opaque_cov": float(cov.grad[1])}


def renders() -> dict:
    """Whole renders with the kernels standing in for the per-operation path on the CPU (as
    on CUDA): compositing only, compositing and coverage, and those and the flattening,
    against the per-operation path, on the handmade SVGs (strokes, gradients, clips, group opacity: isolated levels,
    whose fragments come with a scale), a circle scene, and one whose circles cross the
    canvas's sides (edges left of their clipped boxes: walls, pieces clamped onto the box), and
    a batch of three views of one scene.
    Per scene and mode: the largest image difference and the largest gradient difference
    relative to the gradient's size; how many edges the coverage kernel left to the
    per-operation path as longer edges and walls; and, with all the kernels, the host reads
    of device values (syncs on a GPU) of each scene's forward + backward."""
    from pathlib import Path

    from vecdistill.raster import fused_coverage, rasterize, rasterize_batch
    from vecdistill.raster.device_reads import DeviceReads
    from vecdistill.raster.kernel_gate import standing_in
    from vecdistill.raster.testscenes import circles_scene
    from vecdistill.svg.parse import load_svg

    folder = Path(__file__).resolve().parents[1] / "data" / "icons" / "handmade"
    scenes = {p.name: load_svg(p) for p in sorted(folder.glob("*.svg"))}
    scenes["circles"] = circles_scene(48, 64, generator=torch.Generator().manual_seed(3))
    sides = circles_scene(24, 64, generator=torch.Generator().manual_seed(4))
    for k, path in enumerate(sides.paths()):  # every other circle moved across a side
        with torch.no_grad():
            path.points += torch.tensor([[-30.0, 0.0], [0.0, -30.0], [30.0, 0.0]][k % 3]) * (k % 2)
    scenes["sides"] = sides
    views = torch.eye(3).repeat(3, 1, 1)  # a batch of three zoomed and shifted views
    views[:, 0, 0] = views[:, 1, 1] = torch.tensor([1.0, 1.2, 0.8])
    views[:, :2, 2] = torch.tensor([[0.0, 0.0], [-6.0, -3.0], [5.0, 4.0]])
    scenes["views"] = circles_scene(16, 48, generator=torch.Generator().manual_seed(5))
    kinds_seen = torch.zeros(3, dtype=torch.long)
    pieces = fused_coverage.pieces

    def counting(*args):
        kinds, cells, saved = pieces(*args)
        kinds_seen.add_(torch.bincount(kinds.long(), minlength=3))
        return kinds, cells, saved

    fused_coverage.pieces = counting
    modes = {  # the stages whose kernels run
        "per-operation": (),
        "compositing": ("compositing",),
        "both": ("compositing", "coverage"),
        "all": ("compositing", "coverage", "flattening"),
    }
    out, reads = {}, {}
    for name, scene in scenes.items():
        scene.requires_grad_(True)
        params = [t for t in scene.parameters() if t.requires_grad]
        results = {}
        for mode, stages in modes.items():
            census = DeviceReads()
            with standing_in(*stages), census:
                img = rasterize_batch(scene, 48, 48, views=views) if name == "views" else rasterize(scene, 48, 48)
                w = torch.linspace(-1, 1, img.numel()).view_as(img)
                grads = torch.autograd.grad((img * w).sum(), params, allow_unused=True)
            results[mode] = (img.detach(), torch.cat([torch.zeros(1) if g is None else g.reshape(-1) for g in grads]))
            if mode == "all":  # (the exact pass over crossed pixels works on the host: apart)
                on_host = sum(v for k, v in census.sites.items() if k.startswith("exact pass"))
                reads[name] = census.total - on_host
        img_ref, g_ref = results["per-operation"]
        out[name] = {
            mode: [float((img - img_ref).abs().max()), float((g - g_ref).abs().max() / (1 + g_ref.abs().max()))]
            for mode, (img, g) in results.items() if mode != "per-operation"
        }
    fused_coverage.pieces = pieces
    return {"scenes": out, "longer_edges": int(kinds_seen[1]), "walls": int(kinds_seen[2]), "reads": reads}


def backward_fallback() -> dict:
    """The forward kernels run, the backward ones fail (as on a GPU Triton can compile one
    kernel for and not the other): the gradients come from the per-operation path, equal
    to a render that never used the kernels; the failure is reported as a warning."""
    import warnings

    from vecdistill.raster import fused, fused_coverage, fused_flatten, rasterize
    from vecdistill.raster.kernel_gate import STAGES, standing_in
    from vecdistill.raster.testscenes import circles_scene

    class Failing:
        def __getitem__(self, grid):
            def launch(*args, **kwargs):
                raise RuntimeError("no kernel image is available for execution on the device")

            return launch

    scene = circles_scene(24, 48, generator=torch.Generator().manual_seed(6))
    scene.requires_grad_(True)
    params = [t for t in scene.parameters() if t.requires_grad]
    w = torch.linspace(-1, 1, 3 * 48 * 48).view(3, 48, 48)
    reference = torch.autograd.grad((rasterize(scene, 48, 48) * w).sum(), params, allow_unused=True)
    saved = fused._over_backward, fused_coverage._coverage_backward, fused_flatten._cubics_backward
    fused._over_backward = fused_coverage._coverage_backward = fused_flatten._cubics_backward = Failing()
    try:
        with standing_in(*STAGES), warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            img = rasterize(scene, 48, 48)
            grads = torch.autograd.grad((img * w).sum(), params, allow_unused=True)
        failed_after = fused.failed
    finally:
        fused._over_backward, fused_coverage._coverage_backward, fused_flatten._cubics_backward = saved
        fused.failed = None
    worst = max(float((a - b).abs().max()) for a, b in zip(grads, reference) if a is not None)
    return {"grad_difference": worst, "warnings": [str(c.message) for c in caught], "failed": failed_after}


if __name__ == "__main__":
    assert os.environ.get("TRITON_INTERPRET") == "1", "run with TRITON_INTERPRET=1"
    from vecdistill.raster import jit

    # the CPU's compiled kernels off: the CPU tensors stand in for CUDA ones, where they never
    # run, and the reference is the per-operation path
    with jit.disabled():
        print(json.dumps({"cases": compare(), "opaque": opaque(), "renders": renders(), "fallback": backward_fallback()}))
