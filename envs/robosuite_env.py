"""robosuite manipulation tasks as gymnasium environments with pixel observations."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

from .rendering import FastRenderer, lookat_quaternion

WORKSPACE_CAMERA = "workspace"
"""Our camera: in front of the table, close enough that a 4 cm cube is ~8 px wide at 64x64.

It re-poses robosuite's `agentview` camera, which looks at the whole table from far away
(the cube is ~3-5 px wide there at 64x64): see docs/cameras.md."""

_WORKSPACE_POSITION = np.array([0.55, 0.0, 1.15])
_WORKSPACE_TARGET = np.array([-0.05, 0.0, 0.92])
_WORKSPACE_FOVY = 42.0
_COLLISION_GEOM_GROUP = 0
_HIDDEN_GEOM_GROUP = 3  # MuJoCo's default scene options render groups 0-2 only
_MOUNT_GEOM = "fixed_mount0_pedestal_vis"
_PROPRIO_KEYS = {
    # the end effector's pose and the fingers: what the shipped models read
    "eef": ("robot0_eef_pos", "robot0_eef_quat", "robot0_gripper_qpos"),
    # the same first, then the arm's configuration and every velocity: a state from which the
    # OSC-controlled arm's next steps follow (docs/world_model.md, session 21)
    "full": ("robot0_eef_pos", "robot0_eef_quat", "robot0_gripper_qpos", "robot0_joint_pos_cos",
             "robot0_joint_pos_sin", "robot0_joint_vel", "robot0_gripper_qvel"),
}


def _import_robosuite() -> Any:
    try:
        import robosuite
    except ImportError as error:  # pragma: no cover - depends on the install
        raise ImportError("robosuite environments need `pip install robosuite==1.5.2 'mujoco>=3.3,<3.10'`") from error
    return robosuite


@dataclass(frozen=True)
class RobosuiteTask:
    """What differs between robosuite tasks: the suite name and how to read its stage."""

    suite_name: str
    num_stages: int


TASKS = {
    "Lift": RobosuiteTask("Lift", num_stages=1),
    "Stack": RobosuiteTask("Stack", num_stages=3),
}


class RobosuitePixelEnv(gym.Env):
    """A robosuite task seen through one camera.

    Observation: Dict(image=(H, W, 3) uint8 right side up, proprio=(P,) float32). With
    `proprio="eef"` (P=9): the end-effector position (3), quaternion (4) and gripper finger
    positions (2); with `proprio="full"` (P=32) the same 9 first, then the cosines (7) and sines
    (7) of the joint angles, the joint velocities (7) and the finger velocities (2).
    Action: Box(-1, 1, (7,)): OSC end-effector delta pose (6) and gripper (-1 open, 1 close).
    Reward: robosuite's dense shaped reward. `info["success"]` is the task's own
    `_check_success()`; `info["stage"]` counts completed sub-goals for staged tasks.
    Episodes end with `terminated` on success only when `terminate_on_success`; the
    time limit is applied by gymnasium's `TimeLimit` wrapper in `sfplan.envs.make`.
    `supersample` k > 1 renders each pixel as the mean of k x k samples (anti-aliased edges,
    `FastRenderer`); 1 (the shipped models' data) samples each pixel once.
    `camera_offset` (x, y, z metres) moves the workspace camera from where every dataset here was
    filmed, still looking at the same point of the table: a camera knocked out of place since
    training, the distribution shift a world model meets when a rig is rebuilt.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 20}

    def __init__(
        self,
        task: str = "Lift",
        image_size: int = 64,
        camera: str = WORKSPACE_CAMERA,
        control_freq: int = 20,
        terminate_on_success: bool = False,
        render_mode: str | None = "rgb_array",
        proprio: str = "eef",
        supersample: int = 1,
        camera_offset: tuple[float, float, float] = (0.0, 0.0, 0.0),
    ) -> None:
        if task not in TASKS:
            raise ValueError(f"unknown robosuite task {task!r}; known: {', '.join(TASKS)}")
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be 'rgb_array' or None, got {render_mode!r}")
        if proprio not in _PROPRIO_KEYS:
            raise ValueError(f"unknown proprio {proprio!r}; known: {', '.join(_PROPRIO_KEYS)}")
        offset = np.asarray(camera_offset, dtype=float)
        if offset.shape != (3,) or not np.isfinite(offset).all():
            raise ValueError(f"camera_offset is (x, y, z) in metres, got {camera_offset!r}")
        if offset.any() and camera != WORKSPACE_CAMERA:
            raise ValueError(f"camera_offset moves the {WORKSPACE_CAMERA!r} camera only, not {camera!r}")
        if image_size < 8:
            raise ValueError(f"image_size must be at least 8 pixels, got {image_size}")
        robosuite = _import_robosuite()
        self.task = TASKS[task]
        self.image_size = image_size
        self.camera = camera
        self.terminate_on_success = terminate_on_success
        self.render_mode = render_mode
        self._proprio_keys = _PROPRIO_KEYS[proprio]
        self._suite_env = robosuite.make(
            task,
            robots="Panda",
            has_renderer=False,
            has_offscreen_renderer=False,
            use_camera_obs=False,
            use_object_obs=True,
            reward_shaping=True,
            control_freq=control_freq,
            hard_reset=False,  # keeps the model (and our camera) and resets in 10 ms instead of 2 s
            ignore_done=True,
            seed=0,  # object sizes are drawn once at construction: the same in every process
        )
        proprio_size = sum(np.size(value) for key, value in self._suite_env.reset().items() if key in self._proprio_keys)
        self._camera_id = self._setup_camera(camera, offset)
        self._renderer = FastRenderer(
            self._suite_env.sim.model._model, image_size, image_size, hidden_geom_groups=(_COLLISION_GEOM_GROUP,),
            supersample=supersample,
        )
        self.observation_space = gym.spaces.Dict(
            {
                "image": gym.spaces.Box(0, 255, (image_size, image_size, 3), np.uint8),
                "proprio": gym.spaces.Box(-np.inf, np.inf, (proprio_size,), np.float32),
            }
        )
        low, high = self._suite_env.action_spec
        self.action_space = gym.spaces.Box(low.astype(np.float32), high.astype(np.float32), dtype=np.float32)
        self._last_image: np.ndarray | None = None
        self._last_suite_obs: dict[str, np.ndarray] = {}

    def _setup_camera(self, camera: str, offset: np.ndarray) -> int:
        model = self._suite_env.sim.model
        if camera == WORKSPACE_CAMERA:
            camera_id = model.camera_name2id("agentview")
            position = _WORKSPACE_POSITION + offset
            model.cam_pos[camera_id] = position
            model.cam_quat[camera_id] = lookat_quaternion(position, _WORKSPACE_TARGET)
            model.cam_fovy[camera_id] = _WORKSPACE_FOVY
            # The robot's mount is static background, a sliver at the top edge of this view,
            # yet 20% of the scene's triangles: hiding it lifts rendering from ~50 to ~58 steps/s.
            model._model.geom_group[model.geom_name2id(_MOUNT_GEOM)] = _HIDDEN_GEOM_GROUP
            self._suite_env.sim.forward()
            return camera_id
        known = [model.camera_id2name(i) for i in range(model.ncam)]
        if camera not in known:
            raise ValueError(f"unknown camera {camera!r}; known: {WORKSPACE_CAMERA}, {', '.join(known)}")
        return model.camera_name2id(camera)

    def camera_projection(self) -> np.ndarray:
        """The camera's (3, 4) world-to-pixel matrix for the observed (right side up) image:
        a homogeneous world point maps to (column, row, 1) times its depth."""
        from robosuite.utils.camera_utils import get_camera_transform_matrix

        sim = self._suite_env.sim
        camera_name = sim.model.camera_id2name(self._camera_id)
        return get_camera_transform_matrix(sim, camera_name, self.image_size, self.image_size)[:3]

    def _observation(self, suite_obs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        self._last_suite_obs = suite_obs
        self._last_image = self._renderer.render(self._suite_env.sim.data._data, self._camera_id)
        proprio = np.concatenate([suite_obs[key] for key in self._proprio_keys]).astype(np.float32)
        return {"image": self._last_image.copy(), "proprio": proprio}

    def _info(self) -> dict[str, Any]:
        success = bool(self._suite_env._check_success())
        return {"success": success, "stage": self.stage(success)}

    @property
    def num_stages(self) -> int:
        """The highest `info["stage"]`: the task's number of sub-goals (Lift 1, Stack 3)."""
        return self.task.num_stages

    def stage(self, success: bool) -> int:
        """Number of completed sub-goals: Lift 0-1; Stack 0 start, 1 grasped, 2 lifted, 3 stacked."""
        if self.task.num_stages == 1:
            return int(success)
        if success:
            return self.task.num_stages
        reach_and_grasp, lift, _ = self._suite_env.staged_rewards()
        return 2 if lift > 0 else int(reach_and_grasp >= 0.25)

    def task_state(self) -> dict[str, np.ndarray]:
        """Privileged simulator state for scripted experts (never part of the observation).

        Keys: `eef_pos` (3,), `gripper_qpos` (2,), and each object's `<name>_pos` (3,)
        in world metres, e.g. `cube_pos` for Lift, `cubeA_pos`/`cubeB_pos` for Stack.
        """
        state = {"eef_pos": self._last_suite_obs["robot0_eef_pos"].copy(),
                 "gripper_qpos": self._last_suite_obs["robot0_gripper_qpos"].copy()}
        for key, value in self._last_suite_obs.items():
            if key.endswith("_pos") and not key.startswith(("robot0", "gripper_to")) and "_to_" not in key:
                state[key] = np.asarray(value).copy()
        return state

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[dict, dict]:
        super().reset(seed=seed)
        if seed is not None:
            # robosuite draws object placements and joint noise from env.rng; with soft
            # resets the placement sampler keeps its own reference, so reseed both.
            rng = np.random.default_rng(seed)
            self._suite_env.rng = rng
            self._suite_env.placement_initializer.rng = rng
        suite_obs = self._suite_env.reset()
        return self._observation(suite_obs), self._info()

    def step(self, action: np.ndarray) -> tuple[dict, float, bool, bool, dict]:
        action = np.asarray(action, dtype=np.float64)
        if action.shape != self.action_space.shape:
            raise ValueError(f"action must have shape {self.action_space.shape}, got {action.shape}")
        if not np.all(np.isfinite(action)):
            raise ValueError(f"action contains NaN or inf: {action}")
        suite_obs, reward, _, _ = self._suite_env.step(np.clip(action, -1.0, 1.0))
        info = self._info()
        terminated = self.terminate_on_success and info["success"]
        return self._observation(suite_obs), float(reward), terminated, False, info

    def render(self) -> np.ndarray | None:
        """The last camera frame, (H, W, 3) uint8."""
        if self.render_mode is None:
            return None
        return None if self._last_image is None else self._last_image.copy()

    def close(self) -> None:
        if getattr(self, "_renderer", None) is not None:
            self._renderer.close()
            self._renderer = None
        if getattr(self, "_suite_env", None) is not None:
            self._suite_env.close()
            self._suite_env = None
