"""Actions -> the three ways they condition the world model's UNet."""

from __future__ import annotations

import torch
from torch import nn


class ActionEncoder(nn.Module):
    """Encodes the actions leading into each target frame, with a learned null action.

    For actions (B, f_g, k, A) (k = frame skip) it returns:
      tokens:   (B, f_g, D) cross-attention tokens, one per target frame, with a learned
                per-frame position so every frame can find its own action;
      summary:  (B, D) embedding of the whole chunk's actions, added to the UNet's
                noise-level embedding so it reaches every residual block;
      channels: (B, f_g, k*A + 1, 1, 1) the raw actions plus an "action given" flag, to be
                broadcast as input channels at full latent resolution.
    Samples flagged in `null` (B,) bool get the learned null tokens/summary and zero channels.
    """

    def __init__(self, action_dim: int, frame_skip: int, target_frames: int, token_dim: int) -> None:
        super().__init__()
        self.action_dim, self.frame_skip, self.target_frames = action_dim, frame_skip, target_frames
        per_frame = action_dim * frame_skip
        self.frame_mlp = nn.Sequential(nn.Linear(per_frame, token_dim), nn.SiLU(), nn.Linear(token_dim, token_dim))
        self.summary_mlp = nn.Sequential(
            nn.Linear(per_frame * target_frames, token_dim), nn.SiLU(), nn.Linear(token_dim, token_dim)
        )
        self.frame_position = nn.Parameter(torch.randn(target_frames, token_dim) * 0.02)
        self.null_tokens = nn.Parameter(torch.randn(target_frames, token_dim) * 0.02)
        self.null_summary = nn.Parameter(torch.zeros(token_dim))

    @property
    def channels(self) -> int:
        """Input channels this encoder adds to every frame."""
        return self.action_dim * self.frame_skip + 1

    def null(self, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Tokens (B, f_g, D) and summary (B, D) of the learned null action."""
        return self.null_tokens.expand(batch, -1, -1), self.null_summary.expand(batch, -1)

    def forward(self, actions: torch.Tensor, null: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        batch = actions.shape[0]
        flat = actions.reshape(batch, self.target_frames, -1)
        keep = (~null).float()
        tokens = self.frame_mlp(flat) + self.frame_position
        tokens = torch.where(null[:, None, None], self.null_tokens.expand_as(tokens), tokens)
        summary = torch.where(null[:, None], self.null_summary.expand(batch, -1), self.summary_mlp(flat.reshape(batch, -1)))
        given = keep[:, None, None].expand(batch, self.target_frames, 1)
        channels = torch.cat([flat * keep[:, None, None], given], dim=-1)[..., None, None]
        return tokens, summary, channels
