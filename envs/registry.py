"""Names of the sfplan environments and how to build them."""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.envs.registration import load_env_creator
from gymnasium.wrappers import TimeLimit


@dataclass(frozen=True)
class EnvSpec:
    """How to build one named environment.

    `entry_point` ("module:Class") is imported only when the env is built, so optional
    simulators cost nothing until used. `fixed` arguments define the env (e.g. the
    robosuite task) and cannot be overridden; `max_episode_steps` is the time limit,
    after which `truncated` is True.
    """

    entry_point: str
    max_episode_steps: int
    fixed: dict[str, Any] = field(default_factory=dict)

    def option_defaults(self) -> dict[str, Any]:
        """Constructor arguments a user may override, with their default values."""
        parameters = inspect.signature(load_env_creator(self.entry_point).__init__).parameters
        return {name: p.default for name, p in parameters.items() if name != "self" and name not in self.fixed}

    def resolve_options(self, overrides: dict[str, Any]) -> dict[str, Any]:
        """Every option's value once `overrides` are applied; ValueError names unknown options."""
        defaults = self.option_defaults()
        unknown = sorted(set(overrides) - set(defaults))
        if unknown:
            raise ValueError(f"no option {', '.join(map(repr, unknown))}; options: {', '.join(sorted(defaults))}")
        return {**defaults, **overrides}


ENV_SPECS: dict[str, EnvSpec] = {
    "robosuite-lift": EnvSpec("sfplan.envs.robosuite_env:RobosuitePixelEnv", 150, {"task": "Lift"}),
    "robosuite-stack": EnvSpec("sfplan.envs.robosuite_env:RobosuitePixelEnv", 300, {"task": "Stack"}),
    "pointmass-push": EnvSpec("sfplan.envs.pointmass_push:PointMassPushEnv", 100),
}


def env_names() -> list[str]:
    """All registered environment names, sorted."""
    return sorted(ENV_SPECS)


def env_spec(name: str) -> EnvSpec:
    """The spec registered as `name`; ValueError lists the known names."""
    if name not in ENV_SPECS:
        raise ValueError(f"unknown env {name!r}; known: {', '.join(env_names())}")
    return ENV_SPECS[name]


def make(name: str, max_episode_steps: int | None = None, **overrides: Any) -> gym.Env:
    """Build the environment registered as `name`, wrapped in a gymnasium `TimeLimit`.

    `overrides` replace the env's constructor arguments (e.g. `image_size=96`,
    `terminate_on_success=True`); `max_episode_steps` replaces the default time limit.
    Raises ValueError for an unknown name or option, listing what is known.
    """
    spec = env_spec(name)
    try:
        options = spec.resolve_options(overrides)
    except ValueError as error:
        raise ValueError(f"env {name!r} has {error}") from None
    env = load_env_creator(spec.entry_point)(**spec.fixed, **options)
    return TimeLimit(env, max_episode_steps=max_episode_steps or spec.max_episode_steps)


def camera_projection(name: str, **overrides: Any) -> np.ndarray:
    """The (3, 4) world-to-pixel matrix of the camera of env `name` built with `overrides` (see
    `make`); ValueError for an env without a calibrated camera."""
    env = make(name, **overrides)
    try:
        projection = getattr(env.unwrapped, "camera_projection", None)
        if projection is None:
            raise ValueError(f"env {name!r} has no camera projection (the robosuite envs have one)")
        return projection()
    finally:
        env.close()


def register_with_gymnasium() -> None:
    """Register every env as `sfplan/<name>-v0` so `gymnasium.make` and vector envs find them."""
    for name, spec in ENV_SPECS.items():
        env_id = f"sfplan/{name}-v0"
        if env_id not in gym.registry:
            gym.register(env_id, entry_point=spec.entry_point, max_episode_steps=spec.max_episode_steps, kwargs=spec.fixed)
