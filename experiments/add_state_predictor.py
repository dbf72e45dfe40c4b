"""Give a trained world model a state predictor (`world_model.state_predictor_hidden`), fitted in seconds.

    python experiments/add_state_predictor.py --run runs/lift-wm-wide-meanstart --out runs/lift-wm-wide-state

A world model that reads the robot state is told the real state before the first chunk it
imagines; a `StatePredictor` predicts it after each imagined chunk, so later chunks are not
conditioned on the unknown state (docs/world_model.md, session 19). This fits one on the episodes
the world model trained on and writes `<out>/world_model`: the run's weights, unchanged, plus the
predictor. `<out>` gets the run's `reward_model/`, `train_config.json` and `log.csv` too, so it
loads like the run (eval scripts, export_agent.py); `--out` may be the run itself. Prints the predictor's
error on the held-out episodes. New runs fit it themselves (train_world_model.py with
world_model.state_predictor_hidden).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from sfplan.data import state_transitions
from sfplan.training import add_run_arguments, copy_run_files, run_from_arguments, with_state_predictor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_arguments(parser)
    parser.add_argument("--out", required=True, type=Path, help="directory for world_model/ (may be --run)")
    parser.add_argument("--hidden", type=int, default=256, help="width of the predictor's MLP")
    parser.add_argument("--steps", type=int, default=3000, help="Adam steps of the fit")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    run = run_from_arguments(parser, args)
    try:
        model = with_state_predictor(run.model, run.trained_on, args.hidden, args.steps)
    except ValueError as error:
        parser.error(f"{args.run}: {error}")

    config = model.config
    before, actions, after = state_transitions(run.held_out, config.target_frames, config.frame_skip)
    with torch.no_grad():
        error = (model.state_predictor(before, actions) - after)[:, -1].norm(dim=-1).mean().item()
    standing_still = (before - after)[:, -1].norm(dim=-1).mean().item()
    model.save_pretrained(args.out / "world_model")
    copy_run_files(args.run, args.out)
    print(f"state predictor: held-out state error after one chunk {error:.4f} "
          f"(standing still: {standing_still:.4f}); wrote {args.out / 'world_model'}")


if __name__ == "__main__":
    main()
