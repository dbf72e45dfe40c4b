"""Value of a latent frame: the discounted reward still to come, what a short imagined plan cannot see."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..checkpoint import load_weights, read_config
from .reward import latent_frame_net


@dataclass
class ValueModelConfig:
    """latent_channels/latent_size: the codec's latent frame shape; hidden: conv width;
    discount: per env step, of the rewards the value sums (0.98: about 50 steps ahead)."""

    latent_channels: int = 4
    latent_size: int = 16
    hidden: int = 32
    discount: float = 0.98

    def __post_init__(self) -> None:
        if not 0 <= self.discount < 1:
            raise ValueError(f"discount must be in [0, 1), got {self.discount}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ValueModelConfig:
        return cls(**values)


def value_targets(rewards: np.ndarray, discount: float) -> np.ndarray:
    """(T,) rewards of one episode -> (T + 1,) value of each of its T + 1 frames, in reward per step.

    Frame t's value is (1 - discount) * sum_k discount^k rewards[t + k]: the rewards from acting
    in frame t onwards (rewards[t] is the reward of the step out of frame t), scaled so that a
    constant reward r has value r. Episodes end at a time limit, not in a terminal state, so the
    last reward is taken to go on past the end (a lifted cube stays lifted, a dropped one stays
    dropped) rather than to drop to zero, which would make the same frame worth less late in an
    episode.
    """
    values = np.empty(len(rewards) + 1, dtype=np.float64)
    values[-1] = rewards[-1] if len(rewards) else 0.0
    for t in range(len(rewards) - 1, -1, -1):
        values[t] = (1 - discount) * rewards[t] + discount * values[t + 1]
    return values.astype(np.float32)


class ValueModel(nn.Module):
    """Discounted reward-to-go of the data-collecting policy from a (..., C, h, w) latent frame,
    in reward per step (see `value_targets`); the planner adds it for the last imagined frame."""

    def __init__(self, config: ValueModelConfig) -> None:
        super().__init__()
        self.config = config
        self.net = latent_frame_net(config.latent_channels, config.latent_size, config.hidden, outputs=1)

    @classmethod
    def from_pretrained(cls, directory: str | Path) -> ValueModel:
        """Load a value model saved with `save_pretrained` (`model.safetensors` + `config.json`), in eval mode."""
        return load_weights(cls(ValueModelConfig.from_dict(read_config(directory))), directory).eval()

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        """(..., C, h, w) -> value (...)."""
        lead = latents.shape[:-3]
        return self.net(latents.reshape(-1, *latents.shape[-3:]))[:, 0].reshape(lead)

    def loss(self, latents: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        """MSE of (N, C, h, w) latents' values against (N,) targets."""
        return nn.functional.mse_loss(self(latents), values)
