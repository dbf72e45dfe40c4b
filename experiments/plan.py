"""Plan with SFPlanner in an env: success rate, planning time, videos of real beside imagined frames.

    python experiments/plan.py env=robosuite-lift
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import hydra
import imageio.v3 as iio
import numpy as np
from omegaconf import DictConfig, OmegaConf
from tqdm import tqdm

from sfplan import SFPlanner
from sfplan.config_io import strict_json
from sfplan.envs import make
from sfplan.eval.agent_rollout import run_agent_episode


@hydra.main(version_base="1.3", config_path="../configs", config_name="plan")
def main(cfg: DictConfig) -> None:
    overrides = {key: value for key, value in OmegaConf.to_container(cfg.agent).items() if value is not None}
    agent = SFPlanner.from_pretrained(cfg.checkpoint, **overrides)
    env = make(cfg.env.name, max_episode_steps=cfg.env.max_episode_steps, **OmegaConf.to_container(cfg.env.kwargs))
    agent.check_env(env)
    output = Path(cfg.output)
    output.mkdir(parents=True, exist_ok=True)
    records = []
    for seed in tqdm(range(cfg.seed, cfg.seed + cfg.episodes), desc=f"plan {cfg.env.name}", disable=not cfg.progress):
        record = run_agent_episode(env, agent, seed)
        iio.imwrite(output / f"episode_{seed}.mp4", record.side_by_side().repeat(4, axis=1).repeat(4, axis=2), fps=20)
        records.append(record)
    env.close()
    plan_seconds = [s for record in records for s in record.plan_seconds]
    steps = sum(record.steps for record in records)
    summary = {
        "env": cfg.env.name,
        "checkpoint": str(cfg.checkpoint),
        "agent": asdict(agent.config),
        "episodes": len(records),
        "success_rate": float(np.mean([record.success for record in records])),
        "median_plan_seconds": float(np.median(plan_seconds)),
        "plan_seconds_per_env_step": float(np.sum(plan_seconds) / steps),
        "agent_seconds_per_env_step": float(sum(sum(record.act_seconds) for record in records) / steps),
        "kept_prior_fraction": float(np.mean([record.kept_prior_fraction for record in records])),
        "per_episode": [{"seed": r.seed, "success": r.success, "steps": r.steps} for r in records],
    }
    (output / "summary.json").write_text(strict_json(summary))
    print(f"success {summary['success_rate']:.0%} over {len(records)} episodes; "
          f"planning {summary['plan_seconds_per_env_step']:.3f} s per env step "
          f"({summary['agent_seconds_per_env_step']:.3f} s with encoding and memory updates); videos in {output}")


if __name__ == "__main__":
    main()
