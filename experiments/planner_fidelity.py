"""Does imagination rank plans the way the real env does? Writes results/planner_fidelity.{json,md}
(`--analysis candidates`) or results/planner_decisions.{json,md} (`--analysis decisions`).

    python experiments/planner_fidelity.py --checkpoint checkpoints/robosuite-lift --episodes 3
    python experiments/planner_fidelity.py --checkpoint checkpoints/robosuite-lift --analysis decisions --episodes 10

Runs the SFPlanner for whole episodes; at every `--every`-th replan, the candidates of the
planner's first iteration are also scored in the real env (replaying the episode up to the
replan, then each candidate), with the planner's own score: rewards at the imagined frames plus
success. Reported per replan and overall: Spearman rank correlation of predicted and real
scores, split into its two sources (the reward model scoring the real frames vs the real score;
imagination vs the reward model on the real frames), and the real gain over the proposal
policy's own plan of the candidate the planner ranks first (what an override buys) and of the
truly best candidate (the headroom).

The decisions analysis is cheaper (two replays per replan) and follows what the planner does:
at every replan, the real gain of its best candidate over its proposal policy's own plan,
binned by the predicted gain, and for the replans where the gain reached `prior_margin` and the
planner overrode its prior. It says whether the margin is set where overriding starts to pay.
Seeds start at 20000, away from the benchmark's 10000-10049.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from sfplan import SFPlanner
from sfplan.config_io import parse_set_option
from sfplan.envs import make
from sfplan.eval import write_results
from sfplan.eval.planner_fidelity import RecordedEpisode, ReplanDecision, candidate_fidelity, decision_audit, record_episode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True, type=Path, help="SFPlanner checkpoint directory")
    parser.add_argument("--env", default="robosuite-lift")
    parser.add_argument("--episodes", type=int, default=3)
    parser.add_argument("--first-seed", type=int, default=20_000)
    parser.add_argument("--analysis", choices=("candidates", "decisions"), default="candidates",
                        help="rank all first-iteration candidates (every N-th replan), or audit every override decision")
    parser.add_argument("--every", type=int, default=3, help="candidates: score every N-th replan in the real env")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--max-episode-steps", type=int, help="time limit; default: the env's")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="SFPlannerConfig overrides")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("results"))
    parser.add_argument("--name", help="results name; default planner_fidelity or planner_decisions")
    args = parser.parse_args()
    overrides = parse_set_option(parser, args.set)
    torch.set_num_threads(args.threads)
    env = make(args.env, max_episode_steps=args.max_episode_steps, image_size=args.image_size)
    agent = SFPlanner.from_pretrained(args.checkpoint, threads=args.threads, **overrides)
    agent.check_env(env)
    if args.analysis == "decisions" and (agent.proposals is None or agent.config.prior_margin is None):
        parser.error("--analysis decisions needs a checkpoint (or --set) with a proposal policy and a prior_margin")
    episodes = []
    for seed in tqdm(range(args.first_seed, args.first_seed + args.episodes), desc="episodes"):
        episode = record_episode(env, agent, seed)
        analysis = candidate_fidelity(env, agent, episode, every=args.every) if args.analysis == "candidates" else decision_audit(env, agent, episode)
        episodes.append((episode, analysis))
    env.close()
    if args.analysis == "decisions":
        write_decisions(args, agent, episodes)
        return
    replans = [(episode.seed, replan) for episode, analysis in episodes for replan in analysis]

    per_replan = [{"seed": seed, "step": r.step, "rank_correlation": r.rank_correlation,
                   "reward_model_rank_correlation": r.reward_model_rank_correlation,
                   "imagination_rank_correlation": r.imagination_rank_correlation, "chosen_real_gain": r.chosen_real_gain,
                   "best_real_gain": r.best_real_gain, "predicted": r.predicted.tolist(), "real": r.real.tolist(),
                   "judged": r.judged.tolist()}
                  for seed, r in replans]

    def finite_mean(key: str) -> float | None:
        values = [row[key] for row in per_replan if np.isfinite(row[key])]
        return float(np.mean(values)) if values else None

    chosen = np.array([row["chosen_real_gain"] for row in per_replan])
    results = {
        "rank_correlation_mean": finite_mean("rank_correlation"),
        "reward_model_rank_correlation_mean": finite_mean("reward_model_rank_correlation"),
        "imagination_rank_correlation_mean": finite_mean("imagination_rank_correlation"),
        "chosen_real_gain_mean": float(chosen.mean()),
        "chosen_really_better_share": float(np.mean(chosen > 0)),
        "chosen_really_worse_share": float(np.mean(chosen < 0)),
        "best_real_gain_mean": float(np.mean([row["best_real_gain"] for row in per_replan])),
        "replans_scored": len(per_replan),
        "episodes": args.episodes,
        "env": args.env,
        "planner": {key: value for key, value in vars(agent.config).items() if key != "memory"},
        "per_replan": per_replan,
    }
    columns = ["rank_correlation", "reward_model_rank_correlation", "imagination_rank_correlation", "chosen_real_gain", "best_real_gain"]
    rows = [[row["seed"], row["step"], *(row[key] for key in columns)] for row in per_replan]
    rows.append(["all", "-", *(results[f"{key}_mean"] for key in columns)])
    write_results(
        args.out, args.name or "planner_fidelity", results,
        ["seed", "replan at env step", "rank correlation", "reward model on real frames", "imagination vs reward model on real frames",
         "real gain of planner's pick", "real gain of best"],
        rows, notes=f"Candidates per replan: {agent.config.samples} (first iteration). Rank correlations are Spearman: predicted vs "
                    "real score; the reward model's score of the real frames vs the real score (the reward model's share of the "
                    "error); predicted vs the reward model on the real frames (imagination's share). Gains are over the proposal "
                    "policy's own plan, "
                    f"in score units (rewards at imagined frames + {agent.config.success_weight} x success). The planner's pick was "
                    f"really better in {results['chosen_really_better_share']:.0%} and really worse in "
                    f"{results['chosen_really_worse_share']:.0%} of scored replans.",
    )
    print(json.dumps({k: v for k, v in results.items() if k not in ("per_replan", "planner")}, indent=2))


def write_decisions(args: argparse.Namespace, agent: SFPlanner, episodes: list[tuple[RecordedEpisode, list[ReplanDecision]]]) -> None:
    """The decisions table: real gain of the best candidate by predicted gain, and of the overrides."""
    margin = agent.config.prior_margin
    decisions = [(episode.seed, decision) for episode, analysis in episodes for decision in analysis]
    edges = sorted({-np.inf, 0.25, 0.5, margin, 2 * margin, np.inf})

    def summary(selected: list[ReplanDecision]) -> dict[str, float | int | None]:
        gains = np.array([decision.real_gain for decision in selected])
        return {"replans": len(selected), "mean_real_gain": float(gains.mean()) if len(gains) else None,
                "really_better": int((gains > 0).sum()), "really_worse": int((gains < 0).sum()),
                "overridden": sum(decision.overrode for decision in selected)}

    bins = [{"predicted_gain_from": low, "predicted_gain_to": high,
             **summary([d for _, d in decisions if low <= d.predicted_gain < high])} for low, high in zip(edges, edges[1:])]
    overrides = summary([d for _, d in decisions if d.overrode])
    results = {
        "prior_margin": margin,
        "bins": [{**row, **{edge: None if np.isinf(row[edge]) else float(row[edge]) for edge in ("predicted_gain_from", "predicted_gain_to")}}
                 for row in bins],  # open ends as null: strict JSON has no infinity
        "overrides": overrides,
        "episode_success": {str(episode.seed): episode.success for episode, _ in episodes},
        "episodes": args.episodes,
        "env": args.env,
        "planner": {key: value for key, value in vars(agent.config).items() if key != "memory"},
        "per_replan": [{"seed": seed, "step": d.step, "predicted_gain": d.predicted_gain, "real_gain": d.real_gain,
                        "overrode": d.overrode} for seed, d in decisions],
    }
    rows = [[f"[{row['predicted_gain_from']:g}, {row['predicted_gain_to']:g})", *(row[key] for key in
             ("replans", "mean_real_gain", "really_better", "really_worse", "overridden"))] for row in bins]
    rows.append(["overrides the planner executed", *(overrides[key] for key in
                 ("replans", "mean_real_gain", "really_better", "really_worse", "overridden"))])
    successes = sum(episode.success for episode, _ in episodes)
    write_results(
        args.out, args.name or "planner_decisions", results,
        ["predicted gain of the best candidate over the prior's plan", "replans", "mean real gain", "really better", "really worse",
         "overridden"],
        rows, notes=f"Every replan of {args.episodes} episodes ({successes} successful): the planner's best candidate (all "
                    "iterations) and its proposal policy's own plan, each replayed in the env from the episode so far. Gains in score "
                    f"units (rewards at imagined frames + {agent.config.success_weight} x success); prior_margin {margin}: the planner "
                    "overrides its prior when the predicted gain reaches it.",
    )
    print(json.dumps({"bins": results["bins"], "overrides": overrides}, indent=2))


if __name__ == "__main__":
    main()
