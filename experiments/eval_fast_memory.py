"""Evaluate Temp-LoRA fast memory on held-out episodes; writes results/fast_memory.{json,md,png}.

    python experiments/eval_fast_memory.py --run runs/lift-diffusion --long-dataset data/robosuite-lift-long.h5
Online adaptation (base vs base + memory of the real chunks so far), out-and-back rollouts
(scene cuts, revisit consistency), the paper's ablations (local window vs whole history,
chunk vs single frame) and the cost per chunk. `--sweep lr=0.01 "lr=0.01,steps_per_chunk=3"`
adds one row per setting (changes to the main memory config): late-chunk PSNR with the paper's
local window, revisit consistency and time per chunk. `--lags 0 1 4` scores every row also with
a memory that has observed chunks up to `lag` before the predicted one: lag 1 is the issue's
online case; lag 0 (the predicted chunk written first) measures what a write stores, larger lags
how far it carries.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from sfplan.config_io import config_from_dict, parse_key_values  # noqa: E402
from sfplan.data import DatasetError, load_episodes  # noqa: E402
from sfplan.eval import write_results  # noqa: E402
from sfplan.eval.fast_memory_eval import (  # noqa: E402
    chunk_states,
    episode_chunks,
    lag_key,
    local_window,
    online_adaptation,
    out_and_back,
    paired_gain_interval,
    revisit_rollout,
    single_frame,
    whole_history,
)
from sfplan.fast import WINDOW_MODES, FastMemory, FastMemoryConfig  # noqa: E402
from sfplan.training import add_run_arguments, run_from_arguments  # noqa: E402
from sfplan.world_model import VideoWorldModel  # noqa: E402

WINDOWS = {"local window (paper)": local_window, "whole history": whole_history, "single frame": single_frame}


Curves = list[dict[str, list[float]]]


def per_chunk(runs: Curves, key: str) -> np.ndarray:
    """PSNR per chunk index, averaged over the episodes that reach that index."""
    padded = np.full((len(runs), max(len(c[key]) for c in runs)), np.nan)
    for row, curve in zip(padded, runs):
        row[: len(curve[key])] = curve[key]
    return np.nanmean(padded, axis=0)


def late_means(runs: Curves, key: str) -> list[float]:
    """Each episode's mean PSNR over the second half of its chunks (its late chunks)."""
    return [float(np.mean(c[key][len(c[key]) // 2 :])) for c in runs]


def late_mean(runs: Curves, key: str) -> float:
    """Late-chunk PSNR: the mean over episodes of `late_means`."""
    return float(np.mean(late_means(runs, key)))


def late_gains(runs: Curves, key: str = "memory") -> list[float]:
    """Memory (curve `key`) minus base, late-chunk PSNR, per episode."""
    return [memory - base for memory, base in zip(late_means(runs, key), late_means(runs, "base"))]


def gain_texts(summary: dict[str, dict[str, float | list[float]]]) -> list[str]:
    """Each lag's mean late-chunk gain and its 95% interval (a `lag_gains` summary), for the table."""
    return [f"{entry['mean']:+.3f} [{entry['ci95'][0]:+.3f}, {entry['ci95'][1]:+.3f}]" for entry in summary.values()]


def lag_gains(runs: Curves, lags: list[int]) -> dict[str, dict[str, float | list[float]]]:
    """Per lag: the late-chunk gain per episode, its mean and 95% interval."""
    summary = {}
    for lag in lags:
        gains = late_gains(runs, lag_key(lag))
        summary[str(lag)] = {"mean": float(np.mean(gains)), "ci95": paired_gain_interval(gains), "per_episode": gains}
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_arguments(parser)
    parser.add_argument("--long-dataset", required=True, type=Path, help="held-out episodes for out-and-back rollouts")
    parser.add_argument("--episodes", type=int, default=3, help="held-out episodes for online adaptation")
    parser.add_argument("--adaptation-dataset", type=Path,
                        help="more episodes for online adaptation, added to the run's held-out ones (a dataset it never trained on)")
    parser.add_argument("--revisit-frames", type=int, default=256, help="frames per out-and-back rollout")
    parser.add_argument("--rank", type=int, default=8)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--steps-per-chunk", type=int, default=1)
    parser.add_argument("--layers", default="temporal_attention")
    parser.add_argument("--window-mode", default="whole", choices=WINDOW_MODES)
    parser.add_argument("--lags", type=int, nargs="+", default=[1],
                        help="chunks between the memory's last write and the predicted chunk (1: the online case; "
                             "0: the predicted chunk is written first); each adds a gain column")
    parser.add_argument("--initial-noise", type=float, default=0.0,
                        help="world-model sampling noise scale (0: deterministic, as the planner imagines; 1: full noise)")
    parser.add_argument("--sweep", nargs="*", default=[], metavar="KEY=VALUE[,KEY=VALUE]",
                        help="further FastMemoryConfig settings to compare, each a row of the sweep table")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("results"))
    parser.add_argument("--name", default="fast_memory", help="results file names: <out>/<name>.{json,md,png}")
    args = parser.parse_args()
    try:
        sweep = [parse_key_values(text.split(",")) for text in args.sweep]
    except ValueError as error:
        parser.error(f"--sweep settings are key=value[,key=value]: {error}")
    if min(args.lags) < 0:
        parser.error(f"--lags are chunks between the memory's last write and the predicted one, at least 0; got {args.lags}")
    lags = sorted({1, *args.lags})  # lag 1 is the online case, always scored
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)  # LoRA A matrices are drawn from torch's global generator at every reset

    run = run_from_arguments(parser, args)
    model = run.model
    memory_config = FastMemoryConfig(layers=args.layers, rank=args.rank, alpha=float(args.rank), lr=args.lr,
                                     steps_per_chunk=args.steps_per_chunk, window=args.window_mode)
    memory = FastMemory(model, memory_config)
    held_out = run.held_out[: args.episodes]
    if args.adaptation_dataset is not None:
        try:  # the same env and frame size as the run's own episodes, as run_episodes reads them
            held_out += load_episodes(args.adaptation_dataset, env_name=run.train_config.env_name, image_size=model.config.codec.image_size)
        except DatasetError as error:
            parser.error(f"--adaptation-dataset: {error}")
    if len(held_out) < 2:
        parser.error("online adaptation needs at least 2 episodes (--episodes, --adaptation-dataset) for the gain's interval")

    noise = args.initial_noise
    curves = {name: [online_adaptation(model, memory, episode, rule, initial_noise=noise, lags=tuple(lags)) for episode in held_out]
              for name, rule in WINDOWS.items()}
    paper = curves["local window (paper)"]
    base_curve, memory_curve = per_chunk(paper, "base"), per_chunk(paper, "memory")
    paper_gains = late_gains(paper)

    long_episode = load_episodes(args.long_dataset)[0]
    _, _, first = episode_chunks(model, long_episode)
    states = chunk_states(model, long_episode)
    first_state = None if states is None else states[:1]
    chunk_steps = model.config.steps_per_chunk  # the way out and the way back are whole chunks each
    half_steps = min(args.revisit_frames // 2 * model.config.frame_skip, len(long_episode.actions)) // chunk_steps * chunk_steps
    if half_steps == 0:
        parser.error(f"--long-dataset's first episode has {len(long_episode.actions)} steps; the way out needs at least "
                     f"{chunk_steps} (one chunk)")
    actions = out_and_back(torch.from_numpy(long_episode.actions[:half_steps]))
    revisit_frames = 2 * half_steps // model.config.frame_skip
    with memory.disabled():  # the base model, not the adapter left by the runs above
        without = revisit_rollout(model, None, first, actions, initial_noise=noise, proprio=first_state)
    with_memory = revisit_rollout(model, memory, first, actions, initial_noise=noise, proprio=first_state)

    results = {
        "psnr_late_base": late_mean(paper, "base"),
        "psnr_late_memory": late_mean(paper, "memory"),
        "psnr_late_gain_per_episode": paper_gains,
        "psnr_late_gain_ci95": paired_gain_interval(paper_gains),
        "psnr_late_gain_by_lag": lag_gains(paper, lags),
        "psnr_per_chunk_base": base_curve.tolist(),
        "psnr_per_chunk_memory": memory_curve.tolist(),
        "ablation_psnr_late_memory": {name: late_mean(runs, "memory") for name, runs in curves.items()},
        "ablation_psnr_late_gain_by_lag": {name: lag_gains(runs, lags) for name, runs in curves.items()},
        "revisit_base": without["revisit"],
        "revisit_memory": with_memory["revisit"],
        "scene_cuts_base": without["scene_cuts"],
        "scene_cuts_memory": with_memory["scene_cuts"],
        "seconds_per_chunk_base": without["seconds_per_chunk"],
        "seconds_per_chunk_memory": with_memory["seconds_per_chunk"],
        "time_overhead": with_memory["seconds_per_chunk"] / without["seconds_per_chunk"] - 1.0,
        "peak_rss_mb": with_memory["peak_rss_mb"],
        "revisit_frames": revisit_frames,
        "revisit_feature_extractor": "cosine similarity of the world model's own autoencoder latents",
        "fast_memory": asdict(memory_config),
        "initial_noise": noise,
        "held_out_episodes": len(held_out),
        "env": run.train_config.env_name,
    }
    sweep_runs = []
    for setting in sweep:
        torch.manual_seed(0)
        fresh = VideoWorldModel.from_pretrained(args.run / "world_model")
        setting_config = config_from_dict(FastMemoryConfig, {**asdict(memory_config), **setting}, "fast memory --sweep")
        setting_memory = FastMemory(fresh, setting_config)
        runs = [online_adaptation(fresh, setting_memory, episode, local_window, initial_noise=noise, lags=tuple(lags))
                for episode in held_out]
        revisit = revisit_rollout(fresh, setting_memory, first, actions, initial_noise=noise, proprio=first_state)
        gains = late_gains(runs)
        row = {"setting": setting, "psnr_late_memory": late_mean(runs, "memory"),
               "psnr_late_gain_per_episode": gains, "psnr_late_gain_ci95": paired_gain_interval(gains),
               "psnr_late_gain_by_lag": lag_gains(runs, lags),
               "revisit_memory": revisit["revisit"], "seconds_per_chunk_memory": revisit["seconds_per_chunk"]}
        sweep_runs.append((setting, runs, row))
        print(json.dumps(row), flush=True)
    results["sweep"] = [row for _, _, row in sweep_runs]
    args.out.mkdir(parents=True, exist_ok=True)
    figure, (axis, lag_axis) = plt.subplots(1, 2, figsize=(11, 3.8))
    axis.plot(base_curve, label="base")
    for name, runs in curves.items():
        axis.plot(per_chunk(runs, "memory"), label=f"memory: {name}")
    axis.set_xlabel("chunk k observed"), axis.set_ylabel("PSNR of chunk k+1 (dB)"), axis.legend(fontsize=7)
    labelled = [("paper rule", results["psnr_late_gain_by_lag"]),
                *[(", ".join(f"{k}={v}" for k, v in setting.items()), row["psnr_late_gain_by_lag"]) for setting, _, row in sweep_runs]]
    for offset, (label, summary) in enumerate(labelled):
        means = np.array([summary[str(lag)]["mean"] for lag in lags])
        bounds = np.array([summary[str(lag)]["ci95"] for lag in lags])
        x = np.array(lags) + 0.04 * (offset - len(labelled) / 2)
        lag_axis.errorbar(x, means, yerr=[means - bounds[:, 0], bounds[:, 1] - means], marker="o", capsize=2, label=label)
    lag_axis.axhline(0, color="gray", linewidth=0.8)
    lag_axis.set_xlabel("lag: chunks from the memory's last write to the predicted chunk")
    lag_axis.set_ylabel("late-chunk PSNR, memory - base (dB, 95%)"), lag_axis.legend(fontsize=6)
    figure.tight_layout()
    figure.savefig(args.out / f"{args.name}.png", dpi=120)
    rows = [
        ["base (no memory)", results["psnr_late_base"], *["-"] * len(lags), results["revisit_base"], results["scene_cuts_base"],
         results["seconds_per_chunk_base"]],
        *[[f"memory, {name}", late_mean(runs, "memory"), *gain_texts(results["ablation_psnr_late_gain_by_lag"][name]), "-", "-", "-"]
          for name, runs in curves.items()],
        ["memory (paper rule), out-and-back", "-", *["-"] * len(lags), results["revisit_memory"], results["scene_cuts_memory"],
         results["seconds_per_chunk_memory"]],
        *[[f"sweep: {', '.join(f'{k}={v}' for k, v in setting.items())}", late_mean(runs, "memory"),
           *gain_texts(row["psnr_late_gain_by_lag"]), row["revisit_memory"], "-", row["seconds_per_chunk_memory"]]
          for setting, runs, row in sweep_runs],
    ]
    gain_columns = [f"memory - base dB [95% interval], lag {lag}" + (" (online)" if lag == 1 else "") for lag in lags]
    columns = ["model", "late-chunk PSNR dB", *gain_columns, "revisit consistency", "scene cuts", "s per chunk"]
    write_results(args.out, args.name, results, columns, rows,
                  notes=f"Fast memory {asdict(memory_config)}. World-model sampling: initial noise {noise:g}. "
                        f"Late chunks: second half of each of {len(held_out)} held-out episodes; the interval is Student's t "
                        "over the per-episode gains (above 0: the memory beats the base at 95%). "
                        f"Memory minus base, late-chunk PSNR per held-out episode (dB): "
                        f"{', '.join(f'{gain:+.3f}' for gain in results['psnr_late_gain_per_episode'])}. "
                        f"Plot: {args.out / args.name}.png.")
    print(json.dumps({k: v for k, v in results.items() if not isinstance(v, (list, dict))}, indent=2))


if __name__ == "__main__":
    main()
