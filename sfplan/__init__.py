"""sfplan: robot planning with a slow-fast video world model (SlowFast-VGen as an MPC simulator)."""

import os

# MuJoCo picks its GL backend when first imported; headless EGL unless the user chose one.
os.environ.setdefault("MUJOCO_GL", "egl")

__version__ = "0.1.0"
