"""Readers for the query attributes whose values are numbers, not vocabulary terms.

A vocabulary attribute's values are the ids (and aliases) of its ``vocab.yaml`` section;
``scale`` and ``channels`` are numbers that people spell several ways (``x2``, ``rgba``).
They live beside the attribute table (:mod:`upscaler.catalog.attributes`) that names
them, so that a catalog model given by path and a query read the same values the same way.
"""

from __future__ import annotations

from typing import Any

from upscaler.errors import QueryError

_CHANNEL_NAMES = {"rgb": 3, "rgba": 4, "gray": 1, "grey": 1, "l": 1, "y": 1, "la": 4}
_VALID_CHANNELS = (1, 3, 4)


def parse_scale(value: Any) -> int:
    """A scale as queries spell it (``2``, ``"2"``, ``"x2"``, ``"2x"``), 1..16: also the
    parser for a local model's scale, so both read the same values."""
    text = str(value).strip().lower().removeprefix("x").removesuffix("x")
    try:
        scale = int(text)
    except ValueError:
        raise QueryError(
            f"scale must be a whole number such as 2, 3, 4 or 8, got {value!r}",
            hint="for a fractional output size use upscale(..., outscale=1.5)",
        ) from None
    if not 1 <= scale <= 16:
        raise QueryError(f"scale {scale} is out of range 1..16", hint="try scale=2, 3, 4 or 8")
    return scale


def parse_channels(value: Any) -> int:
    """A channel count as a number or a mode name (``rgba``, ``gray``, ``y``)."""
    text = str(value).strip().lower()
    if text in _CHANNEL_NAMES:
        return _CHANNEL_NAMES[text]
    try:
        channels = int(text)
    except ValueError:
        channels = -1
    if channels not in _VALID_CHANNELS:
        raise QueryError(
            f"channels must be 1 (gray), 3 (RGB) or 4 (RGBA), got {value!r}",
            hint="channels=3 for colour images, 4 for images with transparency",
        )
    return channels


def number_as_id(value: Any) -> Any:
    """``denoise: 2`` in YAML is the id "2": publishers number their levels."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value
