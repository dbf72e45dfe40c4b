import numpy as np
import pytest
import torch

from helpers import make_episode, tiny_world_model_config
from sfplan.eval.video_metrics import psnr
from sfplan.eval.fast_memory_eval import (
    chunk_states,
    episode_chunks,
    lag_key,
    local_window,
    online_adaptation,
    out_and_back,
    paired_gain_interval,
    single_frame,
    whole_history,
)
from sfplan.data import Episode
from sfplan.fast import FastMemory, FastMemoryConfig
from sfplan.world_model import VideoWorldModel


def test_out_and_back_undoes_the_motion_and_keeps_the_gripper():
    actions = torch.tensor([[0.1, 0.2, 1.0], [0.3, -0.1, -1.0]])
    route = out_and_back(actions)
    assert route.shape == (4, 3)
    torch.testing.assert_close(route[:, :2].sum(0), torch.zeros(2))  # back where it started
    assert route[:, 2].tolist() == [1.0, -1.0, -1.0, 1.0]


def test_episode_chunks_follow_the_model_frame_skip():
    model = VideoWorldModel(tiny_world_model_config(frame_skip=2))
    episode = make_episode(num_steps=13, image_size=16, action_dim=2)  # frame t has value t
    chunks, actions, first = episode_chunks(model, episode)
    # f_p = 2 context frames at steps 0 and 2; chunks of f_g = 2 frames, 2 steps apart
    assert first[0, :, 0, 0, 0].mul(255).round().tolist() == [0, 2]
    assert chunks[:, :, 0, 0, 0].mul(255).round().tolist() == [[4, 6], [8, 10]]
    np.testing.assert_allclose(actions[0, :, 0].numpy(), [2, 3, 4, 5])


def test_chunk_states_are_read_at_the_last_context_frame_before_each_chunk():
    episode = make_episode(num_steps=13, image_size=16, action_dim=2)  # state at step t is (t, -t)
    assert chunk_states(VideoWorldModel(tiny_world_model_config(frame_skip=2)), episode) is None  # no state condition
    states = chunk_states(VideoWorldModel(tiny_world_model_config(frame_skip=2, proprio_dim=2)), episode)
    # context ends at step 2, chunk 0 at step 6, chunk 1 at step 10 (see the frame test above); (step - 1, step) each
    assert states[:, :, 0].tolist() == [[1, 2], [5, 6], [9, 10]]


def test_window_rules_pick_history_or_one_frame():
    chunks = [torch.full((1, 2, 1), float(i)) for i in range(3)]
    assert whole_history(chunks).flatten().tolist() == [0, 0, 1, 1]
    assert single_frame(chunks).flatten().tolist() == [1]


def test_paired_gain_interval_is_the_t_interval_of_the_mean_gain():
    gains = [0.1, 0.3, 0.2, 0.4]  # mean 0.25, sample std 0.1291; t(0.975, 3) = 3.18245
    half = 3.182446305284263 * 0.12909944487358055 / 2
    assert paired_gain_interval(gains) == pytest.approx((0.25 - half, 0.25 + half))
    low, high = paired_gain_interval([0.05, -0.04, 0.03, -0.02])  # gains of both signs: no evidence either way
    assert low < 0 < high
    with pytest.raises(ValueError, match="at least 2 episodes"):
        paired_gain_interval([0.1])


def varied_episode(num_steps: int = 12) -> Episode:
    """An episode of random frames (so that chunks differ in more than brightness)."""
    episode = make_episode(num_steps=num_steps, image_size=16, action_dim=2)
    episode.frames = np.random.default_rng(0).integers(0, 256, episode.frames.shape, dtype=np.uint8)
    return episode


def model_and_memory() -> tuple[VideoWorldModel, FastMemory]:
    """The same tiny world model and seeded memory at every call."""
    torch.manual_seed(0)
    model = VideoWorldModel(tiny_world_model_config()).eval()
    return model, FastMemory(model, FastMemoryConfig(window="transition", lr=1e-2))


def test_online_adaptation_predicts_each_lag_from_the_chunks_written_that_far_back():
    episode = varied_episode()  # 12 steps: 2 context frames, 5 chunks of 2
    curves = online_adaptation(*model_and_memory(), episode, lags=(0, 1, 3))
    assert sorted(curves) == ["base", "memory", "memory_lag0", "memory_lag3"]
    assert all(len(curve) == 4 for curve in curves.values())  # chunks 1..4 are predicted
    assert curves["memory_lag3"][:2] == curves["base"][:2]  # chunks 1 and 2: nothing written 3 chunks back yet
    assert curves["memory_lag0"] != curves["base"]

    # the same numbers by hand, from a fresh memory each: write chunks 0..t - lag, then predict chunk t
    for lag, target in [(0, 2), (1, 4), (3, 4)]:
        model, memory = model_and_memory()
        frames, actions, first = episode_chunks(model, episode)
        seen = [model.codec.encode(first), *(latent[None] for latent in model.codec.encode(frames))]
        chunk_actions = actions.reshape(len(actions), 1, 2, 1, -1)  # (N, batch, f_g, frame skip, A)
        memory.reset()  # as online_adaptation does
        for chunk in range(target - lag + 1):
            memory.observe(local_window(seen[: chunk + 2]), seen[chunk + 1], chunk_actions[chunk])
        with torch.no_grad():
            latent = model.sample_chunk(torch.cat(seen[: target + 1], dim=1)[:, -2:], chunk_actions[target],
                                        generator=torch.Generator().manual_seed(0))
            expected = psnr(model.decode_imagined(latent), frames[target][None]).item()
        assert curves[lag_key(lag)][target - 1] == pytest.approx(expected, abs=1e-4)


def test_online_adaptation_refuses_negative_lags():
    model = VideoWorldModel(tiny_world_model_config()).eval()
    with pytest.raises(ValueError, match="at least 0"):
        online_adaptation(model, FastMemory(model), varied_episode(), lags=(-1,))
