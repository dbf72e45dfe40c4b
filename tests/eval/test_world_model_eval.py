import pytest
import torch

from helpers import make_episode, tiny_world_model_config
from sfplan.eval.world_model_eval import held_out_windows, imagine_windows, imagined_outcome_metrics
from sfplan.world_model import RewardModel, RewardModelConfig, VideoWorldModel


@pytest.mark.parametrize("success_bias, false_rate, missed_rate", [(50.0, 1.0, 0.0), (-50.0, 0.0, 1.0)])
def test_imagined_outcome_metrics_count_optimistic_and_missed_successes(success_bias, false_rate, missed_rate):
    torch.manual_seed(0)
    model = VideoWorldModel(tiny_world_model_config()).eval()
    episodes = [make_episode(12, image_size=16, seed=seed) for seed in range(2)]  # success in the last 3 steps
    windows = held_out_windows(model, episodes, count=100)
    reward_model = RewardModel(RewardModelConfig(latent_channels=2, latent_size=8, hidden=8)).eval()
    last = reward_model.net[-1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.copy_(torch.tensor([0.0, success_bias]))  # reward 0 everywhere; success always / never
    latents = imagine_windows(model, windows["context"], windows["actions"], steps=1, initial_noise=0.0)
    metrics = imagined_outcome_metrics(reward_model, latents, windows)
    real_success = windows["successes"].amax(dim=1) > 0.5
    assert 0 < metrics["windows_with_success"] == int(real_success.sum()) < len(real_success)
    assert metrics["false_success_rate"] == false_rate and metrics["missed_success_rate"] == missed_rate
    assert metrics["reward_mse"] == pytest.approx(windows["rewards"].square().mean().item(), rel=1e-5)
