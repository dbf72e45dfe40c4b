"""Benchmark: env steps/s with the camera (one process) and expert collection throughput.

    python experiments/bench_envs.py
Steps/s are timed with this process pinned to one core; collection then uses every core.
Writes results/envs.json ({"<env>": {"steps_per_s", "episodes_per_min"}}) and results/envs.md.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from sfplan.data.collect import CollectionConfig, collect
from sfplan.envs import env_names
from sfplan.eval import env_steps_per_second, write_results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=500, help="env steps timed per env")
    parser.add_argument("--episodes", type=int, default=20, help="expert episodes collected per env")
    parser.add_argument("--workers", type=int, default=2, help="collection processes")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--out", default="results", help="results directory")
    args = parser.parse_args()

    results, rows = {}, []
    for name in env_names():
        all_cores = os.sched_getaffinity(0)
        os.sched_setaffinity(0, {min(all_cores)})
        steps_per_s = env_steps_per_second(name, steps=args.steps, image_size=args.image_size)
        os.sched_setaffinity(0, all_cores)
        config = CollectionConfig(name, {"image_size": args.image_size}, policy_name="expert",
                                  policy_kwargs={"noise": 0.1, "explore_prob": 0.05})
        with tempfile.TemporaryDirectory() as scratch:
            stats = collect(Path(scratch) / "bench.h5", config, args.episodes, workers=args.workers, progress=False)
        results[name] = {
            "steps_per_s": round(steps_per_s, 1),
            "episodes_per_min": round(stats.episodes_per_min, 1),
            "collect_steps_per_s": round(stats.steps_per_s, 1),
            "expert_success": stats.successes / stats.episodes,
        }
        rows.append([name, steps_per_s, stats.episodes_per_min, stats.steps_per_s, f"{stats.successes}/{stats.episodes}"])
        print(name, results[name])
    write_results(
        args.out, "envs", results,
        ["env", "steps/s (1 core, camera on)", "episodes/min (collection)", "collection steps/s", "expert success"],
        rows,
        notes=(f"{args.image_size}x{args.image_size} images, {args.steps} random-action steps timed per env; collection of "
               f"{args.episodes} expert episodes (noise 0.1, explore 0.05) with {args.workers} worker processes, "
               "including process start and env construction."),
    )


if __name__ == "__main__":
    main()
