"""The NeRF tests run torch single-threaded: the renderer issues many small ops, and on a
shared 2-core machine intra-op threads waiting for each other made a step 20x slower."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    yield
