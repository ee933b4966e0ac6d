"""How pruned variants take part in resolving, under the rule int8 variants follow: exact
on ``pruning=l1-filter``, after their parent when unasked at equal numbers, and under
``prefer="fast"`` only when they lose at most MAX_DERIVED_LOSS_DB against it.

The pruned entry is a copy of the shipped upscaler-compact.y-x4 (our own srvgg) with a
narrower network, a measured loss and a speed set here."""

from __future__ import annotations

from typing import Any

import pytest

from upscaler import Upscaler
from upscaler.catalog.loader import Catalog
from upscaler.catalog.schema import Metrics, ModelEntry, Speed
from upscaler.resolve.description import derivation_of
from upscaler.resolve.resolver import (
    MAX_DERIVED_LOSS_DB,
    build_query,
    derived_loss,
    derived_parent,
    resolve,
)

PARENT, PRUNED = "upscaler-compact.y-x4", "upscaler-compact.l1-y-x4"
QUERY = "channels=1 scale=4"
SETS = frozenset({"set5", "set14", "bsd100"})


def with_pruned(
    catalog: Catalog, *, loss_db: float | None, speedup: float | None, default: bool = False
) -> Catalog:
    """The catalog plus PRUNED: features 32 -> 24, the parent's PSNR minus ``loss_db`` on
    every set (None: unmeasured) and its speed divided by ``speedup`` (None: unmeasured);
    ``default`` makes it a family default too."""
    parent = catalog.get(PARENT)
    assert parent.metrics is not None and parent.speed is not None
    update: dict[str, Any] = {
        "id": PRUNED,
        "variant": PRUNED.split(".")[1],
        "default": default,
        "pruning": "l1-filter",
        "derived_from": PARENT,
        "params": {**parent.params, "features": 24},
        "metrics": None,
        "speed": None,
    }
    if loss_db is not None:
        sets = {
            name: {"psnr_y": m.psnr_y - loss_db, "ssim_y": m.ssim_y}
            for name, m in parent.metrics.sets.items()
        }
        provenance = parent.metrics.provenance.model_dump()
        update["metrics"] = Metrics.model_validate({"provenance": provenance, "sets": sets})
    if speedup is not None:
        ms = parent.speed.ms_per_output_megapixel / speedup
        speed = {"provenance": parent.speed.provenance.model_dump(), "ms_per_output_megapixel": ms}
        update["speed"] = Speed.model_validate(speed)
    pruned = parent.model_copy(update=update)
    return Catalog(catalog.root, catalog.vocab, (*catalog.entries, pruned), catalog.families)


@pytest.fixture
def catalog(catalog: Catalog) -> Catalog:
    """The shipped catalog without upscaler-compact.w40-y-x4: that wider luma model
    outranks both y-x4 and its pruned copy at x4, and these tests are about a parent and
    its variant."""
    entries = tuple(e for e in catalog.entries if e.id != "upscaler-compact.w40-y-x4")
    return Catalog(catalog.root, catalog.vocab, entries, catalog.families)


def matches(catalog: Catalog, query: str, prefer: str = "balanced") -> list[str]:
    return resolve(build_query(query, catalog), catalog, prefer=prefer).matches


def test_pruning_l1_filter_is_exact_for_the_pruned_variant(catalog: Catalog) -> None:
    pruned = with_pruned(catalog, loss_db=None, speedup=None)
    for spelling in ("pruning=l1-filter", "pruning=L1", "pruning=filter-pruning"):
        r = resolve(build_query(f"{QUERY} {spelling}", pruned), pruned)
        assert r.exact and r.matches == [PRUNED], spelling
    # The shipped catalog has no pruned luma model: the nearest model is offered instead.
    assert not resolve(build_query(f"{QUERY} pruning=l1-filter", catalog), catalog).exact


def test_unasked_the_parent_ranks_first_at_equal_numbers(catalog: Catalog) -> None:
    # Both family defaults, so neither that flag nor the ids (l1-y-x4 sorts first) decide.
    for measured in (
        with_pruned(catalog, loss_db=None, speedup=None, default=True),
        with_pruned(catalog, loss_db=0.0, speedup=1.0, default=True),
    ):
        for prefer in ("balanced", "fast", "accurate"):
            assert matches(measured, QUERY, prefer)[:2] == [PARENT, PRUNED], prefer


@pytest.mark.parametrize(
    ("loss_db", "speedup", "fast_first"),
    [
        (0.1, 1.6, PRUNED),  # a little worse, much faster: fast takes it
        (MAX_DERIVED_LOSS_DB, 1.6, PRUNED),  # at the limit
        (0.35, 2.5, PARENT),  # much faster but too lossy: fast keeps the parent
        (0.1, 0.9, PARENT),  # slower: no reason to take it
        (None, 2.5, PARENT),  # quality not measured yet
    ],
)
def test_prefer_fast_weighs_the_pruned_variants_measured_quality(
    catalog: Catalog, loss_db: float | None, speedup: float, fast_first: str
) -> None:
    measured = with_pruned(catalog, loss_db=loss_db, speedup=speedup)
    assert matches(measured, QUERY, "fast")[0] == fast_first
    loss = derived_loss(measured.get(PRUNED), measured, SETS)
    assert loss == (None if loss_db is None else pytest.approx(loss_db))


def test_a_model_of_another_scale_is_no_derived_variant(catalog: Catalog) -> None:
    # realesrgan's animevideov3-x2 runs the x4 network then downscales: its PSNR is at
    # x2 and says nothing against the x4 model's, so fast ranks it by speed alone.
    x2 = catalog.get("realesrgan.animevideov3-x2")
    assert x2.derived_from == "realesrgan.animevideov3-x4"
    assert derived_parent(x2, catalog) is None and derived_loss(x2, catalog, SETS) is None
    assert derived_parent(catalog.get("esrgan-slim.int8-x2"), catalog) is not None


def test_describe_shows_the_pruning_and_the_delta(catalog: Catalog, tmp_path: Any) -> None:
    measured = with_pruned(catalog, loss_db=0.25, speedup=1.6)
    entry: ModelEntry = measured.get(PRUNED)
    d = derivation_of(entry, measured.get(PARENT))
    assert d is not None and d["parent"] == PARENT
    assert (d["pruning"], d["quantization"], d["runtime"]) == ("l1-filter", "none", None)
    assert d["params"] == {"features": [32, 24]}
    assert d["metrics"]["set5"]["delta_db"] == pytest.approx(-0.25)
    assert d["speed"]["speedup"] == pytest.approx(1.6)
    text = str(Upscaler(model=PRUNED, catalog=measured, cache_dir=tmp_path).describe())
    assert (
        f"derived      from {PARENT} (l1-filter, features 32 -> 24): bsd100 -0.25 dB; "
        "set14 -0.25 dB; set5 -0.25 dB; 1.60x its speed"
    ) in text
