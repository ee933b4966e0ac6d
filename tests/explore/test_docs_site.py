"""The documentation site builds with `mkdocs build --strict`, with pages from the catalog.

Two real builds into temporary folders: one of the shipped catalog (every family has a
page, nothing is measured yet, the API and CLI references are generated), and one with
``UPSCALER_CATALOG`` pointing at the tiny test catalog, whose measured numbers must
appear in the tables. Nothing may be written into docs/ itself.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

import explore_tiny_catalog as tiny
import numpy as np
import pytest
from docs_support import HOOK, ROOT, build, code_of, page, text_of

from upscaler.catalog import default_catalog, load_catalog

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    before = sorted(p.relative_to(ROOT) for p in (ROOT / "docs").rglob("*"))
    done = build(out)
    assert done.returncode == 0, done.stdout + done.stderr
    after = sorted(
        p.relative_to(ROOT) for p in (ROOT / "docs").rglob("*") if "__pycache__" not in p.parts
    )
    assert [p for p in after if p not in before] == [], "the build wrote into docs/"
    return out


def test_strict_build_has_every_page_of_the_nav(site: Path) -> None:
    for path in (
        "",
        "getting-started",
        "choosing-a-model",
        "concepts",
        "catalog",
        "contributing-a-model",
        "cli",
        "cli-reference",
        "api",
        "environment",
        "errors",
        "evaluation",
        "performance",
    ):
        assert (site / path / "index.html").is_file(), path
    assert not (site / "hooks").exists(), "the build hook is not published"


def test_one_page_per_family_and_an_overview_of_every_model(site: Path) -> None:
    catalog = default_catalog()
    overview = text_of(page(site, "models"))
    for entry in catalog.entries:
        assert entry.id in overview
    for family in catalog.families:
        family_page = text_of(page(site, f"models/{family}"))
        ids = [e.id for e in catalog.entries if e.family == family]
        assert all(i in family_page for i in ids), family
        for entry in catalog.entries:
            if entry.family == family and entry.weights is not None:
                assert entry.weights.files[0].sha256 in family_page
        default = next(e for e in catalog.entries if e.family == family and e.default)
        code = code_of(page(site, f"models/{family}"))
        assert f'up = Upscaler(model="{default.id}")' in code
        assert f"--model {default.id}" in code


def test_unmeasured_catalog_says_not_measured_yet(site: Path) -> None:
    catalog = default_catalog()
    choosing = text_of(page(site, "choosing-a-model"))
    assert "<!-- generated" not in page(site, "choosing-a-model")
    unmeasured = [e for e in catalog.entries if e.metrics is None]
    if unmeasured:
        assert "not measured yet" in choosing
    for entry in catalog.entries:
        assert entry.id in choosing
        if entry.metrics is not None:
            for metric in entry.metrics.sets.values():
                assert f"{metric.psnr_y:.2f}" in choosing


def test_api_and_cli_references_are_generated(site: Path) -> None:
    api = text_of(page(site, "api"))
    for name in ("Upscaler", "upscale_file", "Description", "build_query", "NoMatchingModel"):
        assert name in api
    cli = text_of(page(site, "cli-reference"))
    assert "upscaler explore" in cli
    assert "--no-browser" in cli
    assert "upscaler catalog validate" in cli


def test_the_site_loads_no_third_party_fonts(site: Path) -> None:
    head = page(site, "").split("</head>", 1)[0]
    external = re.findall(r'<link[^>]+href="(https?://[^"]+)"', head)
    assert external == []


def test_offline_build_shows_the_chart_and_says_samples_are_not_available(site: Path) -> None:
    catalog = default_catalog()
    for scale in sorted({e.scale for e in catalog.entries}):
        chart = site / "models" / "charts" / f"quality-speed-x{scale}.svg"
        assert b"<svg" in chart.read_bytes()[:2000]
    overview = page(site, "models")
    assert 'src="charts/quality-speed-x2.svg"' in overview
    headers = re.findall(r"<th[^>]*>(.*?)</th>", overview.split("Every model", 1)[1])[:7]
    assert headers == ["model", "domain", "scale", "mean PSNR-Y", "speed", "size", "licence"]
    compare = text_of(page(site, "models/compare-x4-photo"))
    assert "sample not available" in compare  # nothing cached, nothing fetched: still built
    assert "esrgan-slim.x4" in compare
    assert "Chelsea the cat, CC0" in compare
    assert (site / "models" / "gallery" / "photo" / "x4" / "bicubic.png").is_file()
    assert (site / "models" / "compare-x4-anime" / "index.html").is_file()


@pytest.mark.slow
def test_measured_numbers_and_samples_of_a_catalog(tmp_path: Path) -> None:
    """The tiny catalog, with samples run for real (local weights: offline is no obstacle)."""
    pytest.importorskip("tensorflow")
    catalog_dir = tiny.write_catalog(tmp_path / "tiny")
    site = tmp_path / "site"
    done = build(site, UPSCALER_CATALOG=str(catalog_dir), UPSCALER_DOCS_SAMPLES="run")
    assert done.returncode == 0, done.stdout + done.stderr
    choosing = text_of(page(site, "choosing-a-model"))
    assert "31.25 / 0.8765" in choosing
    assert "123 ms/MP" in choosing
    assert "upscaler eval tiny-swap.x4" in choosing
    assert "test machine" in choosing
    overview = text_of(page(site, "models"))
    assert "tiny-swap.x4 photo x4 31.25 123 ms/MP" in overview
    family = text_of(page(site, "models/tiny-swap"))
    assert "31.25" in family and "0.8765" in family
    assert "not measured yet" in family  # x2 carries no numbers
    assert "sample not available" not in family
    assert not (site / "models" / "esrgan-slim").exists()
    from PIL import Image

    from upscaler.gallery.crops import low_resolution, sample_crops

    for crop in sample_crops():
        shown = site / "models" / "gallery" / crop.name / "x4" / "tiny-swap.x4.png"
        pixels = np.asarray(Image.open(shown).convert("RGB"))
        assert np.array_equal(pixels, tiny.reference(low_resolution(crop, 4), 4))
    compare = page(site, "models/compare-x4-photo")
    assert 'class="before-after"' in compare
    assert 'data-name="tiny-swap.x4"' in compare
    assert 'src="../gallery/photo/x4/tiny-swap.x4.png"' in compare


# ------------------------------------------------------------------------ the hook itself


@pytest.fixture(scope="module")
def hook() -> ModuleType:
    spec = importlib.util.spec_from_file_location("models_pages_hook", HOOK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_hook_generates_models_and_cli_pages(hook: ModuleType, tmp_path: Path) -> None:
    catalog = load_catalog(tiny.write_catalog(tmp_path))
    pages = hook.pages(catalog)
    assert sorted(pages) == ["cli-reference.md", "models/index.md", "models/tiny-swap.md"]
    overview = pages["models/index.md"]
    assert (
        "| [tiny-swap.x4](tiny-swap.md#tiny-swapx4) | photo | x4 | 31.25 | 123 ms/MP |" in overview
    )
    assert "![Mean PSNR-Y against ms per output megapixel at x4](charts/quality-speed-x4.svg)" in (
        overview
    )
    assert "31.25 / —" not in overview


def test_measured_table_marks_each_unmeasured_cell(hook: ModuleType, tmp_path: Path) -> None:
    catalog = load_catalog(tiny.write_catalog(tmp_path))
    table = hook.measured_table(catalog)
    lines = [line for line in table.splitlines() if line.startswith("| [tiny-swap")]
    rows = {line.split("|")[1].strip(): line for line in lines}
    x2 = [c.strip() for c in rows["[tiny-swap.x2](models/tiny-swap.md#tiny-swapx2)"].split("|")]
    x4 = [c.strip() for c in rows["[tiny-swap.x4](models/tiny-swap.md#tiny-swapx4)"].split("|")]
    assert x2[4:6] == ["—", "—"]  # set5 quality, speed
    assert x4[4:6] == ["31.25 / 0.8765", "123 ms/MP"]
    assert "— not measured yet." in table
    assert "`upscaler eval tiny-swap.x4` (2026-01-01)" in table


@pytest.mark.parametrize(
    ("size", "text"), [(0, "0 B"), (999, "999 B"), (12336, "12.3 kB"), (888300, "888.3 kB")]
)
def test_human_size(hook: ModuleType, size: int, text: str) -> None:
    assert hook.human_size(size) == text


def test_weights_of_several_files_add_up(hook: ModuleType) -> None:
    entry = default_catalog().by_id["esrgan-slim.x2"]
    assert entry.weights is not None
    assert hook.weights_bytes(entry) == sum(f.size for f in entry.weights.files) > 800_000
    assert hook.human_size(2_619_635) == "2.62 MB"


def test_overview_marks_perceptual_models_and_says_what_the_mean_is_over(
    hook: ModuleType,
) -> None:
    table = hook.overview_table(default_catalog())
    rows = {line.split("|")[1].strip(): line for line in table.splitlines()[2:] if "|" in line}
    gans = next(v for k, v in rows.items() if "esrgan-legacy.gans-x4" in k)
    assert "*" in gans.split("|")[4]  # mean PSNR-Y of a perceptual model: shown, marked
    slim = next(v for k, v in rows.items() if "esrgan-slim.x2" in k)
    assert "*" not in slim.split("|")[4]
    assert "over Set5, Set14, BSD100" in table
    for line in rows.values():
        assert len(line.split("|")) == 9  # seven columns
