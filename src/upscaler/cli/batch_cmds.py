"""Subcommands registered by this module (filled in by the feature that owns them)."""

from __future__ import annotations

from typing import Any


def register(sub: Any) -> None:
    """Add this module's subcommands to the `upscaler` parser."""
