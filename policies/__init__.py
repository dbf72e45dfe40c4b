"""Policies that act in sfplan environments (installed as `sfplan.policies`).

`make_policy(name, env_name, env, seed, **options)` builds one by name: `expert` is the
scripted expert of that env (privileged state, for data collection), `random` samples
uniform actions, `prior` runs a trained BC prior with perturbed chunks (`checkpoint=DIR`,
on-policy data for the world model). `BCPolicy` (behaviour cloning, `train_bc`) is the learned baseline and the
planner's proposal prior.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym

from .base import Policy
from .random_policy import RandomPolicy
from .scripted import LiftExpert, PushExpert, StackExpert

EXPERTS: dict[str, type] = {
    "robosuite-lift": LiftExpert,
    "robosuite-stack": StackExpert,
    "pointmass-push": PushExpert,
}
POLICY_NAMES = ("expert", "prior", "random")


def make_policy(name: str, env_name: str, env: gym.Env, seed: int | None = None, **options: Any) -> Policy:
    """Build policy `name` for `env` (registered as `env_name`); `options` go to its constructor."""
    if name == "random":
        return RandomPolicy(env, seed=seed, **options)
    if name == "expert":
        if env_name not in EXPERTS:
            raise ValueError(f"no scripted expert for env {env_name!r}; experts exist for: {', '.join(sorted(EXPERTS))}")
        return EXPERTS[env_name](env, seed=seed, **options)
    if name == "prior":
        if "checkpoint" not in options:
            raise ValueError("policy 'prior' needs the BC prior's directory: policy.kwargs.checkpoint=<dir>")
        from .perturbed_prior import PerturbedPriorPolicy

        return PerturbedPriorPolicy(env, seed=seed, **options)
    raise ValueError(f"unknown policy {name!r}; known: {', '.join(POLICY_NAMES)}")


__all__ = ["EXPERTS", "POLICY_NAMES", "BCPolicy", "BCPolicyConfig", "LiftExpert", "PerturbedPriorPolicy", "Policy", "PushExpert", "RandomPolicy", "StackExpert", "make_policy", "train_bc"]


def __getattr__(name: str) -> Any:
    # Behaviour cloning needs torch; scripted and random policies (collection workers) do not.
    if name in ("BCPolicy", "BCPolicyConfig", "train_bc"):
        from . import bc

        return getattr(bc, name)
    if name == "PerturbedPriorPolicy":
        from .perturbed_prior import PerturbedPriorPolicy

        return PerturbedPriorPolicy
    raise AttributeError(f"module 'sfplan.policies' has no attribute {name!r}")
