"""Uniformly random actions: the floor every method must beat."""

from __future__ import annotations

import gymnasium as gym
import numpy as np


class RandomPolicy:
    """Samples each action uniformly from the env's Box action space, seeded per episode."""

    def __init__(self, env: gym.Env, seed: int | None = None) -> None:
        space = env.action_space
        if not isinstance(space, gym.spaces.Box):
            raise TypeError(f"RandomPolicy needs a Box action space, got {space}")
        self._low, self._high = space.low, space.high
        self._rng = np.random.default_rng(seed)

    def reset(self, seed: int | None = None) -> None:
        """Reseed when `seed` is given; otherwise keep the current random stream."""
        if seed is not None:
            self._rng = np.random.default_rng(seed)

    def act(self, observation: dict[str, np.ndarray]) -> np.ndarray:
        """A uniform random action, ignoring the observation."""
        return self._rng.uniform(self._low, self._high).astype(np.float32)
