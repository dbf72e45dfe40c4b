"""Compare world models (with their reward models) on the same held-out episodes of several datasets.

    python experiments/compare_world_models.py --models runs/lift-wm-anneal runs/lift-wm-onpolicy \
        --datasets data/robosuite-lift.h5:5 data/robosuite-lift-prior-heldout.h5

A model is a directory holding `world_model/` and `reward_model/` (a training run or a shipped
checkpoint). A dataset is `PATH` (every episode) or `PATH:N` (its last N episodes, e.g. a run's
held-out split). Per model and dataset: next-chunk PSNR with true and shuffled actions (one
deterministic step, as the planner imagines), and what the reward model reads from the imagined
chunk against the env's real outcome. Writes results/<name>.{json,md}.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from sfplan.data import load_episodes
from sfplan.eval import write_results
from sfplan.eval.world_model_eval import (
    evenly_spaced_windows,
    imagine_windows,
    imagined_chunk_metrics,
    imagined_outcome_metrics,
    next_chunk_metrics,
    repeat_last_metrics,
)
from sfplan.world_model import RewardModel, VideoWorldModel

COLUMNS = ["model", "episodes", "windows", "PSNR dB", "PSNR-changed dB", "PSNR shuffled actions dB", "repeat-last dB",
           "reward MSE", "success Brier", "false success", "missed success"]


def parse_dataset(text: str) -> tuple[Path, int | None]:
    """`PATH` -> (PATH, None); `PATH:N` -> (PATH, N): the last N episodes."""
    path, _, last = text.partition(":")
    if last and not last.isdigit():
        raise argparse.ArgumentTypeError(f"dataset {text!r}: write PATH or PATH:N, N the number of last episodes to use")
    return Path(path), int(last) if last else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", required=True, nargs="+", type=Path, help="directories with world_model/ and reward_model/")
    parser.add_argument("--datasets", required=True, nargs="+", type=parse_dataset, help="PATH or PATH:N (last N episodes)")
    parser.add_argument("--windows", type=int, default=128, help="evenly spaced windows per dataset")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--name", default="world_model_comparison")
    parser.add_argument("--out", type=Path, default=Path("results"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    datasets = {}
    for path, last in args.datasets:
        episodes = load_episodes(path)
        datasets[f"{path}" + (f" (last {last})" if last else "")] = episodes[-last:] if last else episodes
    results: dict[str, dict[str, dict[str, float]]] = {}
    rows = []
    for model_dir in args.models:
        model = VideoWorldModel.from_pretrained(model_dir / "world_model")
        reward_model = RewardModel.from_pretrained(model_dir / "reward_model")
        for label, episodes in datasets.items():
            frame_size = episodes[0].frames.shape[1]
            if frame_size != model.config.codec.image_size:
                parser.error(f"{label} has {frame_size}x{frame_size} frames but {model_dir} was trained on "
                             f"{model.config.codec.image_size}x{model.config.codec.image_size}; compare on a dataset of that size")
            windows = evenly_spaced_windows(model, episodes, args.windows)
            latents = imagine_windows(model, windows["context"], windows["actions"], steps=1, initial_noise=0.0,
                                      proprio=model.proprio_of(windows))
            true_actions = imagined_chunk_metrics(model, latents, windows)
            shuffled = next_chunk_metrics(model, windows, 1, shuffle_actions=True, initial_noise=0.0)
            outcome = imagined_outcome_metrics(reward_model, latents, windows)
            metrics = {"episodes": len(episodes), "windows": len(windows["actions"]), "psnr": true_actions["psnr"],
                       "psnr_changed": true_actions["psnr_changed"], "psnr_shuffled_actions": shuffled["psnr"],
                       "psnr_repeat_last": repeat_last_metrics(windows)["psnr"], **outcome}
            results.setdefault(str(model_dir), {})[label] = metrics
            rows.append([f"{model_dir} on {label}", *(metrics[key] for key in (
                "episodes", "windows", "psnr", "psnr_changed", "psnr_shuffled_actions", "psnr_repeat_last",
                "reward_mse", "success_brier", "false_success_rate", "missed_success_rate"))])
            print(rows[-1], flush=True)
    notes = (
        "One deterministic denoising step from the noise's mean (the planner's sampler). False success: share of windows "
        "without a real success in their target frames whose imagined chunk the reward model reads as a success "
        "(probability > 0.5); missed success: the reverse."
    )
    write_results(args.out, args.name, results, COLUMNS, rows, notes)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
