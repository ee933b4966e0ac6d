"""Streaming HTTP downloads into the cache's temp folder, verified while they stream.

Each source URL is tried up to ``settings.retries()`` times: HTTP 5xx, 408, 429, dropped
connections and timeouts are worth retrying after a short backoff; 404 and other client
errors move straight to the next source, and so does a body that does not match the
expected hash (a different mirror may serve the right bytes). The body streams into a temp
file under the cache's ``tmp/`` while it is hashed, so nothing is read twice and a failed
attempt leaves nothing behind; the caller renames the verified temp file into place.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import logging
import random
import re
import sys
import time
import urllib.parse
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from upscaler import settings
from upscaler.errors import FetchError, IntegrityError, OfflineError
from upscaler.fetch.cache import CachePaths
from upscaler.fetch.hashing import CHUNK, sri_from_hex

if TYPE_CHECKING:
    import requests

log = logging.getLogger("upscaler.fetch")

MAX_DOWNLOAD_BYTES = 2 << 30
"""Largest body accepted when the expected size is unknown (an npm tarball): a server that
streams forever must not fill the disk."""

BACKOFF_SECONDS = 0.25
"""First pause between two tries of one source; doubled each time, at most 4 s."""

_USER_AGENT = "upscaler (python-requests)"


@dataclass(frozen=True)
class Expected:
    """What a download must turn out to be; ``digest`` None means 'compute it'."""

    algorithm: Literal["sha256", "sha512"]
    digest: str | None = None
    size: int | None = None
    limit: int | None = None
    """The most bytes accepted when ``size`` is unknown (None: :data:`MAX_DOWNLOAD_BYTES`);
    a file a user points at (``catalog add-weights URL``) gets a cap of its own."""

    def show(self, hexdigest: str) -> str:
        """A digest the way the user will recognise it (npm SRI for sha512, hex otherwise)."""
        if self.algorithm == "sha512":
            return sri_from_hex(hexdigest)
        return f"sha256 {hexdigest}"

    def describe(self) -> str:
        """The expectation in words, for error messages."""
        parts = []
        if self.digest is not None:
            parts.append(self.show(self.digest))
        if self.size is not None:
            parts.append(f"{self.size} bytes")
        return ", ".join(parts) or "any content"


@dataclass(frozen=True)
class Attempt:
    """What happened at one source, for the error that lists every source tried."""

    source: str
    outcome: str
    mismatch: bool = False


@dataclass(frozen=True)
class Downloaded:
    """A verified body in a temp file, not yet at its final name."""

    path: Path
    digest: str
    size: int
    source: str


class _RetryError(Exception):
    """This try failed in a way that another try of the same source may not."""


class _NextSourceError(Exception):
    """This source cannot serve the file; go to the next one."""


class _MismatchError(_NextSourceError):
    """This source served bytes other than the expected ones."""


def redact(url: str) -> str:
    """A URL fit for messages and logs: credentials in it are dropped."""
    parts = urllib.parse.urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urllib.parse.urlunsplit(parts._replace(netloc=host))


_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)[^/\s@]+@")


def redact_text(text: str) -> str:
    """Free text (a tool's error output) with the credentials of every URL in it dropped.

    pip masks passwords but prints user names and tokens given as the user part; neither
    belongs in an exception message that ends up in logs and bug reports.
    """
    return _USERINFO.sub(lambda m: m["scheme"], text)


def backoff(attempt: int) -> float:
    """Seconds to wait before try ``attempt`` (1, 2, ...): doubling from BACKOFF_SECONDS,
    at most 4 s, with jitter so that processes that failed together do not retry together."""
    base: float = min(4.0, BACKOFF_SECONDS * 2 ** (attempt - 1))
    return base * (1.0 + 0.25 * random.random())


def _summarise(outcomes: list[str]) -> str:
    """'HTTP 500 x3' rather than the same words three times."""
    groups: list[list[Any]] = []
    for outcome in outcomes:
        if groups and groups[-1][0] == outcome:
            groups[-1][1] += 1
        else:
            groups.append([outcome, 1])
    return "; ".join(text if n == 1 else f"{text} x{n}" for text, n in groups)


def _progress_bar(total: int | None, label: str, enabled: bool) -> Any:
    """A tqdm bar on stderr (on a terminal only); tqdm is imported only when a download
    actually starts."""
    from upscaler.progress import tqdm_disable

    tqdm: Any = importlib.import_module("tqdm").tqdm
    return tqdm(
        total=total,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        desc=label,
        file=sys.stderr,
        disable=tqdm_disable(enabled),
        leave=False,
    )


def download_first(
    urls: Sequence[str],
    *,
    paths: CachePaths,
    lock_name: str,
    expected: Expected,
    progress: bool,
    label: str,
) -> tuple[Downloaded | None, list[Attempt]]:
    """Download from the first source that serves the expected bytes.

    Returns the verified temp file (the caller renames or deletes it) and what happened at
    every source tried before it; None when every source failed.
    """
    if settings.offline():
        raise OfflineError(
            f"refusing to download {label}: UPSCALER_OFFLINE is set (offline mode)",
            hint="unset UPSCALER_OFFLINE to allow downloads",
        )
    import requests

    attempts: list[Attempt] = []
    tries = settings.retries()
    timeout = settings.timeout_seconds()
    deadline = settings.download_deadline_seconds()
    with requests.Session() as session:
        session.headers["User-Agent"] = _USER_AGENT
        for url in urls:
            shown = redact(url)
            outcomes: list[str] = []
            mismatch = False
            for attempt in range(tries):
                if attempt:
                    time.sleep(backoff(attempt))
                tmp = paths.temp_file(lock_name)
                done = False
                try:
                    log.info("downloading %s from %s", label, shown)
                    digest, size = _get_once(
                        session,
                        url,
                        tmp,
                        expected=expected,
                        timeout=timeout,
                        deadline=deadline,
                        label=label,
                        progress=progress and attempt == 0,
                    )
                except _RetryError as exc:
                    outcomes.append(str(exc))
                    log.warning("%s: %s (try %d of %d)", shown, exc, attempt + 1, tries)
                    continue
                except _NextSourceError as exc:
                    outcomes.append(str(exc))
                    mismatch = isinstance(exc, _MismatchError)
                    log.warning("%s: %s", shown, exc)
                    break
                else:
                    done = True
                    return Downloaded(tmp, digest, size, shown), attempts
                finally:
                    if not done:
                        with contextlib.suppress(FileNotFoundError):
                            tmp.unlink()
            attempts.append(Attempt(shown, _summarise(outcomes), mismatch))
    return None, attempts


def _get_once(
    session: requests.Session,
    url: str,
    dest: Path,
    *,
    expected: Expected,
    timeout: float,
    deadline: float,
    label: str,
    progress: bool,
) -> tuple[str, int]:
    """One GET into ``dest``: (digest, size), or an exception saying whether to retry.

    The body is read with ``read1`` (one receive at a time, not "until a full chunk"),
    so the ``deadline`` is checked after every receive: a server that trickles bytes
    just inside the read timeout is cut off at most one read timeout past the deadline.
    Hitting the deadline moves to the next source: the same server would trickle again.
    """
    import requests

    started = time.monotonic()
    received = 0
    status: int | None = None
    length: int | None = None
    try:
        with session.get(
            url,
            stream=True,
            timeout=(timeout, timeout),
            headers={"Accept-Encoding": "identity"},
        ) as response:
            code = status = response.status_code
            if code >= 500 or code in (408, 429):
                raise _RetryError(f"HTTP {code}")
            if code >= 400:
                raise _NextSourceError(f"HTTP {code}")
            if code != 200:
                raise _NextSourceError(f"unexpected HTTP {code}")
            length_header = response.headers.get("Content-Length")
            length = int(length_header) if length_header and length_header.isdigit() else None
            if expected.size is not None and length is not None and length != expected.size:
                raise _MismatchError(f"serves {length} bytes, expected {expected.size}")
            limit = expected.size if expected.size is not None else expected.limit
            limit = MAX_DOWNLOAD_BYTES if limit is None else limit
            if length is not None and length > limit:
                raise _MismatchError(f"announces {length} bytes, more than the {limit} allowed")
            h = hashlib.new(expected.algorithm)
            with dest.open("wb") as out, _progress_bar(length, label, progress) as bar:
                for chunk in _receive(response, CHUNK):
                    if time.monotonic() - started > deadline:
                        raise _NextSourceError(
                            f"passed the {deadline:g}s download deadline after {received} "
                            "bytes (UPSCALER_DOWNLOAD_DEADLINE)"
                        )
                    received += len(chunk)
                    if received > limit:
                        raise _MismatchError(f"serves more than the {limit} bytes expected")
                    h.update(chunk)
                    out.write(chunk)
                    bar.update(len(chunk))
    except requests.Timeout as exc:
        raise _RetryError(f"timed out after {timeout:g}s") from exc
    except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
        if "timed out" in str(exc).lower():
            raise _RetryError(f"timed out after {timeout:g}s") from exc
        if status is not None:  # the headers came, the body did not
            announced = f", {length} bytes announced" if length is not None else ""
            raise _RetryError(
                f"connection dropped mid-body ({received} bytes read{announced})"
            ) from exc
        reason = re.search(r"\[Errno -?\d+\] ([^'\")\]]+)", str(exc))
        why = reason.group(1).strip() if reason else type(exc).__name__
        raise _RetryError(f"connection failed ({why})") from exc
    except requests.exceptions.ContentDecodingError as exc:
        raise _RetryError("body could not be decoded") from exc
    except requests.RequestException as exc:  # invalid URL, too many redirects, ...
        raise _NextSourceError(f"{type(exc).__name__}: {exc}") from exc
    if length is not None and received != length:
        raise _RetryError(f"connection dropped after {received} of {length} bytes")
    digest = h.hexdigest()
    if expected.size is not None and received != expected.size:
        raise _MismatchError(f"served {received} bytes, expected {expected.size}")
    if expected.digest is not None and digest != expected.digest:
        raise _MismatchError(
            f"content hash mismatch: expected {expected.show(expected.digest)}, "
            f"found {expected.show(digest)}"
        )
    return digest, received


def _receive(response: requests.Response, size: int) -> Iterator[bytes]:
    """The body as it arrives: each piece is what one receive returned (at most
    ``size`` bytes), so a slow body yields often instead of blocking until ``size``."""
    import requests
    from urllib3.exceptions import DecodeError, ProtocolError, ReadTimeoutError, SSLError

    read1 = getattr(response.raw, "read1", None)
    if read1 is None:  # an adapter that is not urllib3's: chunks as requests gives them
        yield from response.iter_content(size)
        return
    while True:
        # urllib3's errors become requests' own, as iter_content would raise them.
        try:
            chunk = read1(size, decode_content=True)
        except ProtocolError as exc:
            raise requests.exceptions.ChunkedEncodingError(exc) from exc
        except DecodeError as exc:
            raise requests.exceptions.ContentDecodingError(exc) from exc
        except ReadTimeoutError as exc:
            raise requests.ConnectionError(exc) from exc
        except SSLError as exc:
            raise requests.exceptions.SSLError(exc) from exc
        if not chunk:
            return
        yield chunk


def failure(
    what: str,
    attempts: Sequence[Attempt],
    expected: Expected | None,
    *,
    hint: str | None = None,
) -> FetchError:
    """The error for 'no source worked': every source with what happened, and what was wanted.

    It is an IntegrityError when some source served wrong bytes, since that is the failure
    worth investigating (a tampered mirror or a wrong catalog pin).
    """
    tried = "; ".join(f"{a.source} -> {a.outcome}" for a in attempts) or "no sources"
    want = f" (expected {expected.describe()})" if expected is not None else ""
    message = f"could not download {what}{want}; tried: {tried}"
    if any(a.mismatch for a in attempts):
        return IntegrityError(
            message,
            hint=hint
            or "a source served different bytes than the catalog pins: a broken mirror, or a "
            "catalog entry to correct",
        )
    return FetchError(
        message,
        hint=hint
        or "check the network and the registry settings (NPM_CONFIG_REGISTRY, "
        "UPSCALER_NPM_MIRRORS, UPSCALER_NPM_FILE_MIRRORS); UPSCALER_RETRIES, "
        "UPSCALER_TIMEOUT and UPSCALER_DOWNLOAD_DEADLINE tune retrying",
    )
