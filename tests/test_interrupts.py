import os
import signal
from pathlib import Path

import pytest

from sfplan.data import EpisodeWriter
from sfplan.interrupts import terminate_as_interrupt


def test_sigterm_mid_write_leaves_no_file(tmp_path: Path) -> None:
    with pytest.raises(KeyboardInterrupt, match="SIGTERM"):
        with terminate_as_interrupt():
            with EpisodeWriter(tmp_path / "lift.h5", "pointmass-push", "top", 16, {"image_size": 16}):
                assert len(list(tmp_path.iterdir())) == 1  # the hidden temporary file is being written
                os.kill(os.getpid(), signal.SIGTERM)
    assert list(tmp_path.iterdir()) == []


def test_previous_handler_is_restored() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with terminate_as_interrupt():
        assert signal.getsignal(signal.SIGTERM) is not before
    assert signal.getsignal(signal.SIGTERM) is before
