"""Fine-tune a run's reward model on the world model's imagined frames; writes results/reward_model.{json,md}.

    python experiments/train_reward_model.py --run runs/lift-wm-anneal --dataset data/robosuite-lift.h5 \
        --out runs/lift-reward-imagined

The planner scores imagined frames, but the slow trainer fits the reward model to real ones.
This rolls out every `--stride`-th window of the training episodes (the dataset minus its last
`--holdout` episodes, as in world-model training) from its real context with its real actions,
`--chunks` chunks deep and sampled as the planner samples, and trains the run's reward model on
those frames with their true rewards and successes (plus a share of real frames). Before and
after, it reports reward error and score rank correlation on the held-out episodes' windows.
The new reward model goes to `--out` (model.safetensors + config.json, written atomically); pass
it to `experiments/export_agent.py --reward-model`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from sfplan.checkpoint import save_pretrained
from sfplan.data import Episode, load_episodes
from sfplan.eval import write_results
from sfplan.eval.report import argument_settings
from sfplan.interrupts import terminate_as_interrupt
from sfplan.training.reward import ImaginedWindows, fine_tune_reward_model, imagine_windows, reward_metrics
from sfplan.training.slow import split_episodes
from sfplan.world_model import RewardModel, VideoWorldModel


@terminate_as_interrupt()
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", required=True, type=Path, help="directory with world_model/ and reward_model/")
    parser.add_argument("--dataset", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path, help="directory for the fine-tuned reward model")
    parser.add_argument("--holdout", type=int, default=5, help="last N episodes are held out (as in world-model training)")
    parser.add_argument("--chunks", type=int, default=2, help="imagined chunks per window (the planner's horizon_chunks)")
    parser.add_argument("--stride", type=int, default=4, help="env steps between training windows")
    parser.add_argument("--denoise-steps", type=int, default=1, help="the planner's denoise_steps")
    parser.add_argument("--initial-noise", type=float, default=0.0, help="the planner's initial_noise")
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--batch-size", type=int, default=256, help="frames per step")
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--real-fraction", type=float, default=0.25, help="share of real frames in each batch")
    parser.add_argument("--success-weight", type=float, default=1.0, help="the planner's success_weight (for the metrics)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--results", type=Path, default=Path("results"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    world_model = VideoWorldModel.from_pretrained(args.run / "world_model")
    reward_model = RewardModel.from_pretrained(args.run / "reward_model")
    train_episodes, held_out_episodes = split_episodes(load_episodes(args.dataset), args.holdout)

    def imagine(episodes: list[Episode], stride: int) -> ImaginedWindows:
        return imagine_windows(world_model, episodes, args.chunks, stride, steps=args.denoise_steps, initial_noise=args.initial_noise)

    held_out = imagine(held_out_episodes, 1)
    before = reward_metrics(reward_model, held_out, args.success_weight)
    losses = fine_tune_reward_model(reward_model, imagine(train_episodes, args.stride), args.steps, args.batch_size, args.lr,
                                    args.real_fraction, args.seed)
    after = reward_metrics(reward_model, held_out, args.success_weight)
    save_pretrained(reward_model, reward_model.config.to_dict(), args.out)

    results = {"before": before, "after": after, "final_loss": float(np.mean(losses[-100:])), "held_out_windows": len(held_out),
               "settings": argument_settings(args)}
    rows = [[name, before[name], after[name]] for name in before]
    write_results(args.results, "reward_model", results, ["metric (held-out windows)", f"reward model of {args.run}", "fine-tuned on imagined frames"],
                  rows, notes=f"{len(held_out)} windows of the last {args.holdout} episodes of {args.dataset}, each {args.chunks} chunks "
                              f"imagined from real context with real actions ({args.denoise_steps} denoising step(s), initial noise "
                              f"{args.initial_noise}). Rank correlation: Spearman, across windows, of the planner's score of the frames "
                              "(summed rewards + success) with the true one.")
    print(f"saved {args.out}; " + ", ".join(f"{name} {before[name]:.4f} -> {after[name]:.4f}" for name in before))


if __name__ == "__main__":
    main()
