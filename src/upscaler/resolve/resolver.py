"""Query → exact model(s) or ranked alternatives, and the choice strict/non-strict makes.

:func:`resolve` never raises for a well-formed query: it always returns either exact
matches or alternatives, so the CLI can show both. :func:`choose` applies the caller's
strictness on top of it.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from statistics import mean
from typing import Any, TypeVar

from upscaler.catalog.loader import Catalog
from upscaler.catalog.protocols import BICUBIC
from upscaler.catalog.schema import BFLOAT16, Metrics, ModelEntry
from upscaler.errors import NoMatchingModel
from upscaler.resolve.condition import Ranking, fall_back, ranking_for
from upscaler.resolve.distance import differences
from upscaler.resolve.prefer import check_prefer
from upscaler.resolve.query import Query, format_query, normalise_query, query_terms
from upscaler.resolve.result import Alternative, Resolution
from upscaler.runtime.precision import cpu_has_native_bfloat16

logger = logging.getLogger("upscaler.resolve")

MAX_ALTERNATIVES = 8


#: Balanced ranking: how many dB of PSNR a doubling of run time must buy to be worth it.
#: See :func:`balanced_score` and docs/concepts.md.
DB_PER_DOUBLING = 0.25

#: Balanced scores closer than this (dB) are a tie, settled in favour of the faster model.
#: Speeds measured on a shared 2-core machine move by up to ±30 % between runs
#: (docs/performance.md): 0.38 doublings, 0.095 dB at DB_PER_DOUBLING. A smaller gap is
#: noise, and ranking by noise would let a re-measurement swap the default model.
BALANCED_TIE_DB = 0.1

_T = TypeVar("_T")


@dataclass(frozen=True)
class RankContext:
    """What ranking several entries against each other needs to know about all of them.

    PSNR is only comparable on the same evaluation sets and at the same scale, so the
    quality of each entry is its mean PSNR over the sets *every* measured candidate has
    (``sets``), and entries are grouped by scale before any number is compared.
    """

    home_scale: int
    sets: frozenset[str]
    stand_ins: Mapping[str, ModelEntry] = field(default_factory=dict, compare=False)
    """Quantized variant id -> its parent, whose numbers rank it unless speed is asked for."""
    protocol: str = BICUBIC
    """The protocol whose numbers rank (see :mod:`upscaler.resolve.condition`)."""

    @classmethod
    def of(
        cls, entries: Iterable[ModelEntry], catalog: Catalog, ranking: Ranking | None = None
    ) -> RankContext:
        """The context for ranking ``entries`` (independent of their order).

        Under a ranking that names sets (``domain=anime``: the illustration set), those
        sets are used when any candidate was measured on them; otherwise the sets every
        measured candidate shares, as always.
        """
        entries = list(entries)
        protocol = ranking.protocol if ranking is not None else BICUBIC
        measured = [
            frozenset(m.sets) for e in entries if (m := metrics_under(e, protocol)) and m.sets
        ]
        common = frozenset.intersection(*measured) if measured else frozenset()
        if ranking is not None and ranking.sets:
            wanted = frozenset(
                name for name in ranking.sets if any(name in sets for sets in measured)
            )
            common = wanted or common
        stand_ins = {
            e.id: parent
            for e in entries
            if e.built_from_parent and (parent := derived_parent(e, catalog)) is not None
        }
        return cls(
            home_scale=catalog.global_default.scale,
            sets=common,
            stand_ins=stand_ins,
            protocol=protocol,
        )

    def ranked_by(self, entry: ModelEntry, prefer: str) -> ModelEntry:
        """The entry whose numbers rank ``entry``: its own, except that an int8 or bfloat16
        variant ranks by its parent's under "balanced" and "accurate", and so right after
        it. Why: a quantized variant is the parent's model in other arithmetic, with other
        outputs (and int8 only on the CPU); it is there for whoever asks for speed
        (``prefer="fast"``, with its quality rule) or names it (``quantization=``), not to
        replace the float model a query that asked for neither gets."""
        if prefer == "fast":
            return entry
        return self.stand_ins.get(entry.id, entry)


#: The objective whose models PSNR ranks. A perceptual model's PSNR is measured and shown,
#: but it was never trained for it, so ranking by it would be a quiet lie.
FIDELITY = "fidelity"

#: The denoise id of models that remove no noise (vocab `denoise`).
NO_DENOISE = "none"


def metrics_under(entry: ModelEntry, protocol: str = BICUBIC) -> Metrics | None:
    """The entry's numbers under ``protocol``: ``metrics`` for the clean bicubic one,
    ``protocol_metrics[protocol]`` for a degradation protocol (None when not measured)."""
    return entry.metrics_by_protocol().get(protocol)


def mean_psnr(entry: ModelEntry, sets: frozenset[str], *, protocol: str = BICUBIC) -> float | None:
    """Mean PSNR (Y) over ``sets`` under ``protocol``; None when the entry lacks any of
    them (or they are none)."""
    metrics = metrics_under(entry, protocol)
    if metrics is None or not sets or not sets <= set(metrics.sets):
        return None
    return mean(metrics.sets[name].psnr_y for name in sorted(sets))


def ranking_psnr(
    entry: ModelEntry, sets: frozenset[str], *, protocol: str = BICUBIC
) -> float | None:
    """The PSNR ranking may use: only a fidelity model's (see :data:`FIDELITY`)."""
    return mean_psnr(entry, sets, protocol=protocol) if entry.objective == FIDELITY else None


def ranking_lpips(entry: ModelEntry, context: RankContext) -> float | None:
    """Mean LPIPS (lower is better) over the context's sets under its protocol: what ranks
    perceptual models, which PSNR never does. None for fidelity models, and when a set
    lacks it."""
    metrics = metrics_under(entry, context.protocol)
    if entry.objective == FIDELITY or metrics is None or not context.sets:
        return None
    values = [metrics.sets[n].lpips if n in metrics.sets else None for n in sorted(context.sets)]
    return mean(v for v in values if v is not None) if all(v is not None for v in values) else None


def speed_ms(entry: ModelEntry) -> float | None:
    """Measured milliseconds per output megapixel, if the benchmark has written it."""
    return entry.speed.ms_per_output_megapixel if entry.speed else None


def balanced_score(psnr: float, ms_per_megapixel: float) -> float:
    """PSNR minus :data:`DB_PER_DOUBLING` dB for every doubling of run time.

    Equivalently: a slower model wins only if each doubling of its time buys more than
    ``DB_PER_DOUBLING`` dB. Scale-free in time (only ratios matter, so the machine the
    speed was measured on cancels out when all candidates were measured on it).
    """
    return psnr - DB_PER_DOUBLING * math.log2(max(ms_per_megapixel, 1e-9))


#: Most PSNR (dB, mean over the ranking sets) a derived variant (quantized or pruned) may
#: lose against its parent and still be ranked by its speed under prefer="fast" (issue
#: 16's target for int8 variants, kept for pruned ones). "fast" asks for speed, not for a
#: worse picture at any price, and a variant exists only to be the faster of the two.
MAX_DERIVED_LOSS_DB = 0.2


def derived_parent(entry: ModelEntry, catalog: Catalog) -> ModelEntry | None:
    """The model a derived variant (an int8 or a pruned one) was made from: the entry's
    ``derived_from`` when that is in ``catalog`` at the same scale. None otherwise; a
    model made from another scale's network (realesrgan's animevideov3-x2 runs the x4
    network) does a different task, whose PSNR says nothing against its parent's."""
    parent = catalog.by_id.get(entry.derived_from or "")
    return parent if parent is not None and parent.scale == entry.scale else None


def derived_loss(
    entry: ModelEntry, catalog: Catalog, sets: frozenset[str], *, protocol: str = BICUBIC
) -> float | None:
    """How many dB a derived variant loses against its parent on ``sets`` (None when
    either lacks the numbers, or the entry is no derived variant)."""
    parent = derived_parent(entry, catalog)
    if parent is None:
        return None
    own = mean_psnr(entry, sets, protocol=protocol)
    theirs = mean_psnr(parent, sets, protocol=protocol)
    return None if own is None or theirs is None else theirs - own


def _is_derived(entry: ModelEntry, catalog: Catalog) -> bool:
    """A variant made from a parent of its scale (quantized or pruned), or an int8 variant
    whose parent this catalog lacks (its quality loss is then unknown)."""
    return entry.built_from_parent or derived_parent(entry, catalog) is not None


def _fast_value(entry: ModelEntry, catalog: Catalog, context: RankContext) -> float | None:
    """Milliseconds per megapixel for prefer="fast"; None (ranked after every measured
    model) for a derived variant whose measured quality loss against its parent is
    unknown or above :data:`MAX_DERIVED_LOSS_DB`, for a bfloat16 variant on a CPU
    without native bfloat16 (its speed was measured on one that has it), and for a
    self-ensemble (``ensemble``), which exists for "accurate" only."""
    if entry.ensemble is not None:
        return None  # a self-ensemble is its parent at 8 times the cost: never the fast one
    speed = speed_ms(entry)
    if speed is not None and entry.quantization == BFLOAT16 and not cpu_has_native_bfloat16():
        return None  # measured where bfloat16 is native; emulated here, slower than float32
    if speed is None or not _is_derived(entry, catalog):
        return speed
    loss = derived_loss(entry, catalog, context.sets, protocol=context.protocol)
    return speed if loss is not None and loss <= MAX_DERIVED_LOSS_DB else None


def _catalog_order(entry: ModelEntry, catalog: Catalog) -> tuple[Any, ...]:
    """Tie-break used with or without metrics: global default, trained before baselines,
    parents before the variants quantized or pruned from them (a query that names neither
    gets the parent at equal numbers; the legacy models' uint8 *storage* is float at run
    time and does not count), the global default's family, family defaults, then id.
    Deterministic by construction."""
    home = catalog.global_default.family
    return (
        not entry.global_default,
        catalog.vocab.is_baseline(entry.architecture),
        _is_derived(entry, catalog),
        entry.family != home,
        not entry.default,
        entry.id,
    )


def _preference_key(
    entry: ModelEntry, catalog: Catalog, prefer: str, context: RankContext
) -> tuple[Any, ...]:
    """Sort key for one entry among candidates sharing ``context``.

    Scale groups come first (the global default's scale, then ascending): numbers are
    never compared across scales. Within a scale, entries with the numbers ``prefer``
    needs come before those without, ordered by them; then the catalog order. With no
    numbers at all this is exactly the catalog order, so an unmeasured catalog still ranks.
    """
    group = _scale_group(entry, context)
    numbers = context.ranked_by(entry, prefer)
    psnr = ranking_psnr(numbers, context.sets, protocol=context.protocol)
    speed = speed_ms(numbers)
    value: float | None = None
    lpips = ranking_lpips(numbers, context)
    if prefer in ("accurate", "balanced") and lpips is not None:
        value = lpips  # perceptual models: their own yardstick, time only breaks ties
    elif prefer == "accurate" and psnr is not None:
        value = -psnr
    elif prefer == "fast":
        value = _fast_value(entry, catalog, context)
    elif prefer == "balanced" and psnr is not None and speed is not None:
        value = -balanced_score(psnr, speed)
    if value is None:
        return (*group, 1, 0.0, *_catalog_order(entry, catalog))
    return (*group, 0, round(value, 6), *_catalog_order(entry, catalog))


def _scale_group(entry: ModelEntry, context: RankContext) -> tuple[bool, int, bool, bool, bool]:
    """Groups whose numbers are compared: one per scale, fidelity models before the rest,
    models that keep the image's noise before denoisers, colour models before luma ones.

    A query that names no objective gets a faithful upscale first; perceptual models
    answer it only after every fidelity model (and answer ``objective=perceptual`` alone).
    Likewise a query that names no denoise level never gets a denoiser first: smoothing
    was not asked for, and clean-input PSNR cannot tell that it happened. And a query that
    names no channels never gets a luma model first: on a colour image it would run
    through the luma adapter, chroma by bicubic, which PSNR on Y cannot see either (a
    ``channels=1`` query has only luma models among its exact matches). Under a
    degradation protocol (the query or the input says the image is compressed or noisy),
    denoisers compete on the numbers measured under it: removing that noise is the job.
    """
    return (
        entry.scale != context.home_scale,
        entry.scale,
        entry.objective != FIDELITY,
        context.protocol == BICUBIC and entry.denoise != NO_DENOISE,
        entry.channels == 1,
    )


def settle_balanced_ties(
    ordered: Sequence[_T],
    entry_of: Callable[[_T], ModelEntry],
    group_of: Callable[[_T], Hashable],
    context: RankContext,
) -> list[_T]:
    """Reorder, fastest first, the models tied for the lead of each group.

    ``ordered`` is sorted by the balanced key and its groups (runs of equal ``group_of``)
    are the sets whose numbers are compared. Within each, the leading models whose scores
    are within :data:`BALANCED_TIE_DB` of the best are a tie: a gap that small is timing
    noise, so the faster model (the cheaper bet) goes first. Models below the lead keep
    their score order. Deterministic: the sort is stable and ``ordered`` already is.
    """
    settled: list[_T] = []
    for _, run in itertools.groupby(ordered, key=group_of):
        items = list(run)
        numbers = [context.ranked_by(entry_of(item), "balanced") for item in items]
        scores = [balanced_of(entry, context) for entry in numbers]
        best = scores[0]
        if best is not None:
            lead = 0
            while lead < len(items):
                score = scores[lead]
                if score is None or score < best - BALANCED_TIE_DB:
                    break
                lead += 1
            speeds = {id(item): speed_ms(n) or 0.0 for item, n in zip(items, numbers, strict=True)}
            items[:lead] = sorted(items[:lead], key=lambda i: speeds[id(i)])
        settled.extend(items)
    return settled


def balanced_of(entry: ModelEntry, context: RankContext) -> float | None:
    """The entry's balanced score in ``context``; None without both numbers."""
    psnr = ranking_psnr(entry, context.sets, protocol=context.protocol)
    speed = speed_ms(entry)
    return balanced_score(psnr, speed) if psnr is not None and speed is not None else None


def rank(
    entries: Sequence[ModelEntry],
    catalog: Catalog,
    prefer: str,
    ranking: Ranking | None = None,
) -> list[ModelEntry]:
    """``entries`` best first by ``prefer`` (see :func:`_preference_key`; balanced ties
    within the noise go to the faster model, see :func:`settle_balanced_ties`), by the
    numbers of ``ranking``'s protocol (the clean bicubic one by default)."""
    context = RankContext.of(entries, catalog, ranking)
    ordered = sorted(entries, key=lambda e: _preference_key(e, catalog, prefer, context))
    if prefer != "balanced":
        return ordered
    return settle_balanced_ties(ordered, lambda e: e, lambda e: _scale_group(e, context), context)


def _call(entry: ModelEntry, query: Query) -> str:
    args = [f'model="{entry.id}"']
    if "scale" in query and query["scale"] != entry.scale:
        args.append(f"scale={query['scale']}")
    return f"Upscaler({', '.join(args)})"


def _flags(entry: ModelEntry, query: Query) -> str:
    """:func:`_call` in command-line words, for the CLI's hints and `resolve` output."""
    words = f"--model {entry.id}"
    if "scale" in query and query["scale"] != entry.scale:
        words += f" --scale {query['scale']}"
    return words


def build_query(query: str | Mapping[str, Any] | None, catalog: Catalog, **kwargs: Any) -> Query:
    """Merge a string or mapping query with keyword attributes and normalise it."""
    return normalise_query(query_terms(query, kwargs), catalog.vocab)


def resolve(
    query: Query,
    catalog: Catalog,
    *,
    prefer: str = "balanced",
    model: str | None = None,
    observed: Ranking | None = None,
) -> Resolution:
    """Rank the catalog against a normalised query (see :func:`build_query`).

    ``observed`` is what ``degradation="auto"`` read from the input (a JPEG's quality,
    noise, drawn content): it decides whose numbers rank, as a query's ``denoise=``,
    ``degradation=`` or ``domain=anime`` does (:mod:`upscaler.resolve.condition`).
    """
    prefer = check_prefer(prefer)
    pinned = catalog.get(model) if model is not None else None
    candidates: Sequence[ModelEntry] = [pinned] if pinned else catalog.entries
    ranking = ranking_for(query, catalog.vocab, observed=observed)
    if not query and pinned is None and not ranking.is_default:
        # Nothing asked but the input's condition: that scale's models by its numbers.
        home = catalog.global_default.scale
        pool = [e for e in catalog.entries if e.scale == home]
        ranking = fall_back(ranking, measured_protocols(pool))
        ranked = rank(pool, catalog, prefer, ranking)
        return Resolution(
            query={},
            prefer=prefer,
            exact=True,
            matches=[e.id for e in ranked],
            model=ranked[0],
            reason=f"no attributes given: the best x{home} model by prefer={prefer} under "
            f"the {ranking.protocol} protocol",
            adapters=[],
            alternatives=[],
            ranking=ranking_note(ranking, ranked),
        )
    if not query and pinned is None:
        # The global default is the balanced choice at its scale (a test keeps it so); any
        # other preference ranks that scale's models by its own numbers.
        chosen = catalog.global_default
        matches = [chosen.id]
        reason = "no attributes given: the catalog's global default"
        if prefer != "balanced":
            ranked = rank([e for e in catalog.entries if e.scale == chosen.scale], catalog, prefer)
            chosen, matches = ranked[0], [e.id for e in ranked]
            reason = (
                f"no attributes given: the best x{chosen.scale} model (the global default's "
                f"scale) by prefer={prefer}"
            )
        return Resolution(
            query={},
            prefer=prefer,
            exact=True,
            matches=matches,
            model=chosen,
            reason=reason,
            adapters=[],
            alternatives=[],
        )
    matching = [e for e in candidates if not differences(query, e, catalog.entries, catalog.vocab)]
    ranking = fall_back(ranking, measured_protocols(matching or candidates))
    exact = rank(matching, catalog, prefer, ranking)
    alternatives = _alternatives(query, catalog, candidates, prefer, ranking)
    note = ranking_note(ranking, exact or [catalog.by_id[a.id] for a in alternatives])
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
            ranking=note,
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
        ranking=note,
    )


def measured_protocols(entries: Iterable[ModelEntry]) -> set[str]:
    """Every protocol some of ``entries`` has numbers under."""
    return {protocol for entry in entries for protocol in entry.metrics_by_protocol()}


def ranking_note(ranking: Ranking, ranked: Sequence[ModelEntry]) -> str | None:
    """What ranked the candidates, when it is not the clean protocol, and how many of them
    have numbers under it (the others rank after the measured ones)."""
    if ranking.is_default:
        return None
    measured = sum(1 for e in ranked if metrics_under(e, ranking.protocol) is not None)
    unmeasured = len(ranked) - measured
    tail = (
        f"; {unmeasured} of {len(ranked)} candidates without {ranking.protocol} numbers "
        "rank after the measured ones"
        if unmeasured
        else ""
    )
    return f"{ranking.reason}{tail}"


def _alternatives(
    query: Query,
    catalog: Catalog,
    candidates: Sequence[ModelEntry],
    prefer: str,
    ranking: Ranking | None = None,
) -> list[Alternative]:
    """Adaptable alternatives first (they still deliver what was asked), then by cost."""
    ranked: list[tuple[tuple[Any, ...], Alternative]] = []
    context = RankContext.of(candidates, catalog, ranking)
    for entry in candidates:
        diffs = differences(query, entry, catalog.entries, catalog.vocab)
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
            flags=_flags(entry, query),
        )
        key = _preference_key(entry, catalog, prefer, context)
        ranked.append(((not adaptable, cost, *key), alt))
    ranked.sort(key=lambda pair: pair[0])
    if prefer == "balanced":
        # Only alternatives that cost the same and share a scale group compare scores.
        ranked = settle_balanced_ties(
            ranked,
            lambda pair: catalog.by_id[pair[1].id],
            lambda pair: (
                not pair[1].adaptable,
                pair[1].cost,
                *_scale_group(catalog.by_id[pair[1].id], context),
            ),
            context,
        )
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
    why = f" ({'; '.join(top.describe_differences())})" if top else ""
    hint = f"nearest: {top.call}{why}" if top else None
    cli_hint = f"nearest: {top.flags}{why}" if top else None
    if strict:
        raise NoMatchingModel(
            f"no model matches {query} exactly",
            alternatives=resolution.alternatives,
            hint=hint,
            cli_hint=cli_hint,
        )
    if resolution.model is None:
        raise NoMatchingModel(
            f"no model matches {query} and none can be adapted to it",
            alternatives=resolution.alternatives,
            hint=hint,
            cli_hint=cli_hint,
        )
    logger.warning(
        "no exact model for %s; using %s (%s)",
        query,
        resolution.model.id,
        "; ".join(str(a.detail) for a in resolution.adapters) or "no adapter needed",
    )
    return resolution.model
