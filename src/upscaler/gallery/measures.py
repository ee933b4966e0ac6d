"""The catalog's measured numbers as chart points: mean PSNR-Y, speed, Pareto front.

Pure Python over catalog entries, so the chart, the docs tables and the explorer agree on
what "mean PSNR" means: the mean over the evaluation sets that *every* measured model in
the group has (PSNR on different sets is not comparable), as the resolver ranks them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from upscaler.catalog.loader import Catalog
from upscaler.catalog.schema import ModelEntry
from upscaler.resolve.resolver import FIDELITY, mean_psnr, speed_ms

# The domain of untrained baselines (vocab `domains`): shown beside every domain.
ANY_DOMAIN = "general"


def common_sets(entries: Iterable[ModelEntry]) -> frozenset[str]:
    """The evaluation sets every measured entry has (empty when none is measured)."""
    measured = [frozenset(e.metrics.sets) for e in entries if e.metrics and e.metrics.sets]
    return frozenset.intersection(*measured) if measured else frozenset()


def sets_label(sets: Iterable[str]) -> str:
    """``bsd100, set14, set5`` → ``Set5, Set14, BSD100`` (the usual order and spelling)."""
    order = {"set5": 0, "set14": 1, "bsd100": 2, "urban100": 3, "manga109": 4}
    spelled = {"set5": "Set5", "set14": "Set14", "bsd100": "BSD100", "urban100": "Urban100"}
    names = sorted(sets, key=lambda s: (order.get(s, 99), s))
    return ", ".join(spelled.get(s, s) for s in names)


@dataclass(frozen=True)
class Point:
    """One model on the chart; ``psnr``/``ms`` are None until measured."""

    id: str
    scale: int
    psnr: float | None
    ms: float | None
    perceptual: bool
    baseline: bool

    @property
    def plotted(self) -> bool:
        """Only a model with both numbers has a place on the chart."""
        return self.psnr is not None and self.ms is not None


def points(catalog: Catalog, scale: int) -> list[Point]:
    """Every model of one scale, with its mean PSNR over the scale's common sets."""
    entries = [e for e in catalog.entries if e.scale == scale]
    sets = common_sets(entries)
    return [
        Point(
            id=e.id,
            scale=scale,
            psnr=mean_psnr(e, sets),
            ms=speed_ms(e),
            perceptual=e.objective != FIDELITY,
            baseline=catalog.vocab.is_baseline(e.architecture),
        )
        for e in entries
    ]


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
