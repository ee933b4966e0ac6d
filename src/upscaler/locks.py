"""One process at a time in a folder: the lock `upscaler batch` holds on DST and
`upscaler train` holds on its run folder.

Two writers in one folder interleave their files (two batch jobs each cleaning the other's
temp files; two trainings writing checkpoints of different weights under one run), so the
second must fail at once, saying who holds the folder, rather than wait or join in.

Why ``flock`` on a file in the folder, and why that is safe against stale locks: the
kernel holds an ``flock`` lock for the open file, and drops it when the last descriptor
closes, which includes the holder's death by any signal (SIGKILL too) or a crash. A lock
file left behind by a killed process is therefore just a file: the next process locks it
at once and overwrites the pid in it. No pid is ever probed to decide staleness (a pid
can be reused, and means nothing on another host of a shared folder); the pid written
into the file is only there to name the holder in the refusal.

Removing the lock file when done takes care: it is unlinked while still locked, and a
process that opened it meanwhile through the old name finds that the name no longer leads
to the file it holds, and tries again on the new one. Where there is no ``fcntl``
(Windows), the ``filelock`` package does the same job and leaves its file behind; on
POSIX it calls the same ``flock``, so the two exclude each other.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from upscaler.errors import UpscalerError

logger = logging.getLogger("upscaler.locks")

Refusal = Callable[[int | None], UpscalerError]
"""Builds the error for a busy folder from the holder's pid (None when not recorded)."""


def recorded_pid(path: Path) -> int | None:
    """The pid a holder wrote into lock file ``path``, if it did (and it reads as one)."""
    try:
        text = path.read_text(encoding="ascii", errors="replace")[:32].strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


class FolderLock:
    """Hold lock file ``path`` for a ``with`` block, or raise ``busy(pid)`` at once if
    another process holds it; the file is removed when the block ends."""

    ATTEMPTS = 5

    def __init__(self, path: Path, busy: Refusal) -> None:
        self.path = path
        self._busy = busy
        self._fd: int | None = None
        self._fallback: Any = None

    def __enter__(self) -> FolderLock:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows
            from filelock import FileLock, Timeout

            self._fallback = FileLock(str(self.path))
            try:
                self._fallback.acquire(timeout=0)
            except Timeout:
                raise self._busy(None) from None
            return self
        for _ in range(self.ATTEMPTS):
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                raise self._busy(recorded_pid(self.path)) from None
            try:
                same = self.path.stat().st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                self._fd = fd
                self._record_pid(fd)
                return self
            os.close(fd)  # a finishing holder removed this file: lock the new one
        raise self._busy(None)

    @staticmethod
    def _record_pid(fd: int) -> None:
        """Write our pid into the file (replacing a killed holder's) for the refusal."""
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        except OSError as exc:  # a full disk must not stop the job the lock protects
            logger.debug("could not record the pid in the lock file: %s", exc)

    def __exit__(self, *exc: object) -> None:
        if self._fallback is not None:  # pragma: no cover - Windows
            self._fallback.release()
            return
        if self._fd is not None:
            with contextlib.suppress(OSError):
                self.path.unlink()
            os.close(self._fd)  # closing the descriptor releases the lock
            self._fd = None
