"""How much the second imagined chunk loses for not knowing the robot's state; writes results/<name>.{json,md}.

    python experiments/second_chunk_state_probe.py --run checkpoints/robosuite-lift --dataset data/robosuite-lift.h5

A world model that reads the robot state (`proprio_dim`) gets the real state before the first
chunk it imagines; `imagine` gives every later chunk the learned unknown state, because the
state after imagined frames is not observed. This probe measures what that costs and whether a
small learned state predictor would win it back: on evenly spaced two-chunk windows of the
held-out episodes it imagines the first chunk with the real state, then the second chunk from
the first's frames with (a) the unknown state, (b) the state an MLP predicts from the state and
the first chunk's actions, (c) the real state. The MLP is the world model's own `StatePredictor`
when it has one (`state_predictor_hidden`); otherwise one is fitted here, in seconds, on the
episodes the world model trained on. Its held-out error in end-effector position is reported.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from sfplan.data import ChunkDataset, ChunkSpec, Episode
from sfplan.eval import write_results
from sfplan.eval.report import argument_settings
from sfplan.eval.video_metrics import psnr
from sfplan.training import add_run_arguments, run_from_arguments, with_state_predictor
from sfplan.world_model import VideoWorldModel


def two_chunk_windows(model: VideoWorldModel, episodes: list[Episode], count: int) -> dict[str, torch.Tensor]:
    """`count` evenly spaced windows: context frames, both chunks' target frames and actions, and
    the state histories at the last context frame before each chunk. The same windows cut with the
    first chunk counted as context give the state before the second chunk (`ChunkDataset`'s proprio)."""
    config = model.config
    whole = ChunkDataset(episodes, ChunkSpec(config.context_frames, 2 * config.target_frames, config.frame_skip))
    shifted = ChunkDataset(episodes, ChunkSpec(config.context_frames + config.target_frames, config.target_frames, config.frame_skip))
    index = np.linspace(0, len(whole) - 1, min(count, len(whole))).astype(int)
    items = [whole[i] for i in index]
    return {
        "context": torch.stack([item["context"] for item in items]).float() / 255.0,
        "target": torch.stack([item["target"] for item in items]).float() / 255.0,
        "actions": torch.stack([item["actions"] for item in items]).unflatten(1, (2, config.target_frames)),
        "state": torch.stack([item["proprio"] for item in items]),
        "next_state": torch.stack([shifted[i]["proprio"] for i in index]),
    }


@torch.no_grad()
def second_chunk_psnr(model: VideoWorldModel, windows: dict[str, torch.Tensor], states: dict[str, torch.Tensor | None],
                      batch_size: int = 32) -> tuple[float, dict[str, float]]:
    """Mean PSNR of the first chunk, and of the second chunk for each of `states` (None: unknown)."""
    config = model.config
    first_scores, second_scores = [], {name: [] for name in states}
    for start in range(0, len(windows["actions"]), batch_size):
        part = slice(start, start + batch_size)
        context = model.codec.encode(windows["context"][part])
        actions = windows["actions"][part]
        first = model.sample_chunk(context, actions[:, 0], steps=1, initial_noise=0.0, proprio=windows["state"][part])
        truth = windows["target"][part]
        first_scores.append(psnr(model.decode_imagined(first), truth[:, : config.target_frames]))
        next_context = torch.cat([context, first], dim=1)[:, -config.context_frames :]
        for name, state in states.items():
            second = model.sample_chunk(next_context, actions[:, 1], steps=1, initial_noise=0.0,
                                        proprio=None if state is None else state[part])
            second_scores[name].append(psnr(model.decode_imagined(second), truth[:, config.target_frames :]))
    return float(torch.cat(first_scores).mean()), {name: float(torch.cat(scores).mean()) for name, scores in second_scores.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_arguments(parser)
    parser.add_argument("--windows", type=int, default=128, help="evenly spaced held-out two-chunk windows")
    parser.add_argument("--predictor-steps", type=int, default=3000,
                        help="training steps of the state MLP fitted for a world model without its own")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--name", default="second_chunk_state_probe")
    parser.add_argument("--out", type=Path, default=Path("results"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    run = run_from_arguments(parser, args)
    model = run.model
    if model.proprio_encoder is None:
        parser.error(f"{args.run}'s world model reads no robot state (proprio_dim=0): nothing to probe")
    config = model.config
    predictor = model.state_predictor
    if predictor is None:
        predictor = with_state_predictor(model, run.trained_on, steps=args.predictor_steps).state_predictor
    windows = two_chunk_windows(model, run.held_out, args.windows)
    with torch.no_grad():
        predicted = predictor(windows["state"], windows["actions"][:, 0])
    position_error = (predicted[:, -1, :3] - windows["next_state"][:, -1, :3]).norm(dim=-1)
    position_change = (windows["next_state"][:, -1, :3] - windows["state"][:, -1, :3]).norm(dim=-1)
    first, second = second_chunk_psnr(model, windows, {"unknown": None, "predicted": predicted, "true": windows["next_state"]})

    source = ("the world model's own StatePredictor" if model.state_predictor is not None
              else f"an MLP fitted here ({args.predictor_steps} steps on the training episodes)")
    labels = {"unknown": "unknown state (what `imagine` gives a model without a state predictor)",
              "predicted": "state predicted by the MLP", "true": "true state"}
    rows = [["first chunk, true state", first], *([f"second chunk, {labels[name]}", value] for name, value in second.items())]
    notes = (
        f"{len(windows['actions'])} evenly spaced two-chunk windows of the last {run.train_config.holdout_episodes} episodes "
        f"of `{run.train_config.dataset}` (never trained on); one deterministic step per chunk, the second chunk's context "
        f"the first's imagined frames. State MLP: {source}; end-effector "
        f"position error after one chunk ({config.steps_per_chunk} env steps) {float(position_error.mean()) * 100:.2f} cm mean, "
        f"{float(position_error.quantile(0.9)) * 100:.2f} cm 90th percentile, for a mean motion of "
        f"{float(position_change.mean()) * 100:.2f} cm."
    )
    data = {"psnr_first_chunk": first, "psnr_second_chunk": second,
            "end_effector_error_m": float(position_error.mean()), "end_effector_motion_m": float(position_change.mean()),
            "windows": len(windows["actions"]), "settings": argument_settings(args)}
    write_results(args.out, args.name, data, ["imagined chunk", "PSNR dB"], rows, notes)


if __name__ == "__main__":
    main()
