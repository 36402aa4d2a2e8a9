"""The NeRF tests run torch single-threaded: the renderer issues many small ops, and on a
shared 2-core machine intra-op threads waiting for each other made a step 20x slower."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
