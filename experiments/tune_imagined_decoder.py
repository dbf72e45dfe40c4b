"""Give a trained world model a decoder tuned on the latents it imagines (`world_model.imagined_decoder`).

    python experiments/tune_imagined_decoder.py --run runs/lift-wm-wide-long-state --out runs/lift-wm-wide-long-decoder

Imagines the first chunk of every `--stride`-th window of the episodes the world model trained on
(its own sampler settings), then tunes a copy of the codec's decoder to turn those latents into the
real frames (`sfplan.training.with_imagined_decoder`; docs/world_model.md, session 20). Writes
`<out>/world_model`: the run's weights, unchanged, plus that decoder; `<out>` gets the run's
`reward_model/`, `train_config.json` and `log.csv` too, so it loads like the run. Prints the
next-chunk PSNR on the held-out episodes' windows with the codec's decoder and with the tuned one.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from sfplan.eval import psnr
from sfplan.training import add_run_arguments, copy_run_files, imagined_frame_pairs, run_from_arguments, with_imagined_decoder
from sfplan.world_model import VideoWorldModel


def held_out_psnr(model: VideoWorldModel, latents: torch.Tensor, frames: torch.Tensor) -> float:
    """Mean PSNR (dB) per chunk of `latents` (N, C, h, w) as the model renders them against `frames`
    (N, 3, H, W) uint8, both chunk after chunk (`imagined_frame_pairs`)."""
    with torch.no_grad():
        rendered = torch.cat([model.decode_imagined(batch) for batch in latents.split(256)])
    chunks = (-1, model.config.target_frames)
    return psnr(rendered.unflatten(0, chunks), frames.unflatten(0, chunks).float() / 255.0).mean().item()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_arguments(parser)
    parser.add_argument("--out", required=True, type=Path, help="directory for world_model/ (may be --run)")
    parser.add_argument("--steps", type=int, default=1500, help="Adam steps of the tuning (batches of 32 frames)")
    parser.add_argument("--stride", type=int, default=8, help="env steps between the training windows imagined")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    if args.steps < 1 or args.stride < 1:
        parser.error(f"--steps and --stride must be at least 1, got {args.steps} and {args.stride}")

    run = run_from_arguments(parser, args)
    held_latents, held_frames = imagined_frame_pairs(run.model, run.held_out, stride=2, progress=False)
    before = held_out_psnr(run.model, held_latents, held_frames)
    model = with_imagined_decoder(run.model, run.trained_on, steps=args.steps, stride=args.stride)
    after = held_out_psnr(model, held_latents, held_frames)
    model.save_pretrained(args.out / "world_model")
    copy_run_files(args.run, args.out)
    print(f"held-out next-chunk PSNR: {before:.2f} dB with the codec's decoder, {after:.2f} dB with the tuned one; "
          f"wrote {args.out / 'world_model'}")


if __name__ == "__main__":
    main()
