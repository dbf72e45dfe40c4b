"""Timing: how fast environments step with their camera on, and the fastest of repeated calls."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np


def env_steps_per_second(env_name: str, steps: int = 300, seed: int = 0, **env_kwargs: object) -> float:
    """Env steps per second, rendering the camera every step, with uniform random actions.

    Excludes construction and the first reset; episodes that end are reset inside the timing.
    """
    from sfplan.envs import make

    env = make(env_name, **env_kwargs)
    try:
        env.reset(seed=seed)
        env.action_space.seed(seed)
        actions = np.stack([env.action_space.sample() for _ in range(steps)])
        start = time.perf_counter()
        for action in actions:
            _, _, terminated, truncated, _ = env.step(action)
            if terminated or truncated:
                env.reset()
        return steps / (time.perf_counter() - start)
    finally:
        env.close()


def fastest_seconds(call: Callable[[], object], repeats: int) -> float:
    """Seconds of the fastest of `repeats` calls of `call` (the least disturbed by a shared machine)."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - start)
    return best
