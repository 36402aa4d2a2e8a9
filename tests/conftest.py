"""Shared fixtures: tiny random Stable-Diffusion-style pipelines written offline once per
session (``vecdistill.priors.tiny.build_tiny_pipeline``); pass the path as ``--model``."""

from __future__ import annotations

from vecdistill.runtime import configure_process

configure_process()  # before torch loads: OpenMP and heap settings (vecdistill/runtime.py)

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def tiny_sd_path(tmp_path_factory):
    """A latent pipeline folder: UNet 4x16x16, AutoencoderKL (32x32 images), CLIP text model."""
    from vecdistill.priors.tiny import build_tiny_pipeline

    return build_tiny_pipeline(tmp_path_factory.mktemp("tiny-sd") / "pipe", latent=True)


@pytest.fixture(scope="session")
def tiny_pixel_path(tmp_path_factory):
    """A pixel-space pipeline folder (no VAE): UNet on 3x16x16 images, CLIP text model."""
    from vecdistill.priors.tiny import build_tiny_pipeline

    return build_tiny_pipeline(tmp_path_factory.mktemp("tiny-pixel") / "pipe", latent=False)


def _torch_threads(count: int):
    """Run torch on ``count`` CPU threads, restoring the previous count afterwards."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(count)
    yield
    torch.set_num_threads(before)


@pytest.fixture()
def two_threads():
    """Run a test on two torch CPU threads (restored after): for what depends on the count."""
    yield from _torch_threads(2)


@pytest.fixture()
def one_thread():
    """Run a test on one torch CPU thread (restored after). Small tensors gain nothing from
    more threads, and on a shared CPU threads waiting for each other cost several times."""
    yield from _torch_threads(1)


@pytest.fixture(scope="module")
def one_thread_module():
    """``one_thread`` for a whole module (for module-scoped fixtures that compute)."""
    yield from _torch_threads(1)


@pytest.fixture()
def compile_fails(monkeypatch):
    """``compile_fails(module)``: the compiled CPU kernels of ``module`` (``jit_coverage``,
    ``jit_composite``, ``jit_exact``) fail to compile from now on, as on a machine where
    LLVM cannot; the process's kernel state (failure, compiled set) starts afresh then and
    is restored after the test."""
    from vecdistill.raster import jit

    def broken(dtype=None):
        raise RuntimeError("LLVM ERROR: no target here")

    def fail(module) -> None:
        monkeypatch.setattr(jit, "failed", None)
        monkeypatch.setattr(jit, "_ready", set())
        monkeypatch.setattr(module, "compile_for", broken)

    return fail
