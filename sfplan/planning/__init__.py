"""Sampling-based trajectory optimisers that plan through a batched world-model score.

`make_planner(name, config)` builds one by name (`PLANNERS` lists them); all follow the
`Planner` protocol: `plan(score) -> (H, A)`, `shift(k)` after executing k actions, `reset()`
per episode.
"""

from __future__ import annotations

from .base import Planner, PlanStats, PriorFn, ScoreFn
from .cem import CEMPlanner
from .mppi import MPPIPlanner
from .sampling import SamplingPlanner, SamplingPlannerConfig

PLANNERS: dict[str, type[SamplingPlanner]] = {"cem": CEMPlanner, "mppi": MPPIPlanner}


def make_planner(name: str, config: SamplingPlannerConfig) -> Planner:
    """Build planner `name` (a key of PLANNERS) with `config`."""
    if name not in PLANNERS:
        raise ValueError(f"unknown planner {name!r}; known: {', '.join(sorted(PLANNERS))}")
    return PLANNERS[name](config)


__all__ = [
    "PLANNERS",
    "CEMPlanner",
    "MPPIPlanner",
    "PlanStats",
    "Planner",
    "PriorFn",
    "SamplingPlanner",
    "SamplingPlannerConfig",
    "ScoreFn",
    "make_planner",
]
