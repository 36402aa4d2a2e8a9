"""The rasterizer's CPU thread policy (vecdistill/raster/threads.py): small renders run on one
torch thread, forward and backward, and the caller's thread count comes back."""

from __future__ import annotations

import pytest
import torch

from vecdistill.raster import composite, coverage, jit, rasterize, threads
from vecdistill.raster.plan import clear_plans
from vecdistill.raster.testscenes import circles_scene


@pytest.fixture()
def seen(monkeypatch):
    """Thread counts observed inside the Over forward and the two analytic backwards."""
    log: dict[str, list[int]] = {"over": [], "over_bwd": [], "area_bwd": []}
    over_fwd, over_bwd, area_bwd = composite._Over.forward, composite._Over.backward, coverage._WindingArea.backward

    def spy(name, fn):
        def wrapped(*args):
            log[name].append(torch.get_num_threads())
            return fn(*args)

        return staticmethod(wrapped)

    monkeypatch.setattr(composite._Over, "forward", spy("over", over_fwd))
    monkeypatch.setattr(composite._Over, "backward", spy("over_bwd", over_bwd))
    monkeypatch.setattr(coverage._WindingArea, "backward", spy("area_bwd", area_bwd))
    if jit.installed():  # the compiled compositing (CPU renders take it when Numba is there)
        from vecdistill.raster import jit_composite

        over = jit_composite._JitOver
        monkeypatch.setattr(over, "forward", spy("over", over.forward))
        monkeypatch.setattr(over, "backward", spy("over_bwd", over.backward))
    return log


def _scene():
    s = circles_scene(24, 64, generator=torch.Generator().manual_seed(3))
    s.requires_grad_(True, kinds=("points", "colors"))
    return s


def _render_and_grad(scene):
    img = rasterize(scene, 64, 64)
    img.sum().backward()
    return img.detach(), torch.cat([p.grad.reshape(-1) for p in scene.parameters(("points", "colors"))])


def test_small_render_runs_on_one_thread_and_restores_the_count(two_threads, seen):
    clear_plans()
    _render_and_grad(_scene())
    assert seen["over"] == [1] and seen["over_bwd"] == [1] and seen["area_bwd"] == [1]
    assert torch.get_num_threads() == 2


def test_policy_off_leaves_torch_threads_alone(two_threads, seen, monkeypatch):
    monkeypatch.setattr(threads, "SERIAL_BELOW", 0)
    clear_plans()
    _render_and_grad(_scene())
    assert seen["over"] == [2] and seen["over_bwd"] == [2] and seen["area_bwd"] == [2]


def test_large_canvases_keep_torch_threads(two_threads, seen, monkeypatch):
    """The choice is by canvas pixels (batch x height x width): at or above the threshold
    torch's count applies, below it one thread."""
    scene = _scene()
    monkeypatch.setattr(threads, "SERIAL_BELOW", 64 * 64)
    _render_and_grad(scene)
    for p in scene.parameters(("points", "colors")):
        p.grad = None
    monkeypatch.setattr(threads, "SERIAL_BELOW", 64 * 64 + 1)
    _render_and_grad(scene)
    assert seen["over"] == [2, 1] and seen["over_bwd"] == [2, 1] and seen["area_bwd"] == [2, 1]


def test_same_image_and_gradients_either_way(two_threads, monkeypatch):
    clear_plans()
    img1, g1 = _render_and_grad(_scene())
    monkeypatch.setattr(threads, "SERIAL_BELOW", 0)
    clear_plans()
    img2, g2 = _render_and_grad(_scene())
    torch.testing.assert_close(img1, img2, rtol=0, atol=1e-6)
    torch.testing.assert_close(g1, g2, rtol=1e-5, atol=1e-6)


def test_at_most_restores_after_an_exception(two_threads):
    with pytest.raises(RuntimeError):
        with threads.at_most(1):
            assert torch.get_num_threads() == 1
            raise RuntimeError("boom")
    assert torch.get_num_threads() == 2
    with threads.at_most(None):
        assert torch.get_num_threads() == 2


def test_gpu_renders_are_left_alone():
    assert threads.threads_for(torch.device("cuda"), 64 * 64) is None
    assert threads.threads_for(torch.device("cpu"), 64 * 64) == 1
    assert threads.threads_for(torch.device("cpu"), threads.SERIAL_BELOW) is None


def test_the_whole_render_backward_runs_on_one_thread(two_threads):
    """Not only the analytic Functions: every backward node of the render (seen here from a
    hook on a leaf, which runs inside the pass) runs on one thread; the count comes back at
    the end of the pass."""
    clear_plans()
    scene = _scene()
    counts = []
    leaf = scene.parameters(("points",))[0]
    leaf.register_hook(lambda g: counts.append(torch.get_num_threads()))
    rasterize(scene, 64, 64).sum().backward()
    assert counts == [1]
    assert torch.get_num_threads() == 2


def test_a_failed_backward_leaves_no_limit_behind(two_threads):
    """An error inside the pass skips autograd's final callbacks; the next render gives the
    thread count back."""
    clear_plans()
    scene = _scene()
    leaf = scene.parameters(("points",))[0]

    def fail(grad):
        raise ValueError("hook failed")

    handle = leaf.register_hook(fail)
    with pytest.raises(ValueError):
        rasterize(scene, 64, 64).sum().backward()
    handle.remove()
    with torch.no_grad():
        rasterize(scene, 64, 64)
    assert torch.get_num_threads() == 2
