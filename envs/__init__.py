"""Gymnasium environments with pixel observations and `info["success"]` (installed as `sfplan.envs`).

`make(name, **overrides)` builds one by name; each is also registered with gymnasium as
`sfplan/<name>-v0`.
"""

from . import rendering  # noqa: F401  (sets MUJOCO_GL before anything imports mujoco)
from .registry import ENV_SPECS, EnvSpec, camera_projection, env_names, env_spec, make, register_with_gymnasium

register_with_gymnasium()

__all__ = ["ENV_SPECS", "EnvSpec", "camera_projection", "env_names", "env_spec", "make"]
