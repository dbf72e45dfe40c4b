"""How well the robot state before a chunk and the chunk's actions predict where the gripper is after
it, for richer and poorer states; writes results/<name>.{json,md}.

    python experiments/collect.py env=robosuite-lift episodes=300 workers=2 policy.kwargs.noise=0.2 \
        policy.kwargs.explore_prob=0.1 env.kwargs.proprio=full output=data/robosuite-lift-full.h5
    python experiments/state_predictability.py --dataset data/robosuite-lift-full.h5

The world model's remaining next-chunk error is a blurred arm (docs/world_model.md, sessions 17-20):
its mean prediction blends the arm positions it finds likely. Whether that blur is the model's
fault or the information it is given, this measures with the cheapest predictor of the arm's
future: a `StatePredictor` (the world model's own MLP) fitted on the training episodes'
chunk-long transitions, for each state in `--states` (a prefix of the dataset's proprioception:
`eef` = what the world model reads, then joint angles, then velocities; see `envs/robosuite_env.py`).
The table gives the end-effector position error after one chunk on held-out episodes (and on
the training episodes, to tell underfitting from missing information), next to the motion itself
and to a one-env-step predictor rolled over the chunk (a Markov state should predict its next step
well; errors then compound).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from sfplan.data import load_episodes, state_transitions
from sfplan.eval import write_results
from sfplan.eval.report import argument_settings
from sfplan.training.slow import split_episodes
from sfplan.world_model.state_predictor import StatePredictor

# Prefixes of the "full" proprioception of RobosuitePixelEnv (envs/robosuite_env.py, _PROPRIO_KEYS).
STATE_PREFIXES = {
    "eef": ("end-effector pose and fingers (what the world model reads)", 9),
    "joints": ("+ joint angles (cos, sin)", 23),
    "full": ("+ joint and finger velocities", 32),
}


def gripper_error_cm(predictor: StatePredictor, transitions: tuple[torch.Tensor, ...], dims: int) -> np.ndarray:
    """Per transition, the distance (cm) between predicted and true end-effector positions after the chunk."""
    before, actions, after = transitions
    with torch.no_grad():
        predicted = predictor(before[..., :dims], actions)
    return 100 * (predicted[:, -1, :3] - after[:, -1, :3]).norm(dim=-1).numpy()


def rolled_gripper_error_cm(one_step: StatePredictor, transitions: tuple[torch.Tensor, ...], dims: int) -> np.ndarray:
    """The same for a one-env-step predictor applied once per action of the chunk, on its own predictions."""
    before, actions, after = transitions
    history = before[..., :dims]
    per_step = actions.reshape(len(actions), -1, 1, 1, actions.shape[-1])
    with torch.no_grad():
        for step in range(per_step.shape[1]):
            history = one_step(history, per_step[:, step])
    return 100 * (history[:, -1, :3] - after[:, -1, :3]).norm(dim=-1).numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", required=True, type=Path, help="episodes collected with env.kwargs.proprio=full")
    parser.add_argument("--states", nargs="+", default=list(STATE_PREFIXES), choices=list(STATE_PREFIXES))
    parser.add_argument("--holdout", type=int, default=30, help="the last N episodes are held out")
    parser.add_argument("--target-frames", type=int, default=4, help="a chunk: target frames x frame skip env steps")
    parser.add_argument("--frame-skip", type=int, default=2)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--steps", type=int, default=6000, help="Adam steps of each fit")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--name", default="state_predictability")
    parser.add_argument("--out", type=Path, default=Path("results"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    episodes = load_episodes(args.dataset, image_size=None)
    full_dims = episodes[0].proprio.shape[1]
    if full_dims < max(STATE_PREFIXES[state][1] for state in args.states):
        parser.error(f"{args.dataset} has {full_dims}-dim proprioception; collect it with env.kwargs.proprio=full (32 dims)")
    try:
        train, held_out = split_episodes(episodes, args.holdout)
    except ValueError as error:
        parser.error(str(error))
    train_set = state_transitions(train, args.target_frames, args.frame_skip)
    train_steps = state_transitions(train, 1, 1)
    held_out_set = state_transitions(held_out, args.target_frames, args.frame_skip)
    motion = 100 * (held_out_set[2][:, -1, :3] - held_out_set[0][:, -1, :3]).norm(dim=-1).numpy()

    header = ["state", "dims", "held-out error (cm)", "training error (cm)", "held-out error / motion",
              "held-out error, one-step predictor rolled (cm)"]
    rows: list[list] = [["none: the gripper stays where it is", 0, float(motion.mean()), "", 1.0, ""]]
    results: dict[str, dict[str, float]] = {}
    action_dim = episodes[0].actions.shape[1]
    for state in args.states:
        description, dims = STATE_PREFIXES[state]
        held_errors, train_errors, rolled_errors = [], [], []
        for seed in args.seeds:
            torch.manual_seed(seed)
            predictor = StatePredictor(dims, action_dim, args.target_frames * args.frame_skip, args.hidden)
            before, actions, after = train_set
            predictor.fit(before[..., :dims], actions, after[..., :dims], steps=args.steps, seed=seed)
            held_errors.append(gripper_error_cm(predictor, held_out_set, dims).mean())
            train_errors.append(gripper_error_cm(predictor, train_set, dims).mean())
            one_step = StatePredictor(dims, action_dim, 1, args.hidden)
            before, actions, after = train_steps
            one_step.fit(before[..., :dims], actions, after[..., :dims], steps=args.steps, seed=seed)
            rolled_errors.append(rolled_gripper_error_cm(one_step, held_out_set, dims).mean())
        held, trained, rolled = (float(np.mean(errors)) for errors in (held_errors, train_errors, rolled_errors))
        results[state] = {"dims": dims, "held_out_error_cm": held, "training_error_cm": trained,
                          "held_out_error_by_seed_cm": [float(e) for e in held_errors], "rolled_one_step_error_cm": rolled}
        rows.append([f"{state}: {description}", dims, held, trained, held / float(motion.mean()), rolled])

    notes = (f"End-effector position error after one chunk ({args.target_frames * args.frame_skip} env steps), "
             f"mean over {len(held_out_set[0])} held-out transitions of the last {args.holdout} episodes of "
             f"`{args.dataset}` (training: {len(train_set[0])} transitions of the other {len(train)}), of a "
             f"`StatePredictor` (MLP {args.hidden} wide, {args.steps} Adam steps) fitted on the state history before "
             f"the chunk (two env steps) and its actions; mean of seeds {args.seeds}. Rolled: a predictor of one env step "
             f"(fitted the same way) applied once per action of the chunk to its own predictions. Motion: the mean "
             f"distance the gripper moves over the chunk.")
    data = {"motion_cm": float(motion.mean()), "states": results, "settings": argument_settings(args)}
    write_results(args.out, args.name, data, header, rows, notes)


if __name__ == "__main__":
    main()
