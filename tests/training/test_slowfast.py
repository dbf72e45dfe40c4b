import csv
import json
import shutil

import pytest
import torch

from helpers import make_episode, tiny_world_model_config
from sfplan.checkpoint import CheckpointError
from sfplan.data import EpisodeWriter
from sfplan.training import SlowFastConfig, SlowFastLoop, TrainConfig, load_run, slowfast_loop, train_slow
from sfplan.training.slowfast import STATE_DIR, STATE_FILE
from sfplan.world_model import VideoWorldModel


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny dataset and a slow run trained on it for two steps: where the loop starts."""
    root = tmp_path_factory.mktemp("slowfast")
    dataset = root / "tiny.h5"
    with EpisodeWriter(dataset, "pointmass-push", "top", 16, {"image_size": 16}) as writer:
        for seed in range(3):
            writer.add(make_episode(12, image_size=16, action_dim=2, seed=seed))
    config = TrainConfig(
        dataset=str(dataset), output=str(root / "slow"), env_name="pointmass-push", image_size=16, holdout_episodes=1,
        autoencoder_steps=2, autoencoder_batch=4, steps=2, batch_size=2, eval_every=2, checkpoint_every=2, eval_windows=2,
        threads=1,
    )
    train_slow(tiny_world_model_config(), config, progress=False)
    return dataset, root / "slow"


def loop_config(trained, output, steps=3, use_memory=True, memory_dropout=0.0):
    dataset, slow = trained
    train = TrainConfig(
        dataset=str(dataset), output=str(output), env_name="pointmass-push", image_size=16, holdout_episodes=1,
        init_from=str(slow), steps=steps, batch_size=4, lr=1e-3, log_every=1, eval_every=2, checkpoint_every=1, threads=1,
    )
    return SlowFastConfig(train=train, use_memory=use_memory, eval_episodes=1, memory_dropout=memory_dropout)


def weights(directory):
    return VideoWorldModel.from_pretrained(directory / "world_model").state_dict()


def logged(output, key):
    """The values of `key` in the rows that have one."""
    with open(output / "log.csv") as stream:
        return [row[key] for row in csv.DictReader(stream) if row[key]]


def test_the_loop_writes_a_run_the_eval_scripts_read_and_resumes_it(trained, tmp_path):
    output = tmp_path / "loop"
    metrics = slowfast_loop(loop_config(trained, output, steps=3), progress=False)
    assert {"eval/psnr_base", "eval/psnr_memory", "train/memory_loss"} <= set(metrics)
    run = load_run(output)  # base weights only (no LoRA names), held-out episodes of the dataset
    assert len(run.held_out) == 1 and (output / "reward_model" / "model.safetensors").exists()
    assert json.loads((output / "slowfast.json").read_text())["use_memory"] is True
    before = weights(trained[1])
    assert any(not torch.equal(value, before[name]) for name, value in weights(output).items() if "codec" not in name)
    assert all(torch.equal(value, before[name]) for name, value in weights(output).items() if "codec" in name)

    slowfast_loop(loop_config(trained, output, steps=5), progress=False)
    with open(output / "log.csv") as stream:
        rows = list(csv.DictReader(stream))
    assert [int(row["step"]) for row in rows if row["train/loss"]] == [1, 2, 3, 4, 5]  # resumed at step 3
    checks = [int(row["step"]) for row in rows if row["eval/psnr_memory"]]
    assert checks[0] == 0 and 3 in checks and checks[-1] == 5  # at the start, on resuming, at the end
    assert torch.load(output / STATE_DIR / STATE_FILE, weights_only=False)["step"] == 5


def test_a_checkpoint_loads_as_a_run_given_the_dataset_its_model_was_trained_on(trained, tmp_path):
    dataset = tmp_path / "six.h5"
    with EpisodeWriter(dataset, "pointmass-push", "top", 16, {"image_size": 16}) as writer:
        for seed in range(6):
            writer.add(make_episode(12, image_size=16, action_dim=2, seed=seed))
    checkpoint = tmp_path / "checkpoint"
    shutil.copytree(trained[1] / "world_model", checkpoint / "world_model")
    run = load_run(checkpoint, dataset)
    assert [episode.seed for episode in run.held_out] == [1, 2, 3, 4, 5]  # the last 5, as a training run holds out
    assert [episode.seed for episode in run.trained_on] == [0]
    assert run.train_config.env_name == "pointmass-push" and run.model.config.codec.image_size == 16
    with pytest.raises(CheckpointError, match="has no train_config.json: for a checkpoint, name the dataset"):
        load_run(checkpoint)
    with pytest.raises(CheckpointError, match="is a training run whose train_config.json names its dataset"):
        load_run(trained[1], dataset)


def test_a_run_trained_with_extra_datasets_loads_their_episodes_as_trained_on(trained, tmp_path):
    extra = tmp_path / "extra.h5"
    with EpisodeWriter(extra, "pointmass-push", "top", 16, {"image_size": 16}) as writer:
        for seed in (10, 11):
            writer.add(make_episode(12, image_size=16, action_dim=2, seed=seed))
    run_dir = tmp_path / "run"
    shutil.copytree(trained[1], run_dir)
    config = json.loads((run_dir / "train_config.json").read_text())
    (run_dir / "train_config.json").write_text(json.dumps({**config, "extra_datasets": [str(extra)]}))
    run = load_run(run_dir)
    assert [episode.seed for episode in run.trained_on] == [0, 1, 10, 11]
    assert [episode.seed for episode in run.held_out] == [2]


def test_the_memory_shapes_the_base_weights_the_control_learns_without_it(trained, tmp_path):
    slowfast_loop(loop_config(trained, tmp_path / "loop", steps=2), progress=False)
    slowfast_loop(loop_config(trained, tmp_path / "control", steps=2, use_memory=False), progress=False)
    assert len(logged(tmp_path / "control", "train/loss")) == 2 and not logged(tmp_path / "control", "train/memory_loss")
    assert len(logged(tmp_path / "loop", "train/memory_loss")) == 2
    loop, control = weights(tmp_path / "loop"), weights(tmp_path / "control")
    assert any(not torch.equal(value, control[name]) for name, value in loop.items())


def test_each_episode_gets_a_fresh_memory_and_the_chunk_loss_trains_the_base(trained, tmp_path):
    looper = SlowFastLoop(loop_config(trained, tmp_path / "loop"), progress=False)
    adapter = {id(p) for p in looper.memory.parameters}
    assert all(p.requires_grad == (id(p) in {id(q) for q in looper.trainable}) for p in looper.model.parameters())
    assert not adapter & {id(p) for p in looper.trainable}
    flags = [p.requires_grad for p in looper.model.parameters()]
    looper.memory.observe(torch.randn(1, 2, 2, 8, 8), torch.randn(1, 2, 2, 8, 8))
    assert [p.requires_grad for p in looper.model.parameters()] == flags  # observe gives the base back trainable
    next(looper._episode(0))  # a new episode resets the adapter, then its first chunk is learnt and observed
    assert looper.memory.chunks_observed == 1
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in looper.trainable)


def test_a_loop_without_a_starting_model_is_refused(trained, tmp_path):
    config = loop_config(trained, tmp_path / "loop").train
    config.init_from = None
    with pytest.raises(ValueError, match="init_from"):
        SlowFastConfig(train=config)


def test_with_every_chunk_dropped_from_the_memory_the_loop_trains_the_base_as_the_control_does(trained, tmp_path):
    slowfast_loop(loop_config(trained, tmp_path / "dropped", steps=2, memory_dropout=1.0), progress=False)
    slowfast_loop(loop_config(trained, tmp_path / "control", steps=2, use_memory=False), progress=False)
    assert len(logged(tmp_path / "dropped", "train/memory_loss")) == 2  # the memory still observed every chunk
    dropped, control = weights(tmp_path / "dropped"), weights(tmp_path / "control")
    assert all(torch.equal(value, control[name]) for name, value in dropped.items())
    with pytest.raises(ValueError, match="memory_dropout"):
        loop_config(trained, tmp_path / "bad", memory_dropout=1.5)
