import csv
import dataclasses

import numpy as np
import pytest
import torch

from helpers import make_episode, tiny_world_model_config
from sfplan.checkpoint import CheckpointError
from sfplan.data import DatasetError, EpisodeWriter
from sfplan.training import TrainConfig, train_slow
from sfplan.training.slow import STATE_DIR, SlowTrainer, saved_step
from sfplan.world_model import GripperMap, RewardModel, VideoWorldModel


@pytest.fixture
def dataset(tmp_path):
    path = tmp_path / "tiny.h5"
    with EpisodeWriter(path, "pointmass-push", "top", 16, {"image_size": 16}) as writer:
        for seed in range(3):
            writer.add(make_episode(12, image_size=16, action_dim=2, seed=seed))
    return path


def train_config(dataset, output, steps):
    return TrainConfig(
        dataset=str(dataset), output=str(output), env_name="pointmass-push", image_size=16, holdout_episodes=1,
        autoencoder_steps=3, autoencoder_batch=4, steps=steps, batch_size=2, log_every=1, eval_every=2,
        checkpoint_every=2, eval_windows=2, threads=1,
    )


def logged_steps(output, stage="world_model"):
    with open(output / "log.csv") as stream:
        return [int(row["step"]) for row in csv.DictReader(stream) if row["stage"] == stage]


def test_training_writes_loadable_checkpoints_and_resumes_the_step_count(dataset, tmp_path):
    output = tmp_path / "run"
    metrics = train_slow(tiny_world_model_config(), train_config(dataset, output, steps=4), progress=False)
    assert "eval/psnr" in metrics and "eval/psnr_repeat_last" in metrics
    assert saved_step(output) == 4 and saved_step(tmp_path / "never-trained") is None
    model = VideoWorldModel.from_pretrained(output / "world_model")
    assert model.config.codec.latent_std, "latent statistics are saved with the codec"
    reward, success_logit = RewardModel.from_pretrained(output / "reward_model")(torch.zeros(5, 2, 8, 8))
    assert reward.shape == success_logit.shape == (5,)

    longer = train_config(dataset, output, steps=6)
    longer.autoencoder_steps = 5  # the saved autoencoder has 3 steps: it continues for 2 more
    train_slow(tiny_world_model_config(), longer, progress=False)
    assert logged_steps(output) == [1, 2, 3, 4, 5, 6]
    assert logged_steps(output, "autoencoder") == [3, 5]
    assert torch.load(output / STATE_DIR / "sfplan_state.pt", weights_only=False)["step"] == 6


def test_extra_datasets_are_trained_on_while_the_held_out_episodes_stay_the_main_datasets(dataset, tmp_path):
    extra = tmp_path / "prior.h5"
    with EpisodeWriter(extra, "pointmass-push", "top", 16, {"image_size": 16}) as writer:
        for seed in (100, 101):
            writer.add(make_episode(12, image_size=16, action_dim=2, seed=seed))
    config = train_config(dataset, tmp_path / "run", steps=1)
    config.extra_datasets = [str(extra)]
    trainer = SlowTrainer(tiny_world_model_config(), config, progress=False)
    assert [episode.seed for episode in trainer.train_episodes] == [0, 1, 100, 101]
    assert [episode.seed for episode in trainer.held_out_episodes] == [2]


def test_an_extra_dataset_of_another_env_is_refused(dataset, tmp_path):
    extra = tmp_path / "other.h5"
    with EpisodeWriter(extra, "robosuite-lift", "agentview", 16, {"image_size": 16}) as writer:
        writer.add(make_episode(12, image_size=16, action_dim=2, seed=5))
    config = train_config(dataset, tmp_path / "run", steps=1)
    config.extra_datasets = [str(extra)]
    with pytest.raises(DatasetError, match="recorded in env 'robosuite-lift'"):
        SlowTrainer(tiny_world_model_config(), config, progress=False)


def test_dataset_with_another_image_size_is_refused(dataset, tmp_path):
    config = train_config(dataset, tmp_path / "run", steps=1)
    config.image_size = 32
    with pytest.raises(DatasetError, match="16x16 images but the config expects 32x32"):
        train_slow(tiny_world_model_config(), config, progress=False)


def test_action_dim_mismatch_is_refused(dataset, tmp_path):
    with pytest.raises(ValueError, match="dataset actions have 2 dims but world_model.action_dim=7"):
        train_slow(tiny_world_model_config(action_dim=7), train_config(dataset, tmp_path / "run", steps=1), progress=False)


def test_a_model_conditioned_on_the_robot_state_trains_with_the_datasets_statistics(dataset, tmp_path):
    output = tmp_path / "run"
    metrics = train_slow(tiny_world_model_config(proprio_dim=2), train_config(dataset, output, steps=2), progress=False)
    assert "eval/psnr" in metrics
    encoder = VideoWorldModel.from_pretrained(output / "world_model").proprio_encoder
    # make_episode's proprio of step t is (t, -t), t = 0..12, and changes by (1, -1) every step
    assert encoder.state_mean.tolist() == pytest.approx([6, -6])
    assert encoder.change_std.tolist() == [1.0, 1.0]  # constant changes keep a std of 1


def test_proprio_dim_mismatch_is_refused(dataset, tmp_path):
    with pytest.raises(ValueError, match="dataset proprioception has 2 dims but world_model.proprio_dim=9"):
        train_slow(tiny_world_model_config(proprio_dim=9), train_config(dataset, tmp_path / "run", steps=1), progress=False)


def test_a_run_can_start_from_another_runs_weights(dataset, tmp_path):
    source = tmp_path / "source"
    train_slow(tiny_world_model_config(), train_config(dataset, source, steps=2), progress=False)
    config = train_config(dataset, tmp_path / "finetune", steps=1)
    config.init_from, config.lr, config.autoencoder_steps = str(source), 0.0, 50
    fine_tuning = tiny_world_model_config(train_sigma_mean=1.2, action_dropout=0.0)  # training-only fields may differ
    train_slow(fine_tuning, config, progress=False)

    expected = VideoWorldModel.from_pretrained(source / "world_model")
    started = VideoWorldModel.from_pretrained(tmp_path / "finetune" / "world_model")
    assert started.config.codec.latent_std == expected.config.codec.latent_std
    for name, tensor in expected.state_dict().items():
        torch.testing.assert_close(started.state_dict()[name], tensor, msg=name)
    assert logged_steps(tmp_path / "finetune", "autoencoder") == [], "the codec comes from the source, untrained"


def test_a_model_without_proprioception_can_be_fine_tuned_into_one_that_reads_the_state(dataset, tmp_path):
    source = tmp_path / "source"
    train_slow(tiny_world_model_config(), train_config(dataset, source, steps=2), progress=False)
    config = train_config(dataset, tmp_path / "finetune", steps=1)
    config.init_from, config.lr = str(source), 0.0
    train_slow(tiny_world_model_config(proprio_dim=2), config, progress=False)

    expected = VideoWorldModel.from_pretrained(source / "world_model")
    started = VideoWorldModel.from_pretrained(tmp_path / "finetune" / "world_model")
    for name, tensor in expected.state_dict().items():
        torch.testing.assert_close(started.state_dict()[name], tensor, msg=name)
    encoder = started.proprio_encoder
    assert encoder.state_mean.tolist() == pytest.approx([6, -6]), "statistics of this run's data, not the defaults"
    token, summary = encoder(torch.randn(3, 2, 2), torch.zeros(3, dtype=torch.bool))
    assert not token.any() and not summary.any(), "the new condition starts silent"


def test_a_model_that_reads_the_state_can_be_fine_tuned_into_one_that_reads_a_longer_state(dataset, tmp_path):
    source = tmp_path / "source"
    train_slow(tiny_world_model_config(proprio_dim=2, state_predictor_hidden=8), train_config(dataset, source, steps=2),
               progress=False)
    longer = tmp_path / "longer.h5"
    with EpisodeWriter(longer, "pointmass-push", "top", 16, {"image_size": 16}) as writer:
        for seed in range(3):
            episode = make_episode(12, image_size=16, action_dim=2, seed=seed)
            extra = np.cos(np.arange(13.0))[:, None].repeat(2, axis=1).astype(np.float32)
            writer.add(dataclasses.replace(episode, proprio=np.concatenate([episode.proprio, extra], axis=1)))
    config = train_config(longer, tmp_path / "finetune", steps=1)
    config.init_from, config.lr = str(source), 0.0
    train_slow(tiny_world_model_config(proprio_dim=4, state_predictor_hidden=8), config, progress=False)

    expected = VideoWorldModel.from_pretrained(source / "world_model")
    started = VideoWorldModel.from_pretrained(tmp_path / "finetune" / "world_model")
    assert int(started.state_predictor.fitted_steps) > 0, "a predictor of the longer state, fitted anew"
    history = torch.randn(3, 2, 4)
    null = torch.zeros(3, dtype=torch.bool)
    torch.testing.assert_close(started.proprio_encoder(history, null), expected.proprio_encoder(history[..., :2], null))
    for name, tensor in expected.state_dict().items():
        if not name.startswith(("proprio_encoder.", "state_predictor.")):
            torch.testing.assert_close(started.state_dict()[name], tensor, msg=name)


def test_a_started_run_can_adapt_the_source_codec_to_its_frames(dataset, tmp_path):
    source, output = tmp_path / "source", tmp_path / "adapted"
    train_slow(tiny_world_model_config(), train_config(dataset, source, steps=1), progress=False)
    config = train_config(dataset, output, steps=0)
    config.init_from = str(source)
    train_slow(tiny_world_model_config(), config, progress=False)  # takes the source codec as 3 trained steps
    config.autoencoder_steps, config.steps = 5, 1
    train_slow(tiny_world_model_config(), config, progress=False)
    assert logged_steps(output, "autoencoder") == [5], "2 more codec steps, continuing from the source codec"
    adapted = VideoWorldModel.from_pretrained(output / "world_model").codec.state_dict()
    original = VideoWorldModel.from_pretrained(source / "world_model").codec.state_dict()
    assert any(not torch.equal(adapted[name], original[name]) for name in original)


def test_starting_from_a_different_architecture_is_refused(dataset, tmp_path):
    source = tmp_path / "source"
    train_slow(tiny_world_model_config(), train_config(dataset, source, steps=1), progress=False)
    config = train_config(dataset, tmp_path / "other", steps=1)
    config.init_from = str(source)
    with pytest.raises(CheckpointError, match="differs in block_channels"):
        train_slow(tiny_world_model_config(block_channels=(16, 32)), config, progress=False)


def test_learning_rate_is_constant_then_falls_linearly_to_zero(dataset, tmp_path):
    config = train_config(dataset, tmp_path / "run", steps=10)
    config.lr, config.lr_warmdown_steps = 1.0, 4
    assert [config.learning_rate(step) for step in range(10)] == [1.0] * 6 + [1.0, 0.75, 0.5, 0.25]
    with pytest.raises(ValueError, match="lr_warmdown_steps must be between 0 and steps=10"):
        TrainConfig(dataset=str(dataset), output=str(tmp_path), steps=10, lr_warmdown_steps=11)


def test_a_state_predictor_is_fitted_once_before_the_world_model_trains(dataset, tmp_path):
    output = tmp_path / "run"
    config = train_config(dataset, output, steps=2)
    config.state_predictor_steps = 7
    train_slow(tiny_world_model_config(proprio_dim=2, state_predictor_hidden=8), config, progress=False)
    predictor = VideoWorldModel.from_pretrained(output / "world_model").state_predictor
    assert predictor.fitted_steps.item() == 7 and logged_steps(output, "state_predictor") == [7]
    fitted = {name: tensor.clone() for name, tensor in predictor.state_dict().items()}

    config.steps = 4  # resumed: the predictor comes back with the training state, neither refitted nor trained
    train_slow(tiny_world_model_config(proprio_dim=2, state_predictor_hidden=8), config, progress=False)
    resumed = VideoWorldModel.from_pretrained(output / "world_model").state_predictor
    for name, tensor in fitted.items():
        torch.testing.assert_close(resumed.state_dict()[name], tensor, rtol=0, atol=0, msg=name)
    assert logged_steps(output, "state_predictor") == [7]


def test_a_trained_model_can_be_given_a_state_predictor(dataset, tmp_path):
    source = tmp_path / "source"
    train_slow(tiny_world_model_config(proprio_dim=2), train_config(dataset, source, steps=2), progress=False)
    config = train_config(dataset, tmp_path / "with-predictor", steps=1)
    config.init_from, config.lr, config.state_predictor_steps = str(source), 0.0, 5
    train_slow(tiny_world_model_config(proprio_dim=2, state_predictor_hidden=8), config, progress=False)

    expected = VideoWorldModel.from_pretrained(source / "world_model")
    started = VideoWorldModel.from_pretrained(tmp_path / "with-predictor" / "world_model")
    for name, tensor in expected.state_dict().items():
        torch.testing.assert_close(started.state_dict()[name], tensor, msg=name)
    assert started.state_predictor.fitted_steps.item() == 5


def test_a_run_with_an_imagined_decoder_tunes_it_at_its_end_and_again_after_more_training(dataset, tmp_path):
    output = tmp_path / "run"
    config = train_config(dataset, output, steps=2)
    config.imagined_decoder_steps, config.imagined_decoder_stride = 3, 2
    train_slow(tiny_world_model_config(imagined_decoder=True), config, progress=False)
    model = VideoWorldModel.from_pretrained(output / "world_model")
    assert model.imagined_decoder.tuned_steps.item() == 3 and logged_steps(output, "imagined_decoder") == [3]
    latents = torch.randn(2, 2, 8, 8)
    assert not torch.equal(model.decode_imagined(latents), model.codec.decode(latents)), "tuned away from the codec's copy"

    train_slow(tiny_world_model_config(imagined_decoder=True), config, progress=False)  # resumed, nothing to train
    assert logged_steps(output, "imagined_decoder") == [3], "a finished run keeps its tuned decoder"
    config.steps = 3
    train_slow(tiny_world_model_config(imagined_decoder=True), config, progress=False)  # more training: tuned again
    assert logged_steps(output, "imagined_decoder") == [3, 3]
    assert VideoWorldModel.from_pretrained(output / "world_model").imagined_decoder.tuned_steps.item() == 3, "from the codec again"


def test_an_untuned_imagined_decoder_renders_as_the_trained_codec_while_the_run_trains(dataset, tmp_path):
    output = tmp_path / "run"
    output.mkdir()
    trainer = SlowTrainer(tiny_world_model_config(imagined_decoder=True), train_config(dataset, output, steps=2), progress=False)
    trainer.prepare_codec()  # a codec trained here: the decoder built with the model is a copy of the untrained one
    trainer.prepare_imagined_decoder()
    latents = torch.randn(2, 2, 8, 8)
    with torch.no_grad():
        assert torch.equal(trainer.model.decode_imagined(latents), trainer.model.codec.decode(latents))


def test_imagined_decoder_settings_are_checked(dataset, tmp_path):
    with pytest.raises(ValueError, match="imagined_decoder_steps and imagined_decoder_stride must be at least 1"):
        TrainConfig(dataset=str(dataset), output=str(tmp_path), imagined_decoder_stride=0)


def test_a_model_that_reads_the_state_can_be_fine_tuned_into_one_with_a_gripper_map(tmp_path):
    robosuite_data = tmp_path / "lift.h5"  # recorded as robosuite-lift (16 px): the trainer reads its camera
    with EpisodeWriter(robosuite_data, "robosuite-lift", "workspace", 16, {"image_size": 16}) as writer:
        for seed in range(3):
            episode = make_episode(12, image_size=16, action_dim=2, seed=seed)
            writer.add(dataclasses.replace(episode, proprio=np.tile(episode.proprio[:, :1], (1, 9)) * 0.01))
    source = tmp_path / "source"
    with_state = dict(proprio_dim=9, state_predictor_hidden=8)
    train_slow(tiny_world_model_config(**with_state), dataclasses.replace(train_config(robosuite_data, source, steps=2),
                                                                         env_name="robosuite-lift"), progress=False)
    config = dataclasses.replace(train_config(robosuite_data, tmp_path / "finetune", steps=1), env_name="robosuite-lift",
                                 init_from=str(source), lr=0.0)
    train_slow(tiny_world_model_config(**with_state, gripper_map=True), config, progress=False)

    from sfplan.envs import camera_projection

    expected = VideoWorldModel.from_pretrained(source / "world_model")
    started = VideoWorldModel.from_pretrained(tmp_path / "finetune" / "world_model")
    torch.testing.assert_close(started.gripper_map.projection,
                               torch.from_numpy(camera_projection("robosuite-lift", image_size=16)).float())
    weights = started.state_dict()
    assert not weights["unet.conv_in.weight"][:, -GripperMap.channels:].any(), "the map's channels start silent"
    for name, tensor in expected.state_dict().items():
        torch.testing.assert_close(weights[name][:, : tensor.shape[1]] if name == "unet.conv_in.weight" else weights[name],
                                   tensor, msg=name)
