"""Fixtures for the objective tests: exact Gaussian-mixture priors (fast, float64)."""

from __future__ import annotations

import pytest
import torch

from vecdistill.priors.gmm import GaussianMixturePrior


@pytest.fixture()
def gmm2d() -> GaussianMixturePrior:
    """Two classes in 2D: "red" (two isotropic components) and "blue" (two diagonal ones)."""
    return GaussianMixturePrior(
        {
            "red": ([[-2.0, 0.0], [-2.0, 1.5]], 0.1, [0.6, 0.4]),
            "blue": ([[2.0, 0.0], [2.0, -1.5]], [[0.1, 0.2], [0.3, 0.05]]),
        },
        dtype=torch.float64,
    )


@pytest.fixture()
def gmm_image() -> GaussianMixturePrior:
    """Two classes of 3x4x4 "images" (flattened D = 48), one isotropic component each plus one."""
    g = torch.Generator().manual_seed(3)
    m = torch.rand(4, 48, generator=g) * 2 - 1
    return GaussianMixturePrior({"cat": (m[:2], [0.05, 0.1]), "dog": (m[2:], 0.08)}, shape=(3, 4, 4), dtype=torch.float64)


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    """Every objective test runs on one CPU thread (see tests/conftest.py)."""
    yield
