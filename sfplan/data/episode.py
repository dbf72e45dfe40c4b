"""The `Episode` record: one rollout of frames, proprioception, actions and outcomes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Episode:
    """One episode of T steps.

    frames:    (T+1, H, W, 3) uint8, the camera image before each action and after the last.
    proprio:   (T+1, P) float32, proprioception aligned with `frames`.
    actions:   (T, A) float32, the action taken after seeing `frames[t]`.
    rewards:   (T,) float32, the reward received for `actions[t]`.
    successes: (T,) bool, the env's `info["success"]` after `actions[t]`.
    stages:    (T,) int64, the env's `info["stage"]` (completed sub-goals) after `actions[t]`.
    seed:      the env seed that produced the episode, or -1 when unknown.
    """

    frames: np.ndarray
    proprio: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    successes: np.ndarray
    stages: np.ndarray
    seed: int = -1

    def __post_init__(self) -> None:
        steps = len(self.actions)
        if self.frames.ndim != 4 or self.frames.shape[-1] != 3 or self.frames.dtype != np.uint8:
            raise ValueError(f"frames must be (T+1, H, W, 3) uint8, got {self.frames.shape} {self.frames.dtype}")
        expected = {"frames": steps + 1, "proprio": steps + 1, "rewards": steps, "successes": steps, "stages": steps}
        for name, length in expected.items():
            if len(getattr(self, name)) != length:
                raise ValueError(f"{name} has {len(getattr(self, name))} entries; an episode of {steps} actions needs {length}")
        if self.actions.ndim != 2:
            raise ValueError(f"actions must be (T, A), got shape {self.actions.shape}")

    @property
    def num_steps(self) -> int:
        """Number of actions T."""
        return len(self.actions)

    @property
    def success(self) -> bool:
        """Whether the task was solved at any step."""
        return bool(self.successes.any())
