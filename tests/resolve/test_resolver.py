"""The resolver against the shipped catalog: exact matches, alternatives, adapters, errors."""

from __future__ import annotations

import logging

import pytest

from upscaler import NoMatchingModel, QueryError, Upscaler, UpscalerError
from upscaler.catalog import Catalog
from upscaler.resolve import (
    Resolution,
    build_query,
    choose,
    format_query,
    parse_query_string,
    resolve,
)


def resolve_text(text: str, catalog: Catalog, **kwargs: object) -> Resolution:
    return resolve(build_query(text, catalog), catalog, **kwargs)  # type: ignore[arg-type]


# --- the example: an RGBA request served by an RGB model ---------------------------


def test_rgba_div2k_x2_is_adapted_from_the_rgb_default(catalog: Catalog) -> None:
    r = resolve_text("dataset=DIV2K scale=2 channels=4", catalog)
    assert r.query == {"dataset": "div2k", "scale": 2, "channels": 4}
    assert r.exact is False
    assert r.matches == []
    assert r.model is not None
    assert r.model.id == "esrgan-slim.x2"
    assert r.model.channels == 3

    first = r.alternatives[0]
    assert first.id == "esrgan-slim.x2"
    assert first.adaptable
    assert first.describe_differences() == ["channels: 3 ≠ 4 → alpha adapter"]
    assert [a.kind for a in first.adapters] == ["alpha"]
    assert "alpha upscaled separately" in first.adapters[0].detail
    assert first.call == 'Upscaler(model="esrgan-slim.x2")'
    assert [a.kind for a in r.adapters] == ["alpha"]
    assert "channels: 3 ≠ 4 → alpha adapter" in r.reason


def test_every_div2k_x2_rgb_model_is_an_alpha_alternative(catalog: Catalog) -> None:
    r = resolve_text("dataset=DIV2K scale=2 channels=4", catalog)
    wanted = {e.id for e in catalog.entries if e.dataset == "div2k" and e.scale == 2}
    alpha_only = {
        a.id for a in r.alternatives if [d.attribute for d in a.differences] == ["channels"]
    }
    assert alpha_only == wanted
    # They cost the same, so the numbers rank them: the best balanced DIV2K x2 model first.
    assert r.alternatives[0].id == "esrgan-slim.x2"


@pytest.mark.parametrize("spelling", ["DIV2K", "div2k", "Div2K", "dIv2k", "div-2k", " DIV2K "])
def test_dataset_aliases_are_case_insensitive(catalog: Catalog, spelling: str) -> None:
    r = resolve(build_query({"dataset": spelling, "scale": 2, "channels": 4}, catalog), catalog)
    reference = resolve_text("dataset=div2k scale=2 channels=4", catalog)
    assert r.query["dataset"] == "div2k"
    assert r.model is not None
    assert r.model.id == "esrgan-slim.x2"
    assert [a.id for a in r.alternatives] == [a.id for a in reference.alternatives]


@pytest.mark.parametrize(
    ("spelling", "canonical"),
    [("RRDB", "rrdn"), ("esrgan", "rrdn"), ("Residual-Dense-Network", "rdn"), ("NN", "nearest")],
)
def test_architecture_aliases(catalog: Catalog, spelling: str, canonical: str) -> None:
    assert build_query({"architecture": spelling}, catalog) == {"architecture": canonical}


@pytest.mark.parametrize("channels", ["1", "gray", "L"])
def test_gray_request_is_adapted_through_rgb(catalog: Catalog, channels: str) -> None:
    # No 1-channel model upscales by 8 (waifu2x-chainer's luma models are x1 and x2, ours
    # x3 and x4).
    r = resolve_text(f"scale=8 channels={channels}", catalog)
    assert r.exact is False
    assert r.model is not None
    assert r.model.channels == 3 and r.model.scale == 8
    assert [(a.kind, a.detail) for a in r.adapters] == [
        ("gray", "gray replicated to RGB, model, then back to gray")
    ]
    assert r.alternatives[0].describe_differences() == ["channels: 3 ≠ 1 → gray adapter"]


def test_gray_x3_request_is_served_by_our_own_luma_model(catalog: Catalog) -> None:
    r = resolve_text("scale=3 channels=1", catalog)
    assert r.exact is True
    assert r.model is not None and r.model.id == "upscaler-compact.y-x3"
    assert not r.adapters


def test_rgba_x2_request_is_served_by_our_native_rgba_model(catalog: Catalog) -> None:
    # The only native 4-channel model anywhere: Upscaler(channels=4, scale=2, strict=True)
    # needs an exact match, and this is it.
    r = resolve_text("scale=2 channels=4", catalog)
    assert r.exact is True
    assert r.model is not None and r.model.id == "upscaler-compact.rgba-x2"
    assert r.model.channels == 4 and not r.adapters


def test_pruning_queries_reach_our_pruned_variant(catalog: Catalog) -> None:
    r = resolve_text("scale=2 pruning=l1-filter", catalog)
    assert r.exact is True
    assert r.model is not None and r.model.id == "upscaler-compact.p24-x2"
    assert r.model.derived_from == "upscaler-compact.x2"


def test_gray_x4_request_is_served_by_our_own_luma_model(catalog: Catalog) -> None:
    r = resolve_text("scale=4 channels=1", catalog)
    assert r.exact is True
    # The 32-feature one: the 40-feature model is 0.2 dB better on Set5 but 1.7x slower
    # (same speed run), more than balanced pays for it.
    assert r.model is not None and r.model.id == "upscaler-compact.y-x4"
    assert r.model.implementation == "upscaler" and r.model.channels == 1
    assert not r.adapters


def test_gray_x2_request_is_served_by_a_luma_model(catalog: Catalog) -> None:
    r = resolve_text("scale=2 channels=1", catalog)
    assert r.exact is True
    assert r.model is not None
    assert r.model.family == "waifu2x-chainer"
    assert r.model.channels == 1 and r.model.denoise == "none"
    assert not r.adapters
    assert set(r.matches) == {"waifu2x-chainer.vgg7-y-x2", "waifu2x-chainer.resnet10-y-x2"}


# --- scale adapters -----------------------------------------------------------------------


def test_scale_6_chains_two_models_of_one_family(catalog: Catalog) -> None:
    r = resolve_text("scale=6", catalog)
    assert r.exact is False
    assert r.model is not None
    (adapter,) = r.adapters
    assert adapter.kind == "chain"
    first, second = (catalog.by_id[m] for m in adapter.models)
    assert first.id == r.model.id
    assert first.family == second.family
    assert first.scale * second.scale == 6
    # Timed in one run with its family (2026-12-02), the pruned x2 is only 1.34x faster
    # than its parent for 0.27 dB less: the parent leads the balanced score.
    assert r.model.id == "upscaler-compact.x2"
    assert adapter.models == ["upscaler-compact.x2", "upscaler-compact.w48-x3"]
    assert r.alternatives[0].call == 'Upscaler(model="upscaler-compact.x2", scale=6)'


def test_scale_3_pinned_to_x4_plans_a_downscale(catalog: Catalog) -> None:
    r = resolve_text("scale=3", catalog, model="esrgan-slim.x4")
    assert r.exact is False
    assert r.model is not None
    assert r.model.id == "esrgan-slim.x4"
    (adapter,) = r.adapters
    assert adapter.kind == "resize"
    assert adapter.factor == pytest.approx(0.75)
    assert adapter.models == ["esrgan-slim.x4"]
    assert [a.id for a in r.alternatives] == ["esrgan-slim.x4"]
    assert r.alternatives[0].call == 'Upscaler(model="esrgan-slim.x4", scale=3)'


def test_nearest_x8_chains_pixel_upsamplers(catalog: Catalog) -> None:
    r = resolve_text("architecture=nearest scale=8", catalog)
    assert r.exact is False
    assert r.model is not None
    assert r.model.family == "pixel-upsampler"
    (adapter,) = r.adapters
    assert adapter.kind == "chain"
    scales = [catalog.by_id[m].scale for m in adapter.models]
    assert scales[0] * scales[1] == 8
    assert all(catalog.by_id[m].family == "pixel-upsampler" for m in adapter.models)


def test_scale_16_chains_rather_than_resizes(catalog: Catalog) -> None:
    r = resolve_text("scale=16", catalog)
    assert r.model is not None
    assert [a.kind for a in r.adapters] == ["chain"]


def test_resize_up_costs_more_than_chaining(catalog: Catalog) -> None:
    r = resolve_text("architecture=nearest scale=8", catalog)
    by_id = {a.id: a for a in r.alternatives}
    resize = by_id["pixel-upsampler.x3"]
    assert [a.kind for a in resize.adapters] == ["resize"]
    assert resize.adapters[0].factor == pytest.approx(8 / 3)
    assert resize.cost > by_id["pixel-upsampler.x2"].cost


# --- exact matches ------------------------------------------------------------------------


def test_exact_match_ranks_by_the_measured_trade(catalog: Catalog) -> None:
    # Our x3 is both better (33.04 against 30.84 dB on Set5) and faster than esrgan-slim.x3.
    r = resolve_text("scale=3", catalog)
    assert r.exact is True
    assert r.model is not None
    assert r.model.id == "upscaler-compact.x3"
    assert set(r.matches) == {e.id for e in catalog.entries if e.scale == 3}
    assert r.matches[0] == "upscaler-compact.x3"
    assert r.adapters == []


def test_only_exact_match(catalog: Catalog) -> None:
    r = resolve_text("dataset=none scale=2", catalog)
    assert r.exact is True
    assert r.matches == ["pixel-upsampler.x2"]
    assert r.reason == "the only model matching every attribute"


def test_unmeasured_trained_family_defaults_rank_before_baselines(unmeasured: Catalog) -> None:
    # Trained fidelity models first, then the baseline; a perceptual model (Real-CUGAN)
    # comes after every fidelity one when the query names no objective.
    r = resolve_text("scale=2", unmeasured)
    defaults = [m for m in r.matches if unmeasured.by_id[m].default]
    assert defaults == [
        "span.ch48-x2",
        "esrgan-legacy.div2k-x2",
        "esrgan-medium.x2",
        "esrgan-slim.x2",
        "esrgan-thick.x2",
        "waifu2x-chainer.upconv7-x2",
        "waifu2x-cunet.x2",
        "waifu2x-upconv7.photo-x2",
        "pixel-upsampler.x2",
        "realcugan.se-x2",
    ]


def test_measured_x2_models_rank_by_balanced_score(catalog: Catalog) -> None:
    # With the shipped numbers the baseline ranks by its score like any other model.
    r = resolve_text("scale=2", catalog)
    assert r.matches[0] == catalog.global_default.id
    assert set(r.matches) == {e.id for e in catalog.entries if e.scale == 2}
    assert r.reason == f"best of {len(r.matches)} exact matches by prefer=balanced"


def test_empty_query_is_the_global_default(catalog: Catalog) -> None:
    r = resolve({}, catalog)
    assert r.exact is True
    assert r.model is not None
    assert r.model.id == "span.ch48-x2"
    assert "global default" in r.reason


def test_non_adaptable_difference_leaves_no_model(catalog: Catalog) -> None:
    r = resolve_text("dataset=none architecture=rdn", catalog)
    assert r.exact is False
    assert r.model is None
    assert r.adapters == []
    assert r.alternatives
    assert not any(a.adaptable for a in r.alternatives)
    assert "no model can be adapted" in r.reason
    with pytest.raises(NoMatchingModel) as info:
        choose(r, strict=False)
    assert info.value.alternatives == r.alternatives


# --- strict / non-strict --------------------------------------------------------------------


def test_strict_raises_no_matching_model_with_alternatives() -> None:
    with pytest.raises(NoMatchingModel) as info:
        Upscaler(dataset="DIV2K", scale=2, channels=4, strict=True)
    err = info.value
    assert isinstance(err, LookupError)
    assert isinstance(err, UpscalerError)
    assert err.exit_code == 4
    assert err.alternatives
    assert err.alternatives[0].id == "esrgan-slim.x2"
    assert "dataset=div2k scale=2 channels=4" in err.message
    assert err.hint is not None
    assert 'Upscaler(model="esrgan-slim.x2")' in err.hint
    # Still catchable as the builtin.
    with pytest.raises(LookupError):
        Upscaler(scale=5, strict=True)


def test_strict_exact_match_does_not_raise() -> None:
    assert Upscaler(scale=4, strict=True).model.id == "span.ch48-x4"


def test_non_strict_warns_naming_the_chosen_model(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="upscaler")
    up = Upscaler(dataset="DIV2K", scale=2, channels=4)
    assert up.model.id == "esrgan-slim.x2"
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert warnings[0].name.startswith("upscaler")
    message = warnings[0].getMessage()
    assert "esrgan-slim.x2" in message
    assert "dataset=div2k scale=2 channels=4" in message
    assert "alpha" in message


def test_exact_match_does_not_warn(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="upscaler")
    Upscaler(dataset="DIV2K", scale=2, channels=3)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


# --- query errors ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected_hint"),
    [
        ({"datset": "div2k"}, "dataset"),
        ({"sacle": 2}, "scale"),
        ({"chanels": 3}, "channels"),
        ({"architectur": "rdn"}, "architecture"),
        ({"dataset": "DIV3K"}, "dataset=div2k"),
        ({"architecture": "rdnn"}, "architecture=rdn"),
        ({"implementation": "idealoo"}, "implementation=idealo"),
        ({"quantization": "uint9"}, "quantization=uint8"),
    ],
)
def test_unknown_names_and_values_suggest_the_nearest(
    catalog: Catalog, raw: dict[str, object], expected_hint: str
) -> None:
    with pytest.raises(QueryError) as info:
        build_query(raw, catalog)
    err = info.value
    assert isinstance(err, ValueError)
    assert isinstance(err, UpscalerError)
    assert err.exit_code == 2
    assert err.hint is not None
    assert f"did you mean {expected_hint}" in err.hint
    ((key, value),) = raw.items()
    bad = value if "=" in expected_hint else key
    assert repr(bad) in err.message


def test_unknown_value_lists_valid_values(catalog: Catalog) -> None:
    valid = "anime-images, anime-video, df2k, df2k-ost, div2k, none"
    with pytest.raises(QueryError, match=rf"unknown dataset 'DIV3K'; valid values: {valid}"):
        build_query({"dataset": "DIV3K"}, catalog)


def test_unknown_attribute_through_upscaler_query_string() -> None:
    with pytest.raises(QueryError) as info:
        Upscaler(query="datset=DIV2K scale=2")
    assert info.value.hint == "did you mean dataset=...?"


@pytest.mark.parametrize(
    ("value", "scale"), [(4, 4), ("4", 4), ("x4", 4), ("4x", 4), ("X8", 8), (" 2 ", 2), (16, 16)]
)
def test_scale_spellings(catalog: Catalog, value: object, scale: int) -> None:
    assert build_query({"scale": value}, catalog) == {"scale": scale}
    assert build_query(f"scale={str(value).strip()}", catalog) == {"scale": scale}


@pytest.mark.parametrize("value", [0, -2, 17, "two", "2.5", "", "x", 2.5])
def test_bad_scales_are_rejected(catalog: Catalog, value: object) -> None:
    with pytest.raises(QueryError) as info:
        build_query({"scale": value}, catalog)
    assert info.value.hint


@pytest.mark.parametrize(
    ("value", "channels"), [(1, 1), (3, 3), (4, 4), ("4", 4), ("RGBA", 4), ("rgb", 3), ("gray", 1)]
)
def test_channel_spellings(catalog: Catalog, value: object, channels: int) -> None:
    assert build_query({"channels": value}, catalog) == {"channels": channels}


@pytest.mark.parametrize("value", [0, 2, 5, "two", "cmyk"])
def test_bad_channels_are_rejected(catalog: Catalog, value: object) -> None:
    with pytest.raises(QueryError, match="channels must be 1"):
        build_query({"channels": value}, catalog)


def test_bogus_prefer_is_rejected(catalog: Catalog) -> None:
    with pytest.raises(QueryError, match="prefer must be one of balanced, fast, accurate"):
        resolve({"scale": 2}, catalog, prefer="bogus")
    with pytest.raises(ValueError, match="bogus"):
        Upscaler(prefer="bogus")


@pytest.mark.parametrize("prefer", ["balanced", "fast", "accurate"])
def test_prefer_without_metrics_falls_back_to_catalog_order(catalog: Catalog, prefer: str) -> None:
    unmeasured = Catalog(
        root=catalog.root,
        vocab=catalog.vocab,
        entries=tuple(
            e.model_copy(update={"metrics": None, "speed": None}) for e in catalog.entries
        ),
        families=catalog.families,
    )
    r = resolve_text("scale=4", unmeasured, prefer=prefer)
    assert r.prefer == prefer
    assert r.model is not None
    assert r.model.id == "span.ch48-x4"  # the global default's family first


def test_query_string_forms_agree(catalog: Catalog) -> None:
    spaced = build_query("dataset=DIV2K scale=2 channels=4", catalog)
    commas = build_query("dataset=DIV2K,scale=x2,channels=RGBA", catalog)
    kwargs = build_query(None, catalog, dataset="div2k", scale=2, channels=4)
    assert spaced == commas == kwargs == {"dataset": "div2k", "scale": 2, "channels": 4}
    assert format_query(spaced) == "dataset=div2k scale=2 channels=4"
    assert parse_query_string("Dataset=DIV2K") == {"dataset": "DIV2K"}


def test_keyword_overrides_query_string(catalog: Catalog) -> None:
    assert build_query("scale=2", catalog, scale=4) == {"scale": 4}


def test_query_term_without_equals_is_rejected(catalog: Catalog) -> None:
    with pytest.raises(QueryError, match="is not key=value"):
        build_query("dataset DIV2K", catalog)


# --- the Upscaler facade's choice -------------------------------------------------------------


def test_upscaler_default_is_span_ch48_x2() -> None:
    up = Upscaler()
    assert up.model.id == "span.ch48-x2"
    assert up.scale == 2
    assert repr(up) == "Upscaler(model='span.ch48-x2')"


def test_upscaler_scale_3_is_our_compact_x3() -> None:
    up = Upscaler(scale=3)
    assert up.model.id == "upscaler-compact.x3"
    assert up.resolution.exact


@pytest.mark.parametrize(
    ("family", "default"),
    [
        ("esrgan-slim", "esrgan-slim.x2"),
        ("esrgan-thick", "esrgan-thick.x2"),
        ("esrgan-legacy", "esrgan-legacy.div2k-x2"),
        ("pixel-upsampler", "pixel-upsampler.x2"),
    ],
)
def test_upscaler_family_name_gives_family_default(family: str, default: str) -> None:
    up = Upscaler(model=family)
    assert up.model.id == default
    assert up.resolution.reason == f"model {default} was asked for by id"


def test_pinned_model_with_other_scale_delivers_the_requested_scale() -> None:
    up = Upscaler(model="esrgan-slim.x4", scale=3)
    assert up.model.id == "esrgan-slim.x4"
    assert up.scale == 3
    assert [a.kind for a in up.resolution.adapters] == ["resize"]


def test_unknown_model_id_suggests_a_close_one() -> None:
    with pytest.raises(NoMatchingModel) as info:
        Upscaler(model="esrgan-slim.x9")
    assert info.value.hint is not None
    assert "esrgan-slim.x" in info.value.hint
