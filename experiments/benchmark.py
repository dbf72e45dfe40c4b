"""Success-rate benchmark on fixed seeds; writes results/benchmark.{json,md}.

    python experiments/benchmark.py --env robosuite-lift --checkpoint checkpoints/robosuite-lift \
        --bc runs/lift-bc --sb3 runs/lift-sac/model.zip --sb3-steps 45000 --episodes 50
Methods: SFPlanner, SFPlanner without fast memory, the BC prior alone, a stable-baselines3
agent (trained by experiments/train_sb3.py on the stated number of real env steps),
random, and the scripted expert as reference. Methods whose inputs are not given are skipped.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from sfplan import SFPlanner
from sfplan.envs import make
from sfplan.eval import write_results
from sfplan.eval.benchmark import SB3Policy, evaluate_agent_success, evaluate_policy_success, peak_memory_mb
from sfplan.policies import BCPolicy, make_policy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="robosuite-lift")
    parser.add_argument("--episodes", type=int, default=50)
    parser.add_argument("--image-size", type=int, default=64, help="camera size the models were trained on")
    parser.add_argument("--max-episode-steps", type=int, help="time limit; default: the env's")
    parser.add_argument("--first-seed", type=int, default=10_000, help="seeds first-seed ... (never used for training data)")
    parser.add_argument("--checkpoint", type=Path, help="SFPlanner checkpoint directory")
    parser.add_argument("--bc", type=Path, help="BC policy checkpoint directory (baseline and SFPlanner prior)")
    parser.add_argument("--prior-fraction", type=float, default=0.25, help="share of planner candidates from the BC prior")
    parser.add_argument("--sb3", type=Path, help="stable-baselines3 SAC model .zip")
    parser.add_argument("--sb3-steps", type=int, help="real env steps the SB3 model was trained with (reported)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("results"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    seeds = range(args.first_seed, args.first_seed + args.episodes)
    env = make(args.env, max_episode_steps=args.max_episode_steps, image_size=args.image_size)
    methods: dict[str, object] = {}
    bc = BCPolicy.from_pretrained(args.bc) if args.bc else None
    if args.checkpoint:
        for name, overrides in (("SFPlanner", {}), ("SFPlanner without fast memory", {"use_memory": False})):
            if bc is not None:
                overrides = {**overrides, "prior_fraction": args.prior_fraction}
            agent = SFPlanner.from_pretrained(args.checkpoint, proposals=bc, **overrides)
            agent.check_env(env)
            methods[name] = evaluate_agent_success(env, agent, seeds, name=name)
    if bc is not None:
        methods["BC prior alone"] = evaluate_policy_success(env, bc, seeds, name="BC")
    if args.sb3:
        from stable_baselines3 import SAC

        label = f"SB3 SAC ({args.sb3_steps} env steps)" if args.sb3_steps else "SB3 SAC"
        methods[label] = evaluate_policy_success(env, SB3Policy(SAC.load(args.sb3)), seeds, name="SB3")
    methods["random"] = evaluate_policy_success(env, make_policy("random", args.env, env, seed=0), seeds, name="random")
    methods["scripted expert (reference)"] = evaluate_policy_success(
        env, make_policy("expert", args.env, env, noise=0.1, explore_prob=0.0), seeds, name="expert")
    env.close()
    plan_steps = [s for result in methods.values() for s in result.plan_seconds_per_step]
    results = {
        args.env: {name: {"success": result.success_rate, "episodes": len(result.successes)} for name, result in methods.items()},
        "plan_s_per_step": float(np.median(plan_steps)) if plan_steps else None,
        "peak_memory_mb": peak_memory_mb(),
        "seeds": [seeds.start, seeds.stop - 1],
    }
    rows = [[name, result.success_rate, len(result.successes),
             float(np.median(result.plan_seconds_per_step)) if result.plan_seconds_per_step else "-"] for name, result in methods.items()]
    write_results(args.out, "benchmark", results, ["method", "success rate", "episodes", "median plan s / env step"], rows,
                  notes=f"Env {args.env}, seeds {seeds.start}-{seeds.stop - 1}, {args.threads} CPU threads; peak memory {results['peak_memory_mb']:.0f} MiB.")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
