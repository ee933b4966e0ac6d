"""What an in-process CLI run returns (imported by name: `tests/` is on sys.path)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Result:
    """What one in-process run of the CLI produced."""

    code: int
    out: str
    err: str
