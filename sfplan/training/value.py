"""Train the value model: the discounted reward-to-go of the dataset's episodes from their frames."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from scipy.stats import spearmanr
from tqdm import tqdm

from ..data import Episode
from ..world_model import FrameAutoencoder, ValueModel, value_targets
from .slow import encode_frames


@dataclass(frozen=True)
class ValueFrames:
    """Every frame of some episodes with its value target.

    latents: (N, C, h, w) encoded frames; values: (N,) their `value_targets`;
    episode_success: (N,) whether the frame's episode succeeded at some step.
    """

    latents: torch.Tensor
    values: torch.Tensor
    episode_success: torch.Tensor

    def __len__(self) -> int:
        return len(self.values)


@torch.no_grad()
def value_frames(codec: FrameAutoencoder, episodes: Sequence[Episode], discount: float) -> ValueFrames:
    """Encode all frames of `episodes` with `codec` and pair each with its discounted reward-to-go."""
    latents = torch.cat([encode_frames(codec, episode.frames) for episode in episodes])
    values = np.concatenate([value_targets(episode.rewards, discount) for episode in episodes])
    success = np.concatenate([np.full(episode.num_steps + 1, episode.success) for episode in episodes])
    return ValueFrames(latents, torch.from_numpy(values), torch.from_numpy(success))


def train_value_model(
    value_model: ValueModel, frames: ValueFrames, steps: int, batch_size: int = 256, lr: float = 3e-4, seed: int = 0,
    progress: bool = True,
) -> list[float]:
    """Fit `value_model` to random batches of `frames` (MSE); returns the losses, leaves it in eval mode."""
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.AdamW(value_model.parameters(), lr=lr)
    value_model.train()
    losses = []
    for _ in tqdm(range(steps), desc="value model", disable=not progress):
        index = torch.randint(len(frames), (batch_size,), generator=generator)
        loss = value_model.loss(frames.latents[index], frames.values[index])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    value_model.eval()
    return losses


@torch.no_grad()
def value_metrics(value_model: ValueModel, frames: ValueFrames) -> dict[str, float]:
    """How well `value_model` predicts the values of (held-out) `frames`: MSE, the share of the
    targets' variance it explains (R^2; nan for constant targets), their Spearman rank correlation, and the mean predicted
    value on frames of succeeding vs failing episodes (nan when there are none of a kind)."""
    predicted = value_model(frames.latents)
    mse = float(torch.mean((predicted - frames.values) ** 2))
    success = frames.episode_success

    def mean_where(mask: torch.Tensor) -> float:
        return float(predicted[mask].mean()) if mask.any() else float("nan")

    return {
        "mse": mse,
        "r2": 1.0 - mse / variance if (variance := float(frames.values.var(unbiased=False))) > 0 else float("nan"),
        "rank_correlation": float(spearmanr(predicted.numpy(), frames.values.numpy()).statistic),
        "mean_value_successful_episodes": mean_where(success),
        "mean_value_failed_episodes": mean_where(~success),
    }
