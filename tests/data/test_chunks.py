import numpy as np
import pytest
import torch

from sfplan.data import ChunkDataset, ChunkSpec, consecutive_chunks, proprio_history


def test_windows_take_frames_frame_skip_apart(episodes):
    dataset = ChunkDataset(episodes, ChunkSpec(context_frames=2, target_frames=3, frame_skip=2))
    item = dataset[0]
    # frame t is filled with the value t (see conftest.make_episode)
    assert item["context"][:, 0, 0, 0].tolist() == [0, 2]
    assert item["target"][:, 0, 0, 0].tolist() == [4, 6, 8]
    assert item["context"].shape == (2, 3, 8, 8) and item["context"].dtype == torch.uint8


def test_target_actions_are_the_ones_leading_into_each_target_frame(episodes):
    dataset = ChunkDataset(episodes, ChunkSpec(context_frames=2, target_frames=3, frame_skip=2))
    item = dataset[0]
    assert item["actions"].shape == (3, 2, 2)
    assert item["actions"][:, :, 0].tolist() == [[2, 3], [4, 5], [6, 7]]
    # reward and success are those received on arriving at each target frame (after action t-1)
    assert item["rewards"].tolist() == pytest.approx([3 / 20, 5 / 20, 7 / 20])


def test_window_count_covers_every_start_and_skips_short_episodes(episodes):
    spec = ChunkSpec(context_frames=2, target_frames=3, frame_skip=2, stride=1)  # spans 8 steps
    dataset = ChunkDataset(episodes, spec)
    assert len(dataset) == (20 - 8 + 1) + (13 - 8 + 1)
    last = dataset[len(dataset) - 1]
    assert last["target"][-1, 0, 0, 0].item() == 13  # the last frame of the 13-step episode


def test_stride_thins_windows(episodes):
    assert len(ChunkDataset(episodes, ChunkSpec(2, 3, 2, stride=4))) == len(range(0, 13, 4)) + len(range(0, 6, 4))


def test_too_short_episodes_raise_a_clear_error(episodes):
    with pytest.raises(ValueError, match="no window of 60 steps"):
        ChunkDataset(episodes, ChunkSpec(context_frames=10, target_frames=11, frame_skip=3))


def test_spec_rejects_zero():
    with pytest.raises(ValueError, match="frame_skip must be at least 1"):
        ChunkSpec(frame_skip=0)


def test_consecutive_chunks_follow_the_context_without_gaps():
    frames = torch.arange(14.0)[:, None]  # frame t has value t
    actions = torch.arange(13.0)[:, None]
    first, chunks, chunk_actions = consecutive_chunks(ChunkSpec(context_frames=2, target_frames=2, frame_skip=2), frames, actions)
    assert first.flatten().tolist() == [0, 2]
    assert chunks[..., 0].tolist() == [[4, 6], [8, 10]]  # the 13th step cannot finish a third chunk
    assert chunk_actions[..., 0].tolist() == [[[2, 3], [4, 5]], [[6, 7], [8, 9]]]
    with pytest.raises(ValueError, match="no chunk"):
        consecutive_chunks(ChunkSpec(context_frames=2, target_frames=2, frame_skip=2), frames[:5], actions[:4])


def test_proprio_is_the_state_one_step_before_the_last_context_frame_and_at_it(episodes):
    dataset = ChunkDataset(episodes, ChunkSpec(context_frames=2, target_frames=3, frame_skip=2))
    # proprio of step t is (t, -t) (see helpers.make_episode); the last context frame of window 0 is step 2
    assert dataset[0]["proprio"].tolist() == [[1, -1], [2, -2]]
    assert dataset[3]["proprio"].tolist() == [[4, -4], [5, -5]]


def test_proprio_history_at_the_first_step_repeats_the_state():
    assert proprio_history(np.array([[7.0], [8.0]]), 0).tolist() == [[7.0], [7.0]]
