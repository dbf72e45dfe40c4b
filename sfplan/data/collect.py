"""Rolling out policies in sfplan environments and saving the episodes."""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from tqdm import tqdm

from .episode import Episode
from .hdf5 import EpisodeWriter


@dataclass(frozen=True)
class CollectionConfig:
    """What to collect: which env and policy, with which options.

    env_name:          a name from `sfplan.envs.env_names()`.
    env_kwargs:        overrides of the env's constructor arguments (image_size, camera, ...).
    max_episode_steps: time limit; None keeps the env's default.
    policy_name:       a name from `sfplan.policies.POLICY_NAMES`.
    policy_kwargs:     options of the policy (e.g. noise, explore_prob for experts).
    """

    env_name: str
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    max_episode_steps: int | None = None
    policy_name: str = "expert"
    policy_kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CollectionStats:
    """Summary of one collection run."""

    episodes: int
    steps: int
    successes: int
    seconds: float

    @property
    def episodes_per_min(self) -> float:
        return 60.0 * self.episodes / self.seconds

    @property
    def steps_per_s(self) -> float:
        return self.steps / self.seconds


def rollout(env: gym.Env, policy: Any, seed: int) -> Episode:
    """Run one episode of `policy` in `env` from `env.reset(seed=seed)` until it ends."""
    observation, _ = env.reset(seed=seed)
    policy.reset(seed=seed)
    frames, proprio = [observation["image"]], [observation["proprio"]]
    actions, rewards, successes, stages = [], [], [], []
    done = False
    while not done:
        action = np.asarray(policy.act(observation), dtype=np.float32)
        observation, reward, terminated, truncated, info = env.step(action)
        frames.append(observation["image"])
        proprio.append(observation["proprio"])
        actions.append(action)
        rewards.append(reward)
        successes.append(info["success"])
        stages.append(info["stage"])
        done = terminated or truncated
    return Episode(
        frames=np.stack(frames),
        proprio=np.stack(proprio).astype(np.float32),
        actions=np.stack(actions),
        rewards=np.asarray(rewards, dtype=np.float32),
        successes=np.asarray(successes, dtype=bool),
        stages=np.asarray(stages, dtype=np.int64),
        seed=seed,
    )


class _Roller:
    """One env and policy, built once per worker process and reused for every seed."""

    def __init__(self, config: CollectionConfig) -> None:
        from sfplan.envs import make
        from sfplan.policies import make_policy

        self.env = make(config.env_name, max_episode_steps=config.max_episode_steps, **config.env_kwargs)
        self.policy = make_policy(config.policy_name, config.env_name, self.env, **config.policy_kwargs)

    def __call__(self, seed: int) -> Episode:
        return rollout(self.env, self.policy, seed)


_worker_roller: _Roller | None = None


def _init_worker(config: CollectionConfig) -> None:
    global _worker_roller  # one per worker process: pool initializers can only hand state on this way
    _worker_roller = _Roller(config)


def _rollout_in_worker(seed: int) -> Episode:
    assert _worker_roller is not None
    return _worker_roller(seed)


def iter_episodes(config: CollectionConfig, seeds: Sequence[int], workers: int = 1) -> Iterator[Episode]:
    """Yield one episode per seed, in seed order, using `workers` processes.

    Each worker builds its env once (robosuite takes seconds to build) and rolls out
    its share of the seeds; `workers=1` runs in this process.
    """
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    if workers == 1:
        roller = _Roller(config)
        try:
            yield from map(roller, seeds)
        finally:
            roller.env.close()
        return
    # spawn: a fresh interpreter per worker, so no GL context or MuJoCo state is inherited
    context = multiprocessing.get_context("spawn")
    with context.Pool(workers, initializer=_init_worker, initargs=(config,)) as pool:
        yield from pool.imap(_rollout_in_worker, seeds)


def collect(
    path: str | Path,
    config: CollectionConfig,
    num_episodes: int,
    first_seed: int = 0,
    workers: int = 1,
    progress: bool = True,
) -> CollectionStats:
    """Collect `num_episodes` episodes (seeds first_seed, first_seed+1, ...) into one HDF5 file.

    The file appears at `path` only once every episode is written (see `EpisodeWriter`);
    the env's options (image size, camera, ...) are recorded in it.
    """
    if num_episodes < 1:
        raise ValueError(f"num_episodes must be at least 1, got {num_episodes}")
    from sfplan.envs import env_spec

    env_options = env_spec(config.env_name).resolve_options(dict(config.env_kwargs))
    seeds = range(first_seed, first_seed + num_episodes)
    start = time.perf_counter()
    steps = successes = 0
    with EpisodeWriter(path, config.env_name, env_options["camera"], env_options["image_size"], env_options) as writer:
        bar = tqdm(iter_episodes(config, seeds, workers), total=num_episodes, desc=f"collect {config.env_name}", disable=not progress)
        for episode in bar:
            writer.add(episode)
            steps += episode.num_steps
            successes += episode.success
            bar.set_postfix(success=f"{successes}/{bar.n + 1}")
    return CollectionStats(num_episodes, steps, successes, time.perf_counter() - start)
