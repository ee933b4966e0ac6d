"""Parse a model query from keyword arguments or a ``key=value`` string.

Both spellings end in the same normalised :class:`Query`, so the CLI, the facade and the
explorer cannot disagree about what ``"dataset=DIV2K scale=2 channels=4"`` means.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from typing import Any

from upscaler.catalog.schema import QUERY_ATTRIBUTES
from upscaler.catalog.vocab import SECTIONS, Vocabulary
from upscaler.errors import QueryError, nearest

Query = dict[str, Any]

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


def _parse_channels(value: Any) -> int:
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


def parse_query_string(text: str) -> dict[str, str]:
    """Split ``"dataset=DIV2K scale=2"`` (spaces or commas) into raw key/value pairs.

    A term given twice is an error rather than "the last one wins": ``scale=2 scale=4``
    is a typo or a pasted fragment, and silently running the x4 model would hide it.
    """
    try:
        tokens = shlex.split(text.replace(",", " "))
    except ValueError as exc:  # shlex's "No closing quotation"
        raise QueryError(
            f"query {text!r} has an unbalanced quotation mark ({exc})",
            hint="close the quote, or drop it: values need no quotes, e.g. dataset=DIV2K",
        ) from None
    pairs: dict[str, str] = {}
    for token in tokens:
        if "=" not in token:
            raise QueryError(
                f"query term {token!r} is not key=value",
                hint='write e.g. "dataset=DIV2K scale=2 channels=4"',
            )
        key, value = token.split("=", 1)
        name = key.strip().lower()
        if not name:
            raise QueryError(
                f"query term {token!r} names no attribute",
                hint=f"write attribute=value; attributes: {', '.join(QUERY_ATTRIBUTES)}",
            )
        if name in pairs:
            raise QueryError(
                f"the query gives {name} twice ({name}={pairs[name]} and {name}={value.strip()})",
                hint=f"keep one {name}=... term",
            )
        pairs[name] = value.strip()
    return pairs


def normalise_query(raw: Mapping[str, Any], vocab: Vocabulary) -> Query:
    """Validate names and values; aliases become canonical ids; ``None`` values are dropped."""
    query: Query = {}
    for key, value in raw.items():
        if value is None:
            continue
        name = key.strip().lower()
        if name not in QUERY_ATTRIBUTES:
            close = nearest(name, QUERY_ATTRIBUTES)
            raise QueryError(
                f"unknown attribute {key!r}; valid attributes: {', '.join(QUERY_ATTRIBUTES)}",
                hint=f"did you mean {close[0]}=...?"
                if close
                else "`upscaler models list` shows each model's attributes",
            )
        if name == "scale":
            query[name] = parse_scale(value)
        elif name == "channels":
            query[name] = _parse_channels(value)
        elif name == "degradation" and str(value).strip().lower() == "auto":
            raise QueryError(
                "degradation=auto reads the image being upscaled, and this command has none",
                hint="`upscaler inspect IMAGE` shows what it reads; `upscaler upscale IMAGE "
                "--auto` (or Upscaler(degradation='auto')) runs the model it picks",
            )
        elif name in SECTIONS.values():
            query[name] = vocab.normalise(name, value)
    return query


def format_query(query: Mapping[str, Any]) -> str:
    """The string form, in canonical attribute order (used in logs and describe())."""
    return " ".join(f"{k}={query[k]}" for k in QUERY_ATTRIBUTES if k in query)
