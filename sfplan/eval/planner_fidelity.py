"""Does imagination rank plans the way the real env does? A planner's candidates scored both ways."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch
from scipy.stats import spearmanr

from ..agent import SFPlanner
from ..planning.base import PriorFn, ScoreFn
from ..planning.sampling import PRIOR_PLAN_SLOT


@dataclass(frozen=True)
class ReplanFidelity:
    """One replan's first-iteration candidates (N, H, A), scored by imagination and by the env.

    step:      env steps executed before the replan.
    predicted: (N,) the planner's scores (imagined rewards + success).
    real:      (N,) the same score from the real env: rewards at the frames the world model
               would imagine (every `frame_skip` steps) + success_weight * any success.
    prior:     slot of the proposal policy's own plan among the candidates (None without a prior).
    judged:    (N,) the planner's score computed by its reward model on the real frames the
               candidate produces: what the planner would score with a perfect world model.
               Separates the two sources of ranking error (None when not measured).
    """

    step: int
    predicted: np.ndarray
    real: np.ndarray
    prior: int | None
    judged: np.ndarray | None = None

    @property
    def rank_correlation(self) -> float:
        """Spearman correlation of predicted and real scores; NaN when either is constant (e.g. every
        candidate really succeeds: nothing to rank)."""
        return _rank_correlation(self.predicted, self.real)

    @property
    def reward_model_rank_correlation(self) -> float:
        """How well the reward model ranks the real frames: Spearman of judged and real scores."""
        return _rank_correlation(self.judged, self.real) if self.judged is not None else float("nan")

    @property
    def imagination_rank_correlation(self) -> float:
        """How well imagination reproduces the reward model's ranking of the real frames:
        Spearman of predicted and judged scores (the world model's share of the error)."""
        return _rank_correlation(self.predicted, self.judged) if self.judged is not None else float("nan")

    @property
    def chosen_real_gain(self) -> float:
        """Real score of the best predicted candidate minus that of the prior's plan."""
        return float(self.real[int(np.argmax(self.predicted))] - self.real[self.prior if self.prior is not None else 0])

    @property
    def best_real_gain(self) -> float:
        """The headroom: real score of the truly best candidate minus that of the prior's plan."""
        return float(self.real.max() - self.real[self.prior if self.prior is not None else 0])


def _rank_correlation(first: np.ndarray, second: np.ndarray) -> float:
    if np.ptp(first) == 0 or np.ptp(second) == 0:
        return float("nan")
    return float(spearmanr(first, second).statistic)


class _RecordingPlanner:
    """Wraps a planner and keeps each plan's first scored candidates and their scores."""

    def __init__(self, planner: object, executed: list[np.ndarray]) -> None:
        self._planner, self._executed = planner, executed
        self.records: list[tuple[int, torch.Tensor, torch.Tensor]] = []

    def __getattr__(self, name: str) -> object:
        return getattr(self._planner, name)

    def plan(self, score: ScoreFn, generator: torch.Generator | None = None, prior: PriorFn | None = None) -> torch.Tensor:
        first: list[tuple[torch.Tensor, torch.Tensor]] = []

        def recording_score(actions: torch.Tensor) -> torch.Tensor:
            scores = score(actions)
            if not first:
                first.append((actions.clone(), scores.detach().clone()))
            return scores

        plan = self._planner.plan(recording_score, generator=generator, prior=prior)
        self.records.append((len(self._executed), *first[0]))
        return plan


@dataclass(frozen=True)
class RealRollout:
    """A candidate run in the real env: the planner's score from true rewards, and the images at
    the frames the world model would imagine, (F, H, W, 3) uint8."""

    score: float
    images: np.ndarray


def real_rollout(env: gym.Env, seed: int, prefix: Sequence[np.ndarray], candidate: np.ndarray, frame_skip: int,
                 success_weight: float) -> RealRollout:
    """Replay `prefix` from `reset(seed=seed)` (the env must be deterministic), then run `candidate`
    (H, A) and score it like the planner does: rewards every `frame_skip` steps + success."""
    env.reset(seed=seed)
    for action in prefix:
        env.step(action)
    rewards, images, success = [], [], False
    for index, action in enumerate(candidate):
        observation, reward, terminated, truncated, info = env.step(action)
        success |= bool(info["success"])
        if (index + 1) % frame_skip == 0:
            rewards.append(float(reward))
            images.append(observation["image"])
        if terminated or truncated:
            break
    return RealRollout(sum(rewards) + success_weight * float(success), np.stack(images))


@torch.no_grad()
def judged_score(agent: SFPlanner, images: np.ndarray) -> float:
    """The agent's score of real images (F, H, W, 3) uint8: its reward model on their latents."""
    frames = torch.from_numpy(images).permute(0, 3, 1, 2).float().div(255.0)
    return float(agent.reward_model.score(agent.world_model.codec.encode(frames[None]), agent.config.success_weight)[0])


def candidate_fidelity(env: gym.Env, agent: SFPlanner, seed: int, every: int = 3) -> list[ReplanFidelity]:
    """Run `agent` for one episode from `reset(seed=seed)`; for every `every`-th replan, score its
    first-iteration candidates in the real env by replaying the episode up to that replan, and
    with the agent's reward model on the real frames each candidate produces.

    Costs about (steps before the replan + horizon) env steps per candidate.
    """
    executed: list[np.ndarray] = []
    planner = agent.planner
    recorder = _RecordingPlanner(planner, executed)
    agent.planner = recorder
    try:
        observation, _ = env.reset(seed=seed)
        agent.reset(observation)
        done = False
        while not done:
            executed.append(agent.act(observation))
            observation, _, terminated, truncated, _ = env.step(executed[-1])
            done = terminated or truncated
    finally:
        agent.planner = planner
    prior = PRIOR_PLAN_SLOT if agent.proposals is not None else None
    skip, weight = agent.world_model.config.frame_skip, agent.config.success_weight
    results = []
    for step, candidates, predicted in recorder.records[::every]:
        rollouts = [real_rollout(env, seed, executed[:step], candidate, skip, weight) for candidate in candidates.numpy()]
        real = np.array([rollout.score for rollout in rollouts])
        judged = np.array([judged_score(agent, rollout.images) for rollout in rollouts])
        results.append(ReplanFidelity(step, predicted.numpy(), real, prior, judged))
    return results
