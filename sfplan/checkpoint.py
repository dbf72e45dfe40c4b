"""Saving and loading models as `model.safetensors` + `config.json`, atomically."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable, TypeVar

from safetensors import SafetensorError
import torch
from safetensors.torch import load_file, save_file
from torch import nn

ModuleT = TypeVar("ModuleT", bound=nn.Module)
WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"


class CheckpointError(ValueError):
    """A checkpoint directory is missing, incomplete, corrupt or made for another config."""


def replace_directory(build: Callable[[Path], None], destination: str | Path) -> Path:
    """Call `build(temp_dir)` and then move the result to `destination` in one rename.

    Readers see either the old directory or the complete new one, never a half-written one;
    if `build` raises, `destination` is untouched and the temporary directory removed.
    """
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    temp = Path(tempfile.mkdtemp(prefix=f".{destination.name}.", dir=destination.parent))
    try:
        build(temp)
        if destination.exists():
            old = destination.with_name(f".{destination.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(destination, old)
            os.replace(temp, destination)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(temp, destination)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise
    return destination


def save_pretrained(
    module: nn.Module,
    config: dict[str, Any],
    directory: str | Path,
    state: dict[str, torch.Tensor] | None = None,
    extra_json: dict[str, Any] | None = None,
) -> Path:
    """Write `module`'s weights (or the given `state`) and its `config` dict into `directory` atomically.

    `extra_json` maps further file names to JSON-ready values written in the same directory
    (e.g. a training step count that must never disagree with the weights).
    """

    def build(temp: Path) -> None:
        tensors = module.state_dict() if state is None else state
        save_file({name: tensor.detach().contiguous() for name, tensor in tensors.items()}, str(temp / WEIGHTS_NAME))
        (temp / CONFIG_NAME).write_text(json.dumps(config, indent=2) + "\n")
        for name, value in (extra_json or {}).items():
            (temp / name).write_text(json.dumps(value) + "\n")

    return replace_directory(build, directory)


def read_config(directory: str | Path) -> dict[str, Any]:
    """The `config.json` of a checkpoint directory, with clear errors when it is missing or corrupt."""
    directory = Path(directory)
    if not directory.is_dir():
        raise CheckpointError(f"no checkpoint directory at {directory}; train one with experiments/train_world_model.py")
    path = directory / CONFIG_NAME
    if not path.exists():
        raise CheckpointError(f"{directory} has no {CONFIG_NAME}: not a checkpoint, or an incomplete copy")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise CheckpointError(f"{path} is not valid JSON ({error}); the checkpoint is corrupt") from error


def load_weights(module: ModuleT, directory: str | Path) -> ModuleT:
    """Load `model.safetensors` from `directory` into `module`; mismatches name the offending tensors."""
    path = Path(directory) / WEIGHTS_NAME
    if not path.exists():
        raise CheckpointError(f"{Path(directory)} has no {WEIGHTS_NAME}: an incomplete checkpoint")
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError, RuntimeError) as error:
        raise CheckpointError(f"{path} cannot be read ({error}); the checkpoint is corrupt, train or copy it again") from error
    expected = module.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    mismatched = sorted(name for name in set(state) & set(expected) if state[name].shape != expected[name].shape)
    if missing or unexpected or mismatched:
        details = "; ".join(
            f"{label}: {names[:3]}{' ...' if len(names) > 3 else ''}"
            for label, names in (("missing", missing), ("unexpected", unexpected), ("shape mismatch", mismatched))
            if names
        )
        raise CheckpointError(
            f"{path} does not fit this model's config ({details}); load it with the config.json saved beside it"
        )
    module.load_state_dict(state)
    return module
