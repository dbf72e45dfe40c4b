"""How many imagined chunks a predicted robot state helps for; writes results/<name>.{json,md}.

    python experiments/state_predictor_horizon.py --run runs/lift-wm-wide-meanstart --long-dataset data/robosuite-lift-long.h5

A `StatePredictor` predicts the state after each imagined chunk from the state before it and the
chunk's actions, open loop, so its error grows chunk after chunk (`state_predictor_horizon` caps how
many chunks it conditions). For several predictors fitted from different initial weights and
batch orders on the episodes the run's world model trained on, this rolls the world model out
over the long episodes from their real actions (one deterministic step per chunk, as the issue's
long rollouts) at each horizon, and reports mean PSNR over every chunk after the first (the first
chunk always reads the real state), next to the same rollouts with the unknown state (no predictor).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from sfplan.data import load_episodes
from sfplan.eval import write_results
from sfplan.eval.report import argument_settings
from sfplan.eval.world_model_eval import long_rollout
from sfplan.training import add_run_arguments, run_from_arguments, with_state_predictor
from sfplan.world_model import VideoWorldModel


def later_chunks_psnr(model: VideoWorldModel, episodes: list, frames: int) -> float:
    """Mean PSNR of chunks 2.. of `frames`-frame rollouts of `episodes`, averaged over episodes."""
    per_chunk = np.mean([long_rollout(model, episode, frames, steps=1, initial_noise=0.0)["psnr_per_chunk"] for episode in episodes], axis=0)
    return float(per_chunk[1:].mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_arguments(parser)
    parser.add_argument("--long-dataset", required=True, type=Path, help="held-out episodes long enough for --rollout-frames")
    parser.add_argument("--rollout-frames", type=int, default=128)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="one fitted predictor per seed")
    parser.add_argument("--horizons", type=int, nargs="+", default=[1, 2, 4, 8, 12, 16, 0], help="0: no limit")
    parser.add_argument("--hidden", type=int, default=256, help="width of the predictors' MLP")
    parser.add_argument("--predictor-steps", type=int, default=3000, help="Adam steps of each predictor's fit")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--name", default="state_predictor_horizon")
    parser.add_argument("--out", type=Path, default=Path("results"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    run = run_from_arguments(parser, args)
    episodes = load_episodes(args.long_dataset, image_size=run.model.config.codec.image_size)
    unknown = later_chunks_psnr(run.model, episodes, args.rollout_frames)
    by_seed: dict[int, dict[int, float]] = {}
    for seed in args.seeds:
        torch.manual_seed(seed)
        try:
            model = with_state_predictor(run.model, run.trained_on, args.hidden, args.predictor_steps, seed=seed)
        except ValueError as error:
            parser.error(f"{args.run}: {error}")
        by_seed[seed] = {}
        for horizon in args.horizons:
            model.config.state_predictor_horizon = horizon
            by_seed[seed][horizon] = later_chunks_psnr(model, episodes, args.rollout_frames)

    label = lambda horizon: "no limit" if horizon == 0 else str(horizon)  # noqa: E731
    header = ["predictor", *(f"horizon {label(h)}" for h in args.horizons)]
    rows = [["none (unknown state)", *([unknown] * len(args.horizons))],
            *([f"seed {seed}", *by_seed[seed].values()] for seed in args.seeds)]
    notes = (f"Mean PSNR (dB) of imagined chunks 2-{args.rollout_frames // run.model.config.target_frames} over "
             f"{len(episodes)} {args.rollout_frames}-frame rollouts of `{args.long_dataset}` from their real actions, "
             f"one deterministic step per chunk; the first chunk reads the real state. Horizon: chunks after the observed "
             f"state conditioned on predicted states (`state_predictor_horizon`), later ones on the unknown state.")
    data = {"psnr_unknown_state": unknown, "psnr_by_seed_and_horizon": {str(s): {str(h): v for h, v in row.items()}
                                                                        for s, row in by_seed.items()},
            "settings": argument_settings(args)}
    write_results(args.out, args.name, data, header, rows, notes)


if __name__ == "__main__":
    main()
