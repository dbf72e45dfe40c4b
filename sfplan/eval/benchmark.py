"""Success-rate benchmark: every method on the same fixed seeds of one env."""

from __future__ import annotations

import resource
from collections.abc import Sequence
from dataclasses import dataclass, field

import gymnasium as gym
import numpy as np
from scipy.stats import binomtest
from tqdm import tqdm

from ..data.collect import rollout


@dataclass
class MethodResult:
    """Outcome of one method: successes over episodes and, for planners, planning seconds per env
    step, the agent's whole seconds per env step (planning, encoding, fast-memory updates) and the
    share of replans that kept the proposal policy's plan, per episode; `max_stages`: the highest
    `info["stage"]` (sub-goals completed) of each episode."""

    successes: list[bool] = field(default_factory=list)
    max_stages: list[int] = field(default_factory=list)
    plan_seconds_per_step: list[float] = field(default_factory=list)
    agent_seconds_per_step: list[float] = field(default_factory=list)
    kept_prior_fraction: list[float] = field(default_factory=list)

    @property
    def success_rate(self) -> float:
        return float(np.mean(self.successes)) if self.successes else float("nan")

    def stages_reached(self, num_stages: int) -> list[float]:
        """Share of episodes that completed at least k sub-goals, for k = 1 ... `num_stages`."""
        stages = np.asarray(self.max_stages)
        return [float(np.mean(stages >= k)) for k in range(1, num_stages + 1)]


class SB3Policy:
    """A stable-baselines3 model as a `Policy` (deterministic actions)."""

    def __init__(self, model: object) -> None:
        self.model = model

    def reset(self, seed: int | None = None) -> None:
        """SB3 policies here are feed-forward: nothing to reset."""

    def act(self, observation: dict[str, np.ndarray]) -> np.ndarray:
        action, _ = self.model.predict(observation, deterministic=True)
        return np.asarray(action, dtype=np.float32)


def evaluate_policy_success(env: gym.Env, policy: object, seeds: Sequence[int], progress: bool = True, name: str = "") -> MethodResult:
    """Success of a `Policy` (reset/act) on each seed: solved at any step of the episode."""
    result = MethodResult()
    for seed in tqdm(seeds, desc=name, disable=not progress):
        episode = rollout(env, policy, seed)
        result.successes.append(episode.success)
        result.max_stages.append(int(episode.stages.max()))
    return result


def evaluate_agent_success(env: gym.Env, agent: object, seeds: Sequence[int], progress: bool = True, name: str = "") -> MethodResult:
    """Success and planning time of an `SFPlanner` on each seed."""
    from .agent_rollout import run_agent_episode

    result = MethodResult()
    for seed in tqdm(seeds, desc=name, disable=not progress):
        record = run_agent_episode(env, agent, seed, record_imagined=False)
        result.successes.append(record.success)
        result.max_stages.append(record.max_stage)
        result.plan_seconds_per_step.append(sum(record.plan_seconds) / record.steps)
        result.agent_seconds_per_step.append(sum(record.act_seconds) / record.steps)
        result.kept_prior_fraction.append(record.kept_prior_fraction)
    return result


def success_interval(successes: int, episodes: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a success rate (scipy's `binomtest`): with 50 episodes, 48
    successes is compatible with a true rate anywhere in about [0.87, 0.99]."""
    if not 0 <= successes <= episodes or episodes < 1:
        raise ValueError(f"need 0 <= successes <= episodes and episodes >= 1, got {successes} of {episodes}")
    interval = binomtest(successes, episodes).proportion_ci(confidence, method="wilson")
    return float(interval.low), float(interval.high)


@dataclass
class PairedComparison:
    """A method against a reference on the same seeds.

    won:     seeds the method solved and the reference failed.
    lost:    seeds the reference solved and the method failed.
    p_value: exact two-sided sign test on those discordant seeds (McNemar's exact test): the
             chance of a split at least this uneven if both methods were equally good.
    """

    won: int
    lost: int
    p_value: float


def compare_on_same_seeds(failed_seeds: Sequence[int], reference_failed_seeds: Sequence[int]) -> PairedComparison:
    """Compare two methods' failed seeds from one seed list (see `PairedComparison`)."""
    failed, reference_failed = set(failed_seeds), set(reference_failed_seeds)
    won, lost = len(reference_failed - failed), len(failed - reference_failed)
    p_value = binomtest(won, won + lost).pvalue if won + lost else 1.0
    return PairedComparison(won, lost, float(p_value))


def peak_memory_mb() -> float:
    """Peak resident memory of this process so far, MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

