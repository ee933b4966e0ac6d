"""``prefer=`` typed into a query string, taken out before the attributes are checked.

``prefer`` is no catalog attribute: it says how to rank the models that match, so it
travels beside the query (``Upscaler(prefer=...)``, ``--prefer``). A new user who
writes ``upscaler resolve scale=2 prefer=fast`` means the same thing, though, and
"unknown attribute 'prefer'" tells them nothing they can act on; so every place that
takes a query string takes the term too, validated exactly as the option is.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from upscaler.errors import QueryError, nearest
from upscaler.resolve.query import parse_query_string
from upscaler.resolve.resolver import PREFER_CHOICES

PREFER = "prefer"
DEFAULT_PREFER = "balanced"


def check_prefer(value: Any) -> str:
    """A valid ranking name (case and spaces forgiven), else a QueryError naming the value."""
    text = str(value).strip().lower()
    if text in PREFER_CHOICES:
        return text
    close = nearest(text, PREFER_CHOICES)
    raise QueryError(
        f"prefer must be one of {', '.join(PREFER_CHOICES)}, got {value!r}",
        hint=f"did you mean prefer={close[0]}?" if close else "prefer=balanced is the default",
    )


def split_prefer(query: Any, prefer: str = DEFAULT_PREFER) -> tuple[Any, str]:
    """Take ``prefer=`` out of a query string (or mapping), returning the query left and
    the ranking to use.

    The query's term wins over the default; where the caller also passed a ranking other
    than the default, the two must agree, since silently dropping one would run a model
    the user did not ask for. A query without the term is returned unchanged (a string
    stays a string), so code that reads the string later sees what it always saw.
    """
    if isinstance(query, str):
        pairs: Mapping[str, Any] = parse_query_string(query)
    elif isinstance(query, Mapping):
        pairs = query
    else:
        return query, prefer
    keys = [key for key in pairs if str(key).strip().lower() == PREFER]
    if not keys:
        return query, prefer
    typed = check_prefer(pairs[keys[0]])
    if prefer != DEFAULT_PREFER and check_prefer(prefer) != typed:
        raise QueryError(
            f"the query says prefer={typed} and the option says prefer={prefer}",
            hint="give prefer once: in the query or as --prefer / prefer=",
            cli_hint="give prefer once: in the query or as --prefer",
        )
    rest = {key: value for key, value in pairs.items() if key not in keys}
    return rest, typed


def refuse_prefer_in_filter(query: str) -> None:
    """``models list --filter`` keeps models by attribute and ranks nothing, so a
    ``prefer=`` there has no effect to give; answer with the command that ranks."""
    pairs = parse_query_string(query)
    if PREFER in pairs:
        words = " ".join(f"{key}={value}" for key, value in pairs.items())
        raise QueryError(
            "--filter keeps models by attribute and ranks none, so prefer= has nothing to do there",
            hint=f"`upscaler resolve {words}` picks the best match by that ranking",
        )
