"""Where the planner's stuck-prior gate would fire on its BC prior's own episodes; writes
results/stall_gate.{json,md}.

The checkpoint's agent runs with `prior_margin=inf stall_replans=0`, so it is its BC prior step
for step and never imagines a candidate, and records the reward model's reading of the real frame
at every replan (`SFPlanner.progress_readings`). For each window N the script then asks where
`prior_stalled` would first fire: on the prior's failed episodes (an override can only help
there) and on its successful ones before their success (an override risks the episode).

    python experiments/stall_gate.py --checkpoint checkpoints/robosuite-lift --first-seed 40000 --episodes 200 --threads 1
"""

from __future__ import annotations

import argparse
from dataclasses import asdict
from pathlib import Path

import torch
from tqdm import tqdm

from sfplan.agent import ProgressReading, prior_stalled
from sfplan.envs import make
from sfplan.eval import write_results
from sfplan.checkpoint import CheckpointError
from sfplan.eval.agent_rollout import load_prior_follower, run_agent_episode


def first_stall(readings: list[ProgressReading], window: int, tolerance: float) -> int | None:
    """Index of the first replan at which `prior_stalled` holds for the readings so far."""
    return next((i for i in range(len(readings)) if prior_stalled(readings[: i + 1], window, tolerance)), None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, default=Path("checkpoints/robosuite-lift"))
    parser.add_argument("--env", default="robosuite-lift")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--max-episode-steps", type=int, help="time limit; default: the env's")
    parser.add_argument("--first-seed", type=int, default=40_000)
    parser.add_argument("--episodes", type=int, default=200)
    parser.add_argument("--windows", type=int, nargs="+", default=[3, 4, 5, 6, 8, 10], help="stall_replans values to analyse")
    parser.add_argument("--tolerance", type=float, help="stall_tolerance (default: the checkpoint's)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("results"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    try:
        agent = load_prior_follower(args.checkpoint, args.threads)
    except CheckpointError as error:
        raise SystemExit(str(error)) from None
    tolerance = agent.config.stall_tolerance if args.tolerance is None else args.tolerance
    env = make(args.env, max_episode_steps=args.max_episode_steps, image_size=args.image_size)
    agent.check_env(env)
    episodes = []
    for seed in tqdm(range(args.first_seed, args.first_seed + args.episodes), desc="prior"):
        record = run_agent_episode(env, agent, seed, record_imagined=False)
        episodes.append({"seed": seed, "first_success_step": record.first_success_step,
                         "readings": [asdict(reading) for reading in agent.progress_readings]})
    env.close()

    failures = [episode for episode in episodes if episode["first_success_step"] is None]
    windows, rows = {}, []
    for window in args.windows:
        on_failures, at_risk, after_success = [], [], []
        for episode in episodes:
            replan = first_stall([ProgressReading(**reading) for reading in episode["readings"]], window, tolerance)
            if replan is None:
                continue
            success_step = episode["first_success_step"]
            if success_step is None:
                on_failures.append(episode["seed"])
            elif replan * agent.replan_every <= success_step:
                at_risk.append(episode["seed"])
            else:
                after_success.append(episode["seed"])
        windows[str(window)] = {"fires_on_failures": on_failures, "fires_before_success": at_risk,
                                "fires_after_success": after_success}
        rows.append([window, window * agent.replan_every, f"{len(on_failures)} / {len(failures)}",
                     f"{len(at_risk)} / {len(episodes) - len(failures)}", len(after_success)])
    results = {"env": args.env, "checkpoint": str(args.checkpoint), "seeds": [args.first_seed, args.first_seed + args.episodes - 1],
               "tolerance": tolerance, "replan_every": agent.replan_every, "prior_failures": len(failures),
               "windows": windows, "episodes": episodes}
    write_results(args.out, "stall_gate", results,
                  ["stall_replans", "env steps without progress", "fires on the prior's failures",
                   "fires on its successes before the success", "fires after a success"], rows,
                  notes=f"The BC prior of {args.checkpoint} on {args.env}, seeds {args.first_seed}-{args.first_seed + args.episodes - 1}, "
                        f"stall_tolerance {tolerance}. Where the gate fires on a failure the planner may rescue the episode; "
                        "where it fires before a success it may lose it.")


if __name__ == "__main__":
    main()
