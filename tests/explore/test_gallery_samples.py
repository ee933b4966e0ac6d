"""The gallery's sample crops and the cached model outputs on them.

The tiny local catalog (nearest upsampling + a red/blue swap, no network) runs for real,
so the output of each model on each crop is checked pixel for pixel; the cache is
checked by making a second run impossible.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import explore_tiny_catalog as tiny
import numpy as np
import pytest

from upscaler.catalog import Catalog, default_catalog
from upscaler.gallery import samples as samples_module
from upscaler.gallery.crops import HR_SIZE, low_resolution, sample_crops
from upscaler.gallery.samples import SampleRunner, sample_key, weights_digest
from upscaler.gallery.site import Gallery, compare_entries, relative


def test_four_fixed_crops_of_the_kinds_the_issue_names() -> None:
    crops = sample_crops()
    assert [c.kind for c in crops] == ["photo", "line art", "illustration", "texture"]
    for crop in crops:
        assert crop.hr.shape == (HR_SIZE, HR_SIZE, 3)
        assert crop.hr.dtype == np.uint8
        assert crop.hr.std() > 10, crop.name  # a picture, not a flat square
        assert crop.source  # credited on the pages
        for scale in (2, 3, 4, 8):
            assert low_resolution(crop, scale).shape == (HR_SIZE // scale, HR_SIZE // scale, 3)
    sample_crops.cache_clear()
    assert [c.digest for c in sample_crops()] == [c.digest for c in crops]  # reproducible


def test_photo_crops_come_from_scikit_image_cc0_photos() -> None:
    pytest.importorskip("skimage", reason="scikit-image is in the docs and dev extras")
    sources = {c.name: c.source for c in sample_crops()}
    assert "CC0" in sources["photo"] and "chelsea" in sources["photo"]
    assert "CC0" in sources["texture"] and "coffee" in sources["texture"]


def test_cache_key_follows_model_weights_and_crop() -> None:
    catalog = default_catalog()
    slim2, slim4 = catalog.by_id["esrgan-slim.x2"], catalog.by_id["esrgan-slim.x4"]
    photo, art = sample_crops()[:2]
    assert sample_key(slim2, photo) != sample_key(slim4, photo)
    assert sample_key(slim2, photo) != sample_key(slim2, art)
    assert weights_digest(slim2) != weights_digest(slim4)
    moved = slim2.model_copy(update={"weights": slim4.weights})
    assert sample_key(moved, photo) != sample_key(slim2, photo)


@pytest.mark.slow
def test_outputs_are_the_models_and_come_from_the_cache_the_second_time(
    tiny_catalog: Catalog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("tensorflow")
    runner = SampleRunner(tiny_catalog)
    x4 = tiny_catalog.by_id["tiny-swap.x4"]
    assert runner.run_all(x4) is None
    for crop in sample_crops():
        out = runner.output(x4, crop)
        assert out is not None
        assert np.array_equal(out, tiny.reference(low_resolution(crop, 4), 4))
        assert runner.path(x4, crop).is_file()
        assert runner.path(x4, crop).is_relative_to(tmp_path / "home" / "gallery")

    def no_running(*_: object) -> None:
        raise AssertionError("ran a model whose output is cached")

    monkeypatch.setattr(samples_module.SampleRunner, "_run", no_running)
    again = SampleRunner(tiny_catalog, run_models=False)
    assert all(again.output(x4, c) is not None for c in sample_crops())


def test_a_model_that_cannot_be_fetched_is_not_available(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UPSCALER_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("UPSCALER_OFFLINE", "1")
    catalog = default_catalog()
    runner = SampleRunner(catalog)
    entry = catalog.by_id["esrgan-slim.x2"]
    assert runner.output(entry, sample_crops()[0]) is None
    assert entry.id in runner.problems
    gallery = Gallery(catalog, runner)
    assert not gallery.available(entry)
    assert gallery.reason(entry) == runner.problems[entry.id]


def test_cache_only_mode_never_runs(tiny_catalog: Catalog, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_running(*_: object) -> None:
        raise AssertionError("ran a model in cache-only mode")

    monkeypatch.setattr(samples_module.SampleRunner, "_run", no_running)
    runner = SampleRunner(tiny_catalog, run_models=False)
    assert runner.run_all(tiny_catalog.by_id["tiny-swap.x2"]) is not None


def test_comparison_pages_by_scale_and_domain() -> None:
    catalog = default_catalog()
    gallery = Gallery(catalog, SampleRunner(catalog, run_models=False))
    pages = gallery.compare_pages()
    assert (4, "photo") in pages and (4, "anime") in pages and (8, "photo") in pages
    assert all(domain != "any" for _, domain in pages)
    x4_anime = [e.id for e in compare_entries(gallery, 4, "anime")]
    assert "realesrgan.plus-anime-x4" in x4_anime
    assert "pixel-upsampler.x4" in x4_anime  # baselines appear on every page of their scale
    assert "esrgan-slim.x4" not in x4_anime


@pytest.mark.parametrize(
    ("page", "target", "link"),
    [
        ("models/index.md", "models/charts/a.svg", "charts/a.svg"),
        ("models/span.md", "models/gallery/photo/x2/lr.png", "gallery/photo/x2/lr.png"),
        ("index.md", "models/charts/a.svg", "models/charts/a.svg"),
        ("guide/page.md", "models/x.md", "../models/x.md"),
    ],
)
def test_relative_links_between_docs_files(page: str, target: str, link: str) -> None:
    assert relative(page, target) == link


@pytest.mark.slow
def test_models_samples_command_fills_the_cache_and_writes_a_folder(
    tiny_catalog: Catalog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: Any
) -> None:
    pytest.importorskip("tensorflow")
    monkeypatch.setenv("UPSCALER_CATALOG", str(tmp_path / "tiny" / "catalog"))
    done = cli("models", "samples", "tiny-swap.x4", "-o", str(tmp_path / "out"))
    assert done.code == 0, done.err
    assert "tiny-swap.x4: ok" in done.out
    written = sorted(p.name for p in (tmp_path / "out" / "photo" / "x4").iterdir())
    assert written == ["bicubic.png", "hr.png", "lr.png", "tiny-swap.x4.png"]
    assert len(list((tmp_path / "home" / "gallery").glob("*.png"))) == len(sample_crops())
