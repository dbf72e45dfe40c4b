"""What would rescue the BC prior where it gets stuck on robosuite-lift, and can the world model tell?
Writes results/<name>.{json,md}.

For each seed the checkpoint's agent follows its BC prior step for step (`prior_margin=inf
stall_replans=0`, so it imagines nothing) for `--step` env steps. From that state every probe plan
(the prior's own plan, the same with the gripper held closed, and hand-made grasp motions; one
world-model horizon each) is
- scored by the world model and reward model, exactly as the planner scores its candidates, and
- executed in the env (the episode replayed to the same state, the probe's actions, then the prior
  again until the time limit), which says whether it really rescues the episode.
The "world model's pick" row executes, per seed, the probe the world model scores highest.

    python experiments/stall_probe.py --checkpoint checkpoints/robosuite-lift --seeds 50001 50016 --step 72 --threads 1
"""

from __future__ import annotations

import argparse
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from tqdm import tqdm

from sfplan import SFPlanner
from sfplan.envs import make
from sfplan.checkpoint import CheckpointError
from sfplan.eval import write_results
from sfplan.eval.agent_rollout import load_prior_follower

HAND_MADE = {  # (steps, gripper, vertical) phases; the last one is held to the end of the horizon
    "close, then lift": [(8, 1.0, 0.0), (8, 1.0, 0.5)],
    "descend, close, lift": [(4, -1.0, -0.3), (2, 1.0, -0.3), (6, 1.0, 0.0), (4, 1.0, 0.5)],
    "open and retreat up": [(10, -1.0, 0.5), (6, -1.0, 0.0)],
}


def phase_plan(phases: list[tuple[int, float, float]], horizon: int, action_dim: int, gripper: int,
               vertical: int) -> torch.Tensor:
    """(horizon, action_dim) plan of constant phases: the gripper and vertical entries as given,
    every other entry 0."""
    plan = torch.zeros(horizon, action_dim)
    start = 0
    for steps, gripper_action, vertical_action in phases:
        plan[start:, gripper], plan[start:, vertical] = gripper_action, vertical_action
        start += steps
    return plan


def probe_plans(agent: SFPlanner, observation: dict[str, np.ndarray], gripper: int, vertical: int) -> dict[str, torch.Tensor]:
    """Named (H, A) plans from the current state: the prior's, the prior's with the gripper held
    closed, and the hand-made motions."""
    horizon, action_dim = agent.planner.config.horizon, agent.world_model.config.action_dim
    prior = agent.proposals.propose(observation, 1, horizon)[0]
    closed = prior.clone()
    closed[:, gripper] = 1.0
    plans = {"prior's plan": prior, "prior's plan, gripper held closed": closed}
    plans.update({name: phase_plan(phases, horizon, action_dim, gripper, vertical) for name, phases in HAND_MADE.items()})
    return plans


def follow_prior(env: gym.Env, agent: SFPlanner, seed: int, steps: int) -> tuple[dict, list[np.ndarray]]:
    """Reset to `seed` and let the agent (its prior) act on `steps` observations. Returns the last
    of them, the state the probes start from (the agent's newest frame), and the actions before it."""
    observation, _ = env.reset(seed=seed)
    agent.reset(observation)
    actions = []
    for step in range(steps):
        actions.append(agent.act(observation))
        if step < steps - 1:
            observation, *_ = env.step(actions[-1])
    return observation, actions[:-1]


def finish_with(env: gym.Env, agent: SFPlanner, seed: int, prefix: list[np.ndarray], plan: torch.Tensor) -> bool:
    """Replay `prefix` from `seed`, execute `plan`, then the prior until the episode ends; solved at any step."""
    observation, _ = env.reset(seed=seed)
    done, solved = False, False
    for action in [*prefix, *plan.numpy()]:
        observation, _, terminated, truncated, info = env.step(action)
        solved, done = solved or info["success"], terminated or truncated
        if done:
            return solved
    agent.reset(observation)
    while not done:
        observation, _, terminated, truncated, info = env.step(agent.act(observation))
        solved, done = solved or info["success"], terminated or truncated
    return solved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, default=Path("checkpoints/robosuite-lift"))
    parser.add_argument("--env", default="robosuite-lift")
    parser.add_argument("--image-size", type=int, default=64, help="camera size the models were trained on")
    parser.add_argument("--max-episode-steps", type=int, help="time limit; default: the env's")
    parser.add_argument("--gripper-dim", type=int, default=6, help="action entry of the gripper (robosuite OSC: 6)")
    parser.add_argument("--vertical-dim", type=int, default=2, help="action entry of the vertical move (robosuite OSC: 2)")
    parser.add_argument("--seeds", type=int, nargs="+", required=True, help="episodes the prior fails (see benchmark.py)")
    parser.add_argument("--step", type=int, default=72, help="env step at which the probes start (the prior acted before it)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("results"))
    parser.add_argument("--name", default="stall_probe")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    try:
        agent = load_prior_follower(args.checkpoint, args.threads)
    except CheckpointError as error:
        raise SystemExit(str(error)) from None
    env = make(args.env, max_episode_steps=args.max_episode_steps, image_size=args.image_size)
    agent.check_env(env)
    per_seed = {}
    for seed in tqdm(args.seeds, desc="seeds"):
        observation, prefix = follow_prior(env, agent, seed, args.step + 1)
        plans = probe_plans(agent, observation, args.gripper_dim, args.vertical_dim)
        scores = dict(zip(plans, agent.score_actions(torch.stack(list(plans.values()))).tolist(), strict=True))
        rescued = {name: finish_with(env, agent, seed, prefix, plan) for name, plan in plans.items()}
        per_seed[seed] = {"scores": scores, "rescued": rescued, "pick": max(scores, key=scores.get)}
    env.close()

    names = list(next(iter(per_seed.values()))["scores"])
    rows = []
    for name in names:
        rescued = sum(entry["rescued"][name] for entry in per_seed.values())
        picked = sum(entry["pick"] == name for entry in per_seed.values())
        median = float(np.median([entry["scores"][name] for entry in per_seed.values()]))
        rows.append([name, f"{rescued} / {len(per_seed)}", f"{median:.2f}", picked])
    pick_rescued = sum(entry["rescued"][entry["pick"]] for entry in per_seed.values())
    beats_prior = sum(entry["scores"][entry["pick"]] > entry["scores"]["prior's plan"] for entry in per_seed.values())
    rows.append(["world model's pick (highest score)", f"{pick_rescued} / {len(per_seed)}", "-", len(per_seed)])
    data = {"env": args.env, "step": args.step, "seeds": per_seed, "pick_rescued": pick_rescued,
            "pick_beats_prior_score": beats_prior}
    notes = (f"Env {args.env}, probes from env step {args.step} of the BC prior's episodes on seeds "
             f"{', '.join(map(str, args.seeds))}. Rescued: the episode succeeds when the probe's "
             f"{agent.planner.config.horizon} actions are executed from that state and the prior acts after them. "
             "Score: the planner's score of the imagined probe (sum of predicted rewards + max success). "
             f"The world model scores its pick above the prior's own plan on {beats_prior} of {len(per_seed)} seeds.")
    write_results(args.out, args.name, data, ["probe plan", "rescued", "median score", "picked by the world model"],
                  rows, notes)


if __name__ == "__main__":
    main()
