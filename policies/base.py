"""The policy interface shared by experts, priors and baselines."""

from __future__ import annotations

from typing import Protocol

import numpy as np


class Policy(Protocol):
    """Maps an observation dict (`image` (H, W, 3) uint8, `proprio` (P,) float32) to an action."""

    def reset(self, seed: int | None = None) -> None:
        """Start a new episode; `seed` fixes the policy's own randomness (noise, exploration)."""

    def act(self, observation: dict[str, np.ndarray]) -> np.ndarray:
        """The action for this step, float32 within the env's action space."""
