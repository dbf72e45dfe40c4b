"""The entry scripts run as a user runs them: hydra overrides on the command line."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from sfplan.data import load_episodes
from sfplan.fast import TARGETS
from sfplan.world_model import VideoWorldModel

ROOT = Path(__file__).resolve().parents[2]


def run(script, *args, cwd):
    return subprocess.run([sys.executable, str(ROOT / "experiments" / script), *args], cwd=cwd, capture_output=True,
                          text=True, timeout=300)


@pytest.fixture(scope="module")
def push_dataset(tmp_path_factory):
    folder = tmp_path_factory.mktemp("push")
    result = run("collect.py", "env=pointmass-push", "episodes=4", "workers=1", "env.kwargs.image_size=16",
                 "env.max_episode_steps=16", "progress=false", f"output={folder / 'push.h5'}", cwd=folder)
    assert result.returncode == 0, result.stderr
    assert "wrote 4 episodes" in result.stdout
    return folder / "push.h5"


def test_config_typo_is_refused_by_name(tmp_path):
    result = run("collect.py", "env=pointmass-push", "episods=3", cwd=tmp_path)
    assert result.returncode != 0 and "episods" in result.stderr


def test_unknown_env_lists_the_available_ones(tmp_path):
    result = run("collect.py", "env=robosuit-lift", cwd=tmp_path)
    assert result.returncode != 0 and "robosuite-lift" in result.stderr


def test_train_bc_clones_several_datasets_together_and_refuses_a_mismatch(push_dataset, tmp_path):
    result = run("train_bc.py", "--dataset", str(push_dataset), str(push_dataset), "--out", str(tmp_path / "bc"),
                 "--chunk", "2", "--steps", "2", "--batch-size", "4", "--threads", "1", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "trained on 8 episodes" in result.stdout and (tmp_path / "bc" / "model.safetensors").exists()
    other = tmp_path / "small.h5"
    result = run("collect.py", "env=pointmass-push", "episodes=1", "workers=1", "env.kwargs.image_size=8",
                 "env.max_episode_steps=4", "progress=false", f"output={other}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    result = run("train_bc.py", "--dataset", str(push_dataset), str(other), "--out", str(tmp_path / "mixed"), cwd=tmp_path)
    assert result.returncode != 0 and "8x8 images" in result.stderr and not (tmp_path / "mixed").exists()


def test_train_then_evaluate_a_tiny_world_model(push_dataset, tmp_path):
    run_dir = tmp_path / "run"
    result = run(
        "train_world_model.py", "env=pointmass-push", "env.kwargs.image_size=16", "world_model=tiny",
        "world_model.codec.block_channels=[8,16]", "world_model.target_frames=2", "world_model.frame_skip=1",
        f"train.dataset={push_dataset}", f"train.output={run_dir}", "train.holdout_episodes=1",
        "train.autoencoder_steps=2", "train.autoencoder_batch=4", "train.steps=2", "train.batch_size=2",
        "train.log_every=1", "train.eval_every=2", "train.checkpoint_every=2", "train.threads=1", "progress=false",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    result = run("eval_world_model.py", "--run", str(run_dir), "--windows", "4", "--steps", "1", "--threads", "1",
                 "--out", str(tmp_path / "results"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    results = json.loads((tmp_path / "results" / "world_model.json").read_text())
    for key in ("psnr_next_chunk", "psnr_repeat_last", "psnr_shuffled_actions", "frames_per_s_batch32", "denoise_steps",
                "initial_noise"):
        assert key in results
    assert "eval_world_model.py" in (tmp_path / "results" / "world_model.md").read_text()

    result = run("eval_fast_memory.py", "--run", str(run_dir), "--long-dataset", str(push_dataset), "--episodes", "1",
                 "--adaptation-dataset", str(push_dataset),
                 "--revisit-frames", "40", "--threads", "1", "--out", str(tmp_path / "results"), "--sweep", "lr=0.01,steps_per_chunk=2",
                 "--lags", "0", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    results = json.loads((tmp_path / "results" / "fast_memory.json").read_text())
    assert results["sweep"][0]["setting"] == {"lr": 0.01, "steps_per_chunk": 2}
    for key in ("psnr_late_base", "psnr_late_memory", "revisit_base", "revisit_memory", "scene_cuts_base",
                "scene_cuts_memory", "time_overhead", "psnr_late_gain_per_episode"):
        assert key in results
    assert results["held_out_episodes"] == 1 + len(load_episodes(push_dataset))
    assert results["revisit_frames"] == 32  # 20 steps out asked for; the 16-step episode has 16, each way
    assert sorted(results["psnr_late_gain_by_lag"]) == sorted(results["sweep"][0]["psnr_late_gain_by_lag"]) == ["0", "1"]
    assert results["psnr_late_gain_by_lag"]["1"]["per_episode"] == results["psnr_late_gain_per_episode"]
    assert "lag 0" in (tmp_path / "results" / "fast_memory.md").read_text()
    low, high = results["psnr_late_gain_ci95"]
    assert low <= sum(results["psnr_late_gain_per_episode"]) / results["held_out_episodes"] <= high
    assert (tmp_path / "results" / "fast_memory.png").stat().st_size > 0

    result = run("train_reward_model.py", "--run", str(run_dir), "--dataset", str(push_dataset), "--out", str(tmp_path / "reward"),
                 "--holdout", "1", "--chunks", "1", "--steps", "3", "--batch-size", "8", "--threads", "1",
                 "--results", str(tmp_path / "results"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    results = json.loads((tmp_path / "results" / "reward_model.json").read_text())
    assert set(results["before"]) == set(results["after"]) >= {"reward_mse_imagined", "score_rank_correlation_imagined"}
    assert (tmp_path / "reward" / "model.safetensors").exists()

    result = run("train_value_model.py", "--run", str(run_dir), "--dataset", str(push_dataset), "--out", str(tmp_path / "value"),
                 "--holdout", "1", "--steps", "3", "--batch-size", "8", "--threads", "1", "--results", str(tmp_path / "results"),
                 cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    results = json.loads((tmp_path / "results" / "value_model.json").read_text())
    assert set(results["untrained"]) == set(results["trained"]) >= {"mse", "r2", "rank_correlation"}
    assert (tmp_path / "value" / "model.safetensors").exists()

    result = run("world_model_error_budget.py", "--run", str(run_dir), "--windows", "4", "--threads", "1",
                 "--out", str(tmp_path / "results"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    budget = json.loads((tmp_path / "results" / "world_model_error_budget.json").read_text())["psnr_per_target_frame"]
    assert set(budget) == {"prediction", "codec_ceiling", "repeat_last", "motionless_context", "shuffled_actions"}
    assert all(len(values) == 2 for values in budget.values())  # the tiny model's 2 target frames
    result = run("world_model_error_budget.py", "--run", str(run_dir), "--dataset", str(push_dataset), cwd=tmp_path)
    assert result.returncode != 0 and "drop the dataset" in result.stderr
    result = run("second_chunk_state_probe.py", "--run", str(run_dir), cwd=tmp_path)
    assert result.returncode != 0 and "reads no robot state" in result.stderr
    result = run("add_state_predictor.py", "--run", str(run_dir), "--out", str(tmp_path / "x"), cwd=tmp_path)
    assert result.returncode != 0 and "no state to predict" in result.stderr

    result = run("compare_world_models.py", "--models", str(run_dir), "--datasets", f"{push_dataset}:1", str(push_dataset),
                 "--windows", "4", "--threads", "1", "--out", str(tmp_path / "results"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    compared = json.loads((tmp_path / "results" / "world_model_comparison.json").read_text())[str(run_dir)]
    assert compared[f"{push_dataset} (last 1)"]["episodes"] == 1 and compared[str(push_dataset)]["episodes"] == 4
    assert {"psnr", "psnr_shuffled_actions", "false_success_rate", "missed_success_rate"} <= set(compared[f"{push_dataset} (last 1)"])
    result = run("compare_world_models.py", "--models", str(run_dir), "--datasets", f"{push_dataset}:last", cwd=tmp_path)
    assert result.returncode != 0 and "PATH:N" in result.stderr

    loop_args = ("env=pointmass-push", "env.kwargs.image_size=16", f"train.dataset={push_dataset}", f"train.init_from={run_dir}",
                 "train.holdout_episodes=1", "train.steps=2", "train.batch_size=4", "train.log_every=1", "train.threads=1",
                 "eval_episodes=1", "progress=false")
    result = run("slowfast.py", *loop_args, f"train.output={tmp_path / 'loop'}", "fast.rnk=4", cwd=tmp_path)
    assert result.returncode != 0 and "fast.rnk" in result.stderr
    result = run("slowfast.py", *loop_args, f"train.output={tmp_path / 'loop'}", "fast.rank=4", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads((tmp_path / "loop" / "slowfast.json").read_text())["fast"]["rank"] == 4
    assert "eval/psnr_memory" in result.stdout


def test_state_probe_state_predictor_and_imagined_decoder_scripts_on_a_tiny_run(push_dataset, tmp_path):
    run_dir = tmp_path / "run"
    result = run(
        "train_world_model.py", "env=pointmass-push", "env.kwargs.image_size=16", "world_model=tiny",
        "world_model.codec.block_channels=[8,16]", "world_model.target_frames=2", "world_model.frame_skip=1",
        "world_model.proprio_dim=4", f"train.dataset={push_dataset}", f"train.output={run_dir}", "train.holdout_episodes=1",
        "train.autoencoder_steps=2", "train.autoencoder_batch=4", "train.steps=2", "train.batch_size=2",
        "train.threads=1", "progress=false", cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    result = run("second_chunk_state_probe.py", "--run", str(run_dir), "--windows", "4", "--predictor-steps", "20",
                 "--threads", "1", "--out", str(tmp_path / "results"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    probe = json.loads((tmp_path / "results" / "second_chunk_state_probe.json").read_text())
    assert set(probe["psnr_second_chunk"]) == {"unknown", "predicted", "true"} and probe["windows"] == 4
    assert all(value > 0 for value in [probe["psnr_first_chunk"], *probe["psnr_second_chunk"].values()])

    with_predictor = tmp_path / "with-predictor"
    result = run("add_state_predictor.py", "--run", str(run_dir), "--out", str(with_predictor), "--hidden", "8", "--steps", "5",
                 "--threads", "1", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    model = VideoWorldModel.from_pretrained(with_predictor / "world_model")
    assert model.state_predictor.fitted_steps.item() == 5 and (with_predictor / "reward_model").is_dir()
    assert (with_predictor / "log.csv").exists(), "the run's training record comes along"
    result = run("state_predictor_horizon.py", "--run", str(run_dir), "--long-dataset", str(push_dataset), "--rollout-frames", "6",
                 "--seeds", "0", "1", "--horizons", "1", "0", "--hidden", "8", "--predictor-steps", "5",
                 "--out", str(tmp_path / "results"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    horizons = json.loads((tmp_path / "results" / "state_predictor_horizon.json").read_text())
    assert set(horizons["psnr_by_seed_and_horizon"]) == {"0", "1"}
    assert all(set(row) == {"1", "0"} for row in horizons["psnr_by_seed_and_horizon"].values()) and horizons["psnr_unknown_state"] > 0
    result = run("second_chunk_state_probe.py", "--run", str(with_predictor), "--windows", "2", "--threads", "1",
                 "--out", str(tmp_path / "results"), cwd=tmp_path)
    assert result.returncode == 0 and "own StatePredictor" in (tmp_path / "results" / "second_chunk_state_probe.md").read_text()

    with_decoder = tmp_path / "with-decoder"
    result = run("tune_imagined_decoder.py", "--run", str(with_predictor), "--out", str(with_decoder), "--steps", "3",
                 "--stride", "4", "--threads", "1", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "with the tuned one" in result.stdout and (with_decoder / "reward_model").is_dir()
    tuned = VideoWorldModel.from_pretrained(with_decoder / "world_model")
    assert tuned.imagined_decoder is not None and tuned.state_predictor.fitted_steps.item() == 5, "the run's weights come along"
    result = run("tune_imagined_decoder.py", "--run", str(with_predictor), "--out", str(with_decoder), "--steps", "0", cwd=tmp_path)
    assert result.returncode != 0 and "at least 1" in result.stderr


def test_state_predictability_finds_the_motion_told_by_the_velocities_only_the_full_state_has(tmp_path):
    import dataclasses

    import numpy as np

    from helpers import make_episode
    from sfplan.data import EpisodeWriter

    dataset = tmp_path / "full.h5"
    rng = np.random.default_rng(0)
    with EpisodeWriter(dataset, "robosuite-lift", "workspace", 8, {"image_size": 8, "proprio": "full"}) as writer:
        for seed in range(12):
            proprio = np.zeros((41, 32), dtype=np.float32)
            proprio[:, 23:26] = rng.normal(0, 1, (41, 3))  # "joint velocities": the gripper's next step
            proprio[1:, :3] = np.cumsum(proprio[:-1, 23:26], axis=0)
            actions = rng.uniform(-1, 1, (40, 7)).astype(np.float32)
            writer.add(dataclasses.replace(make_episode(40, image_size=8, action_dim=7, seed=seed), proprio=proprio, actions=actions))
    result = run("state_predictability.py", "--dataset", str(dataset), "--holdout", "3", "--target-frames", "1",
                 "--frame-skip", "1", "--steps", "400", "--seeds", "0", "--threads", "1", "--out", str(tmp_path), cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    states = json.loads((tmp_path / "state_predictability.json").read_text())["states"]
    assert states["full"]["held_out_error_cm"] < 0.5 * states["eef"]["held_out_error_cm"]
    assert (tmp_path / "state_predictability.md").read_text().count("|") > 20

    short = tmp_path / "eef.h5"
    with EpisodeWriter(short, "robosuite-lift", "workspace", 8, {"image_size": 8}) as writer:
        episode = make_episode(10, image_size=8, action_dim=7)
        writer.add(dataclasses.replace(episode, proprio=np.zeros((11, 9), np.float32)))
    result = run("state_predictability.py", "--dataset", str(short), cwd=tmp_path)
    assert result.returncode != 0 and "env.kwargs.proprio=full" in result.stderr


def save_tiny_agent(directory):
    import torch

    from helpers import tiny_world_model_config
    from sfplan import SFPlanner, SFPlannerConfig
    from sfplan.world_model import RewardModel, RewardModelConfig, VideoWorldModel

    torch.manual_seed(0)
    agent = SFPlanner(VideoWorldModel(tiny_world_model_config()), RewardModel(RewardModelConfig(2, 8, 8)),
                      SFPlannerConfig(samples=4, iterations=1, elites=2, threads=1))
    agent.save(directory)


def test_memory_cost_bench_times_each_adapter_against_batched_imagination(tmp_path):
    save_tiny_agent(tmp_path / "checkpoint")
    result = run("bench_memory_cost.py", "--checkpoint", str(tmp_path / "checkpoint"), "--batches", "1", "4",
                 "--repeats", "1", "--window", "prediction", "--out", str(tmp_path / "results"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    results = json.loads((tmp_path / "results" / "fast_memory_cost.json").read_text())
    assert results["window"] == "prediction"  # updates that need the actions are timed with them
    assert set(results["layers"]) == set(TARGETS)
    base = results["chunk_seconds"]
    for entry in results["layers"].values():
        assert entry["adapter_parameters"] > 0 and entry["update_seconds"] > 0 and entry["merge_seconds"] > 0
        for batch in ("1", "4"):
            in_place = (entry["update_seconds"] + entry["chunk_seconds_with_adapter"][batch]) / base[batch] - 1
            assert entry["time_overhead_adapter_in_place"][batch] == pytest.approx(in_place)
        # one candidate is imagined with the adapter in place, a batch with it folded (merge time included)
        assert entry["time_overhead"]["1"] == pytest.approx(entry["time_overhead_adapter_in_place"]["1"])
        folded = (entry["update_seconds"] + entry["chunk_seconds_merged"]["4"]) / base["4"] - 1
        assert entry["time_overhead"]["4"] == pytest.approx(folded)
        assert entry["chunk_seconds_merged"]["4"] > entry["merge_seconds"]
    table = (tmp_path / "results" / "fast_memory_cost.md").read_text()
    assert "overhead, batch 4" in table and "adapter in place, batch 4" in table
    refused = run("bench_memory_cost.py", "--checkpoint", str(tmp_path / "checkpoint"), "--batches", "0", cwd=tmp_path)
    assert refused.returncode != 0 and "--batches" in refused.stderr


def test_plan_runs_episodes_and_writes_videos_and_summary(tmp_path):
    save_tiny_agent(tmp_path / "checkpoint")
    result = run("plan.py", "env=pointmass-push", "env.kwargs.image_size=16", "env.max_episode_steps=6", "episodes=2",
                 f"checkpoint={tmp_path / 'checkpoint'}", f"output={tmp_path / 'out'}", "progress=false", "agent.samples=3",
                 "agent.use_memory=false", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["agent"]["samples"] == 3 and summary["agent"]["use_memory"] is False
    assert summary["episodes"] == 2 and 0.0 <= summary["success_rate"] <= 1.0 and summary["median_plan_seconds"] > 0
    assert summary["agent_seconds_per_env_step"] >= summary["plan_seconds_per_env_step"] > 0, "act() includes planning"
    assert (tmp_path / "out" / "episode_1000.mp4").stat().st_size > 0


def test_export_agent_writes_a_half_precision_world_model_with_its_prior_and_value_model(tmp_path):
    import torch

    from sfplan import SFPlanner
    from sfplan.checkpoint import save_pretrained
    from sfplan.policies import BCPolicy, BCPolicyConfig
    from sfplan.world_model import RewardModel, RewardModelConfig, ValueModel, ValueModelConfig

    save_tiny_agent(tmp_path / "run")
    BCPolicy(BCPolicyConfig(image_size=16, proprio_dim=4, action_dim=2, chunk=2)).save_pretrained(tmp_path / "bc")
    other_reward = RewardModel(RewardModelConfig(2, 8, 8))
    save_pretrained(other_reward, other_reward.config.to_dict(), tmp_path / "reward")
    value_model = ValueModel(ValueModelConfig(2, 8, 8))
    save_pretrained(value_model, value_model.config.to_dict(), tmp_path / "value")
    result = run("export_agent.py", "--run", str(tmp_path / "run"), "--bc", str(tmp_path / "bc"), "--out", str(tmp_path / "ckpt"),
                 "--reward-model", str(tmp_path / "reward"), "--value-model", str(tmp_path / "value"),
                 "--set", "samples=4", "elites=2", "prior_fraction=0.5", "planner=cem", "value_weight=2.0", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    agent = SFPlanner.from_pretrained(tmp_path / "ckpt")
    assert agent.config.planner == "cem" and agent.config.samples == 4 and agent.proposals is not None
    assert agent.config.value_weight == 2.0 and agent.value_model is not None
    assert all(p.dtype == torch.float32 for p in agent.world_model.parameters())
    full = (tmp_path / "run" / "world_model" / "model.safetensors").stat().st_size
    assert (tmp_path / "ckpt" / "world_model" / "model.safetensors").stat().st_size < 0.6 * full
    for name, directory in (("reward_model", "reward"), ("proposal_policy", "bc"), ("value_model", "value")):  # float32, bit for bit
        exported = (tmp_path / "ckpt" / name / "model.safetensors").read_bytes()
        assert exported == (tmp_path / directory / "model.safetensors").read_bytes(), name
    assert "export_agent.py" in (tmp_path / "ckpt" / "COMMANDS.md").read_text()


def test_plan_without_a_checkpoint_says_how_to_get_one(tmp_path):
    result = run("plan.py", "env=pointmass-push", f"checkpoint={tmp_path / 'missing'}", cwd=tmp_path)
    assert result.returncode != 0 and "train_world_model.py" in result.stderr


def benchmark(tmp_path, image_size, *args):
    result = run("benchmark.py", "--env", "pointmass-push", "--episodes", "2", "--image-size", str(image_size),
                 "--max-episode-steps", "6", "--threads", "1", "--out", str(tmp_path / "results"), *args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    results = json.loads((tmp_path / "results" / "benchmark.json").read_text())
    for method in results["pointmass-push"].values():
        assert 0.0 <= method["success"] <= 1.0 and method["episodes"] == 2
        assert len(method["failed_seeds"]) == 2 - method["successes"]
        assert set(method["failed_seeds"]) <= {10_000, 10_001}, "failed seeds are the benchmark's own seeds"
        assert method["stages_reached"] == [method["success"]], "push has one sub-goal: success"
        assert set(method.get("overridden_seeds", [])) <= {10_000, 10_001}
        low, high = method["success_interval_95"]
        assert low <= method["success"] <= high
    return results


def test_benchmark_compares_planner_bc_random_and_expert(tmp_path):
    from sfplan.policies import BCPolicy, BCPolicyConfig

    save_tiny_agent(tmp_path / "checkpoint")
    BCPolicy(BCPolicyConfig(image_size=16, proprio_dim=4, action_dim=2, chunk=2)).save_pretrained(tmp_path / "bc")
    results = benchmark(tmp_path, 16, "--checkpoint", str(tmp_path / "checkpoint"), "--bc", str(tmp_path / "bc"))
    assert set(results["pointmass-push"]) == {"SFPlanner", "SFPlanner without fast memory", "BC prior alone", "random",
                                              "scripted expert (reference)"}
    bc_failed = set(results["pointmass-push"]["BC prior alone"]["failed_seeds"])
    for name, method in results["pointmass-push"].items():
        if name != "BC prior alone":
            assert method["vs_bc"]["won"] == len(bc_failed - set(method["failed_seeds"]))
            assert method["vs_bc"]["lost"] == len(set(method["failed_seeds"]) - bc_failed)
    assert "vs BC: won / lost seeds" in (tmp_path / "results" / "benchmark.md").read_text()
    assert results["plan_s_per_step"] > 0
    planner = results["pointmass-push"]["SFPlanner"]
    assert planner["agent_s_per_step"] >= planner["plan_s_per_step"], "act() includes planning"


def test_benchmark_bc_baseline_defaults_to_the_checkpoints_own_prior(tmp_path):
    from sfplan.policies import BCPolicy, BCPolicyConfig

    save_tiny_agent(tmp_path / "checkpoint")
    results = benchmark(tmp_path, 16, "--checkpoint", str(tmp_path / "checkpoint"), "--methods", "bc")
    assert results["pointmass-push"] == {}, "a checkpoint without a proposal policy has no BC baseline"
    BCPolicy(BCPolicyConfig(image_size=16, proprio_dim=4, action_dim=2, chunk=2)).save_pretrained(
        tmp_path / "checkpoint" / "proposal_policy")
    results = benchmark(tmp_path, 16, "--checkpoint", str(tmp_path / "checkpoint"), "--methods", "bc")
    assert set(results["pointmass-push"]) == {"BC prior alone"}


def test_benchmark_update_merges_methods_run_separately(tmp_path):
    benchmark(tmp_path, 16, "--methods", "random")
    results = benchmark(tmp_path, 16, "--methods", "expert", "--update")
    assert set(results["pointmass-push"]) == {"random", "scripted expert (reference)"}
    assert "--methods random" in (tmp_path / "results" / "benchmark.md").read_text()
    refused = run("benchmark.py", "--env", "pointmass-push", "--seeds", "10000", "10007", "--image-size", "16",
                  "--max-episode-steps", "6", "--methods", "random", "--update", "--out", str(tmp_path / "results"), cwd=tmp_path)
    assert refused.returncode != 0 and "use the same seeds or drop --update" in refused.stderr
    assert "random:" not in refused.stderr, "refused before running any episode"


def test_benchmark_runs_on_listed_seeds(tmp_path):
    results = benchmark(tmp_path, 16, "--methods", "expert", "--seeds", "10001", "10000")
    assert results["seeds"] == [10001, 10000] and results["pointmass-push"]["scripted expert (reference)"]["episodes"] == 2
    assert "seeds 10001, 10000" in (tmp_path / "results" / "benchmark.md").read_text()


def test_benchmark_name_keeps_other_tables(tmp_path):
    benchmark(tmp_path, 16, "--methods", "random")
    result = run("benchmark.py", "--env", "pointmass-push", "--seeds", "10000", "--image-size", "16", "--max-episode-steps", "6",
                 "--methods", "expert", "--name", "benchmark_other", "--out", str(tmp_path / "results"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    other = json.loads((tmp_path / "results" / "benchmark_other.json").read_text())
    assert set(other["pointmass-push"]) == {"scripted expert (reference)"} and other["seeds"] == [10000]
    kept = json.loads((tmp_path / "results" / "benchmark.json").read_text())
    assert set(kept["pointmass-push"]) == {"random"}, "a named benchmark leaves benchmark.json alone"


def test_sb3_baseline_trains_and_is_benchmarked(tmp_path):
    # SB3's NatureCNN needs images of at least 36x36
    result = run("train_sb3.py", "--env", "pointmass-push", "--steps", "120", "--image-size", "40", "--buffer-size", "200",
                 "--threads", "1", "--out", str(tmp_path / "sac"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    results = benchmark(tmp_path, 40, "--sb3", str(tmp_path / "sac" / "model.zip"), "--sb3-steps", "120")
    assert "SB3 SAC (120 env steps)" in results["pointmass-push"]


def test_benchmark_planner_variants_sit_beside_the_default_rows(tmp_path):
    save_tiny_agent(tmp_path / "checkpoint")
    checkpoint = ("--checkpoint", str(tmp_path / "checkpoint"), "--methods", "sfplanner")
    benchmark(tmp_path, 16, *checkpoint)
    results = benchmark(tmp_path, 16, *checkpoint, "--update", "--set", "seed=1", "initial_noise=1")
    assert set(results["pointmass-push"]) == {"SFPlanner", "SFPlanner [seed=1, initial_noise=1]"}


def test_planner_fidelity_ranks_candidates_and_audits_decisions(tmp_path):
    import torch

    from helpers import tiny_world_model_config
    from sfplan import SFPlanner, SFPlannerConfig
    from sfplan.policies import BCPolicy, BCPolicyConfig
    from sfplan.world_model import RewardModel, RewardModelConfig, VideoWorldModel

    torch.manual_seed(0)
    SFPlanner(VideoWorldModel(tiny_world_model_config()), RewardModel(RewardModelConfig(2, 8, 8)),
              SFPlannerConfig(samples=4, iterations=1, elites=2, threads=1, use_memory=False, prior_fraction=0.5, prior_margin=0.5),
              proposals=BCPolicy(BCPolicyConfig(image_size=16, proprio_dim=4, action_dim=2, chunk=2))).save(tmp_path / "agent")
    common = ("--checkpoint", str(tmp_path / "agent"), "--env", "pointmass-push", "--image-size", "16", "--max-episode-steps", "6",
              "--episodes", "1", "--threads", "1", "--out", str(tmp_path / "results"))
    result = run("planner_fidelity.py", *common, "--every", "2", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    candidates = json.loads((tmp_path / "results" / "planner_fidelity.json").read_text())
    assert [row["step"] for row in candidates["per_replan"]] == [0, 4]
    assert len(candidates["per_replan"][0]["judged"]) == 4
    result = run("planner_fidelity.py", *common, "--analysis", "decisions", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    decisions = json.loads((tmp_path / "results" / "planner_decisions.json").read_text())
    assert [row["step"] for row in decisions["per_replan"]] == [0, 2, 4]
    assert sum(row["replans"] for row in decisions["bins"]) == 3
    assert decisions["overrides"]["replans"] == sum(row["overrode"] for row in decisions["per_replan"])


def test_stall_gate_reads_the_priors_episodes_and_sorts_where_the_gate_fires(tmp_path):
    from sfplan.policies import BCPolicy, BCPolicyConfig

    save_tiny_agent(tmp_path / "checkpoint")
    args = ("--env", "pointmass-push", "--image-size", "16", "--max-episode-steps", "12", "--episodes", "2",
            "--windows", "1", "2", "--threads", "1", "--checkpoint", str(tmp_path / "checkpoint"), "--out", str(tmp_path / "results"))
    result = run("stall_gate.py", *args, cwd=tmp_path)
    assert result.returncode != 0 and "no proposal_policy/" in result.stderr
    BCPolicy(BCPolicyConfig(image_size=16, proprio_dim=4, action_dim=2, chunk=2)).save_pretrained(
        tmp_path / "checkpoint" / "proposal_policy")
    result = run("stall_gate.py", *args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    results = json.loads((tmp_path / "results" / "stall_gate.json").read_text())
    seeds = {episode["seed"] for episode in results["episodes"]}
    assert seeds == {40_000, 40_001}
    replans = -(-12 // results["replan_every"])
    assert all(len(episode["readings"]) == replans for episode in results["episodes"]), "one reading per replan"
    for window in ("1", "2"):
        fired = results["windows"][window]
        groups = [set(fired["fires_on_failures"]), set(fired["fires_before_success"]), set(fired["fires_after_success"])]
        assert sum(map(len, groups)) == len(set().union(*groups)) and set().union(*groups) <= seeds
    assert "stall_replans" in (tmp_path / "results" / "stall_gate.md").read_text()


def test_stall_probe_scores_and_replays_each_probe_from_the_priors_state(tmp_path):
    from sfplan.policies import BCPolicy, BCPolicyConfig

    save_tiny_agent(tmp_path / "checkpoint")
    BCPolicy(BCPolicyConfig(image_size=16, proprio_dim=4, action_dim=2, chunk=2)).save_pretrained(
        tmp_path / "checkpoint" / "proposal_policy")
    result = run("stall_probe.py", "--env", "pointmass-push", "--image-size", "16", "--max-episode-steps", "12",
                 "--seeds", "3", "4", "--step", "3", "--gripper-dim", "1", "--vertical-dim", "0", "--threads", "1",
                 "--checkpoint", str(tmp_path / "checkpoint"), "--out", str(tmp_path / "results"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    results = json.loads((tmp_path / "results" / "stall_probe.json").read_text())
    assert set(results["seeds"]) == {"3", "4"}
    for entry in results["seeds"].values():
        assert set(entry["scores"]) == set(entry["rescued"]) and len(entry["scores"]) == 5
        assert entry["pick"] == max(entry["scores"], key=entry["scores"].get)
    assert results["pick_rescued"] == sum(entry["rescued"][entry["pick"]] for entry in results["seeds"].values())
    assert "world model's pick" in (tmp_path / "results" / "stall_probe.md").read_text()
