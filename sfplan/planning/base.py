"""What every trajectory planner offers: the `Planner` protocol, its callables and statistics."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import torch

ScoreFn = Callable[[torch.Tensor], torch.Tensor]
"""score(actions: (N, H, A) float32) -> (N,) float, higher is better.

The world model is the simulator: one call imagines and scores all N candidate action
sequences at once, so one call is one (batched) world-model rollout. It receives CPU
tensors and moves them to its model's device itself.
"""

PriorFn = Callable[[int], torch.Tensor]
"""prior(n) -> (n, H, A) float: n action sequences proposed by a policy (e.g. rolled out from
the current observation); they join the candidates of every iteration."""


@dataclass
class PlanStats:
    """What one `plan` call did.

    score_calls:    calls of the score function (= world-model rollouts) spent.
    iterations:     sampling iterations run (fewer than configured when the budget ran out).
    candidates:     action sequences scored in all.
    best_score:     score of the returned sequence (nan when nothing was scored).
    best_iteration: iteration (0-based) whose candidates held the returned sequence; 0 with
                    a warm start means later iterations found nothing better.
    kept_prior:     the prior's own plan was returned because nothing beat it by `prior_margin`.
    """

    score_calls: int
    iterations: int
    candidates: int
    best_score: float
    best_iteration: int
    kept_prior: bool = False


@runtime_checkable
class Planner(Protocol):
    """Model-predictive trajectory optimiser over a batched score function.

    Per episode: `reset()`, then repeatedly `plan(score)`, execute the first k actions of the
    returned (H, A) sequence, and `shift(k)` so the next plan starts from the rest.
    `last_stats` holds the statistics of the latest `plan` call (None before the first).
    """

    last_stats: PlanStats | None

    def plan(
        self, score: ScoreFn, generator: torch.Generator | None = None, prior: PriorFn | None = None,
        keep_prior_within_margin: bool = True,
    ) -> torch.Tensor:
        """Optimise and return the best action sequence, (H, A) float32 on CPU."""
        ...

    def reset(self) -> None:
        """Forget the warm start (a new episode begins)."""
        ...

    def shift(self, steps: int) -> None:
        """Drop the first `steps` executed actions of the last plan, to warm-start the next one."""
        ...
