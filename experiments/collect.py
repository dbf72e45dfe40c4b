"""Collect episodes of a policy in an sfplan env into one HDF5 file.

    python experiments/collect.py env=robosuite-lift episodes=100 output=data/lift.h5
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig, OmegaConf

from sfplan.data.collect import CollectionConfig, collect
from sfplan.interrupts import terminate_as_interrupt


@hydra.main(version_base="1.3", config_path="../configs", config_name="collect")
@terminate_as_interrupt()
def main(cfg: DictConfig) -> None:
    config = CollectionConfig(
        env_name=cfg.env.name,
        env_kwargs=OmegaConf.to_container(cfg.env.kwargs),
        max_episode_steps=cfg.env.max_episode_steps,
        policy_name=cfg.policy.name,
        policy_kwargs=OmegaConf.to_container(cfg.policy.kwargs),
    )
    stats = collect(cfg.output, config, cfg.episodes, first_seed=cfg.seed, workers=cfg.workers, progress=cfg.progress)
    print(
        f"wrote {stats.episodes} episodes ({stats.steps} steps, {stats.successes} successful) to {cfg.output} "
        f"in {stats.seconds:.1f} s: {stats.episodes_per_min:.1f} episodes/min, {stats.steps_per_s:.0f} steps/s"
    )


if __name__ == "__main__":
    main()
