import pytest
import torch

from helpers import tiny_world_model_config
from sfplan.world_model import GripperMap, VideoWorldModel
from sfplan.world_model.gripper_map import hermite_states

# A pinhole camera at the origin looking along +z: (x, y, z) -> pixel (8 + 4x/z, 4 + 4y/z) on 16x16 frames.
PINHOLE = torch.tensor([[4.0, 0.0, 8.0, 0.0], [0.0, 4.0, 4.0, 0.0], [0.0, 0.0, 1.0, 0.0]])


def robot_states(*positions, opening=0.02):
    """(N, 9) robosuite-layout states: position, a unit quaternion, fingers at +-opening/2."""
    states = torch.zeros(len(positions), 9)
    states[:, :3] = torch.tensor(positions)
    states[:, 6] = 1.0
    states[:, 7], states[:, 8] = opening / 2, -opening / 2
    return states


def gripper_model(**overrides) -> VideoWorldModel:
    torch.manual_seed(0)
    model = VideoWorldModel(tiny_world_model_config(proprio_dim=9, state_predictor_hidden=8, gripper_map=True, **overrides))
    model.gripper_map.set_camera(PINHOLE)
    return model.eval()


def test_the_blob_sits_where_the_camera_sees_the_gripper_and_carries_its_move():
    gripper_map = GripperMap(image_size=16, latent_size=8, sigma=1.0)
    gripper_map.set_camera(PINHOLE)
    now = robot_states([0.0, 0.0, 1.0])  # pixel (8, 4): latent (4, 2)
    future = robot_states([1.0, 1.0, 1.0], opening=0.04)[None]  # pixel (12, 8): latent (6, 4), fingers 2 cm wider
    maps = gripper_map(now, future)
    assert maps.shape == (1, 1, 4, 8, 8)
    blob, move_columns, move_rows, fingers = maps[0, 0]
    assert divmod(int(blob.argmax()), 8) == (4, 6) and blob.max() == pytest.approx(1.0)
    torch.testing.assert_close(move_columns, 2.0 * blob)  # two latent columns to the right
    torch.testing.assert_close(move_rows, 2.0 * blob)
    torch.testing.assert_close(fingers, 2.0 * blob)  # opened by 2 cm
    current = gripper_map.current(now)[0]
    assert divmod(int(current[0].argmax()), 8) == (2, 4) and not current[1:].any()


def test_hermite_interpolation_keeps_both_ends_and_a_steady_motion():
    velocity = torch.tensor([0.5, -1.0, 2.0])
    history = torch.stack([torch.zeros(3), velocity])[None]  # one step before and now
    end = torch.stack([7 * velocity, 8 * velocity])[None] + velocity  # 8 steps later, same speed
    states = hermite_states(history, end, steps=8, at_steps=torch.tensor([0, 2, 4, 8]))
    torch.testing.assert_close(states[0], torch.stack([velocity * (1 + t) for t in (0, 2, 4, 8)]))


def test_a_gripper_map_model_predicts_from_where_the_gripper_will_be():
    model = gripper_model()
    model.proprio_encoder.start_silent()  # the state reaches the UNet through the map only
    c = model.config
    context = torch.randn(1, c.context_frames, 2, 8, 8)
    actions = torch.zeros(1, c.steps_per_chunk, 2)
    here, there = torch.stack([robot_states([0.0, 0.0, 1.0])] * 2, dim=1), torch.stack([robot_states([1.0, 0.5, 1.0])] * 2, dim=1)
    imagine = lambda proprio: model.imagine_latents(context, actions, initial_noise=0.0, proprio=proprio)  # noqa: E731
    assert not torch.allclose(imagine(here), imagine(there))
    maps = model._gripper_maps(2, here.expand(2, -1, -1), torch.zeros(2, c.target_frames, c.frame_skip, 2),
                               torch.tensor([False, True]), None, c.context_frames, c.target_frames)
    assert maps[0].any() and not maps[1].any(), "a sample with the unknown state gets no map"


def test_a_gripper_map_needs_a_robot_state_a_state_predictor_and_a_camera():
    with pytest.raises(ValueError, match="gripper_map needs a robosuite robot state"):
        tiny_world_model_config(proprio_dim=3, state_predictor_hidden=8, gripper_map=True)
    with pytest.raises(ValueError, match="gripper_map needs"):
        tiny_world_model_config(proprio_dim=9, gripper_map=True)
    with pytest.raises(ValueError, match="gripper_map_sigma"):
        tiny_world_model_config(proprio_dim=9, state_predictor_hidden=8, gripper_map=True, gripper_map_sigma=0.0)
    model = VideoWorldModel(tiny_world_model_config(proprio_dim=9, state_predictor_hidden=8, gripper_map=True)).eval()
    c = model.config
    with pytest.raises(ValueError, match="no camera"):
        model.imagine_latents(torch.randn(1, 2, 2, 8, 8), torch.zeros(1, c.steps_per_chunk, 2),
                              proprio=torch.stack([robot_states([0.0, 0.0, 1.0])] * 2, dim=1))
    with pytest.raises(ValueError, match="non-zero"):
        model.gripper_map.set_camera(torch.zeros(3, 4))


def test_the_camera_is_saved_with_the_weights(tmp_path):
    model = gripper_model()
    model.save_pretrained(tmp_path / "model")
    loaded = VideoWorldModel.from_pretrained(tmp_path / "model")
    torch.testing.assert_close(loaded.gripper_map.projection, PINHOLE)
