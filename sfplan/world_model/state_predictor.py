"""The robot state after a chunk of actions: what keeps every imagined chunk conditioned on a state."""

from __future__ import annotations

import torch
from torch import nn


class StatePredictor(nn.Module):
    """Predicts the robot state history at the end of a chunk from the history before it and the
    chunk's actions.

    A world model that reads the robot state (`proprio_dim`) is given the real state before the
    first chunk it imagines; the state after an imagined chunk is not observed. This MLP predicts
    it, so `VideoWorldModel.imagine_latents` conditions every later chunk on a predicted state
    rather than the learned unknown one (docs/world_model.md, session 19). For `history` (B, 2, P),
    the state one env step before the last context frame and at it, and the chunk's `actions`
    (B, f_g, k, A), it returns the same (B, 2, P) history at the chunk's last frame, predicted as
    the change from the current state. Inputs and changes are normalised by statistics of the
    transitions it is fitted on (`fit`; kept as buffers, so they are saved with the weights).
    """

    def __init__(self, proprio_dim: int, action_dim: int, chunk_steps: int, hidden: int) -> None:
        super().__init__()
        self.proprio_dim, self.action_dim, self.chunk_steps = proprio_dim, action_dim, chunk_steps
        inputs = 2 * proprio_dim + chunk_steps * action_dim
        self.net = nn.Sequential(
            nn.Linear(inputs, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, 2 * proprio_dim)
        )
        self.register_buffer("input_mean", torch.zeros(inputs))
        self.register_buffer("input_std", torch.ones(inputs))
        self.register_buffer("change_std", torch.ones(2 * proprio_dim))
        self.register_buffer("fitted_steps", torch.zeros((), dtype=torch.long))

    def _inputs(self, history: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        batch = history.shape[0]
        if history.shape[1:] != (2, self.proprio_dim):
            raise ValueError(f"history must be (B, 2, {self.proprio_dim}), got {tuple(history.shape)}")
        if actions.shape[0] != batch or actions[0].numel() != self.chunk_steps * self.action_dim:
            raise ValueError(f"actions must be (B={batch}, ...) with {self.chunk_steps} x {self.action_dim} values per "
                             f"sample (one chunk), got {tuple(actions.shape)}")
        return torch.cat([history.flatten(1), actions.reshape(batch, -1)], dim=1).float()

    def forward(self, history: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        inputs = (self._inputs(history, actions) - self.input_mean) / self.input_std
        change = (self.net(inputs) * self.change_std).view_as(history)
        return history[:, -1:].float() + change

    def fit(
        self, history: torch.Tensor, actions: torch.Tensor, next_history: torch.Tensor, steps: int,
        batch_size: int = 256, lr: float = 1e-3, seed: int = 0,
    ) -> list[float]:
        """Fit on transitions: `history` (N, 2, P) and `actions` (N, f_g, k, A) -> `next_history`
        (N, 2, P) (see `sfplan.data.state_transitions`). Sets the normalisation statistics, then
        takes `steps` Adam steps on the normalised squared error; returns the losses."""
        if len(history) < 2 or not (len(history) == len(actions) == len(next_history)):
            raise ValueError(f"need at least 2 transitions with one entry each, got {len(history)}, {len(actions)}, "
                             f"{len(next_history)}")
        inputs = self._inputs(history, actions)
        changes = (next_history - history[:, -1:]).flatten(1).float()
        if not (torch.isfinite(inputs).all() and torch.isfinite(changes).all()):
            raise ValueError("state transitions contain NaN or inf")
        self.input_mean.copy_(inputs.mean(0))
        for buffer, values in ((self.input_std, inputs.std(0)), (self.change_std, changes.std(0))):
            buffer.copy_(torch.where(values > 1e-8, values, torch.ones_like(values)))
        normalised_inputs = (inputs - self.input_mean) / self.input_std
        normalised_changes = changes / self.change_std
        generator = torch.Generator().manual_seed(seed)
        optimizer = torch.optim.Adam(self.net.parameters(), lr=lr)
        losses = []
        with torch.enable_grad():
            for _ in range(steps):
                index = torch.randint(len(inputs), (batch_size,), generator=generator)
                loss = (self.net(normalised_inputs[index]) - normalised_changes[index]).pow(2).mean()
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                losses.append(loss.item())
        self.fitted_steps += steps
        return losses
