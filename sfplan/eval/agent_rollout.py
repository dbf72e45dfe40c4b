"""Running an agent in an env for whole episodes, keeping what a person wants to look at."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

from ..agent import PROPOSAL_POLICY, SFPlanner
from ..checkpoint import CheckpointError


def load_prior_follower(checkpoint: str | Path, threads: int) -> SFPlanner:
    """The checkpoint's agent set to act exactly as its BC prior, never imagining a candidate
    (`prior_margin=inf stall_replans=0`), with its proposal policy in use (`prior_fraction` 0.5
    when the saved one is 0). Raises a CheckpointError when the checkpoint has no proposal policy."""
    checkpoint = Path(checkpoint)
    if not (checkpoint / PROPOSAL_POLICY).is_dir():
        raise CheckpointError(f"{checkpoint} has no {PROPOSAL_POLICY}/: there is no prior to follow "
                              "(export one with experiments/export_agent.py --bc)")
    follow = {"threads": threads, "prior_margin": math.inf, "stall_replans": 0}
    try:
        return SFPlanner.from_pretrained(checkpoint, **follow)
    except ValueError:  # saved with prior_fraction 0: an infinite margin needs the prior's proposals
        return SFPlanner.from_pretrained(checkpoint, **follow, prior_fraction=0.5)


@dataclass
class EpisodeRecord:
    """One evaluated episode: outcome, planning time per replan, the agent's whole time per env
    step (`act`: encoding the frame, fast-memory updates and planning), the env step (0-based)
    whose action first solved the task (None: never), the highest `info["stage"]` (sub-goals
    completed), the share of replans that kept the proposal policy's own plan (`prior_margin`),
    and videos (T, H, W, 3) uint8: the real frames, and what the agent imagined for them (None
    when the episode was run without `record_imagined`)."""

    seed: int
    steps: int
    plan_seconds: list[float]
    act_seconds: list[float]
    first_success_step: int | None
    max_stage: int
    kept_prior_fraction: float
    real_frames: np.ndarray
    imagined_frames: np.ndarray | None = field(repr=False)

    @property
    def success(self) -> bool:
        """Whether the task was solved at any step of the episode."""
        return self.first_success_step is not None

    def side_by_side(self) -> np.ndarray:
        """Real frames (left) beside what the agent imagined for them when it planned (right)."""
        if self.imagined_frames is None:
            raise ValueError("this episode was run without record_imagined=True: there is no imagined video")
        return np.concatenate([self.real_frames, self.imagined_frames], axis=2)


def run_agent_episode(env: gym.Env, agent: SFPlanner, seed: int, record_imagined: bool = True) -> EpisodeRecord:
    """Run `agent` in `env` from `reset(seed=seed)` until the episode ends (success does not end it
    unless the env terminates on success); success is whether the task was solved at any step.

    `record_imagined` keeps, beside the real frames, the video of each plan's first imagined chunk;
    it costs one imagination per replan that the agent itself does not need (a benchmark skips it).
    """
    observation, _ = env.reset(seed=seed)
    agent.reset(observation)
    skip = agent.world_model.config.frame_skip
    real, imagined, done, steps = [observation["image"]], [observation["image"]], False, 0
    act_seconds, first_success_step, max_stage = [], None, 0
    first_replan = len(agent.plan_seconds)
    while not done:
        replans = len(agent.plan_seconds)
        start = time.perf_counter()
        action = agent.act(observation)
        new_plan = len(agent.plan_seconds) > replans
        if record_imagined and new_plan:
            agent.write_memory()  # the video needs the memory the agent would have: count the writes as its work
        act_seconds.append(time.perf_counter() - start)
        if record_imagined and new_plan:  # decode what the new plan expects to see
            with torch.no_grad():
                plan_frames = agent.world_model.decode_imagined(agent.last_imagined)[0]
            plan_video = (plan_frames.permute(0, 2, 3, 1) * 255).round().to(torch.uint8).numpy().repeat(skip, axis=0)
            offset = 0
        observation, _, terminated, truncated, info = env.step(action)
        real.append(observation["image"])
        if record_imagined:
            imagined.append(plan_video[min(offset, len(plan_video) - 1)])
            offset += 1
        max_stage = max(max_stage, int(info["stage"]))
        if info["success"] and first_success_step is None:
            first_success_step = steps
        done = terminated or truncated
        steps += 1
    kept = [stats.kept_prior for stats in agent.plan_stats[first_replan:]]
    return EpisodeRecord(seed, steps, agent.plan_seconds[first_replan:], act_seconds, first_success_step, max_stage,
                         float(np.mean(kept)), np.stack(real), np.stack(imagined) if record_imagined else None)
