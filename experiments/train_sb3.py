"""Train the stable-baselines3 SAC baseline on an sfplan env from pixels + proprioception.

    python experiments/train_sb3.py --env robosuite-lift --steps 45000 --out runs/lift-sac
The step count is real env steps; the benchmark reports it beside the success rate. Use at
least as many steps as the world model's dataset (300 lift episodes x 150 steps = 45,000).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from stable_baselines3 import SAC

from sfplan.envs import make
from sfplan.interrupts import terminate_as_interrupt


@terminate_as_interrupt()
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="robosuite-lift")
    parser.add_argument("--steps", type=int, default=45_000, help="real env steps")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--buffer-size", type=int, default=50_000)
    parser.add_argument("--batch-size", type=int, default=128, help="SAC minibatch")
    parser.add_argument("--train-freq", type=int, default=4, help="env steps per gradient step (CPU budget)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    env = make(args.env, image_size=args.image_size)
    model = SAC("MultiInputPolicy", env, buffer_size=args.buffer_size, batch_size=args.batch_size,
                train_freq=args.train_freq, seed=args.seed, verbose=1, tensorboard_log=str(args.out / "tensorboard"))
    model.learn(total_timesteps=args.steps, progress_bar=True)
    args.out.mkdir(parents=True, exist_ok=True)
    model.save(args.out / "model.zip")
    env.close()
    print(f"saved {args.out / 'model.zip'} after {args.steps} env steps")


if __name__ == "__main__":
    main()
