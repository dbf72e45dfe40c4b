"""Writing benchmark results: raw JSON plus a markdown table, both naming the command."""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..config_io import strict_json


def command_line() -> str:
    """This process's command line, shell-quoted, as a person would type it again."""
    return " ".join(shlex.quote(arg) for arg in [Path(sys.executable).name, *sys.argv])


def argument_settings(arguments: argparse.Namespace) -> dict[str, Any]:
    """A script's parsed arguments as JSON-ready settings (paths as strings), to store beside its results."""
    return {key: str(value) if isinstance(value, Path) else value for key, value in vars(arguments).items()}


def machine_description() -> str:
    """A one-line description of this machine: CPU count and model, Python, OS."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as stream:
            cpu = next(line.split(":", 1)[1].strip() for line in stream if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{os.cpu_count()} CPUs ({cpu}), Python {platform.python_version()}, {platform.system()}"


def write_results(
    directory: str | Path,
    name: str,
    data: dict[str, Any],
    header: Sequence[str],
    rows: Sequence[Sequence[Any]],
    notes: str = "",
    command: str | None = None,
) -> tuple[Path, Path]:
    """Write `<directory>/<name>.json` (`data`) and `<name>.md` (a table of `rows` under `header`).

    The markdown names the command that produced it (default: this process's argv)
    and the machine it ran on. Returns the two paths.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    command = command or command_line()
    json_path, markdown_path = directory / f"{name}.json", directory / f"{name}.md"
    json_path.write_text(strict_json(data, sort_keys=True))

    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:.1f}" if abs(value) >= 100 else f"{value:.4g}"
        return str(value)

    lines = [
        f"# {name}",
        "",
        f"Command: `{command}`",
        "",
        f"Machine: {machine_description()}",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(cell(value) for value in row) + " |" for row in rows),
    ]
    if notes:
        lines += ["", notes]
    markdown_path.write_text("\n".join(lines) + "\n")
    return json_path, markdown_path
