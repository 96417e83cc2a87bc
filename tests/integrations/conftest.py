"""One intra-op thread for the tiny trainings here: on a shared 2-core machine torch's default
(one thread per core) oversubscribes and makes a 100-step run ~4x slower, not faster."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    try:
        import torch
    except ImportError:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
