import pytest
import torch

from helpers import make_episode, tiny_world_model_config
from sfplan.eval.world_model_eval import (
    changed_shares,
    evenly_spaced_windows,
    imagine_windows,
    imagined_outcome_metrics,
    moving_and_still_error,
    next_chunk_error_budget,
)
from sfplan.world_model import RewardModel, RewardModelConfig, VideoWorldModel


@pytest.mark.parametrize("success_bias, false_rate, missed_rate", [(50.0, 1.0, 0.0), (-50.0, 0.0, 1.0)])
def test_imagined_outcome_metrics_count_optimistic_and_missed_successes(success_bias, false_rate, missed_rate):
    torch.manual_seed(0)
    model = VideoWorldModel(tiny_world_model_config()).eval()
    episodes = [make_episode(12, image_size=16, seed=seed) for seed in range(2)]  # success in the last 3 steps
    windows = evenly_spaced_windows(model, episodes, count=100)
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


def test_error_budget_scores_each_target_frame_against_known_values():
    torch.manual_seed(0)
    model = VideoWorldModel(tiny_world_model_config(frame_skip=2)).eval()
    windows = evenly_spaced_windows(model, [make_episode(20, image_size=16)], count=5)  # frame t is filled with t / 255
    budget = next_chunk_error_budget(model, windows)
    assert set(budget) == {"prediction", "codec_ceiling", "repeat_last", "motionless_context", "shuffled_actions"}
    # target frame i is (i + 1) * frame_skip env steps after the last context frame: off by that many levels
    for index, value in enumerate(budget["repeat_last"]):
        assert value == pytest.approx(20 * torch.log10(torch.tensor(255.0 / ((index + 1) * 2))).item(), rel=1e-4)
    # the context moves (its frames differ), so a context without motion changes what the model predicts
    assert budget["motionless_context"] != budget["prediction"]
    latents = imagine_windows(model, windows["context"], windows["actions"], steps=1, initial_noise=0.0)
    first = model.codec.decode(latents)[:, 0]
    assert budget["prediction"][0] == pytest.approx(
        (10 * torch.log10(1 / (first - windows["target"][:, 0]).square().flatten(1).mean(1))).mean().item(), rel=1e-5)


def test_error_budget_of_a_model_that_reads_the_robot_state_scores_it_with_and_without_the_state():
    torch.manual_seed(0)
    model = VideoWorldModel(tiny_world_model_config(frame_skip=2, proprio_dim=2)).eval()
    windows = evenly_spaced_windows(model, [make_episode(20, image_size=16)], count=5)
    budget = next_chunk_error_budget(model, windows)
    latents = imagine_windows(model, windows["context"], windows["actions"], steps=1, initial_noise=0.0, proprio=windows["proprio"])
    first = model.codec.decode(latents)[:, 0]
    assert budget["prediction"][0] == pytest.approx(
        (10 * torch.log10(1 / (first - windows["target"][:, 0]).square().flatten(1).mean(1))).mean().item(), rel=1e-5)
    assert budget["without_proprio"] != budget["prediction"]


def test_moving_and_still_error_splits_the_error_where_the_scene_moves_against_known_values():
    context = torch.zeros(2, 2, 3, 8, 8)
    target = torch.zeros(2, 3, 3, 8, 8)
    target[..., :2, :] = 0.5  # a quarter of each target frame moves
    prediction = target + 0.01  # off by 40 dB where still
    prediction[..., :2, :] = 0.6  # off by 20 dB where moving
    split = moving_and_still_error(prediction, {"context": context, "target": target})
    assert split["moving_psnr"] == pytest.approx(20.0, rel=1e-4)
    assert split["still_psnr"] == pytest.approx(40.0, rel=1e-4)
    assert split["moving_error_share"] == pytest.approx(0.01 * 1 / (0.01 * 1 + 1e-4 * 3), rel=1e-4)


def test_changed_shares_count_every_pixel_of_a_frame_that_brightens_everywhere():
    torch.manual_seed(0)
    model = VideoWorldModel(tiny_world_model_config()).eval()
    context = torch.rand(3, 2, 3, 16, 16) * 0.5
    brighter = {"context": context, "target": (context[:, -1:] + 0.3).expand(-1, 2, -1, -1, -1)}
    assert changed_shares(model, brighter)["pixels"] == 1.0
    still = {"context": context, "target": context[:, -1:].expand(-1, 2, -1, -1, -1)}
    assert changed_shares(model, still) == {"pixels": 0.0, "latents": 0.0}
