"""Domain (a property of the training set) and denoise (an ordered train-time level).

The synthetic entries below are copies of shipped models with another dataset or denoise
level, so the tests hold whatever real denoise models the catalog ships.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from upscaler import QueryError
from upscaler.catalog import Catalog, ModelEntry
from upscaler.catalog.loader import load_catalog, shipped_catalog_dir
from upscaler.errors import CatalogError
from upscaler.resolve import build_query, resolve
from upscaler.resolve.distance import DENOISE_LESS_COST, DENOISE_MORE_COST


def with_entries(catalog: Catalog, *extra: ModelEntry) -> Catalog:
    return Catalog(
        root=catalog.root,
        vocab=catalog.vocab,
        entries=(*catalog.entries, *extra),
        families=catalog.families,
    )


def denoiser(catalog: Catalog, level: str, *, dataset: str = "waifu2x-art") -> ModelEntry:
    """span.ch48-x2 as if it had been trained on ``dataset`` to remove noise ``level``."""
    base = catalog.by_id["span.ch48-x2"]
    return base.model_copy(
        update={
            "id": f"fake.noise{level}-{dataset}",
            "family": "fake",
            "variant": f"noise{level}-{dataset}",
            "default": False,
            "global_default": False,
            "dataset": dataset,
            "domain": catalog.vocab.domain_of(dataset),
            "denoise": level,
        }
    )


def test_every_model_has_its_datasets_domain(catalog: Catalog) -> None:
    for entry in catalog.entries:
        assert entry.domain == catalog.vocab.domain_of(entry.dataset), entry.id
    assert catalog.by_id["span.ch48-x2"].domain == "photo"
    assert catalog.by_id["realesrgan.plus-anime-x4"].domain == "anime"


def test_domain_aliases_and_errors(catalog: Catalog) -> None:
    assert build_query("domain=Illustration denoise=noise2", catalog) == {
        "domain": "anime",
        "denoise": "2",
    }
    assert build_query(None, catalog, denoise=3) == {"denoise": "3"}
    with pytest.raises(QueryError, match="unknown domain 'faces'"):
        build_query("domain=faces", catalog)
    with pytest.raises(QueryError, match="unknown denoise '7'"):
        build_query("denoise=7", catalog)


def test_domain_query_is_answered_by_the_datasets_domain(catalog: Catalog) -> None:
    r = resolve(build_query("domain=anime scale=4", catalog), catalog)
    assert r.exact and r.model is not None
    assert all(catalog.by_id[m].domain == "anime" for m in r.matches)
    photo = resolve(build_query("domain=photo scale=2", catalog), catalog)
    assert photo.exact and photo.model is not None and photo.model.domain == "photo"


def test_domain_mismatch_is_named_in_the_alternatives(catalog: Catalog) -> None:
    # Only the span family: the shipped anime models (waifu2x, waifu2x-chainer, Real-CUGAN)
    # would fill the alternatives before a photo model.
    spans = Catalog(
        root=catalog.root,
        vocab=catalog.vocab,
        entries=tuple(e for e in catalog.entries if e.family == "span"),
        families=catalog.families,
    )
    r = resolve(build_query("architecture=span domain=anime scale=2", spans), spans)
    assert not r.exact
    span = next(a for a in r.alternatives if a.id == "span.ch48-x2")
    [diff] = span.differences
    assert (diff.attribute, diff.wanted, diff.offered) == ("domain", "anime", "photo")
    assert not span.adaptable, "an anime request is not quietly served by a photo model"


def test_exact_denoise_level_wins(catalog: Catalog) -> None:
    cat = with_entries(catalog, *(denoiser(catalog, lvl) for lvl in ("0", "1", "2", "3")))
    r = resolve(build_query("domain=anime scale=2 denoise=2", cat), cat)
    assert r.exact and r.model is not None
    # which level-2 anime model wins is the jpeg-q50 numbers' call (test_protocol_ranking)
    assert r.model.denoise == "2" and r.model.domain == "anime"
    assert "fake.noise2-waifu2x-art" in r.matches
    assert not {f"fake.noise{lvl}-waifu2x-art" for lvl in "013"} & set(r.matches)


def test_denoise_distance_is_directional(catalog: Catalog) -> None:
    # Asked for level 2; only 1 (less) and 3 (more) exist. Each is one level away, but
    # removing more than asked costs more, and the note says which way it misses.
    # architecture=span singles out the copies of span.ch48-x2 from the shipped waifu2x
    # models, which are trained on the same set and would match it exactly.
    cat = with_entries(catalog, denoiser(catalog, "1"), denoiser(catalog, "3"))
    r = resolve(build_query("architecture=span dataset=waifu2x-art denoise=2", cat), cat)
    assert not r.exact
    by_id = {a.id: a for a in r.alternatives}
    less = next(d for d in by_id["fake.noise1-waifu2x-art"].differences)
    more = next(d for d in by_id["fake.noise3-waifu2x-art"].differences)
    assert less.cost == DENOISE_LESS_COST and "less noise than asked" in less.note
    assert more.cost == DENOISE_MORE_COST and "more noise than asked" in more.note
    order = [a.id for a in r.alternatives]
    assert order.index("fake.noise1-waifu2x-art") < order.index("fake.noise3-waifu2x-art")


def test_denoise_cost_grows_with_the_levels_missed(catalog: Catalog) -> None:
    cat = with_entries(catalog, denoiser(catalog, "0"), denoiser(catalog, "3"))
    r = resolve(build_query("architecture=span dataset=waifu2x-art denoise=none", cat), cat)
    costs = {a.id: a.cost for a in r.alternatives}
    assert costs["fake.noise0-waifu2x-art"] == DENOISE_MORE_COST * 1
    assert costs["fake.noise3-waifu2x-art"] == DENOISE_MORE_COST * 4


def test_unasked_denoise_never_comes_first(catalog: Catalog) -> None:
    # A denoiser with a better score than every model still ranks after the models that
    # keep the image as it is, when the query did not ask for denoising.
    strong = denoiser(catalog, "1", dataset="df2k")
    assert strong.metrics is not None
    boosted = {
        name: m.model_copy(update={"psnr_y": m.psnr_y + 10})
        for name, m in strong.metrics.sets.items()
    }
    strong = strong.model_copy(
        update={"metrics": strong.metrics.model_copy(update={"sets": boosted})}
    )
    cat = with_entries(catalog, strong)
    for prefer in ("accurate", "balanced", "fast"):
        r = resolve(build_query("scale=2", cat), cat, prefer=prefer)
        assert r.model is not None and r.model.denoise == "none", prefer
        assert r.matches.index(strong.id) > r.matches.index(r.model.id)


def copy_catalog(tmp_path: Path) -> Path:
    import shutil

    root = tmp_path / "cat"
    shutil.copytree(shipped_catalog_dir(), root)
    return root


@pytest.mark.slow
def test_vocab_requires_a_domain_on_every_dataset(tmp_path: Path) -> None:
    root = copy_catalog(tmp_path)
    path = root / "vocab.yaml"
    text = path.read_text()
    assert "  div2k:\n    title: DIV2K\n    domain: photo\n" in text
    path.write_text(text.replace("    title: DIV2K\n    domain: photo\n", "    title: DIV2K\n"))
    with pytest.raises(CatalogError, match=r"datasets\.div2k: domain None"):
        load_catalog(root)


@pytest.mark.slow
def test_vocab_requires_a_level_on_every_denoise_term(tmp_path: Path) -> None:
    root = copy_catalog(tmp_path)
    path = root / "vocab.yaml"
    text = path.read_text()
    assert "    title: Noise level 2\n    level: 3\n" in text
    path.write_text(
        text.replace("    title: Noise level 2\n    level: 3\n", "    title: Noise level 2\n")
    )
    with pytest.raises(CatalogError, match=r"denoise\.2: needs `level:`"):
        load_catalog(root)


@pytest.mark.slow
def test_yaml_denoise_numbers_are_ids(tmp_path: Path) -> None:
    root = copy_catalog(tmp_path)
    path = root / "models" / "span.yaml"
    text = path.read_text()
    path.write_text(
        text.replace("  objective: fidelity\n", "  objective: fidelity\n  denoise: 2\n", 1)
    )
    cat = load_catalog(root)
    assert {e.denoise for e in cat.entries if e.family == "span"} == {"2"}
    path.write_text(
        text.replace("  objective: fidelity\n", "  objective: fidelity\n  denoise: 9\n", 1)
    )
    with pytest.raises(CatalogError, match=r"unknown denoise '9'"):
        load_catalog(root)


@pytest.mark.parametrize("prefer", ["fast", "accurate", "balanced"])
def test_prefer_ranks_inside_a_domain(catalog: Catalog, prefer: str) -> None:
    r = resolve(build_query("domain=anime scale=4", catalog), catalog, prefer=prefer)
    assert r.exact and r.model is not None
    anime = [e for e in catalog.entries if e.domain == "anime" and e.scale == 4]
    assert sorted(r.matches) == sorted(e.id for e in anime)
    if prefer == "fast":
        # Fastest among the first group the resolver compares: fidelity before
        # perceptual, no denoising before denoisers.
        def group(e: ModelEntry) -> tuple[bool, bool]:
            return (e.objective != "fidelity", e.denoise != "none")

        first = min(group(e) for e in anime)
        timed = [e for e in anime if group(e) == first and e.speed is not None]
        fastest = min(timed, key=lambda e: e.speed.ms_per_output_megapixel if e.speed else 0)
        assert r.model.id == fastest.id
