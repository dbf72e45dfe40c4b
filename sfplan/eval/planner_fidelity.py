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


@dataclass(frozen=True)
class ReplanDecision:
    """One replan's decision between the proposal policy's own plan and the planner's best candidate.

    step:           env steps executed before the replan.
    predicted_gain: the best candidate's predicted score minus the prior plan's.
    real_gain:      the same difference in the real env (0 when the best candidate is the prior's plan).
    overrode:       the planner executed its best candidate instead of the prior's plan
                    (predicted_gain reached `prior_margin`).
    """

    step: int
    predicted_gain: float
    real_gain: float
    overrode: bool


@dataclass(frozen=True)
class PlanRecord:
    """What the planner saw at one replan: `candidates` (I, N, H, A) of each of its I iterations,
    their `scores` (I, N), and `plan`, the (H, A) plan it returned, after `step` env steps."""

    step: int
    candidates: torch.Tensor
    scores: torch.Tensor
    plan: torch.Tensor


@dataclass(frozen=True)
class RecordedEpisode:
    """An episode of the agent from `reset(seed=seed)`: the executed actions and every replan."""

    seed: int
    executed: list[np.ndarray]
    plans: list[PlanRecord]
    success: bool


class _RecordingPlanner:
    """Wraps a planner and records, per plan, every iteration's candidates, scores and the result."""

    def __init__(self, planner: object, executed: list[np.ndarray]) -> None:
        self._planner, self._executed = planner, executed
        self.records: list[PlanRecord] = []

    def __getattr__(self, name: str) -> object:
        return getattr(self._planner, name)

    def plan(
        self, score: ScoreFn, generator: torch.Generator | None = None, prior: PriorFn | None = None,
        keep_prior_within_margin: bool = True,
    ) -> torch.Tensor:
        iterations: list[tuple[torch.Tensor, torch.Tensor]] = []

        def recording_score(actions: torch.Tensor) -> torch.Tensor:
            scores = score(actions)
            iterations.append((actions.clone(), scores.detach().clone()))
            return scores

        plan = self._planner.plan(recording_score, generator=generator, prior=prior, keep_prior_within_margin=keep_prior_within_margin)
        candidates, scores = (torch.stack(part) for part in zip(*iterations))
        self.records.append(PlanRecord(len(self._executed), candidates, scores, plan.clone()))
        return plan


def record_episode(env: gym.Env, agent: SFPlanner, seed: int) -> RecordedEpisode:
    """Run `agent` for one episode from `reset(seed=seed)`, recording every replan."""
    executed: list[np.ndarray] = []
    planner = agent.planner
    recorder = _RecordingPlanner(planner, executed)
    agent.planner = recorder
    success = False
    try:
        observation, _ = env.reset(seed=seed)
        agent.reset(observation)
        done = False
        while not done:
            executed.append(agent.act(observation))
            observation, _, terminated, truncated, info = env.step(executed[-1])
            success |= bool(info["success"])
            done = terminated or truncated
    finally:
        agent.planner = planner
    return RecordedEpisode(seed, executed, recorder.records, success)


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


def candidate_fidelity(env: gym.Env, agent: SFPlanner, episode: RecordedEpisode, every: int = 3) -> list[ReplanFidelity]:
    """For every `every`-th replan of a recorded `episode`, score its first-iteration candidates in
    the real env by replaying the episode up to that replan, and with the agent's reward model on
    the real frames each candidate produces.

    Costs about (steps before the replan + horizon) env steps per candidate.
    """
    prior = PRIOR_PLAN_SLOT if agent.proposals is not None else None
    skip, weight = agent.world_model.config.frame_skip, agent.config.success_weight
    results = []
    for record in episode.plans[::every]:
        candidates, predicted = record.candidates[0].numpy(), record.scores[0].numpy()
        rollouts = [real_rollout(env, episode.seed, episode.executed[: record.step], candidate, skip, weight) for candidate in candidates]
        real = np.array([rollout.score for rollout in rollouts])
        judged = np.array([judged_score(agent, rollout.images) for rollout in rollouts])
        results.append(ReplanFidelity(record.step, predicted, real, prior, judged))
    return results


def decision_audit(env: gym.Env, agent: SFPlanner, episode: RecordedEpisode) -> list[ReplanDecision]:
    """For every replan of a recorded `episode`, the real gain of the planner's best candidate over
    its proposal policy's own plan, both replayed in the env: whether overriding the prior paid,
    where the planner did and where its margin stopped it. Two replays per replan."""
    if agent.proposals is None or agent.config.prior_margin is None:
        raise ValueError("the decision audit needs an agent with a proposal policy and a prior_margin")
    skip, weight = agent.world_model.config.frame_skip, agent.config.success_weight
    decisions = []
    for record in episode.plans:
        flat_scores = record.scores.flatten()
        top = int(flat_scores.argmax())
        best = record.candidates.flatten(0, 1)[top]
        prior_plan, prior_score = record.candidates[0, PRIOR_PLAN_SLOT], float(record.scores[0, PRIOR_PLAN_SLOT])
        predicted_gain = float(flat_scores[top]) - prior_score
        real_gain = 0.0
        if not torch.equal(best, prior_plan):
            prefix = episode.executed[: record.step]
            real_gain = (real_rollout(env, episode.seed, prefix, best.numpy(), skip, weight).score
                         - real_rollout(env, episode.seed, prefix, prior_plan.numpy(), skip, weight).score)
        decisions.append(ReplanDecision(record.step, predicted_gain, real_gain, overrode=not torch.equal(record.plan, prior_plan)))
    return decisions
