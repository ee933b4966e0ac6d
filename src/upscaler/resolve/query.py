"""Parse a model query from keyword arguments or a ``key=value`` string.

Both spellings end in the same normalised :class:`Query`, so the CLI, the facade and the
explorer cannot disagree about what ``"dataset=DIV2K scale=2 channels=4"`` means. A query
string is read once (:func:`read_query`): its attributes, the ranking it asks for and
whether it asks to read each input come out of that one reading.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from upscaler.catalog.attribute_values import parse_scale
from upscaler.catalog.attributes import QUERY_ATTRIBUTES, attribute_named
from upscaler.catalog.vocab import Vocabulary
from upscaler.errors import QueryError, nearest
from upscaler.resolve.prefer import DEFAULT_PREFER, PREFER, check_prefer

__all__ = [
    "AskedFor",
    "Query",
    "format_query",
    "normalise_query",
    "parse_query_string",
    "parse_scale",
    "query_terms",
    "read_query",
]

Query = dict[str, Any]


@dataclass(frozen=True)
class AskedFor:
    """One reading of what a caller asked for: the attributes as typed (normalised later,
    by :func:`normalise_query`), the ranking, and whether it asked to read each input
    (``degradation=auto``)."""

    attributes: dict[str, Any]
    prefer: str
    auto: bool


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


def query_terms(
    query: str | Mapping[str, Any] | None, keywords: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The raw terms of a string or mapping query, with keyword attributes over them (a
    keyword wins; ``None`` means "not given")."""
    terms: dict[str, Any] = parse_query_string(query) if isinstance(query, str) else {}
    if query is not None and not isinstance(query, str):
        terms.update(query)
    terms.update({k: v for k, v in (keywords or {}).items() if v is not None})
    return terms


def read_query(
    query: str | Mapping[str, Any] | None,
    keywords: Mapping[str, Any] | None = None,
    *,
    prefer: str = DEFAULT_PREFER,
    read_input: bool = False,
) -> AskedFor:
    """Read a query once: its attributes, its ranking, and whether it asks to read inputs.

    A ``prefer=`` term wins over the default ranking; where the caller also passed a
    ranking other than the default, the two must agree, since silently dropping one would
    run a model the user did not ask for. ``read_input`` (a caller that has an image):
    ``degradation=auto``, in the query or as a keyword, is taken out and reported as
    :attr:`AskedFor.auto`; elsewhere it stays, and :func:`normalise_query` refuses it.
    """
    terms = query_terms(query)
    said = [key for key in terms if str(key).strip().lower() == PREFER]
    if said:
        typed = check_prefer(terms[said[0]])
        if prefer != DEFAULT_PREFER and check_prefer(prefer) != typed:
            raise QueryError(
                f"the query says prefer={typed} and the option says prefer={prefer}",
                hint="give prefer once: in the query or as --prefer / prefer=",
                cli_hint="give prefer once: in the query or as --prefer",
            )
        prefer = typed
        terms = {key: value for key, value in terms.items() if key not in said}
    given = dict(keywords or {})
    auto = False
    if read_input:  # both spellings are taken out, so neither reaches the vocabulary
        in_query = _take_from_input(terms)
        in_keywords = _take_from_input(given)
        auto = in_query or in_keywords
    return AskedFor(attributes=query_terms(terms, given), prefer=prefer, auto=auto)


def _take_from_input(terms: dict[str, Any]) -> bool:
    """Remove the terms that ask to read their attribute from each input; whether any did.

    Such a value is no catalog value: the catalog's degradations describe training, while
    ``degradation=auto`` describes how to read the input.
    """
    found = False
    for key, value in list(terms.items()):
        row = attribute_named(str(key).strip().lower())
        if row is not None and row.from_input is not None and _is(value, row.from_input.value):
            del terms[key]
            found = True
    return found


def _is(value: Any, word: str) -> bool:
    return isinstance(value, str) and value.strip().lower() == word


def normalise_query(raw: Mapping[str, Any], vocab: Vocabulary) -> Query:
    """Validate names and values; aliases become canonical ids; ``None`` values are dropped."""
    query: Query = {}
    for key, value in raw.items():
        if value is None:
            continue
        name = key.strip().lower()
        row = attribute_named(name)
        if row is None:
            close = nearest(name, QUERY_ATTRIBUTES)
            raise QueryError(
                f"unknown attribute {key!r}; valid attributes: {', '.join(QUERY_ATTRIBUTES)}",
                hint=f"did you mean {close[0]}=...?"
                if close
                else "`upscaler models list` shows each model's attributes",
            )
        reading = row.from_input
        if reading is not None and str(value).strip().lower() == reading.value:
            raise QueryError(
                f"{name}={reading.value} reads the image being upscaled, and this command has none",
                hint=f"`upscaler inspect IMAGE` shows what it reads; `upscaler upscale IMAGE "
                f"{reading.flag}` (or Upscaler({name}='{reading.value}')) runs the model it "
                "picks",
            )
        query[name] = row.parse(value) if row.parse is not None else vocab.normalise(name, value)
    return query


def format_query(query: Mapping[str, Any]) -> str:
    """The string form, in canonical attribute order (used in logs and describe())."""
    return " ".join(f"{k}={query[k]}" for k in QUERY_ATTRIBUTES if k in query)
