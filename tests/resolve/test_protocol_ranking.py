"""A query's condition (denoise=, degradation=, domain=anime) or the input's decides whose
numbers rank: those measured under the matching protocol, never clean-input PSNR.

Built on the shipped catalog's entries with their numbers replaced by chosen values, so
the rules are tested independently of what the real models measure.
"""

from __future__ import annotations

from collections.abc import Mapping

from upscaler.catalog import Catalog, default_catalog
from upscaler.catalog.protocols import PROTOCOLS
from upscaler.catalog.schema import Metric, Metrics, Provenance, Speed
from upscaler.resolve.condition import ILLUSTRATION_SET, Ranking, ranking_for
from upscaler.resolve.description import metrics_lines
from upscaler.resolve.resolver import resolve

SETS = ("set5", "set14", "bsd100")


def _metrics(psnr: float, protocol: str = "bicubic", sets: tuple[str, ...] = SETS) -> Metrics:
    prov = Provenance(
        command=f"upscaler eval X --protocol {protocol} --write",
        version="0",
        date="2030-01-01",
        protocol=PROTOCOLS[protocol].id,
    )
    return Metrics(provenance=prov, sets={k: Metric(psnr_y=psnr, ssim_y=0.9) for k in sets})


Numbers = Mapping[str, tuple[Metrics | None, dict[str, Metrics], float | None]]


def _catalog(numbers: Numbers) -> Catalog:
    """The shipped catalog with every entry's numbers cleared, then ``numbers`` set."""
    base = default_catalog()
    entries = []
    prov = Provenance(command="bench", version="0", date="2030-01-01")
    for entry in base.entries:
        metrics, by_protocol, ms = numbers.get(entry.id, (None, {}, None))
        speed = Speed(provenance=prov, ms_per_output_megapixel=ms) if ms is not None else None
        entries.append(
            entry.model_copy(
                update={"metrics": metrics, "protocol_metrics": by_protocol, "speed": speed}
            )
        )
    return Catalog(root=base.root, vocab=base.vocab, entries=tuple(entries), families=base.families)


DEFAULT = "span.ch48-x2"
DENOISER = "waifu2x-upconv7.photo-noise2-x2"
LIGHT_DENOISER = "waifu2x-upconv7.photo-noise0-x2"
X2 = {
    # clean-input champion that sharpens JPEG blocks
    DEFAULT: (_metrics(32.2), {"jpeg-q50": _metrics(27.6, "jpeg-q50")}, 2000.0),
    DENOISER: (_metrics(31.5), {"jpeg-q50": _metrics(28.5, "jpeg-q50")}, 2000.0),
    LIGHT_DENOISER: (_metrics(31.9), {"jpeg-q50": _metrics(28.1, "jpeg-q50")}, 2000.0),
    "esrgan-slim.x2": (_metrics(31.0), {}, 700.0),
}


def test_a_clean_query_ranks_by_clean_numbers_and_keeps_denoisers_after() -> None:
    resolution = resolve({"scale": 2}, _catalog(X2))
    assert resolution.model is not None and resolution.model.id == DEFAULT
    assert resolution.ranking is None
    assert resolution.matches.index(DENOISER) > resolution.matches.index("esrgan-slim.x2")


def test_the_input_condition_ranks_by_its_protocol_and_lets_denoisers_compete() -> None:
    observed = Ranking("jpeg-q50", (), "JPEG quality ≈ 45 found in the file")
    resolution = resolve({"scale": 2}, _catalog(X2), observed=observed)
    assert resolution.model is not None and resolution.model.id == DENOISER
    assert resolution.matches[:3] == [DENOISER, LIGHT_DENOISER, DEFAULT]
    assert resolution.ranking is not None
    assert resolution.ranking.startswith("JPEG quality ≈ 45 found in the file")
    assert "without jpeg-q50 numbers rank after the measured ones" in resolution.ranking


def test_an_empty_query_with_an_observed_condition_ranks_the_default_scale() -> None:
    observed = Ranking("jpeg-q50", (), "JPEG quality ≈ 50 found in the file")
    resolution = resolve({}, _catalog(X2), observed=observed)
    assert resolution.model is not None and resolution.model.id == DENOISER
    assert all(default_catalog().get(i).scale == 2 for i in resolution.matches)


def test_a_denoise_query_ranks_by_the_protocol_of_its_level() -> None:
    catalog = _catalog(X2)
    vocab = catalog.vocab
    assert ranking_for({"denoise": "2"}, vocab).protocol == "jpeg-q50"
    assert ranking_for({"denoise": "3"}, vocab).protocol == "jpeg-q30"
    assert ranking_for({"denoise": "0"}, vocab).protocol == "jpeg-q75"
    assert ranking_for({"denoise": "none"}, vocab).is_default
    assert ranking_for({"degradation": "real-world"}, vocab).protocol == "real-world"
    anime = ranking_for({"domain": "anime"}, vocab)
    assert anime.protocol == "bicubic" and anime.sets == (ILLUSTRATION_SET,)
    resolution = resolve({"denoise": "2", "scale": 2}, catalog)
    assert resolution.ranking is not None and "jpeg-q50" in resolution.ranking


def test_unmeasured_models_rank_after_measured_ones_under_a_protocol() -> None:
    numbers = dict(X2)
    # the best clean numbers of all, but nothing measured under JPEG
    numbers["esrgan-thick.x2"] = (_metrics(40.0), {}, 10.0)
    observed = Ranking("jpeg-q50", (), "JPEG")
    resolution = resolve({"scale": 2}, _catalog(numbers), observed=observed)
    measured = [DENOISER, LIGHT_DENOISER, DEFAULT]
    assert resolution.matches[:3] == measured
    assert resolution.matches.index("esrgan-thick.x2") > 2


def test_domain_anime_ranks_by_the_illustration_set_when_measured() -> None:
    anime_a, anime_b = "waifu2x-upconv7.anime-x2", "waifu2x-cunet.x2"
    numbers = {
        # better on photos, worse on drawings
        anime_a: (_metrics(33.0, sets=(*SETS, ILLUSTRATION_SET)), {}, 2000.0),
        anime_b: (
            Metrics(
                provenance=_metrics(1.0).provenance,
                sets={
                    **{k: Metric(psnr_y=31.0, ssim_y=0.9) for k in SETS},
                    ILLUSTRATION_SET: Metric(psnr_y=36.0, ssim_y=0.95),
                },
            ),
            {},
            2000.0,
        ),
    }
    numbers[anime_a][0].sets[ILLUSTRATION_SET] = Metric(psnr_y=34.0, ssim_y=0.9)  # type: ignore[union-attr]
    catalog = _catalog(numbers)
    photo_ranked = resolve({"scale": 2, "domain": "anime", "denoise": "none"}, catalog)
    assert photo_ranked.model is not None and photo_ranked.model.id == anime_b
    assert photo_ranked.ranking is not None and "illustration" in photo_ranked.ranking


def test_describe_names_the_protocol_of_every_number() -> None:
    entry = _catalog(X2).get(DEFAULT)
    lines = metrics_lines(entry)
    assert lines[0].startswith("metrics      [bicubic] set5 32.20 dB")
    assert lines[1].lstrip().startswith("[jpeg-q50] set5 27.60 dB")
    unmeasured = default_catalog().get(DEFAULT).model_copy(update={"metrics": None})
    assert metrics_lines(unmeasured.model_copy(update={"protocol_metrics": {}})) == [
        "metrics      not measured yet"
    ]


def _lpips_metrics(psnr: float, lpips: float, protocol: str) -> Metrics:
    block = _metrics(psnr, protocol)
    return block.model_copy(
        update={"sets": {k: Metric(psnr_y=psnr, ssim_y=0.8, lpips=lpips) for k in SETS}}
    )


def test_perceptual_models_rank_by_lpips_under_their_protocol_never_by_psnr() -> None:
    sharp, smooth = "realesrgan.plus-x4", "realcugan.se-x4"
    numbers = {
        # lower PSNR, better (lower) LPIPS: the perceptual yardstick must win
        sharp: (None, {"real-world": _lpips_metrics(22.0, 0.30, "real-world")}, 20000.0),
        smooth: (None, {"real-world": _lpips_metrics(24.0, 0.45, "real-world")}, 1500.0),
    }
    resolution = resolve({"scale": 4, "degradation": "real-world"}, _catalog(numbers))
    assert resolution.model is not None and resolution.model.id == sharp
    assert resolution.ranking is not None and "real-world" in resolution.ranking
    fast = resolve({"scale": 4, "degradation": "real-world"}, _catalog(numbers), prefer="fast")
    assert fast.model is not None and fast.model.id != sharp


def test_an_unmeasured_protocol_falls_back_to_the_nearest_measured_one() -> None:
    observed = Ranking("jpeg-q30", (), "JPEG quality ≈ 35 found in the file")
    resolution = resolve({"scale": 2}, _catalog(X2), observed=observed)
    assert resolution.model is not None and resolution.model.id == DENOISER
    assert resolution.ranking is not None
    assert "no candidate is measured under jpeg-q30" in resolution.ranking
    assert "nearest measured protocol ranks: jpeg-q50" in resolution.ranking
