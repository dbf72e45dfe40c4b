"""Building config dataclasses from plain dicts (JSON files, hydra) with errors that name typos."""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Iterable
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


def parse_key_values(pairs: Iterable[str]) -> dict[str, Any]:
    """["samples=16", "planner=cem"] -> {"samples": 16, "planner": "cem"}: values parsed as JSON,
    else as a float ("inf"), else kept as strings. A pair without "=" raises a ValueError naming it."""
    values: dict[str, Any] = {}
    for pair in pairs:
        key, separator, value = pair.partition("=")
        if not separator:
            raise ValueError(f"expected key=value, got {pair!r}")
        try:
            values[key] = json.loads(value)
        except json.JSONDecodeError:
            try:
                values[key] = float(value)
            except ValueError:
                values[key] = value
    return values


def parse_set_option(parser: argparse.ArgumentParser, pairs: Iterable[str]) -> dict[str, Any]:
    """`parse_key_values` for a script's `--set KEY=VALUE ...` option: a malformed pair ends the
    script through `parser.error` with a message naming the option and the pair."""
    try:
        return parse_key_values(pairs)
    except ValueError as error:
        parser.error(f"--set takes key=value pairs: {error}")


def strict_json(values: Any, sort_keys: bool = False) -> str:
    """Indented JSON text that every JSON reader accepts: an infinite float (a prior margin of
    inf, say) is written as the string "inf" or "-inf" instead of Python's bare `Infinity`, and
    NaN (an undefined number) as null."""

    def strict(value: Any) -> Any:
        if isinstance(value, float) and not math.isfinite(value):
            return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
        if isinstance(value, dict):
            return {key: strict(item) for key, item in value.items()}
        if isinstance(value, (list, tuple)):
            return [strict(item) for item in value]
        return value

    return json.dumps(strict(values), indent=2, sort_keys=sort_keys, allow_nan=False) + "\n"
