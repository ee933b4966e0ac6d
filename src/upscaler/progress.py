"""When progress bars are drawn: tqdm's own convention, in one place.

A bar redraws itself with carriage returns many times a second: on a terminal that is
one line that moves; in a log file, a CI job or a pipe it is hundreds of lines of noise.
``progress=True`` (every long operation's default) therefore means "on stderr, when
stderr is a terminal" (tqdm's ``disable=None``), and ``progress=False`` means never.
"""

from __future__ import annotations

__all__ = ["tqdm_disable"]


def tqdm_disable(progress: bool) -> bool | None:
    """tqdm's ``disable`` argument for a ``progress=`` flag: ``True`` (never) when
    progress is off, else ``None``, which tqdm reads as "only on a terminal"."""
    return None if progress else True
