"""Where a world model's next-chunk error is, per target frame; writes results/<name>.{json,md}.

    python experiments/world_model_error_budget.py --run checkpoints/robosuite-lift --dataset data/robosuite-lift.h5

On the held-out episodes of the run (a training output, or a checkpoint with --dataset: its last
5 episodes), the mean PSNR of each target frame of the next chunk for: the model's prediction
(one deterministic step, as the planner imagines), the codec ceiling (the true frames encoded
and decoded: the best any prediction in the model's latent space can score), repeat-last, the
prediction from a context without motion (every context frame the last one) and from shuffled
actions. The gap between prediction and ceiling is what the UNet leaves; the last two rows
say how much of its prediction comes from the motion it sees and the actions it is given.
Every row also splits its error between the pixels that move (differ from the last context
frame) and those that stand still. With --trained-on-windows, a last row scores the prediction
on windows of the episodes the model trained on: close to the held-out row, the model underfits
(capacity and training length); far above it, it overfits (data). The notes compare the share
of pixels that change with the share of latents that do (how local the codec is).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from sfplan.eval import write_results
from sfplan.eval.report import argument_settings
from sfplan.eval.world_model_eval import (
    changed_shares,
    error_budget_frames,
    evenly_spaced_windows,
    moving_and_still_error,
    predicted_frames,
    psnr_per_target_frame,
)
from sfplan.training import add_run_arguments, run_from_arguments

LABELS = {
    "prediction": "world model prediction",
    "codec_ceiling": "codec ceiling (true frames encoded and decoded)",
    "repeat_last": "repeat last context frame",
    "motionless_context": "prediction, context (and robot state) without motion",
    "shuffled_actions": "prediction, actions shuffled across windows",
    "without_proprio": "prediction, robot state unknown",
    "trained_on": "prediction on episodes trained on (fit)",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_arguments(parser)
    parser.add_argument("--windows", type=int, default=128, help="evenly spaced held-out windows")
    parser.add_argument("--trained-on-windows", type=int, default=0,
                        help="also score the prediction on this many evenly spaced windows of the training episodes")
    parser.add_argument("--steps", type=int, default=1, help="denoising steps")
    parser.add_argument("--initial-noise", type=float, default=0.0, help="sampler's starting-noise scale (0: deterministic)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--name", default="world_model_error_budget")
    parser.add_argument("--out", type=Path, default=Path("results"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    run = run_from_arguments(parser, args)
    model = run.model
    windows = evenly_spaced_windows(model, run.held_out, args.windows)
    scored = [(name, frames, windows) for name, frames in error_budget_frames(model, windows, args.steps, args.initial_noise).items()]
    if args.trained_on_windows:
        seen = evenly_spaced_windows(model, run.trained_on, args.trained_on_windows)
        scored.append(("trained_on", predicted_frames(model, seen, args.steps, args.initial_noise), seen))
    budget = {name: psnr_per_target_frame(frames, scored_on) for name, frames, scored_on in scored}
    split = {name: moving_and_still_error(frames, scored_on) for name, frames, scored_on in scored}
    changed = changed_shares(model, windows)
    skip = model.config.frame_skip
    frames = range(1, model.config.target_frames + 1)
    header = ["frames", *(f"frame {i} ({i * skip} env steps ahead) dB" for i in frames), "mean dB",
              "moving pixels dB", "still pixels dB", "share of error on moving pixels"]
    rows = [[LABELS[name], *values, sum(values) / len(values), split[name]["moving_psnr"], split[name]["still_psnr"],
             split[name]["moving_error_share"]] for name, values in budget.items()]
    notes = (
        f"Held-out next-chunk windows: {len(windows['actions'])} from the last {run.train_config.holdout_episodes} episodes of "
        f"`{run.train_config.dataset}` (never trained on). Prediction: {args.steps} denoising step(s), initial noise "
        f"{args.initial_noise:g}. PSNR: mean over windows of each frame's PSNR (the mean column averages the frames; "
        "results/world_model.md pools each window's frames first). Changed between the last context frame and the "
        f"targets: {changed['pixels']:.1%} of pixels (by more than 0.05), {changed['latents']:.1%} of latent positions (by "
        "more than 0.1 x the latents' std in some channel)."
    )
    write_results(args.out, args.name, {"psnr_per_target_frame": budget, "moving_and_still": split, "changed_share": changed,
                                        "frame_skip": skip,
                                        "held_out_windows": len(windows["actions"]), "settings": argument_settings(args)},
                  header, rows, notes)


if __name__ == "__main__":
    main()
