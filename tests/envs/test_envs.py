import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import sfplan.envs as envs

ALL_ENVS = envs.env_names()


@pytest.fixture(scope="module", params=ALL_ENVS)
def named_env(request):
    env = envs.make(request.param, image_size=32)
    yield request.param, env
    env.close()


def test_passes_gymnasium_check_env(named_env):
    _, env = named_env
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # unbounded proprio spaces and spec-less envs only warn
        check_env(env.unwrapped, skip_render_check=False)  # raises on any API violation
    frame = env.unwrapped.render()
    assert frame.shape == (32, 32, 3) and frame.dtype == np.uint8  # rgb_array rendering returns the camera frame


def test_observation_and_info_contract(named_env):
    _, env = named_env
    observation, info = env.reset(seed=0)
    assert observation["image"].shape == (32, 32, 3) and observation["image"].dtype == np.uint8
    assert observation["proprio"].dtype == np.float32
    assert observation in env.observation_space
    assert set(info) >= {"success", "stage"}
    observation, reward, terminated, truncated, info = env.step(env.action_space.sample())
    assert isinstance(reward, float) and not terminated and not truncated
    assert isinstance(info["success"], bool)
    assert observation["image"].std() > 1.0  # a real picture, not a blank buffer


def test_same_seed_gives_same_episode(named_env):
    _, env = named_env
    actions = np.random.default_rng(0).uniform(-1, 1, (5, *env.action_space.shape)).astype(np.float32)

    def run(seed):
        observation, _ = env.reset(seed=seed)
        frames = [observation["image"]]
        for action in actions:
            frames.append(env.step(action)[0]["image"])
        return np.stack(frames)

    first, second, other = run(3), run(3), run(4)
    np.testing.assert_array_equal(first, second)
    assert not np.array_equal(first[0], other[0])


def test_time_limit_truncates_not_terminates():
    env = envs.make("pointmass-push", max_episode_steps=3)
    env.reset(seed=0)
    flags = [env.step(env.action_space.sample())[2:4] for _ in range(3)]
    env.close()
    assert flags == [(False, False), (False, False), (False, True)]


def test_terminate_on_success_ends_the_episode():
    env = envs.make("pointmass-push", terminate_on_success=True)
    env.reset(seed=0)
    state = env.unwrapped.task_state()
    env.unwrapped.data.qpos[env.unwrapped._block_qpos : env.unwrapped._block_qpos + 2] = state["goal_pos"]
    _, _, terminated, _, info = env.step(np.zeros(2, np.float32))
    env.close()
    assert info["success"] and terminated


def test_unknown_env_lists_known_names():
    with pytest.raises(ValueError, match="unknown env 'robosuit-lift'; known: .*robosuite-lift"):
        envs.make("robosuit-lift")


def test_unknown_option_lists_options():
    with pytest.raises(ValueError, match="no option 'imagesize'; options: .*image_size"):
        envs.make("pointmass-push", imagesize=32)


@pytest.mark.parametrize("bad_action", [np.zeros(3, np.float32), np.array([np.nan, 0.0], np.float32)])
def test_bad_actions_raise_clear_errors(bad_action):
    env = envs.make("pointmass-push")
    env.reset(seed=0)
    with pytest.raises(ValueError, match="shape|NaN"):
        env.step(bad_action)
    env.close()


def test_registered_with_gymnasium():
    env = gym.make("sfplan/pointmass-push-v0", image_size=16)
    observation, _ = env.reset(seed=0)
    env.close()
    assert observation["image"].shape == (16, 16, 3)


def test_stack_reports_stages():
    env = envs.make("robosuite-stack", image_size=16)
    _, info = env.reset(seed=0)
    env.close()
    assert info["stage"] == 0 and env.unwrapped.num_stages == 3


def test_full_proprio_extends_the_end_effector_state():
    observations = {}
    for proprio in ("eef", "full"):
        env = envs.make("robosuite-lift", image_size=16, proprio=proprio)
        env.reset(seed=3)
        observation, *_ = env.step(np.full(7, 0.3, dtype=np.float32))
        env.close()
        assert env.observation_space["proprio"].shape == observation["proprio"].shape
        observations[proprio] = observation["proprio"]
    assert observations["eef"].shape == (9,) and observations["full"].shape == (32,)
    np.testing.assert_array_equal(observations["full"][:9], observations["eef"])
    assert np.abs(observations["full"][-9:]).max() > 0  # the arm and fingers move: velocities


def test_unknown_proprio_lists_choices():
    with pytest.raises(ValueError, match="unknown proprio 'joints'; known: eef, full"):
        envs.make("robosuite-lift", image_size=16, proprio="joints")


def test_the_camera_projection_follows_the_gripper_in_the_image():
    env = envs.make("robosuite-lift", image_size=32)
    observation, _ = env.reset(seed=0)
    projection = envs.camera_projection("robosuite-lift", image_size=32)

    def gripper_pixel(proprio):
        column, row, depth = projection @ np.append(proprio[:3], 1.0)
        return column / depth, row / depth

    start = gripper_pixel(observation["proprio"])
    down = np.zeros(7, dtype=np.float32)
    down[2] = -1.0
    for _ in range(10):
        observation, *_ = env.step(down)
    env.close()
    end = gripper_pixel(observation["proprio"])
    assert all(0 <= value < 32 for value in (*start, *end))
    assert end[1] > start[1] + 1, "lowering the arm moves it down the (right side up) image"
    with pytest.raises(ValueError, match="no camera projection"):
        envs.camera_projection("pointmass-push", image_size=16)


def test_supersampling_averages_a_finer_render_of_the_same_scene():
    frames = {}
    for image_size, supersample in ((16, 2), (32, 1)):
        env = envs.make("robosuite-lift", image_size=image_size, supersample=supersample)
        env.reset(seed=2)
        observation, *_ = env.step(np.full(7, 0.3, dtype=np.float32))
        env.close()
        frames[supersample] = observation["image"]
    assert frames[2].shape == (16, 16, 3) and frames[2].dtype == np.uint8
    block_mean = frames[1].reshape(16, 2, 16, 2, 3).astype(np.float32).mean(axis=(1, 3))
    np.testing.assert_allclose(frames[2].astype(np.float32), block_mean, atol=0.5 + 1e-4)
    single_sample = frames[1][::2, ::2].astype(np.float32)
    assert np.abs(single_sample - block_mean).mean() > 0.5, "the test scene has edges where sampling matters"


def test_supersample_below_one_is_refused():
    with pytest.raises(ValueError, match="supersample must be at least 1"):
        envs.make("robosuite-lift", image_size=16, supersample=0)


def test_a_camera_offset_moves_the_view_and_a_bad_one_is_refused():
    frames = []
    for offset in ((0, 0, 0), (0, 0.05, 0.03)):
        env = envs.make("robosuite-lift", image_size=32, camera_offset=offset)
        observation, _ = env.reset(seed=2)
        projection = env.unwrapped.camera_projection()
        env.close()
        frames.append((observation["image"].astype(np.float32), projection))
    (still, still_projection), (moved, moved_projection) = frames
    assert np.abs(still - moved).mean() > 5  # another view of the same scene
    target = np.array([-0.05, 0.0, 0.92, 1.0])  # the point the workspace camera looks at stays centred
    for projection in (still_projection, moved_projection):
        u, v, w = projection @ target
        assert abs(u / w - 16) < 1 and abs(v / w - 16) < 1
    with pytest.raises(ValueError, match="camera_offset is"):
        envs.make("robosuite-lift", image_size=16, camera_offset=(0, 0.1))
    with pytest.raises(ValueError, match="moves the 'workspace' camera only"):
        envs.make("robosuite-lift", image_size=16, camera="frontview", camera_offset=(0, 0.1, 0))
