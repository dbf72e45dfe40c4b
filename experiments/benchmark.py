"""Success-rate benchmark on fixed seeds; writes results/benchmark.{json,md} (`--name` renames them).

    python experiments/benchmark.py --env robosuite-lift --checkpoint checkpoints/robosuite-lift \
        --sb3 runs/lift-sac/model.zip --sb3-steps 45000 --episodes 50
Methods: SFPlanner (with the checkpoint's saved proposal policy, if any), SFPlanner without
fast memory, the BC prior alone (by default the checkpoint's own proposal policy with its
weights as shipped, so planning is compared with exactly the policy it starts from), a
stable-baselines3 agent (trained by experiments/train_sb3.py on the stated number of real env
steps), random, and the scripted expert as reference.
Methods whose inputs are not given are skipped; `--methods` picks a subset, and `--update`
merges them into an existing results file (so one method can be re-run alone, or methods can
run in parallel processes: the merge holds a file lock). `--set seed=1 initial_noise=1`
overrides SFPlannerConfig fields of both planner methods; their names then carry the overrides,
so variants sit beside the default rows. Each method's entry records the command that produced
it. Staged tasks (robosuite-stack) also get the share of episodes that completed each sub-goal.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import tempfile
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from filelock import FileLock

from sfplan import SFPlanner
from sfplan.agent import PROPOSAL_POLICY
from sfplan.config_io import parse_set_option
from sfplan.envs import make
from sfplan.eval import write_results
from sfplan.eval.report import command_line
from sfplan.eval.benchmark import (SB3Policy, compare_on_same_seeds, evaluate_agent_success, evaluate_policy_success,
                                   peak_memory_mb, success_interval)
from sfplan.policies import BCPolicy, make_policy

METHODS = ("sfplanner", "sfplanner-no-memory", "bc", "sb3", "random", "expert")
BC_LABEL = "BC prior alone"


def add_statistics(entries: dict[str, dict]) -> None:
    """Give every entry its success interval and, where both have failed seeds, its comparison
    with the BC prior on the same seeds."""
    reference = entries.get(BC_LABEL, {}).get("failed_seeds")
    for name, entry in entries.items():
        entry["success_interval_95"] = list(success_interval(entry["successes"], entry["episodes"]))
        if reference is not None and name != BC_LABEL and "failed_seeds" in entry:
            entry["vs_bc"] = asdict(compare_on_same_seeds(entry["failed_seeds"], reference))


def previous_results(json_path: Path, seed_record: list[int]) -> dict:
    """The results file `--update` merges into ({} when there is none); exits when it was made on other seeds."""
    previous = json.loads(json_path.read_text()) if json_path.exists() else {}
    if previous and previous.get("seeds") != seed_record:
        raise SystemExit(f"{json_path} was made on seeds {previous.get('seeds')}; use the same seeds or drop --update")
    return previous


def stage_cell(entry: dict) -> str:
    """An entry's sub-goal shares as 'a / b / c' ('-' for entries written before they were recorded)."""
    return " / ".join(f"{share:.2f}" for share in entry["stages_reached"]) if "stages_reached" in entry else "-"


def results_lock(json_path: Path) -> FileLock:
    """A lock on `json_path` shared by every process that merges into it (kept in the temp folder)."""
    key = hashlib.sha1(str(json_path.resolve()).encode()).hexdigest()[:16]
    return FileLock(Path(tempfile.gettempdir()) / f"sfplan-benchmark-{key}.lock")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="robosuite-lift")
    parser.add_argument("--episodes", type=int, default=50)
    parser.add_argument("--image-size", type=int, default=64, help="camera size the models were trained on")
    parser.add_argument("--max-episode-steps", type=int, help="time limit; default: the env's")
    parser.add_argument("--first-seed", type=int, default=10_000, help="seeds first-seed ... (never used for training data)")
    parser.add_argument("--seeds", type=int, nargs="+", help="these seeds instead of --first-seed/--episodes, e.g. the "
                        "episodes where planner variants differ")
    parser.add_argument("--checkpoint", type=Path, help="SFPlanner checkpoint directory")
    parser.add_argument("--bc", type=Path, help="BC policy checkpoint directory (the 'BC prior alone' baseline); "
                        "default: the checkpoint's own proposal policy, the prior the planner starts from")
    parser.add_argument("--sb3", type=Path, help="stable-baselines3 SAC model .zip")
    parser.add_argument("--sb3-steps", type=int, help="real env steps the SB3 model was trained with (reported)")
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS),
                        help="methods to run (those whose inputs are missing are skipped)")
    parser.add_argument("--update", action="store_true", help="merge into an existing benchmark.json instead of replacing it")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="SFPlannerConfig overrides for the planner methods")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("results"))
    parser.add_argument("--name", default="benchmark", help="results file names: <out>/<name>.{json,md}")
    args = parser.parse_args()
    planner_overrides = parse_set_option(parser, args.set)
    variant = f" [{', '.join(args.set)}]" if args.set else ""
    torch.set_num_threads(args.threads)
    seeds = args.seeds or list(range(args.first_seed, args.first_seed + args.episodes))
    seed_record = args.seeds or [seeds[0], seeds[-1]]  # a range as its first and last seed
    seed_text = ", ".join(map(str, args.seeds)) if args.seeds else f"{seeds[0]}-{seeds[-1]}"
    json_path = args.out / f"{args.name}.json"
    if args.update:
        previous_results(json_path, seed_record)  # refuse now, not after the episodes
    env = make(args.env, max_episode_steps=args.max_episode_steps, image_size=args.image_size)
    wanted = set(args.methods)
    methods = {}
    if args.checkpoint:
        for key, name, overrides in (("sfplanner", "SFPlanner", {}),
                                     ("sfplanner-no-memory", "SFPlanner without fast memory", {"use_memory": False})):
            if key in wanted:
                agent = SFPlanner.from_pretrained(args.checkpoint, threads=args.threads, **planner_overrides, **overrides)
                agent.check_env(env)
                methods[name + variant] = evaluate_agent_success(env, agent, seeds, name=name)
    bc = args.bc or (args.checkpoint / PROPOSAL_POLICY if args.checkpoint and (args.checkpoint / PROPOSAL_POLICY).is_dir() else None)
    if bc and "bc" in wanted:
        methods[BC_LABEL] = evaluate_policy_success(env, BCPolicy.from_pretrained(bc), seeds, name="BC")
    if args.sb3 and "sb3" in wanted:
        from stable_baselines3 import SAC

        label = f"SB3 SAC ({args.sb3_steps} env steps)" if args.sb3_steps else "SB3 SAC"
        methods[label] = evaluate_policy_success(env, SB3Policy(SAC.load(args.sb3)), seeds, name="SB3")
    if "random" in wanted:
        methods["random"] = evaluate_policy_success(env, make_policy("random", args.env, env, seed=0), seeds, name="random")
    if "expert" in wanted:
        methods["scripted expert (reference)"] = evaluate_policy_success(
            env, make_policy("expert", args.env, env, noise=0.1, explore_prob=0.0), seeds, name="expert")
    num_stages = getattr(env.unwrapped, "num_stages", 1)
    env.close()

    command = command_line()
    args.out.mkdir(parents=True, exist_ok=True)
    with results_lock(json_path):
        previous = previous_results(json_path, seed_record) if args.update else {}
        results = merge_and_write(args, previous, methods, seeds, seed_record, seed_text, command, num_stages)
    print(json.dumps(results, indent=2))


def merge_and_write(args: argparse.Namespace, previous: dict, methods: dict, seeds: list[int], seed_record: list[int],
                    seed_text: str, command: str, num_stages: int) -> dict:
    """Merge this run's methods into `previous` and write `<out>/<name>.{json,md}`; returns the results.
    Staged tasks (`num_stages` > 1) get a column of the share of episodes that completed each sub-goal."""
    entries = previous.get(args.env, {})
    for name, result in methods.items():
        entries[name] = {
            "success": result.success_rate, "episodes": len(result.successes), "successes": int(sum(result.successes)),
            "failed_seeds": [seed for seed, solved in zip(seeds, result.successes) if not solved],
            "stages_reached": result.stages_reached(num_stages),
            "plan_s_per_step": float(np.median(result.plan_seconds_per_step)) if result.plan_seconds_per_step else None,
            "agent_s_per_step": float(np.median(result.agent_seconds_per_step)) if result.agent_seconds_per_step else None,
            "kept_prior_fraction": float(np.mean(result.kept_prior_fraction)) if result.kept_prior_fraction else None,
            "overridden_seeds": [seed for seed, kept in zip(seeds, result.kept_prior_fraction) if kept < 1.0],
            "peak_memory_mb": peak_memory_mb(), "command": command,
        }
    add_statistics(entries)
    planner_times = [entry["plan_s_per_step"] for entry in entries.values() if entry.get("plan_s_per_step")]
    results = {args.env: entries, "seeds": seed_record,
               "plan_s_per_step": entries.get("SFPlanner", {}).get("plan_s_per_step") or (min(planner_times) if planner_times else None)}
    rows = [[name, entry["success"], "[{:.2f}, {:.2f}]".format(*entry["success_interval_95"]), entry["episodes"],
             "{won} / {lost} (p={p_value:.2g})".format(**entry["vs_bc"]) if "vs_bc" in entry else "-",
             entry["plan_s_per_step"] or "-", entry.get("agent_s_per_step") or "-", f"{entry['peak_memory_mb']:.0f}"]
            + ([stage_cell(entry)] if num_stages > 1 else [])
            for name, entry in entries.items()]
    stage_columns = [f"episodes reaching sub-goal {' / '.join(map(str, range(1, num_stages + 1)))}"] if num_stages > 1 else []
    commands = sorted({entry["command"] for entry in entries.values()})
    write_results(args.out, args.name, results,
                  ["method", "success rate", "95% interval", "episodes", "vs BC: won / lost seeds", "median plan s / env step",
                   "median agent s / env step", "peak MiB", *stage_columns],
                  rows, command=" ; ".join(commands),
                  notes=f"Env {args.env}, seeds {seed_text}, {args.threads} CPU threads per process. "
                        "95% interval: Wilson score interval of the success rate. vs BC: seeds this method solved and "
                        f"'{BC_LABEL}' failed / the reverse, with the exact sign test's two-sided p (McNemar). "
                        "Plan s: the planner's replans; agent s: all of the agent's `act` (planning, encoding the "
                        "frame, fast-memory updates), per env step, median over episodes. "
                        "Peak MiB is the peak resident memory of the process that ran the method."
                        + (" Sub-goal k: share of episodes that completed at least k of the task's sub-goals "
                           "(the env's `info['stage']`)." if num_stages > 1 else ""))
    return results


if __name__ == "__main__":
    main()
