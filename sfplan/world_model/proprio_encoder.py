"""The robot's proprioception at the last context frame -> a condition of the world model."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn


class ProprioEncoder(nn.Module):
    """Encodes the robot state at the last context frame and its one-env-step change.

    Two context frames `frame_skip` env steps apart give the arm's velocity only to the pixel;
    proprioception gives it exactly (docs/world_model.md, session 15). For `history` (B, 2, P),
    the state one env step before the last context frame and at it, the input is the state and
    its change, each normalised by statistics of the training episodes (`set_statistics`; kept
    as buffers, so they are saved with the weights). It returns
      token:   (B, 1, D) an extra cross-attention token;
      summary: (B, D) added to the action summary, so it reaches every residual block.
    Samples flagged in `null` (B,) bool get a learned null token and a zero summary: the state
    of a frame the model imagined is unknown, so later chunks of a rollout use the null state.
    """

    def __init__(self, proprio_dim: int, token_dim: int) -> None:
        super().__init__()
        self.proprio_dim = proprio_dim
        self.mlp = nn.Sequential(nn.Linear(2 * proprio_dim, token_dim), nn.SiLU(), nn.Linear(token_dim, 2 * token_dim))
        self.null_token = nn.Parameter(torch.randn(1, token_dim) * 0.02)
        self.register_buffer("state_mean", torch.zeros(proprio_dim))
        self.register_buffer("state_std", torch.ones(proprio_dim))
        self.register_buffer("change_std", torch.ones(proprio_dim))

    def set_statistics(self, episodes_proprio: Sequence[np.ndarray]) -> None:
        """Normalise by the mean and std of the states and of their one-step changes in these
        (T+1, P) arrays (dimensions that never change keep a std of 1)."""
        states = np.concatenate(episodes_proprio)
        changes = np.concatenate([np.diff(proprio, axis=0) for proprio in episodes_proprio])
        for buffer, values in ((self.state_std, states.std(0)), (self.change_std, changes.std(0))):
            buffer.copy_(torch.from_numpy(np.where(values > 1e-8, values, 1.0)).float())
        self.state_mean.copy_(torch.from_numpy(states.mean(0)).float())

    def start_silent(self) -> None:
        """Zero the output layer: added to a trained world model, the encoder then changes its
        predictions only through the extra (zero) token until training teaches it the state."""
        nn.init.zeros_(self.mlp[-1].weight)
        nn.init.zeros_(self.mlp[-1].bias)

    def extend_from(self, narrower: ProprioEncoder) -> None:
        """Take the weights of a trained encoder of a shorter state that is this one's first
        `narrower.proprio_dim` dims (e.g. the end effector's pose within the "full" robot state).
        The extra dims start silent (zero input weights), so until training teaches it them this
        encoder gives `narrower`'s outputs for the same first dims. Statistics stay this encoder's."""
        old, new = narrower.proprio_dim, self.proprio_dim
        if not 0 < old < new:
            raise ValueError(f"can only extend a {new}-dim state encoder from a shorter one, got {old} dims")
        with torch.no_grad():
            weight = torch.zeros_like(self.mlp[0].weight)
            weight[:, :old] = narrower.mlp[0].weight[:, :old]  # the state ...
            weight[:, new : new + old] = narrower.mlp[0].weight[:, old:]  # ... and its one-step change
            self.mlp[0].weight.copy_(weight)
            self.mlp[0].bias.copy_(narrower.mlp[0].bias)
            self.mlp[2].load_state_dict(narrower.mlp[2].state_dict())
            self.null_token.copy_(narrower.null_token)

    def check(self, history: torch.Tensor, batch: int) -> torch.Tensor:
        """Validate a (B, 2, P) history for a batch of B; returns float32."""
        if history.shape != (batch, 2, self.proprio_dim):
            raise ValueError(f"proprio must be (B={batch}, 2, {self.proprio_dim}): the state one env step before "
                             f"the last context frame and at it; got shape {tuple(history.shape)}")
        if not torch.isfinite(history).all():
            raise ValueError("proprio contains NaN or inf")
        return history.float()

    def null(self, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Token (B, 1, D) and summary (B, D) of the unknown state."""
        return self.null_token.expand(batch, 1, -1), self.null_token.new_zeros(batch, self.null_token.shape[-1])

    def forward(self, history: torch.Tensor, null: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        state = (history[:, 1] - self.state_mean) / self.state_std
        change = (history[:, 1] - history[:, 0]) / self.change_std
        token, summary = self.mlp(torch.cat([state, change], dim=-1)).chunk(2, dim=-1)
        null_token, null_summary = self.null(history.shape[0])
        token = torch.where(null[:, None, None], null_token, token[:, None])
        summary = torch.where(null[:, None], null_summary, summary)
        return token, summary
