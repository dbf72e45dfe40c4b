"""A cheap MuJoCo pixel task for fast tests: a point mass pushes a block onto a goal pad."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from .rendering import FastRenderer

import mujoco  # noqa: E402  (after .rendering, which sets MUJOCO_GL)

ARENA_HALF_WIDTH = 0.3
"""Half the side of the square arena, metres."""
SUCCESS_DISTANCE = 0.05
"""The block counts as on the goal when its centre is this close to the goal's centre."""

_XML = f"""
<mujoco model="pointmass_push">
  <option timestep="0.01" integrator="implicitfast"/>
  <visual><global offwidth="64" offheight="64"/><quality shadowsize="0"/></visual>
  <asset>
    <material name="floor" rgba="0.85 0.85 0.8 1"/>
    <material name="wall" rgba="0.3 0.3 0.35 1"/>
  </asset>
  <worldbody>
    <light pos="0 0 2" dir="0 0 -1" directional="true"/>
    <geom name="floor" type="plane" size="{ARENA_HALF_WIDTH + 0.05} {ARENA_HALF_WIDTH + 0.05} 0.1" material="floor"/>
    <geom type="box" pos="0 {ARENA_HALF_WIDTH + 0.02} 0.03" size="{ARENA_HALF_WIDTH + 0.04} 0.02 0.03" material="wall"/>
    <geom type="box" pos="0 -{ARENA_HALF_WIDTH + 0.02} 0.03" size="{ARENA_HALF_WIDTH + 0.04} 0.02 0.03" material="wall"/>
    <geom type="box" pos="{ARENA_HALF_WIDTH + 0.02} 0 0.03" size="0.02 {ARENA_HALF_WIDTH} 0.03" material="wall"/>
    <geom type="box" pos="-{ARENA_HALF_WIDTH + 0.02} 0 0.03" size="0.02 {ARENA_HALF_WIDTH} 0.03" material="wall"/>
    <body name="goal" pos="0 0 0.001" mocap="true">
      <geom type="cylinder" size="{SUCCESS_DISTANCE} 0.001" rgba="0.2 0.7 0.2 1" contype="0" conaffinity="0"/>
    </body>
    <body name="agent" pos="0 0 0.03">
      <joint name="agent_x" type="slide" axis="1 0 0" damping="8"/>
      <joint name="agent_y" type="slide" axis="0 1 0" damping="8"/>
      <geom type="sphere" size="0.03" mass="0.5" rgba="0.15 0.3 0.9 1"/>
    </body>
    <body name="block" pos="0 0 0.03">
      <joint name="block_x" type="slide" axis="1 0 0" damping="2"/>
      <joint name="block_y" type="slide" axis="0 1 0" damping="2"/>
      <joint name="block_yaw" type="hinge" axis="0 0 1" damping="0.01"/>
      <geom type="box" size="0.035 0.035 0.03" mass="0.3" rgba="0.9 0.25 0.2 1"/>
    </body>
    <camera name="top" pos="0 0 0.95" xyaxes="1 0 0 0 1 0" fovy="40"/>
  </worldbody>
  <actuator>
    <motor joint="agent_x" gear="4" ctrlrange="-1 1" ctrllimited="true"/>
    <motor joint="agent_y" gear="4" ctrlrange="-1 1" ctrllimited="true"/>
  </actuator>
</mujoco>
"""


class PointMassPushEnv(gym.Env):
    """Push a red block onto a green goal pad with a blue point mass, seen from above.

    Observation: Dict(image=(H, W, 3) uint8, proprio=(4,) float32: agent x, y position (m)
    and velocity (m/s)). Action: Box(-1, 1, (2,)) force on the agent. Reward: dense, in
    [0, 1]: 0.8 * (1 - tanh(5 * block-goal distance)) + 0.2 * (1 - tanh(5 * agent-block
    distance)). `info["success"]` when the block centre is within 5 cm of the goal;
    `info["stage"]` is 1 on success, else 0. Renders at several hundred steps per second.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 20}
    num_stages = 1  # the highest `info["stage"]`

    def __init__(
        self,
        image_size: int = 64,
        camera: str = "top",
        frame_skip: int = 5,
        terminate_on_success: bool = False,
        render_mode: str | None = "rgb_array",
    ) -> None:
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be 'rgb_array' or None, got {render_mode!r}")
        if image_size < 8:
            raise ValueError(f"image_size must be at least 8 pixels, got {image_size}")
        if camera != "top":
            raise ValueError(f"unknown camera {camera!r}; pointmass-push has one camera: top")
        self.image_size = image_size
        self.camera = camera
        self.frame_skip = frame_skip
        self.terminate_on_success = terminate_on_success
        self.render_mode = render_mode
        self.model = mujoco.MjModel.from_xml_string(_XML)
        self.data = mujoco.MjData(self.model)
        self._renderer = FastRenderer(self.model, image_size, image_size)
        self._agent_qpos = self.model.joint("agent_x").qposadr[0]
        self._block_qpos = self.model.joint("block_x").qposadr[0]
        self._goal_mocap = self.model.body("goal").mocapid[0]
        self.observation_space = gym.spaces.Dict(
            {
                "image": gym.spaces.Box(0, 255, (image_size, image_size, 3), np.uint8),
                "proprio": gym.spaces.Box(-np.inf, np.inf, (4,), np.float32),
            }
        )
        self.action_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
        self._last_image: np.ndarray | None = None

    def task_state(self) -> dict[str, np.ndarray]:
        """Privileged state for scripted experts: `agent_pos`, `block_pos`, `goal_pos`, each (2,) metres."""
        return {
            "agent_pos": self.data.qpos[self._agent_qpos : self._agent_qpos + 2].copy(),
            "block_pos": self.data.qpos[self._block_qpos : self._block_qpos + 2].copy(),
            "goal_pos": self.data.mocap_pos[self._goal_mocap, :2].copy(),
        }

    def _observation(self) -> dict[str, np.ndarray]:
        self._last_image = self._renderer.render(self.data, self.camera)
        qvel = self.data.qvel[self._agent_qpos : self._agent_qpos + 2]
        proprio = np.concatenate([self.task_state()["agent_pos"], qvel]).astype(np.float32)
        return {"image": self._last_image.copy(), "proprio": proprio}

    def _reward_and_info(self) -> tuple[float, dict[str, Any]]:
        state = self.task_state()
        block_to_goal = float(np.linalg.norm(state["block_pos"] - state["goal_pos"]))
        agent_to_block = float(np.linalg.norm(state["agent_pos"] - state["block_pos"]))
        reward = 0.8 * (1 - np.tanh(5 * block_to_goal)) + 0.2 * (1 - np.tanh(5 * agent_to_block))
        success = block_to_goal < SUCCESS_DISTANCE
        return float(reward), {"success": success, "stage": int(success)}

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[dict, dict]:
        super().reset(seed=seed)
        mujoco.mj_resetData(self.model, self.data)
        limit = ARENA_HALF_WIDTH - 0.08
        # Block and goal start at least 0.15 m apart; the agent starts away from the block.
        block, goal, agent = (self.np_random.uniform(-limit, limit, 2) for _ in range(3))
        while np.linalg.norm(goal - block) < 0.15:
            goal = self.np_random.uniform(-limit, limit, 2)
        while np.linalg.norm(agent - block) < 0.1:
            agent = self.np_random.uniform(-limit, limit, 2)
        self.data.qpos[self._agent_qpos : self._agent_qpos + 2] = agent
        self.data.qpos[self._block_qpos : self._block_qpos + 2] = block
        self.data.mocap_pos[self._goal_mocap, :2] = goal
        mujoco.mj_forward(self.model, self.data)
        return self._observation(), self._reward_and_info()[1]

    def step(self, action: np.ndarray) -> tuple[dict, float, bool, bool, dict]:
        action = np.asarray(action, dtype=np.float64)
        if action.shape != self.action_space.shape:
            raise ValueError(f"action must have shape {self.action_space.shape}, got {action.shape}")
        if not np.all(np.isfinite(action)):
            raise ValueError(f"action contains NaN or inf: {action}")
        self.data.ctrl[:] = np.clip(action, -1.0, 1.0)
        mujoco.mj_step(self.model, self.data, nstep=self.frame_skip)
        reward, info = self._reward_and_info()
        terminated = self.terminate_on_success and info["success"]
        return self._observation(), reward, terminated, False, info

    def render(self) -> np.ndarray | None:
        """The last camera frame, (H, W, 3) uint8."""
        if self.render_mode is None or self._last_image is None:
            return None
        return self._last_image.copy()

    def close(self) -> None:
        if getattr(self, "_renderer", None) is not None:
            self._renderer.close()
            self._renderer = None
