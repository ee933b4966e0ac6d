"""The catalog's measured numbers as chart points: mean PSNR-Y, speed, Pareto front.

Pure Python over catalog entries, so the chart, the docs tables and the explorer agree on
what "mean PSNR" means: the mean over the evaluation sets that *every* measured model in
the group has (PSNR on different sets is not comparable), as the resolver ranks them.

Every number belongs to a protocol (:mod:`upscaler.catalog.protocols`): the condition
the input was degraded under before the model ran. A chart mixes no protocols, so each
function here takes one, the clean bicubic protocol by default.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from statistics import mean

from upscaler.catalog.loader import Catalog
from upscaler.catalog.protocols import BICUBIC, PROTOCOLS
from upscaler.catalog.schema import ModelEntry
from upscaler.resolve.resolver import FIDELITY, mean_psnr, metrics_under, speed_ms

# The domain of untrained baselines (vocab `domains`): shown beside every domain.
ANY_DOMAIN = "general"

#: Fewest models a protocol needs at a scale before the docs draw a chart of it: a single
#: point compares with nothing.
MIN_MODELS = 2

#: The scale whose models upscale nothing: denoisers, which a clean input scores on an
#: identity task (the best score is "change nothing"), so they are charted by the
#: protocols they are for once one of those is measured.
DENOISE_ONLY_SCALE = 1


def common_sets(entries: Iterable[ModelEntry], protocol: str = BICUBIC) -> frozenset[str]:
    """The evaluation sets every entry measured under ``protocol`` has (empty when none is)."""
    measured = []
    for e in entries:
        metrics = metrics_under(e, protocol)
        if metrics is not None and metrics.sets:
            measured.append(frozenset(metrics.sets))
    return frozenset.intersection(*measured) if measured else frozenset()


def mean_lpips(entry: ModelEntry, sets: frozenset[str], protocol: str = BICUBIC) -> float | None:
    """Mean LPIPS over ``sets`` under ``protocol``; None unless every set has one."""
    metrics = metrics_under(entry, protocol)
    if metrics is None or not sets or not sets <= set(metrics.sets):
        return None
    values = [metrics.sets[name].lpips for name in sorted(sets)]
    return mean(v for v in values if v is not None) if None not in values else None


def sets_label(sets: Iterable[str]) -> str:
    """``bsd100, set14, set5`` → ``Set5, Set14, BSD100`` (the usual order and spelling)."""
    order = {"set5": 0, "set14": 1, "bsd100": 2, "urban100": 3, "manga109": 4}
    spelled = {"set5": "Set5", "set14": "Set14", "bsd100": "BSD100", "urban100": "Urban100"}
    names = sorted(sets, key=lambda s: (order.get(s, 99), s))
    return ", ".join(spelled.get(s, s) for s in names)


def chart_title(scale: int, protocol: str, sets: Iterable[str]) -> str:
    """``x2 · jpeg-q50 · Set5, Set14, BSD100``: what a chart shows, in one line."""
    named = sets_label(sets)
    return f"x{scale} · {protocol}" + (f" · {named}" if named else "")


@dataclass(frozen=True)
class Point:
    """One model on the chart; ``psnr``/``ms`` are None until measured."""

    id: str
    scale: int
    psnr: float | None
    ms: float | None
    perceptual: bool
    baseline: bool
    lpips: float | None = None
    default: bool = False

    @property
    def plotted(self) -> bool:
        """Only a model with both numbers has a place on the chart."""
        return self.psnr is not None and self.ms is not None


def points(catalog: Catalog, scale: int, protocol: str = BICUBIC) -> list[Point]:
    """Every model of one scale, with its mean PSNR over the scale's common sets under
    ``protocol`` (None for a model not measured under it)."""
    entries = [e for e in catalog.entries if e.scale == scale]
    sets = common_sets(entries, protocol)
    return [
        Point(
            id=e.id,
            scale=scale,
            psnr=mean_psnr(e, sets, protocol=protocol),
            ms=speed_ms(e),
            perceptual=e.objective != FIDELITY,
            baseline=catalog.vocab.is_baseline(e.architecture),
            lpips=mean_lpips(e, sets, protocol),
            default=e.default,
        )
        for e in entries
    ]


def measured_count(entries: Iterable[ModelEntry], protocol: str) -> int:
    """How many entries have numbers under ``protocol``."""
    return sum(1 for e in entries if (m := metrics_under(e, protocol)) is not None and bool(m.sets))


def chart_protocols(catalog: Catalog, scale: int) -> list[str]:
    """The protocols a scale's chart can be drawn under, the default first.

    A protocol qualifies when at least :data:`MIN_MODELS` models of the scale have numbers
    under it. The default is bicubic where it qualifies, else the protocol with the most
    models measured; the rest follow in the protocol table's order. At
    :data:`DENOISE_ONLY_SCALE` the bicubic protocol is left out once a JPEG one qualifies:
    denoisers are shown by the degradation they remove, not by an identity task.
    """
    entries = [e for e in catalog.entries if e.scale == scale]
    counts = {name: measured_count(entries, name) for name in PROTOCOLS}
    offered = [name for name in PROTOCOLS if counts[name] >= MIN_MODELS]
    if scale == DENOISE_ONLY_SCALE and any(PROTOCOLS[n].kind == "jpeg" for n in offered):
        offered.remove(BICUBIC)
    if not offered or BICUBIC in offered:
        return offered
    order = list(PROTOCOLS)
    default = max(offered, key=lambda n: (counts[n], -order.index(n)))
    return [default, *(n for n in offered if n != default)]


def pareto_front(candidates: Sequence[Point]) -> list[Point]:
    """Fidelity models no other is both faster and more accurate than, fastest first.

    Perceptual models are left out: their PSNR is low by design, so "dominated on PSNR"
    says nothing about them (the resolver never ranks them by it either).
    """
    usable = sorted(
        (p for p in candidates if p.plotted and not p.perceptual),
        key=lambda p: (p.ms, -(p.psnr or 0.0)),
    )
    front: list[Point] = []
    best = float("-inf")
    for p in usable:
        assert p.psnr is not None
        if p.psnr > best:
            front.append(p)
            best = p.psnr
    return front


def scales_of(catalog: Catalog) -> list[int]:
    """Every scale some model delivers, ascending."""
    return sorted({e.scale for e in catalog.entries})


def chart_scales(catalog: Catalog) -> list[int]:
    """Every scale in the order the charts show them: the global default model's scale
    first (what most readers came for), then the others ascending."""
    firsts = [e.scale for e in catalog.entries if e.global_default]
    scales = scales_of(catalog)
    return [*firsts[:1], *(s for s in scales if s not in firsts[:1])]
