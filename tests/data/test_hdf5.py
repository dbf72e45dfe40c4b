import json

import h5py
import numpy as np
import pytest

from sfplan.data import DatasetError, EpisodeWriter, load_episodes, read_info


def write(path, episodes, env_name="pointmass-push", image_size=8):
    with EpisodeWriter(path, env_name, "top", image_size, {"image_size": image_size}) as writer:
        for episode in episodes:
            writer.add(episode)


def test_round_trip_preserves_every_field(tmp_path, episodes):
    path = tmp_path / "d.h5"
    write(path, episodes)
    loaded = load_episodes(path)
    assert len(loaded) == 2
    for original, copy in zip(episodes, loaded):
        for field in ("frames", "proprio", "actions", "rewards", "successes", "stages"):
            np.testing.assert_array_equal(getattr(original, field), getattr(copy, field))
        assert copy.seed == original.seed


def test_file_uses_robomimic_layout(tmp_path, episodes):
    path = tmp_path / "d.h5"
    write(path, episodes)
    with h5py.File(path) as handle:
        demo = handle["data/demo_1"]
        assert demo["obs/top_image"].shape == (13, 8, 8, 3)
        assert demo["actions"].shape == (13, 2)
        assert demo["dones"][()].tolist() == [0] * 12 + [1]
        assert demo.attrs["num_samples"] == 13
        assert handle["data"].attrs["total"] == 33
        assert json.loads(handle["data"].attrs["env_args"])["env_name"] == "pointmass-push"
    info = read_info(path)
    assert (info.env_name, info.camera, info.image_size, info.num_episodes) == ("pointmass-push", "top", 8, 2)


def test_robomimic_file_without_final_obs_loads(tmp_path):
    path = tmp_path / "robomimic.h5"
    with h5py.File(path, "w") as handle:
        demo = handle.create_group("data/demo_0")
        handle["data"].attrs["env_args"] = json.dumps({"env_name": "Lift", "type": 1, "env_kwargs": {}})
        demo.create_dataset("obs/agentview_image", data=np.zeros((5, 8, 8, 3), np.uint8))
        demo.create_dataset("obs/robot0_eef_pos", data=np.zeros((5, 3)))
        demo.create_dataset("next_obs/agentview_image", data=np.ones((5, 8, 8, 3), np.uint8))
        demo.create_dataset("next_obs/robot0_eef_pos", data=np.ones((5, 3)))
        demo.create_dataset("actions", data=np.zeros((5, 7)))
        demo.create_dataset("rewards", data=np.zeros(5))
    (episode,) = load_episodes(path)
    assert episode.frames.shape == (6, 8, 8, 3) and episode.frames[-1].max() == 1
    assert episode.proprio.shape == (6, 3)


def test_crash_while_writing_leaves_no_dataset(tmp_path, episodes):
    path = tmp_path / "d.h5"
    with pytest.raises(RuntimeError):
        with EpisodeWriter(path, "pointmass-push", "top", 8, {}) as writer:
            writer.add(episodes[0])
            raise RuntimeError("worker died")
    assert list(tmp_path.iterdir()) == []


def test_missing_file_names_the_collect_command(tmp_path):
    with pytest.raises(DatasetError, match="experiments/collect.py"):
        load_episodes(tmp_path / "nothing.h5")


def test_truncated_file_raises_dataset_error(tmp_path, episodes):
    path = tmp_path / "d.h5"
    write(path, episodes)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DatasetError, match="corrupt or truncated|damaged"):
        load_episodes(path)


def test_garbage_file_raises_dataset_error(tmp_path):
    path = tmp_path / "d.h5"
    path.write_bytes(b"not an hdf5 file" * 100)
    with pytest.raises(DatasetError, match="not a readable HDF5 file"):
        load_episodes(path)


def test_unfinished_file_is_rejected(tmp_path, episodes):
    path = tmp_path / "d.h5"
    write(path, episodes)
    with h5py.File(path, "a") as handle:
        handle["data"].attrs["complete"] = False
    with pytest.raises(DatasetError, match="not finished"):
        load_episodes(path)


def test_dataset_for_another_env_is_rejected(tmp_path, episodes):
    path = tmp_path / "d.h5"
    write(path, episodes)
    with pytest.raises(DatasetError, match="recorded in env 'pointmass-push', not 'robosuite-lift'"):
        load_episodes(path, env_name="robosuite-lift")


def test_dataset_for_another_image_size_is_rejected(tmp_path, episodes):
    path = tmp_path / "d.h5"
    write(path, episodes)
    with pytest.raises(DatasetError, match="8x8 images but the config expects 64x64"):
        load_episodes(path, image_size=64)


def test_writer_rejects_frames_of_another_size(tmp_path, episodes):
    with pytest.raises(ValueError, match="this dataset is 16x16"):
        with EpisodeWriter(tmp_path / "d.h5", "pointmass-push", "top", 16, {}) as writer:
            writer.add(episodes[0])


def test_episode_rejects_misaligned_arrays(episodes):
    episode = episodes[0]
    with pytest.raises(ValueError, match="rewards has 19 entries"):
        type(episode)(episode.frames, episode.proprio, episode.actions, episode.rewards[:-1], episode.successes, episode.stages)
