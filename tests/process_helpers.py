"""kill -9 a child process once it has done some work: shared by the kill-and-resume tests
(folder jobs, trainings)."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path


def kill_9_when(
    proc: subprocess.Popen[bytes], ready: Callable[[], bool], log: Path, *, timeout: float
) -> None:
    """Poll ``ready()`` every 2 ms; SIGKILL ``proc`` as soon as it is true. Fails when the
    process ends first (with its stderr from ``log``) or nothing is ready in ``timeout``."""
    deadline = time.monotonic() + timeout
    try:
        while not ready():
            assert proc.poll() is None, log.read_text(errors="replace")
            assert time.monotonic() < deadline, f"nothing to kill for within {timeout:.0f} s"
            time.sleep(0.002)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
