import numpy as np
import pytest
import torch

from helpers import make_episode, tiny_world_model_config
from sfplan.eval.fast_memory_eval import (
    chunk_states,
    episode_chunks,
    out_and_back,
    paired_gain_interval,
    single_frame,
    whole_history,
)
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
