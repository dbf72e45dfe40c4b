"""Scripted experts: they solve their tasks, are reproducible per seed, and honour `noise`."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import gymnasium as gym
import numpy as np
import pytest

import sfplan.envs as E
from sfplan.policies import EXPERTS
from sfplan.policies.scripted import PushExpert, ScriptedExpert

SUCCESS_SEEDS = {"robosuite-lift": [0, 1], "robosuite-stack": [0, 1], "pointmass-push": [0, 1, 2]}


@pytest.fixture(scope="module")
def make_env() -> Iterator[Callable[[str], gym.Env]]:
    """Builds each env once, on first use (robosuite takes ~2 s), and closes them all at the end."""
    built: dict[str, gym.Env] = {}

    def make(name: str) -> gym.Env:
        if name not in built:
            built[name] = E.make(name)
        return built[name]

    yield make
    for env in built.values():
        env.close()


def _actions(env: gym.Env, expert: ScriptedExpert, seed: int, steps: int) -> np.ndarray:
    """The expert's first `steps` actions (steps, A) in the episode `seed`."""
    observation, _ = env.reset(seed=seed)
    expert.reset(seed=seed)
    actions = []
    for _ in range(steps):
        actions.append(expert.act(observation))
        observation, *_ = env.step(actions[-1])
    return np.stack(actions)


@pytest.mark.parametrize("name,seed", [(name, seed) for name, seeds in SUCCESS_SEEDS.items() for seed in seeds])
def test_expert_succeeds(make_env: Callable[[str], gym.Env], name: str, seed: int) -> None:
    env = make_env(name)
    expert = EXPERTS[name](env, seed=seed)
    observation, info = env.reset(seed=seed)
    expert.reset(seed=seed)
    truncated = False
    while not (info["success"] or truncated):
        action = expert.act(observation)
        assert action.dtype == np.float32 and env.action_space.contains(action)
        observation, _, _, truncated, info = env.step(action)
    assert info["success"], f"{name} seed {seed}: no success before the time limit"


@pytest.mark.parametrize("name", EXPERTS)
def test_same_seed_same_actions(make_env: Callable[[str], gym.Env], name: str) -> None:
    env = make_env(name)
    expert = EXPERTS[name](env, noise=0.2, explore_prob=0.3)
    first = _actions(env, expert, seed=3, steps=20)
    again = _actions(env, expert, seed=3, steps=20)  # reset(seed) alone must restart the random stream
    np.testing.assert_array_equal(first, again)


@pytest.mark.parametrize("name", EXPERTS)
def test_noise_changes_actions(make_env: Callable[[str], gym.Env], name: str) -> None:
    env = make_env(name)
    clean = _actions(env, EXPERTS[name](env, noise=0.0), seed=0, steps=5)
    noisy = _actions(env, EXPERTS[name](env, noise=0.1), seed=0, steps=5)
    assert not np.allclose(clean, noisy)


def test_exploration_departs_from_the_expert(make_env: Callable[[str], gym.Env]) -> None:
    env = make_env("pointmass-push")
    expert = _actions(env, PushExpert(env, noise=0.0), seed=0, steps=10)
    exploring = _actions(env, PushExpert(env, noise=0.0, explore_prob=1.0), seed=0, steps=10)
    assert not np.allclose(expert, exploring)


@pytest.mark.parametrize("noise,explore_prob", [(-0.1, 0.0), (0.1, 1.5)])
def test_bad_arguments_are_refused(make_env: Callable[[str], gym.Env], noise: float, explore_prob: float) -> None:
    with pytest.raises(ValueError):
        PushExpert(make_env("pointmass-push"), noise=noise, explore_prob=explore_prob)
