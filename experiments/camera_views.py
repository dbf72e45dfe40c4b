"""Render the cameras of robosuite-lift and robosuite-stack side by side at 64x64 (docs/cameras.png).

    python experiments/camera_views.py
Shows why sfplan's default camera is `workspace`: in robosuite's `agentview` the cube is
a few pixels wide at 64x64, too small for a world model or planner to see it move.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import imageio.v3 as iio
import numpy as np

from sfplan.envs import make

CAMERAS = ("workspace", "agentview", "frontview", "birdview")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--scale", type=int, default=4, help="nearest-neighbour upscaling of the picture")
    parser.add_argument("--out", type=Path, default=Path("docs/cameras.png"))
    args = parser.parse_args()
    rows = []
    for env_name in ("robosuite-lift", "robosuite-stack"):
        row = []
        for camera in CAMERAS:
            env = make(env_name, camera=camera, image_size=args.image_size)
            observation, _ = env.reset(seed=0)
            for _ in range(12):  # move the gripper down into view
                observation, *_ = env.step(np.array([0, 0, -0.6, 0, 0, 0, -1], np.float32))
            row.append(observation["image"])
            env.close()
        rows.append(np.concatenate(row, axis=1))
    picture = np.concatenate(rows, axis=0).repeat(args.scale, axis=0).repeat(args.scale, axis=1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    iio.imwrite(args.out, picture)
    print(f"wrote {args.out}: columns {', '.join(CAMERAS)}; rows lift, stack")


if __name__ == "__main__":
    main()
