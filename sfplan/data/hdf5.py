"""Episodes on disk: HDF5 in robomimic's layout, written atomically.

Layout (robomimic's, so robomimic datasets load too)::

    data/                        attrs: env_args (JSON: env_name, type, env_kwargs), total,
                                        sfplan_env, camera, image_size, complete
    data/demo_K/                 attrs: num_samples, seed
        actions (T, A)  rewards (T,)  dones (T,)  successes (T,)  stages (T,)
        obs/<camera>_image (T, H, W, 3) uint8   obs/proprio (T, P)
        final_obs/<camera>_image (1, H, W, 3)   final_obs/proprio (1, P)

robomimic stores the observation before each action; the frame after the last action
lives in `final_obs` (one frame) rather than in a full `next_obs` copy, which would
double the file. Datasets from robomimic itself take their last frame from `next_obs`.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import h5py
import numpy as np

from .episode import Episode

FORMAT_VERSION = 1
_ROBOMIMIC_PROPRIO_KEYS = ("robot0_eef_pos", "robot0_eef_quat", "robot0_gripper_qpos")


class DatasetError(ValueError):
    """A dataset file is missing, corrupt, incomplete or recorded for another setup."""


@dataclass(frozen=True)
class DatasetInfo:
    """What a dataset was recorded with."""

    env_name: str
    camera: str
    image_size: int
    num_episodes: int
    env_kwargs: dict[str, Any]


class EpisodeWriter:
    """Writes episodes into one HDF5 file that appears at `path` only when complete.

    Use as a context manager: episodes go to a temporary file beside `path`, which is
    renamed over `path` on a clean exit and deleted if an exception escapes, so a crash
    never leaves a file that loads as a dataset.
    """

    def __init__(self, path: str | Path, env_name: str, camera: str, image_size: int, env_kwargs: dict[str, Any]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle, temp_name = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
        os.close(handle)
        self._temp_path = Path(temp_name)
        self._file = h5py.File(self._temp_path, "w")
        self._data = self._file.create_group("data")
        self._data.attrs["env_args"] = json.dumps({"env_name": env_name, "type": "sfplan", "env_kwargs": env_kwargs})
        self._data.attrs["sfplan_env"] = env_name
        self._data.attrs["camera"] = camera
        self._data.attrs["image_size"] = image_size
        self._data.attrs["sfplan_format"] = FORMAT_VERSION
        self._camera = camera
        self._image_size = image_size
        self._num_episodes = 0
        self._total_steps = 0

    def add(self, episode: Episode) -> None:
        """Append one episode as `data/demo_<K>`."""
        height, width = episode.frames.shape[1:3]
        if (height, width) != (self._image_size, self._image_size):
            raise ValueError(f"episode frames are {height}x{width}; this dataset is {self._image_size}x{self._image_size}")
        demo = self._data.create_group(f"demo_{self._num_episodes}")
        demo.attrs["num_samples"] = episode.num_steps
        demo.attrs["seed"] = episode.seed
        demo.create_dataset("actions", data=episode.actions.astype(np.float32))
        demo.create_dataset("rewards", data=episode.rewards.astype(np.float32))
        dones = np.zeros(episode.num_steps, dtype=np.int64)
        dones[-1] = 1
        demo.create_dataset("dones", data=dones)
        demo.create_dataset("successes", data=episode.successes.astype(bool))
        demo.create_dataset("stages", data=episode.stages.astype(np.int64))
        image_key = f"{self._camera}_image"
        image_chunks = (1, height, width, 3)
        for group_name, frames, proprio in (
            ("obs", episode.frames[:-1], episode.proprio[:-1]),
            ("final_obs", episode.frames[-1:], episode.proprio[-1:]),
        ):
            group = demo.create_group(group_name)
            group.create_dataset(image_key, data=frames, chunks=image_chunks, compression="lzf")
            group.create_dataset("proprio", data=proprio.astype(np.float32))
        self._num_episodes += 1
        self._total_steps += episode.num_steps

    def __enter__(self) -> EpisodeWriter:
        return self

    def __exit__(self, error_type: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        if error_type is None:
            self._data.attrs["total"] = self._total_steps
            self._data.attrs["complete"] = True
            self._file.close()
            with open(self._temp_path, "rb+") as stream:
                os.fsync(stream.fileno())
            os.replace(self._temp_path, self.path)
        else:
            self._file.close()
            self._temp_path.unlink(missing_ok=True)


def _open(path: Path) -> h5py.File:
    if not path.exists():
        raise DatasetError(f"no dataset at {path}; collect one with `python experiments/collect.py env=<name> output={path}`")
    try:
        handle = h5py.File(path, "r")
    except OSError as error:
        raise DatasetError(f"{path} is not a readable HDF5 file (corrupt or truncated?): {error}; collect it again") from error
    if "data" not in handle:
        handle.close()
        raise DatasetError(f"{path} has no 'data' group: not a robomimic-layout dataset")
    return handle


def read_info(path: str | Path) -> DatasetInfo:
    """The env, camera and image size a dataset was recorded with, without loading frames."""
    path = Path(path)
    with _open(path) as handle:
        return _info(handle, path)


def _info(handle: h5py.File, path: Path) -> DatasetInfo:
    data = handle["data"]
    if data.attrs.get("sfplan_format") is not None and not data.attrs.get("complete", False):
        raise DatasetError(f"{path} was not finished by its writer; collect it again")
    env_args = json.loads(data.attrs.get("env_args", "{}"))
    demos = _demo_names(data)
    if not demos:
        raise DatasetError(f"{path} holds no episodes")
    camera = data.attrs.get("camera")
    if camera is None:
        cameras = sorted(key[: -len("_image")] for key in data[demos[0]]["obs"] if key.endswith("_image"))
        if not cameras:
            raise DatasetError(f"{path} has no camera images under obs/")
        camera = cameras[0]
    image_size = int(data.attrs.get("image_size", data[demos[0]]["obs"][f"{camera}_image"].shape[1]))
    return DatasetInfo(
        env_name=str(data.attrs.get("sfplan_env", env_args.get("env_name", "unknown"))),
        camera=str(camera),
        image_size=image_size,
        num_episodes=len(demos),
        env_kwargs=env_args.get("env_kwargs", {}),
    )


def _demo_names(data: h5py.Group) -> list[str]:
    return sorted((name for name in data if name.startswith("demo_")), key=lambda name: int(name.split("_")[1]))


def _proprio(obs: h5py.Group, steps: int) -> np.ndarray:
    if "proprio" in obs:
        return obs["proprio"][()].astype(np.float32)
    parts = [obs[key][()] for key in _ROBOMIMIC_PROPRIO_KEYS if key in obs]
    return np.concatenate(parts, axis=1).astype(np.float32) if parts else np.zeros((steps, 0), np.float32)


def _read_episode(demo: h5py.Group, camera: str) -> Episode:
    image_key = f"{camera}_image"
    frames = demo["obs"][image_key][()]
    proprio = _proprio(demo["obs"], len(frames))
    actions = demo["actions"][()].astype(np.float32)
    rewards = demo["rewards"][()].astype(np.float32) if "rewards" in demo else np.zeros(len(actions), np.float32)
    successes = demo["successes"][()].astype(bool) if "successes" in demo else np.zeros(len(actions), bool)
    stages = demo["stages"][()].astype(np.int64) if "stages" in demo else successes.astype(np.int64)
    last = next((demo[name] for name in ("final_obs", "next_obs") if name in demo), None)
    if last is not None:
        frames = np.concatenate([frames, last[image_key][-1:]])
        proprio = np.concatenate([proprio, _proprio(last, len(last[image_key]))[-1:]])
    else:  # no frame after the last action: drop that action
        actions, rewards, successes, stages = actions[:-1], rewards[:-1], successes[:-1], stages[:-1]
    return Episode(frames, proprio, actions, rewards, successes, stages, seed=int(demo.attrs.get("seed", -1)))


def load_episodes(
    path: str | Path,
    env_name: str | None = None,
    image_size: int | None = None,
    limit: int | None = None,
) -> list[Episode]:
    """Read every episode (or the first `limit`) of an HDF5 dataset.

    When `env_name` or `image_size` are given, the dataset must have been recorded with
    them; otherwise a DatasetError says what it was recorded with and how to fix it.
    """
    path = Path(path)
    with _open(path) as handle:
        info = _info(handle, path)
        if env_name is not None and info.env_name != env_name:
            raise DatasetError(
                f"{path} was recorded in env {info.env_name!r}, not {env_name!r}; "
                f"use env={info.env_name} or collect a dataset for {env_name}"
            )
        if image_size is not None and info.image_size != image_size:
            raise DatasetError(
                f"{path} has {info.image_size}x{info.image_size} images but the config expects {image_size}x{image_size}; "
                f"set image_size={info.image_size} or collect again with image_size={image_size}"
            )
        try:
            return [_read_episode(handle["data"][name], info.camera) for name in _demo_names(handle["data"])[:limit]]
        except (KeyError, OSError) as error:
            raise DatasetError(f"{path} is damaged ({error}); collect it again") from error
