"""How int8 variants take part in resolving: exact on ``quantization=int8``, after their
float parent when unasked at equal numbers, and under ``prefer="fast"`` only when their
measured quality loss is small (the shipped esrgan-slim.int8-x2, with numbers set here)."""

from __future__ import annotations

from typing import Any

import pytest

from upscaler.catalog.loader import Catalog
from upscaler.catalog.schema import Metrics, ModelEntry, Speed
from upscaler.resolve.description import derivation_of
from upscaler.resolve.resolver import (
    MAX_DERIVED_LOSS_DB,
    build_query,
    derived_loss,
    resolve,
)
from upscaler.runtime.precision import cpu_has_native_bfloat16

INT8, PARENT = "esrgan-slim.int8-x2", "esrgan-slim.x2"
QUERY = "architecture=rdn implementation=upscalerjs dataset=div2k scale=2"


def with_numbers(catalog: Catalog, model: str, *, loss_db: float, ms: float | None) -> Catalog:
    """The catalog with ``model`` given its parent's metrics minus ``loss_db`` on every
    set, and ``ms`` per megapixel (None: no speed)."""
    parent = catalog.get(PARENT)
    assert parent.metrics is not None and parent.speed is not None
    sets = {
        name: {"psnr_y": m.psnr_y - loss_db, "ssim_y": m.ssim_y}
        for name, m in parent.metrics.sets.items()
    }
    metrics = Metrics.model_validate(
        {"provenance": parent.metrics.provenance.model_dump(), "sets": sets}
    )
    update: dict[str, Any] = {"metrics": metrics}
    if ms is not None:
        speed = {"provenance": parent.speed.provenance.model_dump(), "ms_per_output_megapixel": ms}
        update["speed"] = Speed.model_validate(speed)
    entries = tuple(e.model_copy(update=update) if e.id == model else e for e in catalog.entries)
    return Catalog(catalog.root, catalog.vocab, entries, catalog.families)


def matches(catalog: Catalog, query: str, prefer: str = "balanced") -> list[str]:
    return resolve(build_query(query, catalog), catalog, prefer=prefer).matches


def test_quantization_int8_is_exact_for_the_int8_variant_only(catalog: Catalog) -> None:
    r = resolve(build_query("quantization=int8", catalog), catalog)
    assert r.exact and r.matches == [INT8, "esrgan-slim.int8-x4"]  # x2 first: home scale
    assert all(catalog.get(m).quantization != "int8" for m in matches(catalog, "scale=2")[:3])


def test_unasked_the_float_parent_ranks_first_unless_speed_is_asked(catalog: Catalog) -> None:
    """The shipped variants are measured (3.9x and 2x faster, 0.14 and 0 dB lost), yet a
    query that asks neither for them nor for speed gets the float model they came from."""
    bf16 = "esrgan-slim.bf16-x2"
    for prefer in ("balanced", "accurate"):
        ranked = matches(catalog, QUERY, prefer)
        at = ranked.index(PARENT)
        assert set(ranked[at + 1 : at + 3]) == {INT8, bf16}, prefer  # right after it
    fast = matches(catalog, QUERY, "fast")
    assert fast.index(INT8) < fast.index(PARENT)  # within 0.2 dB and faster
    assert (fast.index(bf16) < fast.index(PARENT)) == cpu_has_native_bfloat16()


@pytest.mark.parametrize(
    ("loss_db", "speedup", "fast_first"),
    [
        (0.12, 1.5, INT8),  # small loss, faster: fast takes it
        (MAX_DERIVED_LOSS_DB, 3.0, INT8),  # at the limit
        (0.5, 3.0, PARENT),  # much faster but too lossy: fast keeps the parent
        (0.12, 0.9, PARENT),  # slower: no reason to take it
    ],
)
def test_prefer_fast_weighs_the_variants_measured_quality(
    catalog: Catalog, loss_db: float, speedup: float, fast_first: str
) -> None:
    parent_ms = catalog.get(PARENT).speed.ms_per_output_megapixel  # type: ignore[union-attr]
    measured = with_numbers(catalog, INT8, loss_db=loss_db, ms=parent_ms / speedup)
    ranked = matches(measured, QUERY, "fast")
    assert next(m for m in ranked if m in (INT8, PARENT)) == fast_first
    loss = derived_loss(measured.get(INT8), measured, frozenset({"set5", "set14", "bsd100"}))
    assert loss == pytest.approx(loss_db)


def test_prefer_fast_ignores_an_int8_variant_without_quality_numbers(catalog: Catalog) -> None:
    entries = tuple(
        e.model_copy(
            update={
                "speed": catalog.get(PARENT).speed.model_copy(  # type: ignore[union-attr]
                    update={"ms_per_output_megapixel": 1.0}
                ),
                "metrics": None,
            }
        )
        if e.id == INT8
        else e
        for e in catalog.entries
    )
    fast = Catalog(catalog.root, catalog.vocab, entries, catalog.families)
    ranked = matches(fast, QUERY, "fast")
    assert ranked.index(PARENT) < ranked.index(INT8)


def test_describe_shows_the_delta_from_the_parent(catalog: Catalog) -> None:
    parent_ms = catalog.get(PARENT).speed.ms_per_output_megapixel  # type: ignore[union-attr]
    measured = with_numbers(catalog, INT8, loss_db=0.12, ms=parent_ms / 2)
    entry: ModelEntry = measured.get(INT8)
    d = derivation_of(entry, measured.get(PARENT))
    assert d is not None and d["parent"] == PARENT and d["runtime"] == "tflite-xnnpack"
    assert d["metrics"]["set5"]["delta_db"] == pytest.approx(-0.12)
    assert d["speed"]["speedup"] == pytest.approx(2.0)
    assert derivation_of(catalog.get(PARENT), None) is None
