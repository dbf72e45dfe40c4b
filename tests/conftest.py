"""Shared fixtures (helpers that tests import live in helpers.py)."""

from __future__ import annotations

import pytest
import torch

from helpers import make_episode
from sfplan.data import Episode


@pytest.fixture
def episodes() -> list[Episode]:
    return [make_episode(20, seed=0), make_episode(13, seed=1)]


@pytest.fixture(autouse=True)
def _single_thread():
    """Tiny models run fastest on one thread, and tests must not oversubscribe a shared CPU."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
