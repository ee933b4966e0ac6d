"""One exception tree for the whole package.

Every error a user can cause derives from :class:`UpscalerError` *and* from the builtin
that best describes it, so callers may catch either ``upscaler.UpscalerError`` or the
familiar builtin (``LookupError``, ``ValueError``, ...). Messages name the bad value,
the nearest valid options and the fix; the CLI prints them as one line.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol


class UpscalerError(Exception):
    """Base of every error raised on purpose by upscaler.

    ``hint`` carries the suggested fix separately so the CLI can show it on its own line
    segment; ``cli_hint`` is the same fix in command-line words (``--model X`` where the
    hint says ``Upscaler(model="X")``), which the CLI prints instead when there is one;
    ``exit_code`` is what the CLI exits with (documented in docs/errors.md).
    """

    exit_code: int = 1

    def __init__(
        self, message: str, *, hint: str | None = None, cli_hint: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.cli_hint = cli_hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message} (hint: {self.hint})"
        return self.message


class CatalogError(UpscalerError, ValueError):
    """A catalog file breaks a rule; carries every problem found, each with file:line."""

    exit_code = 3

    def __init__(self, problems: Sequence[str], *, hint: str | None = None) -> None:
        self.problems = list(problems)
        first = self.problems[0] if self.problems else "invalid catalog"
        more = f" (and {len(self.problems) - 1} more)" if len(self.problems) > 1 else ""
        super().__init__(first + more, hint=hint)


class QueryError(UpscalerError, ValueError):
    """A model query names an unknown attribute or value."""

    exit_code = 2


class DeviceError(UpscalerError, ValueError):
    """A device or precision this machine or process cannot honour: a malformed device
    string, a device it does not have, or a precision it cannot run (see
    :mod:`upscaler.runtime.precision`).

    A ``ValueError`` and exit code 2 like :class:`QueryError`, because both are a bad value
    the user typed; the message lists the devices (or precisions) that do exist.
    """

    exit_code = 2


class AlternativeModel(Protocol):
    """What :class:`NoMatchingModel` promises about each of its ``alternatives``.

    Structural, so this module (which every stage imports) imports no stage back: the
    resolver's :class:`upscaler.resolve.result.Alternative` is what it carries at run
    time, and this is the part of it a caller of ``.alternatives`` may rely on.
    """

    @property
    def id(self) -> str: ...

    @property
    def cost(self) -> float: ...

    @property
    def adaptable(self) -> bool: ...

    @property
    def call(self) -> str: ...

    @property
    def flags(self) -> str: ...

    def describe_differences(self) -> list[str]: ...

    def to_dict(self) -> dict[str, Any]: ...


class NoMatchingModel(UpscalerError, LookupError):
    """No model matches a strict query exactly; ``alternatives`` holds the nearest ones."""

    exit_code = 4

    def __init__(
        self,
        message: str,
        *,
        alternatives: Sequence[AlternativeModel] = (),
        hint: str | None = None,
        cli_hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint, cli_hint=cli_hint)
        self.alternatives = list(alternatives)


class FetchError(UpscalerError, OSError):
    """Weights could not be downloaded from any source."""

    exit_code = 5


class IntegrityError(FetchError):
    """Downloaded or cached bytes do not match the hashes the catalog promises."""

    exit_code = 6


class OfflineError(FetchError):
    """A model is needed that is not cached while network access is forbidden."""

    exit_code = 7


class UnsafeArchiveError(FetchError):
    """A package archive holds a member that could escape or abuse the cache."""

    exit_code = 6


class ConversionError(UpscalerError, ValueError):
    """A model file cannot be turned into a SavedModel (unsupported layer, bad manifest)."""

    exit_code = 8


class ModelLoadError(UpscalerError, RuntimeError):
    """A model could not be loaded or does not honour the serving-signature contract."""

    exit_code = 8


class DependencyError(UpscalerError, ImportError):
    """An optional dependency (TensorFlow, Ray, ...) is missing; the hint names the extra."""

    exit_code = 9


class ImageError(UpscalerError, ValueError):
    """An input image cannot be processed (empty, NaN, undecodable, too large, ...)."""

    exit_code = 10


class MediaError(ImageError):
    """An animation or a video cannot be read or written as asked: no video stream, a
    codec or container that cannot hold the result, a frame size past the limits, a
    resume state that belongs to another run. A kind of :class:`ImageError`, so callers
    that catch bad input catch it too."""


class BatchError(UpscalerError, ValueError):
    """A folder job cannot start: SRC missing, DST inside SRC, outputs that collide, ..."""

    exit_code = 11


class BatchIncomplete(UpscalerError, RuntimeError):
    """Some files of a job failed (each one is in the failure report); the rest were written.

    A script must tell this apart from :class:`BatchError`: here a rerun resumes.
    """

    exit_code = 12


class TrainingError(UpscalerError, ValueError):
    """A training run cannot start or go on: bad data folders (empty, undecodable, images
    smaller than a patch), a configuration that does not fit the run folder it resumes,
    an architecture or parameter the registry does not have, an export that would not
    make a valid catalog entry."""

    exit_code = 13


class Cancelled(UpscalerError):
    """A run was cancelled by its caller; nothing was written."""

    exit_code = 130


def nearest(value: Any, options: Sequence[str], n: int = 3) -> list[str]:
    """The valid options close to a typo, for 'did you mean' hints (empty when none is)."""
    import difflib

    text = str(value).lower()
    lowered = {o.lower(): o for o in options}
    close = difflib.get_close_matches(text, list(lowered), n=n, cutoff=0.4)
    return [lowered[c] for c in close]
