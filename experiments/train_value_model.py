"""Train a value model on a dataset's frames with a run's codec; writes results/value_model.{json,md}.

    python experiments/train_value_model.py --run runs/lift-wm-anneal --dataset data/robosuite-lift.h5 \
        --out runs/lift-value

The planner scores a few imagined chunks; whether the episode will still succeed lies beyond them.
The value model learns, from every frame of the training episodes (the dataset minus its last
`--holdout` episodes), the discounted reward-to-go of the policy that collected them
(`sfplan.world_model.value_targets`), and reports how well it predicts it on the held-out
episodes. It goes to `--out` (model.safetensors + config.json, written atomically); pass it to
`experiments/export_agent.py --value-model` and plan with `value_weight > 0`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from sfplan.checkpoint import save_pretrained
from sfplan.data import load_episodes
from sfplan.eval import write_results
from sfplan.eval.report import argument_settings
from sfplan.interrupts import terminate_as_interrupt
from sfplan.training.slow import split_episodes
from sfplan.training.value import train_value_model, value_frames, value_metrics
from sfplan.world_model import ValueModel, ValueModelConfig, VideoWorldModel


@terminate_as_interrupt()
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", required=True, type=Path, help="directory with world_model/ (its codec encodes the frames)")
    parser.add_argument("--dataset", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path, help="directory for the value model")
    parser.add_argument("--holdout", type=int, default=20, help="last N episodes are held out for the metrics")
    parser.add_argument("--discount", type=float, default=0.98, help="per env step")
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--batch-size", type=int, default=256, help="frames per step")
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--results", type=Path, default=Path("results"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    codec = VideoWorldModel.from_pretrained(args.run / "world_model").codec
    train_episodes, held_out_episodes = split_episodes(load_episodes(args.dataset), args.holdout)
    config = ValueModelConfig(codec.config.latent_channels, codec.config.latent_size, discount=args.discount)
    value_model = ValueModel(config)
    held_out = value_frames(codec, held_out_episodes, args.discount)
    before = value_metrics(value_model, held_out)
    losses = train_value_model(value_model, value_frames(codec, train_episodes, args.discount), args.steps, args.batch_size,
                               args.lr, args.seed)
    after = value_metrics(value_model, held_out)
    save_pretrained(value_model, config.to_dict(), args.out)

    results = {"untrained": before, "trained": after, "final_loss": float(np.mean(losses[-100:])), "held_out_frames": len(held_out),
               "held_out_episodes": len(held_out_episodes), "held_out_failed_episodes": sum(not e.success for e in held_out_episodes),
               "settings": argument_settings(args)}
    write_results(args.results, "value_model", results, ["metric (held-out frames)", "untrained", "trained"],
                  [[name, before[name], after[name]] for name in before],
                  notes=f"All {len(held_out)} frames of the last {args.holdout} episodes of {args.dataset} "
                        f"({results['held_out_failed_episodes']} of them failed), encoded with the codec of {args.run}. "
                        f"Target: discounted reward-to-go, (1 - {args.discount}) x sum of discounted future rewards, the last "
                        "reward held past the episode's end; reward per step.")
    print(f"saved {args.out}; " + ", ".join(f"{name} {before[name]:.4f} -> {after[name]:.4f}" for name in before))


if __name__ == "__main__":
    main()
