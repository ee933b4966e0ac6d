"""PyAV, imported only when a video is touched, and its errors in our words.

``import upscaler`` must stay fast and must work without the ``video`` extra, so no
module of this package imports ``av`` at module level: each function asks
:func:`require_av` for it. FFmpeg's own errors carry a C-level wording ("Invalid data
found when processing input"); :func:`media_error` turns them into a
:class:`~upscaler.errors.MediaError` that names the file and what to do.
"""

from __future__ import annotations

import os
from types import ModuleType
from typing import Any

from upscaler.errors import DependencyError, MediaError

_QUIET_ENCODERS = {"SVT_LOG": "1"}
"""SVT-AV1 prints its configuration banner on stderr from C unless told not to (1 =
errors only). x264's and FFmpeg's messages go through FFmpeg's logger, which PyAV mutes;
x265's are silenced per encoder with ``log-level=error``."""


def require_av() -> ModuleType:
    """The ``av`` module, or a DependencyError whose hint names the extra to install."""
    try:
        import av
    except ImportError as exc:
        raise DependencyError(
            "reading and writing video files needs PyAV (FFmpeg's libraries in a wheel), "
            "which is not installed",
            hint="pip install 'upscaler[video]'",
        ) from exc
    for name, value in _QUIET_ENCODERS.items():
        os.environ.setdefault(name, value)
    return av


def ffmpeg_reason(exc: BaseException) -> str:
    """FFmpeg's own short reason for ``exc`` (without the file name it repeats)."""
    strerror = getattr(exc, "strerror", None)
    if isinstance(strerror, str) and strerror:
        return strerror
    return str(exc) or type(exc).__name__


def is_ffmpeg_error(exc: BaseException) -> bool:
    """True for the errors PyAV raises on FFmpeg's behalf (not ours, not Python's)."""
    module = type(exc).__module__ or ""
    return module.startswith("av")


def media_error(what: str, exc: BaseException, *, hint: str | None = None) -> MediaError:
    """``what`` (e.g. "cannot read in.mp4 as a video") with FFmpeg's reason appended."""
    return MediaError(f"{what}: {ffmpeg_reason(exc)}", hint=hint)


def open_input(path: os.PathLike[str] | str, what: str) -> Any:
    """``av.open(path)`` for reading, with FFmpeg's refusals as MediaError.

    ``what`` names the file in the message. Metadata that is not valid UTF-8 is
    replaced rather than refused: a mis-encoded title must not stop an upscale. Only
    the ``file`` protocol is allowed, so a playlist (HLS, concat) inside the file cannot
    make FFmpeg open network addresses.
    """
    av = require_av()
    try:
        return av.open(
            os.fspath(path),
            "r",
            options={"protocol_whitelist": "file"},
            metadata_errors="replace",
        )
    except FileNotFoundError:
        raise MediaError(f"{what} does not exist", hint="check the path") from None
    except IsADirectoryError:
        raise MediaError(f"{what} is a folder, not a video file") from None
    except PermissionError:
        raise MediaError(f"{what} cannot be read: permission denied") from None
    except EOFError:
        raise MediaError(
            f"{what} ends before its first frame", hint="the file is empty or truncated"
        ) from None
    except Exception as exc:
        if is_ffmpeg_error(exc):
            raise media_error(
                f"{what} cannot be read as a video",
                exc,
                hint="is it a complete, uncorrupted video file?",
            ) from None
        raise
