"""Files written whole or not at all: a temp file beside the target, then one rename.

Every output image, batch output, cache record and rewritten catalog file goes through
here, for three reasons the naive ``tempfile.mkstemp`` pattern got wrong:

* **Modes.** mkstemp creates files 0600 and mkdtemp folders 0700 whatever the umask, and
  a rename keeps that mode, so every output was private. Here files are created with
  ``0o666`` and folders with ``0o777`` and the kernel applies the umask, as for any file a
  program writes with ``open()``.
* **Leftovers.** A writer killed with SIGKILL cannot delete its temp file. Temp names
  carry the writer's host and process id (``.upscaler-<host>-<pid>-<random>.tmp<suffix>``),
  so the next process that writes into that folder removes the temp files of writers on
  this host that no longer run, and nothing else (not a live writer's, not another host's
  on a shared folder, not the user's own hidden files).
* **Length.** The temp name is short and of fixed length (about 45 bytes), so an output
  name anywhere up to the 255-byte limit of a file name can still be written.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import secrets
import socket
import stat
import string
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

TEMP_PREFIX = ".upscaler-"
_RANDOM = string.ascii_lowercase + string.digits
_TEMP_NAME = re.compile(
    r"^\.upscaler-(?P<host>[0-9a-f]{8})-(?P<pid>[0-9]{1,10})-[a-z0-9]{8}\.tmp(\.[A-Za-z0-9]{1,8})?\Z"
)
_MAX_TRIES = 100


@lru_cache(maxsize=1)
def host_tag() -> str:
    """Eight hex digits naming this host, so a pid is only judged on the host that owns it."""
    return hashlib.sha256(socket.gethostname().encode("utf-8", "replace")).hexdigest()[:8]


def _temp_name(suffix: str) -> str:
    """A fresh temp name; ``suffix`` (``.png``) is kept so writers can tell the format."""
    token = "".join(secrets.choice(_RANDOM) for _ in range(8))
    safe = suffix if re.fullmatch(r"\.[A-Za-z0-9]{1,8}", suffix) else ""
    return f"{TEMP_PREFIX}{host_tag()}-{os.getpid()}-{token}.tmp{safe}"


def temp_path(folder: Path, suffix: str = "", *, prefix: str | None = None) -> Path:
    """Create an empty temp file in ``folder`` (mode 0666 less the umask) and return it.

    Created with ``O_EXCL``, so it is never someone else's file, and never a symlink
    planted under a guessed name. The name is this module's pattern (see
    :func:`clean_stale_temps`) unless ``prefix`` is given: then ``prefix`` + 8 random
    characters + ``suffix``, for callers that track their temp files themselves (the
    cache names the owning lock).
    """
    for _ in range(_MAX_TRIES):
        if prefix is None:
            name = _temp_name(suffix)
        else:
            name = prefix + "".join(secrets.choice(_RANDOM) for _ in range(8)) + suffix
        path = folder / name
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        os.close(fd)
        return path
    raise FileExistsError(errno.EEXIST, "no free temp file name", str(folder))


def temp_folder(folder: Path, prefix: str = "") -> Path:
    """Create an empty folder in ``folder`` (mode 0777 less the umask) and return it."""
    folder.mkdir(parents=True, exist_ok=True)
    for _ in range(_MAX_TRIES):
        token = "".join(secrets.choice(_RANDOM) for _ in range(8))
        path = folder / f"{prefix}{token}"
        try:
            path.mkdir(mode=0o777)
        except FileExistsError:
            continue
        return path
    raise FileExistsError(errno.EEXIST, "no free temp folder name", str(folder))


def _alive(pid: int) -> bool:
    """True unless process ``pid`` certainly does not exist on this host."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True  # another user's process, or not ours to judge: keep its file
    return True


def clean_stale_temps(folder: Path) -> list[Path]:
    """Remove temp files in ``folder`` that dead writers on this host left; return them.

    Only names of this module's exact pattern, with this host's tag and the pid of a
    process that no longer exists, are removed: a user's own hidden files, live writers'
    temp files and those of other hosts on a shared folder are never touched.
    """
    removed: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        match = _TEMP_NAME.match(entry.name)
        if match is None or match["host"] != host_tag() or _alive(int(match["pid"])):
            continue
        with contextlib.suppress(OSError):
            if entry.is_file(follow_symlinks=False):
                Path(entry.path).unlink()
                removed.append(Path(entry.path))
    return removed


_CLEANED: set[str] = set()
"""Folders this process has already cleaned: a batch writing 100,000 outputs into one
folder scans it once, not once per file."""


def _clean_once(folder: Path) -> None:
    """:func:`clean_stale_temps` on the first write of this process into ``folder``
    (a leftover of a killed run predates this process, so once is enough)."""
    key = os.path.normcase(folder.absolute())
    if key not in _CLEANED:
        clean_stale_temps(folder)
        _CLEANED.add(key)


def _keep_mode(target: Path, tmp: Path) -> None:
    """Give ``tmp`` the mode of the regular file it replaces (not of a symlink's target:
    the rename replaces the link itself, so what it pointed at is not being rewritten)."""
    try:
        info = os.lstat(target)
    except OSError:
        return
    if stat.S_ISREG(info.st_mode):
        tmp.chmod(stat.S_IMODE(info.st_mode))


def write_atomically(
    target: Path, write: Callable[[Path], object], *, keep_suffix: bool = True
) -> Path:
    """Have ``write(tmp)`` fill a temp file beside ``target``, then rename it into place.

    A failure or interruption leaves neither a file at ``target`` nor the temp file; a
    kill -9 leaves the temp file, which the next process writing there removes. An
    existing ``target`` keeps its mode (a rewritten file stays as readable as it was); a
    new one gets 0666 less the umask. ``keep_suffix=False`` ends the temp name in
    ``.tmp`` alone, for folders whose readers pick files by suffix (catalog ``*.yaml``).
    """
    folder = target.parent
    _clean_once(folder)
    tmp = temp_path(folder, target.suffix if keep_suffix else "")
    try:
        write(tmp)
        _keep_mode(target, tmp)
        tmp.replace(target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target
