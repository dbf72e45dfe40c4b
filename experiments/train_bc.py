"""Train the behaviour-cloned policy (baseline and planner proposal source) on an HDF5 dataset.

    python experiments/train_bc.py --dataset data/robosuite-lift.h5 --out runs/lift-bc

Several datasets of one env (`--dataset A.h5 B.h5`) are cloned together.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from sfplan.data import load_episodes, read_info
from sfplan.interrupts import terminate_as_interrupt
from sfplan.policies import BCPolicyConfig, train_bc


@terminate_as_interrupt()
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", required=True, type=Path, nargs="+", help="HDF5 datasets, all of one env and image size")
    parser.add_argument("--out", required=True, type=Path, help="checkpoint directory (model.safetensors + config.json)")
    parser.add_argument("--successful-only", action="store_true", help="clone only episodes that succeeded")
    parser.add_argument("--chunk", type=int, default=8, help="actions predicted per observation")
    parser.add_argument("--steps", type=int, default=5000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--shift", type=int, default=0, help="random-shift augmentation of the frames, in pixels (0: none)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    first_info = read_info(args.dataset[0])
    episodes = [episode for path in args.dataset
                for episode in load_episodes(path, env_name=first_info.env_name, image_size=first_info.image_size)]
    if args.successful_only:
        episodes = [episode for episode in episodes if episode.success]
    first = episodes[0]
    config = BCPolicyConfig(image_size=first.frames.shape[1], proprio_dim=first.proprio.shape[1],
                            action_dim=first.actions.shape[1], chunk=args.chunk)
    policy, losses = train_bc(episodes, config, args.steps, args.batch_size, args.lr, args.seed, shift=args.shift)
    policy.save_pretrained(args.out)
    print(f"trained on {len(episodes)} episodes; final loss {np.mean(losses[-100:]):.4f}; saved to {args.out}")


if __name__ == "__main__":
    main()
