"""Building config dataclasses from plain dicts (JSON files, hydra) with errors that name typos."""

from __future__ import annotations

from dataclasses import fields
from typing import Any, TypeVar

ConfigT = TypeVar("ConfigT")


def config_from_dict(cls: type[ConfigT], values: dict[str, Any], label: str) -> ConfigT:
    """`cls(**values)`, but unknown keys raise a ValueError that lists them and the known ones."""
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"unknown {label} config keys {unknown}; known: {sorted(known)}")
    return cls(**values)
