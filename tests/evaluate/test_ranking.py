"""prefer= ranks exact matches by the measured numbers, and falls back without them.

Built on the shipped catalog's entries with metrics and speed replaced by chosen values,
so the rules are tested independently of what the real models measure.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping

import pytest
from eval_helpers import AWAITING_MEASUREMENT

from upscaler.catalog import Catalog, default_catalog
from upscaler.catalog.schema import Metric, Metrics, Provenance, Speed
from upscaler.resolve.resolver import (
    BALANCED_TIE_DB,
    DB_PER_DOUBLING,
    balanced_score,
    rank,
    resolve,
)

PROV = Provenance(command="upscaler eval --all --write", version="0", date="2030-01-01")
SETS = ("set5", "set14", "bsd100")


def _metrics(psnr: float, sets: tuple[str, ...] = SETS) -> Metrics:
    return Metrics(provenance=PROV, sets={k: Metric(psnr_y=psnr, ssim_y=0.9) for k in sets})


def _catalog(numbers: Mapping[str, tuple[Metrics | None, float | None]]) -> Catalog:
    """The shipped catalog with every entry's numbers cleared, then ``numbers`` set."""
    base = default_catalog()
    entries = []
    for entry in base.entries:
        metrics, ms = numbers.get(entry.id, (None, None))
        speed = Speed(provenance=PROV, ms_per_output_megapixel=ms) if ms is not None else None
        entries.append(entry.model_copy(update={"metrics": metrics, "speed": speed}))
    return Catalog(root=base.root, vocab=base.vocab, entries=tuple(entries), families=base.families)


def _models(catalog: Catalog, ranked: list[str]) -> list[str]:
    """``ranked`` without the int8 and bfloat16 variants, which rank right after their
    parents by the parents' numbers under balanced and accurate (tests/resolve/
    test_quantized.py), so that the rules here read on the models themselves."""
    return [i for i in ranked if not catalog.by_id[i].built_from_parent]


def _top(catalog: Catalog, query: dict[str, object], prefer: str) -> str:
    r = resolve(query, catalog, prefer=prefer)
    assert r.model is not None
    return r.model.id


X2 = {
    "esrgan-slim.x2": (_metrics(31.0), 100.0),
    "esrgan-medium.x2": (_metrics(31.4), 400.0),  # +0.4 dB for 2 doublings: not worth it
    "esrgan-thick.x2": (_metrics(32.0), 3200.0),  # +1.0 dB for 5 doublings: not worth it
    "esrgan-legacy.psnr-small-x2": (_metrics(31.7), 400.0),  # +0.7 dB for 2: worth it
    "esrgan-legacy.div2k-x2": (_metrics(30.0), 900.0),
    "pixel-upsampler.x2": (_metrics(28.0), 1.0),
}


def test_accurate_fast_and_balanced_pick_by_their_rule() -> None:
    catalog = _catalog(X2)
    assert _top(catalog, {"scale": 2}, "accurate") == "esrgan-thick.x2"
    assert _top(catalog, {"scale": 2}, "fast") == "pixel-upsampler.x2"
    assert _top(catalog, {"scale": 2}, "balanced") == "esrgan-legacy.psnr-small-x2"
    ranked = _models(catalog, resolve({"scale": 2}, catalog, prefer="balanced").matches)
    assert ranked[: len(X2)] == [i for i in ranked if i in X2], "unmeasured models come last"
    ranked = ranked[: len(X2)]
    scores = [balanced_score(X2[i][0].sets["set5"].psnr_y, X2[i][1]) for i in ranked]  # type: ignore[union-attr, arg-type]
    assert scores == sorted(scores, reverse=True)


def test_balanced_is_psnr_minus_a_price_per_doubling() -> None:
    assert balanced_score(32.0, 200.0) - balanced_score(32.0, 100.0) == pytest.approx(
        -DB_PER_DOUBLING
    )
    assert balanced_score(30.0, 1.0) == 30.0
    assert DB_PER_DOUBLING == 0.25


@pytest.mark.parametrize("prefer", ["balanced", "fast", "accurate"])
def test_no_numbers_keeps_the_catalog_order(prefer: str) -> None:
    catalog = _catalog({})
    # The global default's family (SPAN) first, then the catalog order.
    assert _top(catalog, {"scale": 4}, prefer) == "span.ch48-x4"
    assert _top(catalog, {}, prefer) == catalog.global_default.id


def test_metrics_without_speed_rank_only_accurate() -> None:
    catalog = _catalog({k: (m, None) for k, (m, _) in X2.items()})
    assert _top(catalog, {"scale": 2}, "accurate") == "esrgan-thick.x2"
    for prefer in ("balanced", "fast"):
        assert _top(catalog, {"scale": 2}, prefer) == catalog.global_default.id


def test_measured_models_come_before_unmeasured_ones() -> None:
    numbers = {"esrgan-medium.x4": (_metrics(25.0), 50.0)}
    catalog = _catalog(numbers)
    for prefer in ("balanced", "fast", "accurate"):
        assert _top(catalog, {"scale": 4}, prefer) == "esrgan-medium.x4"


def test_psnr_is_never_compared_across_scales() -> None:
    numbers = {
        "esrgan-slim.x2": (_metrics(30.0), 100.0),
        "esrgan-thick.x4": (_metrics(29.0), 100.0),
        "esrgan-thick.x8": (_metrics(26.0), 1.0),
        "esrgan-thick.x2": (_metrics(33.0), 100.0),
    }
    catalog = _catalog(numbers)
    query = {"dataset": "div2k"}  # every scale matches
    for prefer in ("balanced", "fast", "accurate"):
        matches = resolve(query, catalog, prefer=prefer).matches
        scales = [catalog.by_id[m].scale for m in matches]
        home = catalog.global_default.scale
        assert scales[: scales.count(home)] == [home] * scales.count(home)
        assert scales[scales.count(home) :] == sorted(scales[scales.count(home) :])
    assert _top(catalog, query, "accurate") == "esrgan-thick.x2"


def test_quality_uses_only_the_sets_every_candidate_has() -> None:
    numbers = {
        # A brilliant number on a set nobody else has must not decide.
        "esrgan-slim.x2": (_metrics(31.0, (*SETS, "urban100")), 100.0),
        "esrgan-medium.x2": (_metrics(31.5), 100.0),
    }
    m = numbers["esrgan-slim.x2"][0]
    sets = dict(m.sets)
    sets["urban100"] = Metric(psnr_y=49.0, ssim_y=0.99)
    numbers["esrgan-slim.x2"] = (m.model_copy(update={"sets": sets}), 100.0)
    assert _top(_catalog(numbers), {"scale": 2}, "accurate") == "esrgan-medium.x2"


def test_ranking_does_not_depend_on_catalog_order() -> None:
    catalog = _catalog(X2)
    shuffled_entries = list(catalog.entries)
    random.Random(4).shuffle(shuffled_entries)
    shuffled = Catalog(
        root=catalog.root,
        vocab=catalog.vocab,
        entries=tuple(shuffled_entries),
        families=catalog.families,
    )
    for prefer in ("balanced", "fast", "accurate"):
        assert (
            resolve({"scale": 2}, catalog, prefer=prefer).matches
            == resolve({"scale": 2}, shuffled, prefer=prefer).matches
        )


def test_balanced_examples_from_the_docs() -> None:
    # 4x slower needs 0.5 dB, 10x 0.83 dB, 30x 1.23 dB (docs/concepts.md).
    for factor, needed in ((4, 0.5), (10, 0.83), (30, 1.23)):
        assert DB_PER_DOUBLING * math.log2(factor) == pytest.approx(needed, abs=0.005)


def test_balanced_ties_within_the_noise_go_to_the_faster_model() -> None:
    # psnr-small is one doubling slower and 0.3 dB better: score +0.05, inside the band.
    tied = {
        "esrgan-slim.x2": (_metrics(31.0), 100.0),
        "esrgan-legacy.psnr-small-x2": (_metrics(31.3), 200.0),
        "esrgan-medium.x2": (_metrics(31.28), 200.0),  # in the band too, and slower
        "esrgan-thick.x2": (_metrics(30.0), 50.0),  # fastest, but 0.75 below the lead
    }
    gap = balanced_score(31.3, 200.0) - balanced_score(31.0, 100.0)
    assert 0 < gap < BALANCED_TIE_DB
    catalog = _catalog(tied)
    matches = _models(catalog, resolve({"scale": 2}, catalog, prefer="balanced").matches)
    assert matches[:4] == [
        "esrgan-slim.x2",
        "esrgan-legacy.psnr-small-x2",
        "esrgan-medium.x2",
        "esrgan-thick.x2",
    ]
    # Out of the band the better score wins outright, faster or not.
    clear = dict(tied, **{"esrgan-legacy.psnr-small-x2": (_metrics(31.5), 200.0)})
    assert _top(_catalog(clear), {"scale": 2}, "balanced") == "esrgan-legacy.psnr-small-x2"
    # The same rule orders the alternatives of a query nothing matches exactly.
    alternatives = resolve({"scale": 2, "channels": 4}, catalog, prefer="balanced").alternatives
    ids = _models(catalog, [a.id for a in alternatives])
    assert ids[:2] == ["esrgan-slim.x2", "esrgan-legacy.psnr-small-x2"]


def test_the_shipped_global_default_is_the_balanced_choice_at_its_scale() -> None:
    # The global default is chosen by the numbers; this fails when re-measured numbers
    # (metrics or speed) would choose another trained model, so the choice is revisited.
    catalog = default_catalog()
    home = catalog.global_default
    trained = [
        e
        for e in catalog.entries
        if e.scale == home.scale and not catalog.vocab.is_baseline(e.architecture)
    ]
    measured = [e for e in trained if e.metrics is not None and e.speed is not None]
    # Families added before the lead measured them (one model at a time, on one machine):
    # remove a family here when its metrics and speeds are in the catalog.
    pending = {e.family for e in trained if e not in measured}
    assert pending <= AWAITING_MEASUREMENT, f"unmeasured x{home.scale} models: {pending}"
    assert rank(measured, catalog, "balanced")[0].id == home.id


def test_no_attributes_with_another_preference_ranks_the_default_scale() -> None:
    catalog = _catalog(X2)
    assert _top(catalog, {}, "balanced") == catalog.global_default.id
    assert _top(catalog, {}, "accurate") == "esrgan-thick.x2"
    assert _top(catalog, {}, "fast") == "pixel-upsampler.x2"
    r = resolve({}, catalog, prefer="accurate")
    assert r.reason == (
        "no attributes given: the best x2 model (the global default's scale) by prefer=accurate"
    )
    assert {catalog.by_id[m].scale for m in r.matches} == {2}
