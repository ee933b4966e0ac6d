"""What the explorer page says, checked without a browser (and without TensorFlow)."""

from __future__ import annotations

from pathlib import Path

import explore_tiny_catalog as tiny
import pytest

from upscaler.catalog import Catalog, default_catalog, load_catalog
from upscaler.errors import NoMatchingModel, QueryError
from upscaler.explore.codegen import ANY, AUTO_MODEL, Choice, upscaler_call
from upscaler.explore.present import (
    NOT_MEASURED,
    alternative_rows,
    control_options,
    evaluate,
    markdown_table,
    metrics_text,
    model_facts_markdown,
    pin_alternative,
    resolution_markdown,
    speed_text,
)
from upscaler.resolve import build_query, resolve

CATALOG = default_catalog()


@pytest.fixture(scope="module")
def tiny_catalog(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    return load_catalog(tiny.write_catalog(tmp_path_factory.mktemp("tiny")))


def values(options: list[tuple[str, str]]) -> list[str]:
    return [value for _, value in options]


def test_controls_offer_the_whole_vocabulary_and_every_model() -> None:
    options = control_options(CATALOG)
    assert values(options.model) == [AUTO_MODEL, *(e.id for e in CATALOG.entries)]
    for attribute in ("dataset", "architecture", "implementation", "pruning", "quantization"):
        offered = values(options.attributes[attribute])
        assert offered[0] == ANY
        assert sorted(offered[1:]) == sorted(CATALOG.vocab.terms(attribute))
    scales = values(options.attributes["scale"])
    assert scales[0] == ANY
    assert {str(e.scale) for e in CATALOG.entries} <= set(scales)
    assert values(options.attributes["channels"]) == [ANY, "1", "3", "4"]
    assert options.prefer == ["balanced", "fast", "accurate"]


def test_values_a_model_has_come_before_unused_vocabulary(tiny_catalog: Catalog) -> None:
    # The tiny catalog only uses quantization "none"; the vocabulary also has uint8, float16,
    # int8 and bfloat16.
    offered = values(control_options(tiny_catalog).attributes["quantization"])
    assert offered[:2] == [ANY, "none"]
    assert set(offered[2:]) == {"uint8", "float16", "int8", "bfloat16"}


def test_exact_match_is_what_the_resolver_says() -> None:
    outcome = evaluate(Choice(scale="x4"), CATALOG)
    expected = resolve(build_query("scale=4", CATALOG), CATALOG)
    assert outcome.runnable
    assert outcome.resolution == expected
    assert outcome.model is not None and expected.model is not None
    assert outcome.model.id == expected.model.id
    assert outcome.scale == 4
    text = resolution_markdown(outcome)
    assert f"Exact match: `{outcome.model.id}`" in text
    assert expected.reason in text


def test_non_exact_choice_shows_the_adapter_and_is_still_runnable() -> None:
    outcome = evaluate(Choice(dataset="DIV2K", scale=2, channels=4), CATALOG)
    assert outcome.runnable
    assert outcome.resolution is not None and not outcome.resolution.exact
    text = resolution_markdown(outcome)
    assert "Nearest alternative: `esrgan-slim.x2`" in text
    assert "alpha:" in text
    assert "tick *strict*" in text
    rows = alternative_rows(outcome)
    assert [r[0] for r in rows] == [a.id for a in outcome.resolution.alternatives]
    assert rows[0][3] == "channels: 3 ≠ 4 → alpha adapter"
    assert rows[0][4] == 'Upscaler(model="esrgan-slim.x2")'


def test_strict_without_exact_match_is_not_runnable() -> None:
    # The only native RGBA model is x2: at x3 nothing matches exactly.
    outcome = evaluate(Choice(scale=3, channels=4, strict=True), CATALOG)
    assert not outcome.runnable
    assert isinstance(outcome.error, NoMatchingModel)
    assert outcome.scale == 3  # asked for, even though nothing can deliver it
    text = resolution_markdown(outcome)
    assert text.startswith("### No model")
    assert "raises `NoMatchingModel`" in text
    assert "untick *strict*" in text
    assert alternative_rows(outcome), "the alternatives are still listed"


@pytest.mark.parametrize(
    "choice",
    [
        Choice(dataset="div2k", scale=6, channels=4),
        Choice(scale=3, quantization="uint8", architecture="rrdn"),
        Choice(dataset="none", scale=8),
    ],
)
def test_pinning_an_alternative_reproduces_its_call(choice: Choice) -> None:
    outcome = evaluate(choice, CATALOG)
    assert outcome.resolution is not None and outcome.resolution.alternatives
    for alt in outcome.resolution.alternatives:
        after = evaluate(Choice.from_controls(pin_alternative(outcome, alt.id)), CATALOG)
        assert after.runnable, alt.id
        assert after.model is not None and after.model.id == alt.id
        assert upscaler_call(after.choice) == alt.call


def test_pinning_keeps_prefer_and_drops_attributes_the_call_does_not_need() -> None:
    outcome = evaluate(Choice(scale=4, channels=4, prefer="fast"), CATALOG)
    pinned = pin_alternative(outcome, "esrgan-slim.x4")
    assert pinned == {
        "model": "esrgan-slim.x4",
        "dataset": ANY,
        "domain": ANY,
        "scale": ANY,
        "channels": ANY,
        "objective": ANY,
        "degradation": ANY,
        "denoise": ANY,
        "architecture": ANY,
        "implementation": ANY,
        "pruning": ANY,
        "quantization": ANY,
    }


def test_invalid_value_is_shown_with_the_hint() -> None:
    outcome = evaluate(Choice(dataset="DIV3K"), CATALOG)
    assert not outcome.runnable
    assert outcome.resolution is None
    assert isinstance(outcome.error, QueryError)
    text = resolution_markdown(outcome)
    assert "### Invalid choice" in text
    assert "DIV3K" in text and "div2k" in text
    assert alternative_rows(outcome) == []


def test_unmeasured_models_say_so() -> None:
    entry = CATALOG.by_id["esrgan-slim.x2"].model_copy(update={"metrics": None, "speed": None})
    assert metrics_text(entry) == NOT_MEASURED
    assert speed_text(entry) == NOT_MEASURED
    facts = model_facts_markdown(entry)
    assert f"Quality metrics: {NOT_MEASURED}." in facts
    assert "licence MIT" in facts


def test_measured_models_show_their_numbers_and_provenance(tiny_catalog: Catalog) -> None:
    entry = tiny_catalog.by_id["tiny-swap.x4"]
    assert metrics_text(entry) == f"set5 {tiny.X4_PSNR:.2f} dB / {tiny.X4_SSIM:.4f}"
    assert speed_text(entry) == "123 ms per output megapixel (test machine)"
    facts = model_facts_markdown(entry)
    assert "| set5 | 31.25 | 0.8765 |" in facts
    assert "`upscaler eval tiny-swap.x4`" in facts
    assert NOT_MEASURED not in facts


def test_markdown_table_escapes_pipes() -> None:
    table = markdown_table(["a", "b"], [["x|y", 1]])
    assert table.splitlines() == ["| a | b |", "|---|---|", "| x\\|y | 1 |"]


def test_tiny_catalog_is_valid(tmp_path: Path) -> None:
    catalog = load_catalog(tiny.write_catalog(tmp_path))
    assert [e.id for e in catalog.entries] == ["tiny-swap.x2", "tiny-swap.x4"]
    assert catalog.global_default.id == "tiny-swap.x2"
