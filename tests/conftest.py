"""Shared fixtures: tiny synthetic episodes, so data tests need no simulator."""

from __future__ import annotations

import numpy as np
import pytest

from sfplan.data import Episode


def make_episode(num_steps: int = 20, image_size: int = 8, action_dim: int = 2, seed: int = 0) -> Episode:
    """An episode whose frame t is filled with the value t and whose action t is (t, t+0.5, ...)."""
    steps = np.arange(num_steps + 1)
    frames = np.broadcast_to(steps[:, None, None, None], (num_steps + 1, image_size, image_size, 3)).astype(np.uint8)
    actions = (np.arange(num_steps)[:, None] + 0.5 * np.arange(action_dim)[None, :]).astype(np.float32)
    return Episode(
        frames=frames.copy(),
        proprio=np.stack([steps, -steps], axis=1).astype(np.float32),
        actions=actions,
        rewards=np.arange(num_steps, dtype=np.float32) / num_steps,
        successes=np.arange(num_steps) >= num_steps - 3,
        stages=(np.arange(num_steps) >= num_steps - 3).astype(np.int64),
        seed=seed,
    )


@pytest.fixture
def episodes() -> list[Episode]:
    return [make_episode(20, seed=0), make_episode(13, seed=1)]
