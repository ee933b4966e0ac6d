"""What a model is for: objective (fidelity / perceptual) and degradation in the resolver.

A perceptual (GAN) model's PSNR is measured but it was not trained for it, so ranking must
never quietly use it; and a query that names no objective gets a faithful model first.
"""

from __future__ import annotations

import pytest

from upscaler import NoMatchingModel, QueryError, Upscaler
from upscaler.catalog import Catalog, ModelEntry
from upscaler.catalog.schema import Metric, Metrics
from upscaler.resolve import build_query, resolve


def with_psnr_boost(catalog: Catalog, model: str, boost: float) -> Catalog:
    """The catalog with one model's PSNR raised by ``boost`` dB on every set."""

    def boosted(entry: ModelEntry) -> ModelEntry:
        if entry.id != model or entry.metrics is None:
            return entry
        sets = {
            name: Metric(psnr_y=m.psnr_y + boost, ssim_y=m.ssim_y)
            for name, m in entry.metrics.sets.items()
        }
        metrics = Metrics(provenance=entry.metrics.provenance, sets=sets)
        return entry.model_copy(update={"metrics": metrics})

    return Catalog(
        root=catalog.root,
        vocab=catalog.vocab,
        entries=tuple(boosted(e) for e in catalog.entries),
        families=catalog.families,
    )


def test_perceptual_query_gets_a_perceptual_model(catalog: Catalog) -> None:
    r = resolve(build_query("scale=4 objective=perceptual", catalog), catalog)
    assert r.exact
    assert r.model is not None
    assert r.model.objective == "perceptual"
    assert all(catalog.by_id[m].objective == "perceptual" for m in r.matches)


def test_objective_aliases(catalog: Catalog) -> None:
    assert build_query("objective=GAN degradation=real", catalog) == {
        "objective": "perceptual",
        "degradation": "real-world",
    }
    with pytest.raises(QueryError, match="unknown objective 'pretty'"):
        build_query("objective=pretty", catalog)


@pytest.mark.parametrize("prefer", ["accurate", "balanced"])
def test_perceptual_psnr_never_ranks_it_above_fidelity(catalog: Catalog, prefer: str) -> None:
    # Even with the best PSNR in the catalog, the GAN model does not win a query that did
    # not ask for it: its PSNR is not what it was trained for.
    rigged = with_psnr_boost(catalog, "esrgan-legacy.gans-x4", 20.0)
    r = resolve(build_query("scale=4", rigged), rigged, prefer=prefer)
    assert r.model is not None
    assert r.model.objective == "fidelity"
    fidelity = [m for m in r.matches if rigged.by_id[m].objective == "fidelity"]
    assert r.matches[: len(fidelity)] == fidelity, "every fidelity model ranks first"


def test_accurate_ranks_fidelity_models_by_psnr(catalog: Catalog) -> None:
    # Among fidelity models `accurate` follows the numbers; a boosted fidelity model wins.
    rigged = with_psnr_boost(catalog, "esrgan-medium.x4", 20.0)
    r = resolve(build_query("scale=4", rigged), rigged, prefer="accurate")
    assert r.model is not None
    assert r.model.id == "esrgan-medium.x4"


def test_upscaler_accurate_x4_is_a_fidelity_model() -> None:
    up = Upscaler(scale=4, prefer="accurate")
    assert up.model.objective == "fidelity"


def test_real_world_perceptual_request_is_served_by_real_esrgan() -> None:
    up = Upscaler(scale=4, objective="perceptual", degradation="real-world", strict=True)
    assert up.model.family == "realesrgan"
    assert "objective" in up.describe().to_dict()["model"]


def test_fidelity_request_does_not_silently_take_a_gan(catalog: Catalog) -> None:
    # x4 real-world exists only as GAN models: a strict fidelity request says so.
    with pytest.raises(NoMatchingModel) as info:
        Upscaler(scale=4, objective="fidelity", degradation="real-world", strict=True)
    differences = info.value.alternatives[0].describe_differences()
    assert any("objective" in d or "degradation" in d for d in differences)
