"""Builders shared by tests: synthetic episodes and tiny model configs."""

from __future__ import annotations

import numpy as np

from sfplan.data import Episode


def make_episode(num_steps: int = 20, image_size: int = 8, action_dim: int = 2, seed: int = 0) -> Episode:
    """An episode whose frame t is filled with the value t and whose action t is (t, t+0.5, ...)."""
    steps = np.arange(num_steps + 1)
    frames = np.broadcast_to(steps[:, None, None, None], (num_steps + 1, image_size, image_size, 3)).astype(np.uint8)
    actions = (np.arange(num_steps)[:, None] + 0.5 * np.arange(action_dim)[None, :]).astype(np.float32)
    return Episode(
        frames=frames.copy(),
        proprio=np.stack([steps, -steps], axis=1).astype(np.float32),
        actions=actions,
        rewards=np.arange(num_steps, dtype=np.float32) / num_steps,
        successes=np.arange(num_steps) >= num_steps - 3,
        stages=(np.arange(num_steps) >= num_steps - 3).astype(np.int64),
        seed=seed,
    )


def tiny_world_model_config(**overrides):
    """A world model of a few thousand parameters on 16x16 frames (8x8 latents), 2-dim actions."""
    from sfplan.world_model import CodecConfig, WorldModelConfig

    values = dict(
        codec=CodecConfig(image_size=16, latent_channels=2, block_channels=(8, 16)),
        context_frames=2,
        target_frames=2,
        frame_skip=1,
        action_dim=2,
        block_channels=(16, 16),
        attention_levels=(False, True),
        attention_heads=2,
        action_token_dim=16,
    )
    values.update(overrides)
    return WorldModelConfig(**values)


def record_chunk_conditions(model, monkeypatch) -> list:
    """Patch `model.sample_chunk` to record each call's (actions, proprio): the chunks of a rollout
    and the robot state each is conditioned on. Returns the list the calls are appended to."""
    seen = []
    original = model.sample_chunk

    def spy(context, actions, **kwargs):
        seen.append((actions, kwargs["proprio"]))
        return original(context, actions, **kwargs)

    monkeypatch.setattr(model, "sample_chunk", spy)
    return seen
