"""Stopping a job with SIGTERM (`kill`, a scheduler, a CI timeout) as cleanly as with Ctrl-C."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"stopped by signal {signal.Signals(signum).name}")


@contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """While active, SIGTERM raises `KeyboardInterrupt` in the main thread instead of ending the process.

    Python's default SIGTERM ends the process without unwinding, so the `with` and `finally`
    blocks that delete temporary files (datasets and checkpoints are written beside their
    destination, then renamed) never run and leave hidden half-written files behind. Usable as a
    decorator on an entry point; restores the previous handler on exit; does nothing outside the
    main thread, where handlers cannot be set.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
