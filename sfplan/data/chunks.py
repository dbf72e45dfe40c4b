"""Cutting episodes into (context frames, target frames, actions) windows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from .episode import Episode


def proprio_history(proprio: np.ndarray, step: int) -> np.ndarray:
    """(2, P) proprioception at env step `step - 1` and `step` of an episode's (T+1, P) array, the
    condition `ProprioEncoder` reads; at step 0 the state is repeated (no motion yet)."""
    return proprio[[max(step - 1, 0), step]]


def state_transitions(
    episodes: Sequence[Episode], target_frames: int, frame_skip: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Every chunk-long state transition of `episodes`, what `StatePredictor.fit` learns from: the
    state history before (N, 2, P) (`proprio_history` at every step t >= 1), the chunk's actions
    (N, f_g, k, A) and the history `f_g * k` env steps later (N, 2, P)."""
    steps = target_frames * frame_skip
    before, actions, after = [], [], []
    for episode in episodes:
        for step in range(1, len(episode.actions) - steps + 1):
            before.append(proprio_history(episode.proprio, step))
            actions.append(episode.actions[step : step + steps].reshape(target_frames, frame_skip, -1))
            after.append(proprio_history(episode.proprio, step + steps))
    if not before:
        raise ValueError(f"no episode is longer than one chunk ({steps} env steps)")
    return (torch.from_numpy(np.stack(before)).float(), torch.from_numpy(np.stack(actions)).float(),
            torch.from_numpy(np.stack(after)).float())


@dataclass(frozen=True)
class ChunkSpec:
    """Shape of one training window.

    context_frames: f_p, clean past frames the model conditions on.
    target_frames:  f_g, future frames the model predicts.
    frame_skip:     env steps between consecutive frames of a window; each target
                    frame is reached by `frame_skip` actions.
    stride:         env steps between the starts of consecutive windows.
    """

    context_frames: int = 2
    target_frames: int = 4
    frame_skip: int = 2
    stride: int = 1

    def __post_init__(self) -> None:
        for name in ("context_frames", "target_frames", "frame_skip", "stride"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")

    @property
    def span_steps(self) -> int:
        """Env steps from the first context frame to the last target frame."""
        return (self.context_frames + self.target_frames - 1) * self.frame_skip


class ChunkDataset(Dataset):
    """Every window of every episode, as a torch dataset.

    Item `i` is a dict of tensors:
      context:   (f_p, 3, H, W) uint8, frames s, s+k, ... (k = frame_skip)
      target:    (f_g, 3, H, W) uint8, the following f_g frames, k steps apart
      actions:   (f_g, k, A) float32, the k actions leading into each target frame
      rewards:   (f_g,) float32, reward received on arriving at each target frame
      successes: (f_g,) float32, 1 where the task was solved at that target frame
      proprio:   (2, P) float32, the robot state one env step before the last context frame and
                 at it (`proprio_history`: what a world model with `proprio_dim` reads)
    Episodes shorter than one window contribute nothing. `frames`, when given, replaces
    each episode's frames by another per-frame array of the same length, cut as given
    (e.g. latents (T+1, C, h, w) float32): the world model trains on encoded frames.
    """

    def __init__(self, episodes: Sequence[Episode], spec: ChunkSpec, frames: Sequence[np.ndarray] | None = None) -> None:
        self.episodes = list(episodes)
        self.spec = spec
        if frames is not None and [len(f) for f in frames] != [len(e.frames) for e in self.episodes]:
            raise ValueError("frames must hold one array per episode, as long as that episode's frames")
        self._frames = None if frames is None else [torch.as_tensor(f) for f in frames]
        self._index = [
            (episode_id, start)
            for episode_id, episode in enumerate(self.episodes)
            for start in range(0, episode.num_steps - spec.span_steps + 1, spec.stride)
        ]
        if not self._index:
            longest = max((episode.num_steps for episode in self.episodes), default=0)
            raise ValueError(
                f"no window of {spec.span_steps} steps fits in these episodes (longest has {longest} steps); "
                "use fewer context/target frames or a smaller frame_skip"
            )

    def __len__(self) -> int:
        return len(self._index)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        episode_id, start = self._index[index]
        episode = self.episodes[episode_id]
        spec = self.spec
        frame_ids = start + spec.frame_skip * np.arange(spec.context_frames + spec.target_frames)
        target_ids = frame_ids[spec.context_frames :]
        if self._frames is None:
            frames = torch.from_numpy(episode.frames[frame_ids]).permute(0, 3, 1, 2)
        else:
            frames = self._frames[episode_id][frame_ids]
        action_ids = target_ids[:, None] - spec.frame_skip + np.arange(spec.frame_skip)[None, :]
        return {
            "context": frames[: spec.context_frames],
            "target": frames[spec.context_frames :],
            "actions": torch.from_numpy(episode.actions[action_ids]),
            "rewards": torch.from_numpy(episode.rewards[target_ids - 1]),
            "successes": torch.from_numpy(episode.successes[target_ids - 1].astype(np.float32)),
            "proprio": torch.from_numpy(proprio_history(episode.proprio, int(frame_ids[spec.context_frames - 1]))),
        }


def consecutive_chunks(
    spec: ChunkSpec, frames: torch.Tensor, actions: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """An episode cut into back-to-back chunks, the way a world model rolls it out.

    frames: (T+1, ...) one entry per frame (pixels or latents); actions: (T, A).
    Returns the first context (f_p, ...) (frames 0, k, ..., (f_p - 1) k for k = frame_skip),
    the chunks (N, f_g, ...) that follow it without gaps, and the actions leading into each
    chunk's frames (N, f_g, k, A). A tail shorter than one chunk is dropped.
    """
    skip, target = spec.frame_skip, spec.target_frames
    start = (spec.context_frames - 1) * skip
    per_chunk = target * skip
    count = (len(actions) - start) // per_chunk
    if count < 1:
        raise ValueError(f"an episode of {len(actions)} steps holds no chunk of {per_chunk} steps after its context")
    chunks = frames[start + skip : start + count * per_chunk + 1 : skip].reshape(count, target, *frames.shape[1:])
    chunk_actions = actions[start : start + count * per_chunk].reshape(count, target, skip, -1)
    return frames[0 : start + 1 : skip], chunks, chunk_actions
