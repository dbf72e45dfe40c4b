import numpy as np
import pytest

from sfplan.data import load_episodes, read_info
from sfplan.data.collect import CollectionConfig, collect

PUSH = CollectionConfig("pointmass-push", {"image_size": 16}, max_episode_steps=12, policy_name="expert",
                        policy_kwargs={"noise": 0.1, "explore_prob": 0.2})


def test_collect_writes_episodes_in_seed_order_with_metadata(tmp_path):
    stats = collect(tmp_path / "push.h5", PUSH, num_episodes=3, first_seed=5, progress=False)
    episodes = load_episodes(tmp_path / "push.h5", env_name="pointmass-push", image_size=16)
    assert [episode.seed for episode in episodes] == [5, 6, 7]
    assert all(episode.num_steps == 12 for episode in episodes)
    assert stats.steps == 36 and stats.episodes_per_min > 0
    info = read_info(tmp_path / "push.h5")
    assert (info.camera, info.image_size, info.env_kwargs["image_size"]) == ("top", 16, 16)


def test_two_worker_processes_collect_the_same_episodes_as_one(tmp_path):
    collect(tmp_path / "one.h5", PUSH, num_episodes=2, workers=1, progress=False)
    collect(tmp_path / "two.h5", PUSH, num_episodes=2, workers=2, progress=False)
    for single, parallel in zip(load_episodes(tmp_path / "one.h5"), load_episodes(tmp_path / "two.h5")):
        np.testing.assert_array_equal(single.frames, parallel.frames)
        np.testing.assert_array_equal(single.actions, parallel.actions)


def test_a_failing_rollout_leaves_no_file(tmp_path):
    broken = CollectionConfig("pointmass-push", {"image_size": 16}, policy_name="expert", policy_kwargs={"noise": -1.0})
    with pytest.raises(ValueError):
        collect(tmp_path / "push.h5", broken, num_episodes=2, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_unknown_env_lists_known_ones(tmp_path):
    with pytest.raises(ValueError, match="unknown env 'robosuite-lfit'; known: .*robosuite-lift"):
        collect(tmp_path / "x.h5", CollectionConfig("robosuite-lfit"), num_episodes=1, progress=False)


def test_unknown_policy_lists_known_ones(tmp_path):
    with pytest.raises(ValueError, match="unknown policy 'expret'; known: expert, prior, random"):
        collect(tmp_path / "x.h5", CollectionConfig("pointmass-push", policy_name="expret"), num_episodes=1, progress=False)
