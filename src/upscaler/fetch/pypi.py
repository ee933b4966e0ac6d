"""Wheels on a Python package index as a source: pip downloads the pinned file, we verify it.

pip does the downloading so that everything a user configured for pip applies unchanged:
the index (``PIP_INDEX_URL``, ``pip config``), extra indexes including ``file://`` ones,
find-links, certificates, proxies and credentials (keyring, netrc). No index address is
written here. pip runs as ``sys.executable -m pip download --no-deps --only-binary=:all:``
for exactly ``NAME==VERSION``; when the pinned wheel is not a universal ``py3-none-any``
one, the interpreter, ABI and platform are taken from its file name's tags so that pip
picks that same file on any machine. The file pip saved must then carry the pinned name
and hash, or nothing is kept.

Each pip run is bounded by ``settings.pip_timeout_seconds()`` and retried like an HTTP
download (``settings.retries()`` tries, growing pauses) unless pip said the release or
file does not exist, which another try would not change.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from upscaler import settings
from upscaler.errors import FetchError, IntegrityError, OfflineError
from upscaler.fetch.cache import CachePaths, cache_paths, cached_digest_ok, commit_file
from upscaler.fetch.download import Downloaded, backoff, redact_text
from upscaler.fetch.hashing import file_digest

log = logging.getLogger("upscaler.fetch")

PIP_HINT = (
    "the wheel is downloaded by pip with your pip configuration: point PIP_INDEX_URL (or "
    "`pip config set global.index-url <url>`), PIP_EXTRA_INDEX_URL or PIP_FIND_LINKS at an "
    "index or folder that has it; UPSCALER_PIP_TIMEOUT and UPSCALER_RETRIES tune how long "
    "and how often pip is run"
)

_PIP_TAIL_LINES = 6
"""Lines of pip's error output quoted in a FetchError: enough for the reason, not a log."""

_NOT_THERE = ("No matching distribution found", "Could not find a version that satisfies")
_NETWORK = (
    "Could not fetch URL",
    "Retrying",
    "Max retries exceeded",
    "ConnectionError",
    "NewConnectionError",
    "timed out",
    "Temporary failure",
    "HTTP error 5",
)

_IMPLEMENTATIONS = ("cp", "pp", "ip", "jy")


def check_wheel_pin(name: str, version: str, filename: str) -> None:
    """Refuse a pin pip could read as an option, URL or path (the catalog's own rules).

    The schema already checks catalog entries; this repeats it for callers that build the
    values themselves, since they go onto pip's command line and into cache names.
    """
    # Imported here so that `import upscaler.fetch` does not load the catalog package.
    from upscaler.catalog.schema import PypiSource

    PypiSource(pypi=name, version=version, filename=filename, sha256="0" * 64)


def wheel_tags(filename: str) -> tuple[list[str], list[str], list[str]]:
    """The python, abi and platform tags of a wheel file name (each may be a dotted set)."""
    *_, python, abi, platform = filename[: -len(".whl")].split("-")
    return python.split("."), abi.split("."), platform.split(".")


def pip_target_args(filename: str) -> list[str]:
    """pip options that make this wheel's tags the compatible ones, whatever the machine.

    A universal wheel (python ``py3``/``py2.py3``, abi ``none``, platform ``any``) fits every
    interpreter, so it needs none. Otherwise ``--platform`` for each platform tag, ``--abi``
    for each ABI other than ``none``, and ``--implementation``/``--python-version`` from the
    first interpreter-specific python tag (``cp311`` -> cp, 3.11), so that a pin made on
    Linux can be fetched on a Mac (the wheel's files, not its code, are what is used).
    """
    pythons, abis, platforms = wheel_tags(filename)
    args: list[str] = []
    if platforms != ["any"]:
        for platform in platforms:
            args += ["--platform", platform]
    for abi in abis:
        if abi != "none":
            args += ["--abi", abi]
    specific = [p for p in pythons if p[:2] in _IMPLEMENTATIONS and p[2:].isdigit()]
    generic = [p for p in pythons if p[:2] == "py" and p[2:].isdigit()]
    if specific:
        args += ["--implementation", specific[0][:2], "--python-version", specific[0][2:]]
    elif generic and not any(p == f"py{sys.version_info.major}" for p in generic):
        # py311 or py2 only: pretend to be that version; py3 fits this interpreter as it is.
        args += ["--python-version", generic[0][2:]]
    return args


def pip_command(name: str, version: str, filename: str, dest: Path, *, quiet: bool) -> list[str]:
    """The pip command line that downloads exactly the pinned wheel into ``dest``."""
    check_wheel_pin(name, version, filename)
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--ignore-requires-python",
        "--disable-pip-version-check",
        "--no-input",  # a credentials prompt would hang until the timeout
        "--dest",
        str(dest),
        *pip_target_args(filename),
    ]
    if quiet:
        cmd.append("--quiet")
    return [*cmd, f"{name}=={version}"]


class _PipFailedError(Exception):
    """One pip run failed; ``retry`` says whether another run might succeed."""

    def __init__(self, outcome: str, *, retry: bool) -> None:
        super().__init__(outcome)
        self.retry = retry


def _tail(text: str) -> str:
    """pip's reason in one line: its ERROR lines (after the last network complaint, if any),
    else its last lines; credentials in URLs dropped."""
    lines = [line.strip() for line in redact_text(text).splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("ERROR")]
    if errors:
        network = [line for line in lines if any(s in line for s in _NETWORK)]
        lines = [*network[-1:], *errors]
    return " | ".join(lines[-_PIP_TAIL_LINES:]) or "no output"


def _progress_stdout(progress: bool) -> int:
    """Where pip's own progress goes: our stderr when wanted (never our stdout), else nowhere."""
    if progress:
        try:
            return sys.stderr.fileno()
        except (AttributeError, OSError, ValueError):
            pass
    return subprocess.DEVNULL


def _run_pip(cmd: list[str], *, progress: bool) -> None:
    """Run pip once; raise _PipFailedError with its last lines of output when it fails."""
    timeout = settings.pip_timeout_seconds()
    log.debug("running %s", " ".join(cmd))
    try:
        done = subprocess.run(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=_progress_stdout(progress),
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise _PipFailedError(
            f"pip ran longer than {timeout:g}s and was stopped", retry=True
        ) from exc
    except OSError as exc:
        raise _PipFailedError(f"pip could not be started ({exc})", retry=False) from exc
    if done.returncode == 0:
        if done.stderr.strip():
            log.debug("pip: %s", _tail(done.stderr))
        return
    stderr = done.stderr or ""
    missing = any(s in stderr for s in _NOT_THERE) and not any(s in stderr for s in _NETWORK)
    raise _PipFailedError(
        f"pip exited with status {done.returncode}: {_tail(stderr)}", retry=not missing
    )


def pip_download(
    paths: CachePaths,
    *,
    name: str,
    version: str,
    filename: str,
    sha256: str | None,
    lock_name: str,
    progress: bool,
) -> Downloaded:
    """Have pip download the pinned wheel into ``tmp/``; return it verified, not yet committed.

    ``sha256`` None means 'compute it' (pinning a new wheel). The returned temp file is
    owned by ``lock_name``: the caller renames it to its final name or deletes it. Raises
    OfflineError (offline), IntegrityError (pip's file has other bytes than the pin), and
    FetchError (pip failed every try, or saved a different file; the message quotes pip).
    """
    package = f"{name}=={version}"
    if settings.offline():
        raise OfflineError(
            f"refusing to run pip for {package}: UPSCALER_OFFLINE is set (offline mode)",
            hint="unset UPSCALER_OFFLINE to allow downloads",
        )
    if importlib.util.find_spec("pip") is None:
        raise FetchError(
            f"{filename} ({package}) is fetched with pip, which this Python "
            f"({sys.executable}) does not have",
            hint="install it with `python -m ensurepip` or your environment manager",
        )
    tries = settings.retries()
    outcomes: list[str] = []
    for attempt in range(tries):
        if attempt:
            time.sleep(backoff(attempt))
        folder = paths.temp_dir(lock_name)
        try:
            log.info("downloading %s (%s) with pip", filename, package)
            cmd = pip_command(name, version, filename, folder, quiet=not progress)
            _run_pip(cmd, progress=progress and attempt == 0)
            saved = folder / filename
            if not saved.is_file():
                others = sorted(p.name for p in folder.iterdir()) or ["nothing"]
                raise FetchError(
                    f"pip downloaded {', '.join(others)} for {package}, not the pinned {filename}",
                    hint="the index offers another file for this release and these tags "
                    "(a rebuilt wheel?); check the catalog's filename, or re-pin it with "
                    "`upscaler catalog hash`",
                )
            digest, size = file_digest(saved, "sha256")
            if sha256 is not None and digest != sha256:
                raise IntegrityError(
                    f"{filename} ({package}) as pip downloaded it has sha256 {digest}, but "
                    f"the catalog pins {sha256}",
                    hint="the index serves different bytes under the pinned name: a broken "
                    "mirror, or a catalog entry to re-pin with `upscaler catalog hash`",
                )
            tmp = paths.temp_file(lock_name, suffix=".whl")
            saved.replace(tmp)
            return Downloaded(tmp, digest, size, f"pip download {package}")
        except _PipFailedError as exc:
            outcomes.append(str(exc))
            log.warning("pip download %s: %s (try %d of %d)", package, exc, attempt + 1, tries)
            if not exc.retry:
                break
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    tried = f" ({len(outcomes)} tries)" if len(outcomes) > 1 else ""
    raise FetchError(
        f"could not download {filename} ({package}) with pip{tried}: {outcomes[-1]}",
        hint=PIP_HINT,
    )


def download_wheel(
    name: str,
    version: str,
    filename: str,
    *,
    sha256: str | None,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: bool = True,
) -> Path:
    """A pinned wheel in the cache (``wheels/sha256/<hex>.whl``), downloaded if needed.

    With ``sha256`` the bytes must match it (a cached copy is re-hashed first, and used
    offline). Without it (the maintainers' `catalog hash`, pinning a new wheel) pip always
    downloads, and the wheel is stored under the sha256 it turns out to have: the file's
    name is that hash, so ``path.stem`` is the value to pin.
    """
    check_wheel_pin(name, version, filename)
    paths = cache_paths(cache_dir)
    package = f"{name}=={version}"
    if sha256 is not None:
        lock_name = f"wheel-{sha256}"
        with paths.lock(lock_name):
            final = paths.wheel(sha256)
            if cached_digest_ok(final, "sha256", sha256):
                return final
            got = pip_download(
                paths,
                name=name,
                version=version,
                filename=filename,
                sha256=sha256,
                lock_name=lock_name,
                progress=progress,
            )
            try:
                return commit_file(got.path, final)
            finally:
                got.path.unlink(missing_ok=True)
    from upscaler.catalog.schema import pypi_normalize

    lock_name = f"pypi-{pypi_normalize(name)}-{re.sub(r'[^A-Za-z0-9._+-]', '_', version)}"
    with paths.lock(lock_name):
        got = pip_download(
            paths,
            name=name,
            version=version,
            filename=filename,
            sha256=None,
            lock_name=lock_name,
            progress=progress,
        )
        try:
            with paths.lock(f"wheel-{got.digest}"):
                final = paths.wheel(got.digest)
                if not cached_digest_ok(final, "sha256", got.digest):
                    commit_file(got.path, final)
        finally:
            got.path.unlink(missing_ok=True)
    log.info("%s (%s) has sha256 %s", filename, package, got.digest)
    return final
