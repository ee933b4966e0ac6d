"""Helpers shared by the CLI tests (imported by name; pytest puts this folder on sys.path)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Result:
    """What one in-process run of the CLI produced."""

    code: int
    out: str
    err: str
