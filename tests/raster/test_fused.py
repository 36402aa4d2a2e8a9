"""The fused compositing kernels (vecdistill/raster/fused.py) against the per-operation path.

They run on CUDA renders; here Triton's interpreter runs them on CPU tensors, in a child
process (``fused_checks.py``; Triton reads ``TRITON_INTERPRET`` when the kernels are
defined). Skipped when Triton is not installed (CUDA builds of torch ship it, CPU builds do
not; CI installs it).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path as FsPath

import pytest
import torch

from vecdistill.raster import coverage

pytestmark = pytest.mark.skipif(importlib.util.find_spec("triton") is None, reason="needs Triton")

CHECKS = FsPath(__file__).with_name("fused_checks.py")


@pytest.fixture(scope="module", name="checks")
def _checks():
    env = {**os.environ, "TRITON_INTERPRET": "1", "PYTHONPATH": str(CHECKS.parents[2])}
    env.pop("VECDISTILL_FUSED", None)
    done = subprocess.run([sys.executable, str(CHECKS)], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_fused_over_matches_the_per_operation_path_forward_and_backward(checks):
    """Image, coverage, colour-table and scale gradients, with and without a scale, on
    fragments where opaque ones hide others: the kernels' float32 results are as close to the
    float64 result as the per-operation float32 path's, within float32 rounding (a few
    times the path's error, or 1e-5; a wrong formula, or the 2^20-amplified cancellation
    below an opaque fragment done in float32, is off by 0.01-0.3)."""
    assert len(checks["cases"]) == 4
    for case in checks["cases"]:
        for name, (ours, reference) in case["errors"].items():
            assert ours <= max(4 * reference, 1e-5), (case["seed"], case["scale"], name, ours, reference)
        assert case["empty_transparent"]


def test_opaque_fragments_hide_what_is_below_them(checks):
    """A half-transparent red under an opaque blue: the pixel is blue, the red colour gets
    no gradient, and the opaque coverage's gradient carries what it hides (uncovering lets
    half the red through: about -0.5)."""
    o = checks["opaque"]
    assert o["rgb"] == pytest.approx([0.0, 0.0, 1.0], abs=1e-5) and o["alpha"] == pytest.approx(1.0, abs=1e-5)
    assert abs(o["d_red"]) < 1e-5
    assert o["d_opaque_cov"] == pytest.approx(-0.5, abs=1e-4)


def test_whole_renders_with_the_kernels_match_the_per_operation_path(checks):
    """The kernels standing in for the per-operation path inside full renders (as on CUDA),
    the compositing ones alone, with the coverage ones, and with those and the flattening
    one: the handmade SVGs (strokes,
    gradients, clips, isolated group opacity), a circle scene, circles across the canvas's
    sides and a batch of three views give the same images and gradients; the coverage kernel handed longer
    edges and walls to the per-operation path and their pieces still count."""
    renders = checks["renders"]
    assert len(renders["scenes"]) >= 9
    for name, modes in renders["scenes"].items():
        assert set(modes) == {"compositing", "both", "all"}
        for mode, (image, grads) in modes.items():
            assert image < 1e-5 and grads < 1e-5, (name, mode, image, grads)
    assert renders["longer_edges"] > 0 and renders["walls"] > 0


def test_fill_renders_read_device_values_five_times(checks):
    """With all the kernels (the CUDA path), a forward + backward of a filled scene reads device
    values on the host (a sync each on a GPU) five times: the plan's scalars, the
    flattening's vertex counts, the layer boxes' sizes, the edges the coverage kernel leaves
    to the per-operation path and the non-zero cells (the exact pass over crossed pixels,
    when there are any, works on the host and is not counted: here only its test of which
    layers need it, asked before the pieces are cut; jittered circles being star-shaped, no
    pixel is then searched for crossings or loops). A batch of views adds none of its own (the views here push circles across the
    canvas's sides: edges left of their boxes, whose number and rows take two more); longer
    edges, strokes and clips add a few each (a stroked scene one more to know whether any
    stroke is wide enough for the exact pass)."""
    reads = checks["renders"]["reads"]
    assert reads["circles"] == 5 and reads["views"] <= 8, reads
    assert all(n <= 42 for n in reads.values()), reads


def test_a_backward_kernel_that_cannot_run_falls_back_to_the_per_operation_path(checks):
    """A kernel that fails (a GPU or toolchain Triton cannot compile for) never stops a run:
    here the backward kernels fail after the forward ones ran; the gradients equal the
    per-operation path's, one warning says so, and no kernel is used afterwards."""
    fb = checks["fallback"]
    assert fb["grad_difference"] < 1e-5
    assert len(fb["warnings"]) == 1 and "fused GPU kernels failed" in fb["warnings"][0] and "VECDISTILL_FUSED=0" in fb["warnings"][0]
    assert "no kernel image" in fb["failed"]


@pytest.mark.parametrize("stage", ["coverage", "compositing", "flattening"])
def test_a_forward_kernel_that_cannot_run_falls_back_to_the_per_operation_path(monkeypatch, stage):
    """Compiled kernels launched on CPU tensors fail (as they would on a GPU Triton cannot
    compile for): the render falls back, in the coverage, compositing or flattening stage,
    with the same image and gradients as without the kernels, one warning, and the kernels
    are off afterwards."""
    from vecdistill.raster import fused, jit, rasterize
    from vecdistill.raster.kernel_gate import standing_in
    from vecdistill.raster.testscenes import circles_scene

    scene = circles_scene(16, 32, generator=torch.Generator().manual_seed(7))
    scene.requires_grad_(True)
    params = [t for t in scene.parameters() if t.requires_grad]
    with jit.disabled():  # the per-operation path throughout (the fallback's)
        img = rasterize(scene, 32, 32)
        reference = [img.detach()] + list(torch.autograd.grad(img.sum(), params, allow_unused=True))
    monkeypatch.setattr(fused, "failed", None)
    with jit.disabled(), standing_in(stage), pytest.warns(RuntimeWarning, match="fused GPU kernels failed") as caught:
        img = rasterize(scene, 32, 32)
        got = [img.detach()] + list(torch.autograd.grad(img.sum(), params, allow_unused=True))
    assert len(caught) == 1 and fused.failed is not None and not fused.available()
    for a, b in zip(got, reference):
        assert (a is None and b is None) or torch.equal(a, b)


def test_cpu_renders_do_not_load_triton():
    """A CPU render and its backward never import Triton or the kernels' modules (Triton's
    import costs a second; CPU users do not pay it)."""
    code = (
        "import sys, torch\n"
        "from vecdistill.raster import rasterize\n"
        "from vecdistill.raster.testscenes import circles_scene\n"
        "s = circles_scene(8, 32, stroke_width=1.0)\n"
        "s.requires_grad_(True)\n"
        "rasterize(s, 32, 32).sum().backward()\n"
        "print(sorted(m for m in sys.modules if m == 'triton' or m.startswith('vecdistill.raster.fused')))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"


def test_cpu_renders_do_not_use_the_kernels_and_the_environment_or_determinism_turn_them_off(monkeypatch):
    from vecdistill.raster.kernel_gate import kernels_for, standing_in

    cov, table = torch.rand(4), torch.rand(4, 2)
    assert kernels_for("compositing", cov, table, None) is None  # CPU: the per-operation path
    edges = torch.rand(4, 6) * 8
    boxes = coverage._layer_boxes(edges, torch.zeros(6, dtype=torch.long), 1, 8, 8, "padded")
    assert kernels_for("coverage", edges) is None
    assert kernels_for("flattening", torch.rand(3, 4, 2)) is None
    with standing_in("coverage"):  # what the tests and --fused-count do: CPU tensors allowed
        assert coverage._coverage_kernels(edges, boxes).__name__.endswith("fused_coverage")
        assert kernels_for("compositing", cov, table, None) is None  # only the stages named
        assert kernels_for("coverage", edges.double()) is None  # float32 only
    assert kernels_for("coverage", edges) is None
    with pytest.raises(ValueError, match="unknown stage"), standing_in("shading"):
        pass
    from vecdistill.raster import fused

    monkeypatch.setenv("VECDISTILL_FUSED", "0")
    assert not fused.available()
    monkeypatch.setenv("VECDISTILL_FUSED", "1")
    assert fused.available()
    # atomics add in a varying order: a run that asks torch for determinism does without
    monkeypatch.setattr(torch, "are_deterministic_algorithms_enabled", lambda: True)
    assert not fused.available()


def test_the_kernels_compile_for_an_h100():
    """Triton's own compiler (with the ptxas it ships) turns the compositing kernels, with
    and without a scale, the coverage kernels and the flattening ones into sm_90 machine code: what a CUDA
    render would run, checked without a GPU (the interpreter above checks what they
    compute)."""
    pytest.importorskip("triton.backends.nvidia")
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    from vecdistill.raster import fused, fused_coverage, fused_flatten

    types = {"index": "*i64", "perm": "*i64", "start": "*i64", "count": "*i64", "edge_layer": "*i64", "kinds": "*i8", "cells": "*i32"}
    types.update({"counts": "*i64", "n_eval": "*i64", "first": "*i64", "seg_sub": "*i64", "out_sub": "*i64"})
    types.update({"N": "i32", "K": "i32", "E": "i32", "L": "i32", "S": "i32", "M": "i32", "X": "i32", "sink": "i32", "q": "fp32"})
    types.update({"HAS_SCALE": "constexpr", "WRITE_SUB": "constexpr", "BLOCK": "constexpr"})
    variants = [(fused._over_forward, {"HAS_SCALE": False}), (fused._over_forward, {"HAS_SCALE": True})]
    variants += [(fused._over_backward, {"HAS_SCALE": False}), (fused._over_backward, {"HAS_SCALE": True})]
    variants += [(fused_coverage._coverage_forward, {}), (fused_coverage._coverage_backward, {})]
    variants += [(fused_flatten._cubics_forward, {"WRITE_SUB": True}), (fused_flatten._cubics_forward, {"WRITE_SUB": False})]
    variants += [(fused_flatten._cubics_backward, {})]
    for kernel, constants in variants:
        signature = {name: types.get(name, "*fp32") for name in kernel.arg_names}
        source = ASTSource(fn=kernel, signature=signature, constexprs={**constants, "BLOCK": fused.BLOCK})
        compiled = triton.compile(source, target=GPUTarget("cuda", 90, 32), options={"enable_fp_fusion": fused.FP_FUSION})
        assert len(compiled.asm["cubin"]) > 0, kernel
