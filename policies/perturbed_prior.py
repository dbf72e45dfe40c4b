"""A trained BC prior acting with perturbed chunks: on-policy data for the world model.

The planner imagines its prior's plan and Gaussian perturbations of it (`BCPolicy.propose`) from
the states the prior visits. A world model trained only on the scripted expert's episodes has seen
few of those states and few of the prior's failed grasps; episodes collected with this policy add
both (`python experiments/collect.py policy=prior ...`).
"""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

from .bc import BCPolicy


class PerturbedPriorPolicy:
    """Executes a `BCPolicy`'s action chunks; each chunk is perturbed with probability
    `perturb_prob` by N(0, noise^2) per action dimension and step, as the planner's proposals
    are, then clipped to the env's action space. Randomness comes from `seed` (reseeded by
    `reset(seed)`). `threads`, when given, sets torch's thread count of the process (one per
    collection worker keeps parallel workers off each other's cores).
    """

    def __init__(
        self, env: gym.Env, checkpoint: str | Path, noise: float = 0.2, perturb_prob: float = 0.5,
        seed: int | None = None, threads: int | None = None,
    ) -> None:
        if noise < 0:
            raise ValueError(f"noise is a standard deviation and must be >= 0, got {noise}")
        if not 0.0 <= perturb_prob <= 1.0:
            raise ValueError(f"perturb_prob is a probability and must be in [0, 1], got {perturb_prob}")
        space = env.action_space
        if not isinstance(space, gym.spaces.Box):
            raise TypeError(f"PerturbedPriorPolicy needs a Box action space, got {space}")
        if threads is not None:
            torch.set_num_threads(threads)
        self.prior = BCPolicy.from_pretrained(checkpoint)
        if self.prior.config.action_dim != space.shape[0]:
            raise ValueError(
                f"the prior at {checkpoint} predicts {self.prior.config.action_dim}-dim actions but the env's are "
                f"{space.shape[0]}-dim; give the checkpoint of a prior trained on this env"
            )
        self.noise = noise
        self.perturb_prob = perturb_prob
        self._low, self._high = space.low, space.high
        self._rng = np.random.default_rng(seed)
        self._queue: list[np.ndarray] = []

    def reset(self, seed: int | None = None) -> None:
        """Start a new episode; reseed the perturbations when `seed` is given."""
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        self._queue = []

    def act(self, observation: dict[str, np.ndarray]) -> np.ndarray:
        """The next action of the current (possibly perturbed) chunk: float32 (A,)."""
        if not self._queue:
            chunk = self.prior.predict_chunk(observation)
            if self._rng.random() < self.perturb_prob:
                chunk = chunk + self._rng.normal(0.0, self.noise, chunk.shape)
            self._queue = list(np.clip(chunk, self._low, self._high).astype(np.float32))
        return self._queue.pop(0)
