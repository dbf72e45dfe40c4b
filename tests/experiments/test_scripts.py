"""The entry scripts run as a user runs them: hydra overrides on the command line."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

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
    for key in ("psnr_next_chunk", "psnr_repeat_last", "psnr_shuffled_actions", "frames_per_s_batch32", "denoise_steps"):
        assert key in results
    assert "eval_world_model.py" in (tmp_path / "results" / "world_model.md").read_text()

    result = run("eval_fast_memory.py", "--run", str(run_dir), "--long-dataset", str(push_dataset), "--episodes", "1",
                 "--revisit-frames", "8", "--threads", "1", "--out", str(tmp_path / "results"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    results = json.loads((tmp_path / "results" / "fast_memory.json").read_text())
    for key in ("psnr_late_base", "psnr_late_memory", "revisit_base", "revisit_memory", "scene_cuts_base",
                "scene_cuts_memory", "time_overhead"):
        assert key in results
    assert (tmp_path / "results" / "fast_memory.png").stat().st_size > 0
