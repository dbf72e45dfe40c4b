"""sfplan: robot planning with a slow-fast video world model (SlowFast-VGen as an MPC simulator).

`from sfplan import SFPlanner` is the agent; subpackages: `sfplan.envs`, `sfplan.policies`,
`sfplan.data`, `sfplan.world_model`, `sfplan.fast`, `sfplan.planning`, `sfplan.training`,
`sfplan.eval`.
"""

import os
from typing import Any

# MuJoCo picks its GL backend when first imported; headless EGL unless the user chose one.
os.environ.setdefault("MUJOCO_GL", "egl")

__version__ = "0.1.0"
__all__ = ["SFPlanner", "SFPlannerConfig", "__version__"]


def __getattr__(name: str) -> Any:
    # The agent pulls in torch, diffusers and peft; env-only users (data collection workers) skip them.
    if name in ("SFPlanner", "SFPlannerConfig"):
        from . import agent

        return getattr(agent, name)
    raise AttributeError(f"module 'sfplan' has no attribute {name!r}")
