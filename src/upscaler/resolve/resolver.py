"""Query → exact model(s) or ranked alternatives, and the choice strict/non-strict makes.

:func:`resolve` never raises for a well-formed query: it always returns either exact
matches or alternatives, so the CLI can show both. :func:`choose` applies the caller's
strictness on top of it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from statistics import mean
from typing import Any, Literal

from upscaler.catalog.loader import Catalog
from upscaler.catalog.schema import ModelEntry
from upscaler.errors import NoMatchingModel, QueryError
from upscaler.resolve.distance import differences
from upscaler.resolve.query import Query, format_query, normalise_query, parse_query_string
from upscaler.resolve.result import Alternative, Resolution

logger = logging.getLogger("upscaler.resolve")

Prefer = Literal["balanced", "fast", "accurate"]
PREFER_CHOICES: tuple[str, ...] = ("balanced", "fast", "accurate")
MAX_ALTERNATIVES = 8


def _mean_psnr(entry: ModelEntry) -> float | None:
    if entry.metrics is None or not entry.metrics.sets:
        return None
    return mean(m.psnr_y for m in entry.metrics.sets.values())


def _speed(entry: ModelEntry) -> float | None:
    return entry.speed.ms_per_output_megapixel if entry.speed else None


def _catalog_order(entry: ModelEntry, catalog: Catalog) -> tuple[Any, ...]:
    """Tie-break used with or without metrics: global default, trained before baselines,
    the global default's family, family defaults, then id. Deterministic by construction."""
    home = catalog.global_default.family
    return (
        not entry.global_default,
        catalog.vocab.is_baseline(entry.architecture),
        entry.family != home,
        not entry.default,
        entry.id,
    )


def _preference_key(entry: ModelEntry, catalog: Catalog, prefer: str) -> tuple[Any, ...]:
    psnr, speed = _mean_psnr(entry), _speed(entry)
    if prefer == "accurate" and psnr is not None:
        return (0, -round(psnr, 3), *_catalog_order(entry, catalog))
    if prefer == "fast" and speed is not None:
        return (0, round(speed, 3), *_catalog_order(entry, catalog))
    if prefer == "balanced" and psnr is not None and speed is not None:
        # PSNR gained per doubling of time: one dB is worth a doubling of cost.
        import math

        return (0, -round(psnr - math.log2(max(speed, 1e-9)), 3), *_catalog_order(entry, catalog))
    return (1, 0.0, *_catalog_order(entry, catalog))


def _call(entry: ModelEntry, query: Query) -> str:
    args = [f'model="{entry.id}"']
    if "scale" in query and query["scale"] != entry.scale:
        args.append(f"scale={query['scale']}")
    return f"Upscaler({', '.join(args)})"


def build_query(query: str | Mapping[str, Any] | None, catalog: Catalog, **kwargs: Any) -> Query:
    """Merge a string or mapping query with keyword attributes and normalise it."""
    raw: dict[str, Any] = {}
    if isinstance(query, str):
        raw.update(parse_query_string(query))
    elif query is not None:
        raw.update(query)
    raw.update({k: v for k, v in kwargs.items() if v is not None})
    return normalise_query(raw, catalog.vocab)


def resolve(
    query: Query,
    catalog: Catalog,
    *,
    prefer: str = "balanced",
    model: str | None = None,
) -> Resolution:
    """Rank the catalog against a normalised query (see :func:`build_query`)."""
    if prefer not in PREFER_CHOICES:
        raise QueryError(
            f"prefer must be one of {', '.join(PREFER_CHOICES)}, got {prefer!r}",
            hint='prefer="balanced" is the default',
        )
    pinned = catalog.get(model) if model is not None else None
    candidates: Sequence[ModelEntry] = [pinned] if pinned else catalog.entries
    if not query and pinned is None:
        chosen = catalog.global_default
        return Resolution(
            query={},
            prefer=prefer,
            exact=True,
            matches=[chosen.id],
            model=chosen,
            reason="no attributes given: the catalog's global default",
            adapters=[],
            alternatives=[],
        )
    exact = sorted(
        (e for e in candidates if not differences(query, e, catalog.entries)),
        key=lambda e: _preference_key(e, catalog, prefer),
    )
    alternatives = _alternatives(query, catalog, candidates, prefer)
    if exact:
        chosen = exact[0]
        if pinned is not None:
            reason = f"model {chosen.id} was asked for by id"
        elif len(exact) == 1:
            reason = "the only model matching every attribute"
        else:
            reason = f"best of {len(exact)} exact matches by prefer={prefer}"
        return Resolution(
            query=query,
            prefer=prefer,
            exact=True,
            matches=[e.id for e in exact],
            model=chosen,
            reason=reason,
            adapters=[],
            alternatives=alternatives,
        )
    best = next((a for a in alternatives if a.adaptable), None)
    chosen_entry = catalog.by_id[best.id] if best else None
    reason = (
        f"no exact match for {format_query(query)}; nearest adaptable model, "
        f"{'; '.join(best.describe_differences())}"
        if best
        else f"no exact match for {format_query(query)} and no model can be adapted to it"
    )
    return Resolution(
        query=query,
        prefer=prefer,
        exact=False,
        matches=[],
        model=chosen_entry,
        reason=reason,
        adapters=best.adapters if best else [],
        alternatives=alternatives,
    )


def _alternatives(
    query: Query, catalog: Catalog, candidates: Sequence[ModelEntry], prefer: str
) -> list[Alternative]:
    """Adaptable alternatives first (they still deliver what was asked), then by cost."""
    ranked: list[tuple[tuple[Any, ...], Alternative]] = []
    for entry in candidates:
        diffs = differences(query, entry, catalog.entries)
        if not diffs:
            continue
        cost = sum(d.cost for d in diffs)
        adaptable = all(d.adaptable for d in diffs)
        alt = Alternative(
            id=entry.id,
            cost=cost,
            adaptable=adaptable,
            differences=diffs,
            adapters=[d.adapter for d in diffs if d.adapter is not None],
            call=_call(entry, query),
            summary=entry.summary(),
        )
        ranked.append(((not adaptable, cost, *_preference_key(entry, catalog, prefer)), alt))
    ranked.sort(key=lambda pair: pair[0])
    return [alt for _, alt in ranked[:MAX_ALTERNATIVES]]


def choose(resolution: Resolution, *, strict: bool) -> ModelEntry:
    """The model to run: exact, or (non-strict) the best adaptable alternative.

    Raises :class:`NoMatchingModel` carrying the alternatives when the caller is strict
    and nothing matches exactly, or when nothing can be adapted at all.
    """
    if resolution.exact and resolution.model is not None:
        return resolution.model
    query = format_query(resolution.query)
    top = resolution.alternatives[0] if resolution.alternatives else None
    hint = f"nearest: {top.call} ({'; '.join(top.describe_differences())})" if top else None
    if strict:
        raise NoMatchingModel(
            f"no model matches {query} exactly", alternatives=resolution.alternatives, hint=hint
        )
    if resolution.model is None:
        raise NoMatchingModel(
            f"no model matches {query} and none can be adapted to it",
            alternatives=resolution.alternatives,
            hint=hint,
        )
    logger.warning(
        "no exact model for %s; using %s (%s)",
        query,
        resolution.model.id,
        "; ".join(str(a.detail) for a in resolution.adapters),
    )
    return resolution.model
