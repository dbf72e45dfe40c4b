"""Fast headless MuJoCo rendering shared by the pixel environments."""

from __future__ import annotations

import os

# MuJoCo reads MUJOCO_GL when it is first imported, so it must be set before that import.
os.environ.setdefault("MUJOCO_GL", "egl")
if os.environ.get("PYOPENGL_PLATFORM", os.environ["MUJOCO_GL"]) != os.environ["MUJOCO_GL"]:
    raise RuntimeError(
        f"PYOPENGL_PLATFORM={os.environ['PYOPENGL_PLATFORM']!r} disagrees with "
        f"MUJOCO_GL={os.environ['MUJOCO_GL']!r}; unset PYOPENGL_PLATFORM or set both to the same backend"
    )

import mujoco  # noqa: E402
import numpy as np  # noqa: E402


def lookat_quaternion(position: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Quaternion (w, x, y, z) of a MuJoCo camera at `position` looking at `target`, world z up."""
    forward = np.asarray(target, dtype=np.float64) - np.asarray(position, dtype=np.float64)
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    up = np.cross(right, forward)
    rotation = np.stack([right, up, -forward], axis=1)  # MuJoCo cameras look along their -z axis
    quaternion = np.zeros(4)
    mujoco.mju_mat2Quat(quaternion, rotation.flatten())
    return quaternion


class FastRenderer:
    """Offscreen RGB renderer tuned for small frames on a CPU.

    Reflections, shadows, skybox and multisampling are turned off and the offscreen
    buffer is sized to the camera, which roughly triples the frame rate at 64x64
    compared with MuJoCo's defaults. `hidden_geom_groups` skips geometry that is only
    for collisions (robosuite keeps collision meshes in group 0).

    `supersample` k > 1 renders k x k samples per pixel and averages them, as a camera's pixel
    integrates the light falling on it: edges come out anti-aliased instead of as a staircase
    whose steps jump with every sub-pixel move (docs/world_model.md, session 23).
    """

    def __init__(
        self, model: mujoco.MjModel, height: int, width: int, hidden_geom_groups: tuple[int, ...] = (), supersample: int = 1
    ) -> None:
        if supersample < 1:
            raise ValueError(f"supersample must be at least 1 (samples per pixel side), got {supersample}")
        self._supersample = supersample
        model.vis.quality.offsamples = 0
        model.vis.global_.offwidth = width * supersample
        model.vis.global_.offheight = height * supersample
        self._renderer = mujoco.Renderer(model, height=height * supersample, width=width * supersample)
        flags = self._renderer.scene.flags
        for flag in (mujoco.mjtRndFlag.mjRND_SHADOW, mujoco.mjtRndFlag.mjRND_REFLECTION, mujoco.mjtRndFlag.mjRND_SKYBOX):
            flags[flag] = False
        self._scene_option = mujoco.MjvOption()
        for group in hidden_geom_groups:
            self._scene_option.geomgroup[group] = 0

    def render(self, data: mujoco.MjData, camera: int | str) -> np.ndarray:
        """Render `camera` into an (H, W, 3) uint8 array, right side up."""
        self._renderer.update_scene(data, camera=camera, scene_option=self._scene_option)
        image = self._renderer.render()
        k = self._supersample
        if k == 1:
            return image
        height, width = image.shape[0] // k, image.shape[1] // k
        samples = image.reshape(height, k, width, k, 3).astype(np.float32)
        return np.round(samples.mean(axis=(1, 3))).astype(np.uint8)

    def close(self) -> None:
        """Free the GL context."""
        self._renderer.close()
