"""Assemble an SFPlanner checkpoint from a world-model training run and a BC policy.

    python experiments/export_agent.py --run runs/lift-wm --bc runs/lift-bc \
        --out checkpoints/robosuite-lift --set samples=16 prior_fraction=0.5
Writes world_model/, reward_model/, proposal_policy/, value_model/ (with --value-model) and
sfplanner.json (atomically), and a
COMMANDS.md recording this command. The world model (most of the size) is stored in float16
unless --float32 (half the size; loading converts back to float32); the reward model and the
proposal policy and the value model stay float32: the lift BC policy rounded to float16 succeeded on 90% of the
benchmark seeds against 96% in float32. `--set` overrides SFPlannerConfig fields (values parsed as JSON).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from sfplan import SFPlanner, SFPlannerConfig
from sfplan.config_io import parse_set_option
from sfplan.eval.report import command_line
from sfplan.policies import BCPolicy
from sfplan.world_model import RewardModel, ValueModel, VideoWorldModel


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", required=True, type=Path, help="training run with world_model/ and reward_model/")
    parser.add_argument("--reward-model", type=Path, help="reward model directory (default: the run's reward_model/), "
                        "e.g. one fine-tuned by experiments/train_reward_model.py")
    parser.add_argument("--value-model", type=Path, help="value model directory (experiments/train_value_model.py), "
                        "for planning with value_weight > 0")
    parser.add_argument("--bc", type=Path, help="BC policy checkpoint: the planner's proposal prior")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="SFPlannerConfig overrides")
    parser.add_argument("--float32", action="store_true", help="keep the world model's float32 weights")
    parser.add_argument("--notes", type=Path, help="markdown file with the commands that trained the inputs, copied into COMMANDS.md")
    args = parser.parse_args()
    overrides = parse_set_option(parser, args.set)
    proposals = BCPolicy.from_pretrained(args.bc) if args.bc else None
    if proposals is None:
        overrides["prior_fraction"] = 0.0
    config = SFPlannerConfig.from_dict(overrides)
    world_model = VideoWorldModel.from_pretrained(args.run / "world_model")
    reward_model = RewardModel.from_pretrained(args.reward_model or args.run / "reward_model")
    value_model = ValueModel.from_pretrained(args.value_model) if args.value_model else None
    if not args.float32:
        world_model.half()
    SFPlanner(world_model, reward_model, config, proposals=proposals, value_model=value_model).save(args.out)
    command = command_line()
    notes = args.notes.read_text() if args.notes else ""
    (args.out / "COMMANDS.md").write_text(f"# How this checkpoint was made\n\n{notes}\nExported with:\n\n    {command}\n")
    size = sum(path.stat().st_size for path in args.out.rglob("*") if path.is_file()) / 2**20
    print(f"wrote {args.out} ({size:.1f} MiB)")


if __name__ == "__main__":
    main()
