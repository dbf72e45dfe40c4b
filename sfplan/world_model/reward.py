"""Reward and success predicted from latent frames: the planner's score."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..checkpoint import load_weights, read_config


def latent_frame_net(latent_channels: int, latent_size: int, hidden: int, outputs: int) -> nn.Sequential:
    """A small strided conv net, (N, latent_channels, latent_size, latent_size) -> (N, outputs):
    the reward model's and the value model's body."""
    return nn.Sequential(
        nn.Conv2d(latent_channels, hidden, 3, padding=1),
        nn.SiLU(),
        nn.Conv2d(hidden, 2 * hidden, 3, stride=2, padding=1),
        nn.SiLU(),
        nn.Conv2d(2 * hidden, 2 * hidden, 3, stride=2, padding=1),
        nn.SiLU(),
        nn.Flatten(),
        nn.Linear(2 * hidden * (latent_size // 4) ** 2, 128),
        nn.SiLU(),
        nn.Linear(128, outputs),
    )


@dataclass
class RewardModelConfig:
    """latent_channels/latent_size: the codec's latent frame shape; hidden: conv width."""

    latent_channels: int = 4
    latent_size: int = 16
    hidden: int = 32

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> RewardModelConfig:
        return cls(**values)


class RewardModel(nn.Module):
    """Per-frame reward and success probability from (..., C, h, w) latent frames.

    A small strided conv net; cheap next to the world model, so every imagined frame
    of every candidate plan can be scored.
    """

    def __init__(self, config: RewardModelConfig) -> None:
        super().__init__()
        self.config = config
        self.net = latent_frame_net(config.latent_channels, config.latent_size, config.hidden, outputs=2)

    @classmethod
    def from_pretrained(cls, directory: str | Path) -> RewardModel:
        """Load a reward model saved beside a world model (`model.safetensors` + `config.json`), in eval mode."""
        return load_weights(cls(RewardModelConfig.from_dict(read_config(directory))), directory).eval()

    def forward(self, latents: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(..., C, h, w) -> reward (...), success logit (...)."""
        lead = latents.shape[:-3]
        output = self.net(latents.reshape(-1, *latents.shape[-3:]))
        return output[:, 0].reshape(lead), output[:, 1].reshape(lead)

    def score(self, latents: torch.Tensor, success_weight: float = 1.0) -> torch.Tensor:
        """The planner's score of (N, F, C, h, w) latent videos, (N,): predicted rewards summed over
        frames + `success_weight` x the highest predicted success probability."""
        rewards, success_logits = self(latents)
        return rewards.sum(dim=1) + success_weight * torch.sigmoid(success_logits).amax(dim=1)

    def loss(self, latents: torch.Tensor, rewards: torch.Tensor, successes: torch.Tensor) -> torch.Tensor:
        """MSE on rewards plus binary cross-entropy on success, for (N, C, h, w) latents and (N,) targets."""
        reward, success_logit = self(latents)
        return nn.functional.mse_loss(reward, rewards) + nn.functional.binary_cross_entropy_with_logits(
            success_logit, successes
        )
