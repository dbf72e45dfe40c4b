"""A behaviour-cloned policy: image + proprioception -> a chunk of actions.

A baseline on its own (it executes each predicted chunk, as ACT does) and the planner's
proposal source (`propose` samples action sequences around its prediction).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from sfplan.checkpoint import load_weights, read_config, save_pretrained
from sfplan.data import Episode


@dataclass
class BCPolicyConfig:
    """image_size: square input frames; proprio_dim, action_dim: env sizes; chunk: actions
    predicted per observation; hidden: MLP width; proposal_std: std of the Gaussian noise
    `propose` adds around the predicted actions."""

    image_size: int = 64
    proprio_dim: int = 9
    action_dim: int = 7
    chunk: int = 8
    hidden: int = 256
    proposal_std: float = 0.2


class BCPolicy(nn.Module):
    """Conv encoder of the (3, H, W) frame, concatenated with proprio, MLP to (chunk, A) in [-1, 1]."""

    def __init__(self, config: BCPolicyConfig) -> None:
        super().__init__()
        self.config = config
        layers, channels = [], 3
        for width in (32, 64, 64, 64):
            layers += [nn.Conv2d(channels, width, 4, stride=2, padding=1), nn.SiLU()]
            channels = width
        self.encoder = nn.Sequential(*layers, nn.Flatten())
        features = channels * (config.image_size // 16) ** 2
        self.head = nn.Sequential(
            nn.Linear(features + config.proprio_dim, config.hidden), nn.SiLU(),
            nn.Linear(config.hidden, config.chunk * config.action_dim), nn.Tanh(),
        )
        self._queue: list[np.ndarray] = []

    def forward(self, images: torch.Tensor, proprio: torch.Tensor) -> torch.Tensor:
        """images (B, H, W, 3) uint8, proprio (B, P) -> actions (B, chunk, A)."""
        x = images.permute(0, 3, 1, 2).float() / 255.0
        out = self.head(torch.cat([self.encoder(x), proprio.float()], dim=1))
        return out.reshape(-1, self.config.chunk, self.config.action_dim)

    @torch.no_grad()
    def predict_chunk(self, observation: dict[str, np.ndarray]) -> np.ndarray:
        """The (chunk, A) float32 actions predicted for one observation."""
        image = torch.from_numpy(observation["image"])[None]
        proprio = torch.from_numpy(observation["proprio"])[None]
        return self(image, proprio)[0].numpy().astype(np.float32)

    # Policy protocol: execute each predicted chunk, then predict again.
    def reset(self, seed: int | None = None) -> None:
        """New episode: drop queued actions (the policy itself is deterministic)."""
        self._queue = []

    def act(self, observation: dict[str, np.ndarray]) -> np.ndarray:
        """The next action of the current chunk, predicting a new chunk when it is used up."""
        if not self._queue:
            self._queue = list(self.predict_chunk(observation))
        return self._queue.pop(0)

    @torch.no_grad()
    def propose(self, observation: dict[str, np.ndarray], count: int, horizon: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """`count` action sequences (count, horizon, A) for a planner's prior: the prediction itself
        first, then Gaussian perturbations of it. Past the predicted chunk the last predicted
        action is held.
        """
        mean = torch.from_numpy(self.predict_chunk(observation))
        index = torch.arange(horizon).clamp(max=self.config.chunk - 1)
        noise = torch.randn(count, horizon, self.config.action_dim, generator=generator) * self.config.proposal_std
        noise[0] = 0.0
        return (mean[index][None] + noise).clamp(-1.0, 1.0)

    def save_pretrained(self, directory: str | Path) -> Path:
        """Write `model.safetensors` + `config.json` atomically."""
        return save_pretrained(self, asdict(self.config), directory)

    @classmethod
    def from_pretrained(cls, directory: str | Path) -> BCPolicy:
        """Load a policy written by `save_pretrained`, in eval mode."""
        return load_weights(cls(BCPolicyConfig(**read_config(directory))), directory).eval()


def _targets(episode: Episode, chunk: int) -> np.ndarray:
    """(T, chunk, A): the next `chunk` actions from every step, the last action held past the end."""
    index = np.minimum(np.arange(episode.num_steps)[:, None] + np.arange(chunk)[None], episode.num_steps - 1)
    return episode.actions[index]


def random_shift(images: torch.Tensor, pad: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """DrQ's image augmentation: each (H, W, C) image of the (B, H, W, C) batch padded by `pad`
    edge pixels and cropped back to its size at a random offset (up to `pad` pixels each way)."""
    if pad == 0:
        return images
    batch, height, width, _ = images.shape
    padded = nn.functional.pad(images.permute(0, 3, 1, 2).float(), (pad, pad, pad, pad), mode="replicate")
    offsets = torch.randint(2 * pad + 1, (batch, 2), generator=generator).tolist()
    crops = [padded[i, :, top : top + height, left : left + width] for i, (top, left) in enumerate(offsets)]
    return torch.stack(crops).permute(0, 2, 3, 1).to(images.dtype)


def train_bc(
    episodes: Sequence[Episode], config: BCPolicyConfig, steps: int, batch_size: int = 64, lr: float = 3e-4,
    seed: int = 0, progress: bool = True, shift: int = 0,
) -> tuple[BCPolicy, list[float]]:
    """Behaviour cloning with MSE on action chunks; returns the policy (eval mode) and the losses.

    `shift` > 0 trains on randomly shifted frames (`random_shift`, DrQ's augmentation)."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    images = torch.from_numpy(np.concatenate([e.frames[:-1] for e in episodes]))
    proprio = torch.from_numpy(np.concatenate([e.proprio[:-1] for e in episodes]))
    targets = torch.from_numpy(np.concatenate([_targets(e, config.chunk) for e in episodes]))
    policy = BCPolicy(config)
    optimizer = torch.optim.AdamW(policy.parameters(), lr=lr)
    losses: list[float] = []
    for _ in tqdm(range(steps), desc="behaviour cloning", disable=not progress):
        index = torch.randint(len(images), (batch_size,), generator=generator)
        loss = nn.functional.mse_loss(policy(random_shift(images[index], shift, generator), proprio[index]), targets[index])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return policy.eval(), losses

