"""Shared pieces of the reliability tests: the embedded prior (loaded once) and short configs."""

import pytest


@pytest.fixture(scope="session")
def embedded():
    from vecdistill.priors.embedded import EmbeddedPrior

    return EmbeddedPrior()
