"""Where the gripper will be in each imagined frame, drawn into the world model's input."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

POSITION = slice(0, 3)
"""The end effector's world position within a robosuite robot state (`proprio="eef"` or "full")."""
LEFT_FINGER, RIGHT_FINGER = 7, 8
"""The two finger positions within the same state (opening = left - right)."""
MIN_STATE_DIM = 9


class GripperMap(nn.Module):
    """Draws the gripper's predicted positions as input channels at the latent resolution.

    Actions and robot state reach the world model as vectors, so the UNet has to learn where in
    the frame a state puts the arm. This module does it with the camera's geometry instead: for
    each target frame it projects the end effector's predicted world position into the latent grid
    (`set_camera`: the 3x4 world-to-pixel matrix of the camera the data was recorded with) and
    draws a Gaussian blob of width `sigma` latent pixels there. For positions `future` (B, T, P)
    and the state `now` (B, P) at the last context frame it returns (B, T, 4, h, w): the blob, and
    the blob times the gripper's move since `now` in latent pixels (columns, rows) and times the
    change of its finger opening in cm. `current` gives the same channels for `now` itself (blob,
    no motion). The state layout is robosuite's: position in dims 0-2, fingers in dims 7-8.
    """

    channels = 4

    def __init__(self, image_size: int, latent_size: int, sigma: float) -> None:
        super().__init__()
        self.latent_per_pixel = latent_size / image_size
        self.sigma = sigma
        self.register_buffer("projection", torch.zeros(3, 4))
        rows, cols = torch.meshgrid(torch.arange(latent_size, dtype=torch.float32),
                                    torch.arange(latent_size, dtype=torch.float32), indexing="ij")
        self.register_buffer("grid", torch.stack([cols, rows]), persistent=False)

    def set_camera(self, projection: np.ndarray | torch.Tensor) -> None:
        """Take the camera's (3, 4) or (4, 4) world-to-pixel matrix: homogeneous world points map
        to (column, row, 1) times depth in the frame's pixels (`envs.camera_projection`)."""
        matrix = torch.as_tensor(np.asarray(projection), dtype=torch.float32)
        if matrix.shape not in ((3, 4), (4, 4)) or not torch.isfinite(matrix).all() or not matrix[:3].abs().sum() > 0:
            raise ValueError(f"camera projection must be a finite, non-zero (3, 4) or (4, 4) matrix, got {tuple(matrix.shape)}")
        self.projection.copy_(matrix[:3])

    @property
    def has_camera(self) -> bool:
        """Whether `set_camera` has given this map its camera (a model trained with it saves it)."""
        return bool(self.projection.abs().sum() > 0)

    def latent_pixels(self, states: torch.Tensor) -> torch.Tensor:
        """(..., P) robot states -> (..., 2) the end effector's (column, row) in latent pixels."""
        if not self.has_camera:
            raise ValueError("this gripper map has no camera: train the model with set_camera "
                             "(sfplan's trainer reads it from the dataset's env)")
        points = torch.cat([states[..., POSITION], torch.ones_like(states[..., :1])], dim=-1)
        projected = points @ self.projection.T
        depth = projected[..., 2:].clamp_min(1e-3)
        return projected[..., :2] / depth * self.latent_per_pixel

    def _blob(self, pixels: torch.Tensor) -> torch.Tensor:
        """(..., 2) latent pixels -> (..., h, w) Gaussian of height 1 centred there."""
        offset = self.grid - pixels[..., :, None, None]
        return torch.exp(-(offset**2).sum(-3) / (2 * self.sigma**2))

    def forward(self, now: torch.Tensor, future: torch.Tensor) -> torch.Tensor:
        here = self.latent_pixels(now)[:, None]
        there = self.latent_pixels(future)
        blob = self._blob(there)
        move = there - here
        fingers = 100.0 * (_opening(future) - _opening(now)[:, None])
        return torch.stack([blob, blob * move[..., 0, None, None], blob * move[..., 1, None, None],
                            blob * fingers[..., None, None]], dim=2)

    def current(self, now: torch.Tensor) -> torch.Tensor:
        """(B, P) state at the last context frame -> (B, 4, h, w): its blob and zero motion."""
        blob = self._blob(self.latent_pixels(now))
        return torch.cat([blob[:, None], torch.zeros(blob.shape[0], self.channels - 1, *blob.shape[1:])], dim=1)


def _opening(states: torch.Tensor) -> torch.Tensor:
    """(..., P) robot states -> (...,) the fingers' opening in metres."""
    return states[..., LEFT_FINGER] - states[..., RIGHT_FINGER]


def hermite_states(history: torch.Tensor, end: torch.Tensor, steps: int, at_steps: torch.Tensor) -> torch.Tensor:
    """Robot states inside a chunk of `steps` env steps, by cubic Hermite interpolation between the
    state `history` (B, 2, P) before it and `end` (B, 2, P) at its end (each: one env step before and
    at), matching position and velocity at both ends. `at_steps` (T,) env steps into the chunk.
    Returns (B, T, P). Only smooth dims mean anything (positions, fingers; not quaternions)."""
    tau = (at_steps.float() / steps)[None, :, None]
    start, start_velocity = history[:, 1:], (history[:, 1:] - history[:, :1]) * steps
    stop, stop_velocity = end[:, 1:], (end[:, 1:] - end[:, :1]) * steps
    tau2, tau3 = tau**2, tau**3
    return ((2 * tau3 - 3 * tau2 + 1) * start + (tau3 - 2 * tau2 + tau) * start_velocity
            + (-2 * tau3 + 3 * tau2) * stop + (tau3 - tau2) * stop_velocity)
