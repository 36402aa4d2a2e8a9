"""Every distillation objective runs on the embedded prior and moves an image toward the
icon its prompt names (x0 optimised directly, 16 px, a small icon subset)."""

from __future__ import annotations

import pytest
import torch
from embedded_helpers import icon_x0, small_icon_set

from vecdistill.distill import build_objective
from vecdistill.priors.embedded import EmbeddedPrior

RES = 16


pytestmark = pytest.mark.usefixtures("one_thread_module")


@pytest.fixture(scope="module")
def prior(tmp_path_factory):
    return EmbeddedPrior(resolution=RES, cache_dir=tmp_path_factory.mktemp("cache"), icon_set=small_icon_set())


def _optimise(objective, start, steps, lr, reference=None, seed=0):
    x0 = start.clone().requires_grad_(True)
    opt = torch.optim.Adam([x0], lr=lr)
    gen = torch.Generator().manual_seed(seed)
    for step in range(steps):
        result = objective(x0, step / steps, gen, reference=reference)
        assert torch.isfinite(result.loss) and result.grad.shape == x0.shape and not result.skipped
        opt.zero_grad()
        result.loss.backward()
        opt.step()
        with torch.no_grad():
            x0.clamp_(-1, 1)
    return x0.detach()


def _dist(a, b):
    return (a - b).pow(2).mean().sqrt().item()


@pytest.mark.parametrize("method", ["sds", "sdi", "vsd"])
def test_generation_objectives_move_toward_the_prompted_icon(prior, method):
    heart = icon_x0(prior, "2764.svg")
    start = icon_x0(prior, "1f680.svg") * 0.5  # a faded rocket
    torch.manual_seed(0)  # VSD's trainable copy is initialised from torch's global generator
    objective = build_objective(method, prior, "red heart")
    end = _optimise(objective, start, steps=25, lr=0.05)
    assert _dist(end, heart) < 0.8 * _dist(start, heart)


@pytest.mark.parametrize("method", ["dds", "pds"])
def test_editing_objectives_move_from_source_to_target(prior, method):
    source = icon_x0(prior, "1f431.svg")  # cat face, edited toward "dog face"
    dog = icon_x0(prior, "1f436.svg")
    objective = build_objective(method, prior, "dog face", source="cat face")
    end = _optimise(objective, source, steps=25, lr=0.05, reference=source)
    assert _dist(end, dog) < 0.7 * _dist(source, dog)
