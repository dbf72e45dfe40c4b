import pytest
import torch

from helpers import make_episode, tiny_world_model_config
from sfplan.training.reward import fine_tune_reward_model, imagine_windows, reward_metrics
from sfplan.world_model import RewardModel, RewardModelConfig, VideoWorldModel


@pytest.fixture(scope="module")
def windows():
    torch.manual_seed(0)
    world_model = VideoWorldModel(tiny_world_model_config())
    episodes = [make_episode(num_steps=12, image_size=16, seed=seed) for seed in range(2)]
    return imagine_windows(world_model, episodes, chunks=2, stride=1, batch_size=3, progress=False)


def test_windows_are_imagined_as_deep_as_the_planner_looks(windows):
    # 12 steps, windows of 2 context + 2 chunks x 2 frames one step apart (frames s..s+5): 8 per episode
    assert windows.imagined.shape == windows.real.shape == (16, 4, 2, 8, 8)
    assert windows.rewards.shape == windows.successes.shape == (16, 4)
    assert not torch.equal(windows.imagined, windows.real)
    assert torch.allclose(windows.rewards[0], torch.arange(1, 5) / 12)  # rewards of the steps into target frames 2..5


def test_fine_tuning_lowers_the_reward_error_on_imagined_frames(windows):
    torch.manual_seed(0)
    reward_model = RewardModel(RewardModelConfig(2, 8, 8))
    before = reward_metrics(reward_model, windows)
    losses = fine_tune_reward_model(reward_model, windows, steps=150, batch_size=16, lr=3e-3, progress=False)
    after = reward_metrics(reward_model, windows)
    assert after["reward_mse_imagined"] < 0.5 * before["reward_mse_imagined"]
    assert sum(losses[-10:]) < sum(losses[:10])
    assert not reward_model.training


def test_real_fraction_outside_zero_one_is_refused(windows):
    with pytest.raises(ValueError, match="real_fraction"):
        fine_tune_reward_model(RewardModel(RewardModelConfig(2, 8, 8)), windows, steps=1, real_fraction=1.5)
