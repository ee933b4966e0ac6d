"""The rankings a caller may ask for (``prefer=``), listed once, and their one check.

``prefer`` is no catalog attribute: it says how to rank the models that match, so it
travels beside the query (``Upscaler(prefer=...)``, ``--prefer``). A new user who
writes ``upscaler resolve scale=2 prefer=fast`` means the same thing, though, and
"unknown attribute 'prefer'" tells them nothing they can act on; so every place that
takes a query string takes the term too (:func:`upscaler.resolve.query.read_query`),
validated exactly as the option is.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from upscaler.errors import QueryError, nearest

PREFER = "prefer"

PREFER_CHOICES: tuple[str, ...] = ("balanced", "fast", "accurate")
"""How several exact matches are ranked, the default first: ``balanced`` trades measured
quality against measured time, ``fast`` takes the fastest model that keeps its quality,
``accurate`` the best measured quality (:mod:`upscaler.resolve.resolver`)."""

DEFAULT_PREFER = PREFER_CHOICES[0]


def check_prefer(value: Any) -> str:
    """A valid ranking name (case and spaces forgiven), else a QueryError naming the value."""
    text = str(value).strip().lower()
    if text in PREFER_CHOICES:
        return text
    close = nearest(text, PREFER_CHOICES)
    raise QueryError(
        f"prefer must be one of {', '.join(PREFER_CHOICES)}, got {value!r}",
        hint=f"did you mean prefer={close[0]}?"
        if close
        else f"prefer={DEFAULT_PREFER} is the default",
    )


def refuse_prefer_in_filter(terms: Mapping[str, str]) -> None:
    """``models list --filter`` keeps models by attribute and ranks nothing, so a
    ``prefer=`` there has no effect to give; answer with the command that ranks."""
    if PREFER in terms:
        words = " ".join(f"{key}={value}" for key, value in terms.items())
        raise QueryError(
            "--filter keeps models by attribute and ranks none, so prefer= has nothing to do there",
            hint=f"`upscaler resolve {words}` picks the best match by that ranking",
        )
