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
from protocol_catalog import catalog_with

from upscaler.catalog import Catalog, default_catalog, load_catalog

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


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
    from upscaler.gallery.site import chart_panels, chart_path

    for scale, protocols in chart_panels(catalog):
        for protocol in protocols:
            chart = site / chart_path(scale, protocol)
            assert b"<svg" in chart.read_bytes()[:2000]
    overview = page(site, "models")
    assert 'src="charts/quality-speed-x2.svg"' in overview
    headers = re.findall(r"<th[^>]*>(.*?)</th>", overview.split("Every model", 1)[1])[:7]
    assert headers == [
        "model",
        "domain",
        "scale",
        "mean PSNR-Y (bicubic)",
        "speed",
        "size",
        "licence",
    ]
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
    assert (
        "![Mean PSNR-Y against ms per output megapixel at x4, bicubic protocol]"
        "(charts/quality-speed-x4.svg)" in overview
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


# ------------------------------------------------------------------------ charts by protocol

X2_JPEG = {
    "span.ch48-x2": {"bicubic": 34.6, "jpeg-q50": 28.7},
    "esrgan-slim.x2": {"bicubic": 31.1, "jpeg-q50": 28.1},
    "esrgan-medium.x2": {"bicubic": 31.1, "jpeg-q30": 27.0},  # alone under q30
    "esrgan-slim.x4": {"bicubic": 28.0},
    "esrgan-medium.x4": {"bicubic": 28.2},
    "waifu2x-cunet.noise0-x1": {"bicubic": 51.0, "jpeg-q50": 33.0},
    "waifu2x-cunet.noise2-x1": {"bicubic": 50.0, "jpeg-q50": 35.0},
}


def _tab(markdown: str, title: str) -> str:
    """The body of one top-level content tab (up to the next top-level tab)."""
    return markdown.split(f'=== "{title}"', 1)[1].split('\n=== "', 1)[0]


def test_chart_tabs_open_on_the_global_default_scale() -> None:
    from upscaler.gallery.site import chart_tabs

    shipped = default_catalog()
    assert chart_tabs(shipped, "models/index.md").startswith(
        f'=== "x{shipped.global_default.scale}"'
    )
    moved = catalog_with(X2_JPEG, global_default="esrgan-slim.x4")
    tabs = chart_tabs(moved, "models/index.md")
    outer = re.findall(r'^=== "(x\d+)"', tabs, flags=re.MULTILINE)
    assert outer == ["x4", "x1", "x2", "x3", "x8"]


def test_protocol_tabs_appear_only_where_measured() -> None:
    from upscaler.gallery.site import chart_panels, chart_path, chart_tabs

    catalog = catalog_with(X2_JPEG)
    tabs = chart_tabs(catalog, "models/index.md")
    x2 = _tab(tabs, "x2")
    assert re.findall(r'^    === "([^"]+)"', x2, flags=re.MULTILINE) == ["bicubic", "jpeg-q50"]
    assert "(charts/quality-speed-x2-jpeg-q50.svg)" in x2
    assert "**x2 · jpeg-q50 · Set5, Set14, BSD100**" in x2
    assert "2 of " in x2.split('=== "jpeg-q50"')[1]  # how many models it compares
    assert re.findall(r'^    === "([^"]+)"', _tab(tabs, "x4"), flags=re.MULTILINE) == ["bicubic"]
    # Every tab's image is a chart the build writes, and nothing else is written.
    linked = set(re.findall(r"\]\(charts/([^)]+)\)", tabs))
    written = {chart_path(s, p).split("/")[-1] for s, ps in chart_panels(catalog) for p in ps}
    assert linked == written


def test_x1_denoisers_have_no_bicubic_tab_once_jpeg_is_measured() -> None:
    from upscaler.gallery.site import chart_tabs

    x1 = _tab(chart_tabs(catalog_with(X2_JPEG), "models/index.md"), "x1")
    assert re.findall(r'^    === "([^"]+)"', x1, flags=re.MULTILINE) == ["jpeg-q50"]
    assert "quality-speed-x1.svg" not in x1
    assert "bicubic downscale" not in x1  # nothing is downscaled at x1
    clean_only = {k: {"bicubic": v["bicubic"]} for k, v in X2_JPEG.items()}
    x1 = _tab(chart_tabs(catalog_with(clean_only), "models/index.md"), "x1")
    assert re.findall(r'^    === "([^"]+)"', x1, flags=re.MULTILINE) == ["bicubic"]
    assert "nothing to remove" in x1  # and says why its numbers mean little


def test_overview_says_its_psnr_is_the_bicubic_protocol(hook: ModuleType) -> None:
    table = hook.overview_table(catalog_with(X2_JPEG))
    assert table.splitlines()[0].split("|")[4].strip() == "mean PSNR-Y (bicubic)"
    assert "under the bicubic protocol" in table
    assert "(../protocols.md)" in table


def _shared_line(page: str) -> str:
    variants = page.split("## Variants", 1)[1].split("\n## ", 1)[0]
    return next(line for line in variants.splitlines() if line.startswith(("Every", "**Bold")))


def test_span_family_line_is_true_when_every_variant_is_measured(hook: ModuleType) -> None:
    shipped = default_catalog()
    span = [e.id for e in shipped.entries if e.family == "span"]
    everything = catalog_with({i: {"bicubic": 30.0 + n} for n, i in enumerate(span)})
    line = _shared_line(hook.family_page(everything, "span"))
    assert line.startswith("Every variant: dataset `df2k`")
    assert "quantization `none` (float32 weights)" in line
    assert "weights `none`" not in line  # read as "no weights": false for SPAN
    assert "not measured" not in line
    one_missing = catalog_with({i: {"bicubic": 30.0} for i in span[1:]})
    assert "— not measured yet." in _shared_line(hook.family_page(one_missing, "span"))


def test_every_family_line_is_true_of_the_shipped_catalog(hook: ModuleType) -> None:
    catalog = default_catalog()
    for family in catalog.families:
        entries = [e for e in catalog.entries if e.family == family]
        page = hook.family_page(catalog, family)
        line = _shared_line(page)
        for attribute in ("dataset", "objective", "quantization"):
            said = re.search(rf"{attribute} `([^`]+)`", line.split("**Bold**")[0])
            if said:
                assert {str(e.attribute(attribute)) for e in entries} == {said[1]}, family
        table = page.split("## Variants", 1)[1].split(line, 1)[0]
        assert ("— not measured yet." in line) == ("| — |" in table or " — |" in table), family
        if all(e.weights is None and not e.derived_from for e in entries):
            assert "quantization" not in line, family  # a baseline has no weights at all


def test_family_page_lists_each_variants_protocols(hook: ModuleType) -> None:
    numbers = {
        "span.ch48-x2": {"bicubic": 34.6, "jpeg-q50": 28.7, "jpeg-q75": 30.1},
        "span.ch52-x2": {"bicubic": 34.5},
        "realesrgan.animevideov3-x2": {"bicubic": 29.0, "jpeg-q50": (26.5, 0.21)},
        "realesrgan.animevideov3-x4": {"bicubic": 25.0, "jpeg-q50": (24.0, 0.3)},
    }
    catalog = catalog_with(numbers)
    span = hook.family_page(catalog, "span")
    by_protocol = span.split("### By protocol", 1)[1].split("\n## ", 1)[0]
    assert "| model | bicubic | jpeg-q50 | jpeg-q75 |" in by_protocol
    assert "| [span.ch48-x2](#spanch48-x2) | 34.60 | 28.70 | 30.10 |" in by_protocol
    assert "| [span.ch52-x2](#spanch52-x2) | 34.50 | — | — |" in by_protocol
    assert "**Under `jpeg-q75`**" in span.split("### `span.ch48-x2`", 1)[1]
    gan = hook.family_page(catalog, "realesrgan")
    assert "26.50 · LPIPS 0.210" in gan.split("### By protocol", 1)[1]
    assert "LPIPS (lower is better)" in gan  # the per-set table of its details
    only_bicubic = catalog_with({"span.ch48-x2": {"bicubic": 34.6}})
    page = hook.family_page(only_bicubic, "span")
    section = page.split("### By protocol", 1)[1].split("\n## ", 1)[0]
    assert "Measured under the bicubic protocol only" in section
    assert "| model |" not in section


# ------------------------------------------------------------------------ samples: an explicit step


def test_a_plain_build_runs_no_model_and_says_how_to_make_the_samples(
    hook: ModuleType, tiny_catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Making the samples runs every model of the catalog (minutes): a plain `mkdocs
    build` reads what `upscaler models samples` cached and shows placeholders that say
    how to make the rest, and reuses a cached sample when there is one."""
    from upscaler.gallery import samples
    from upscaler.gallery.crops import high_resolution, sample_crops

    monkeypatch.delenv("UPSCALER_DOCS_SAMPLES", raising=False)
    ran: list[str] = []
    monkeypatch.setattr(samples.SampleRunner, "_run", lambda self, e, crop: ran.append(e.id))

    gallery = hook.build_gallery(tiny_catalog)
    generated = hook.pages(tiny_catalog, gallery)

    assert ran == []
    family = generated["models/tiny-swap.md"]
    compare = generated["models/compare-x4-photo.md"]
    for text in (family, compare):
        assert "sample not available" in text
        assert "`upscaler models samples`" in text
        assert "`UPSCALER_DOCS_SAMPLES=run`" in text
    assert "could not be fetched" not in compare  # nothing failed: nothing was tried

    # One model's samples in the cache (as `upscaler models samples` leaves them): shown.
    x4 = tiny_catalog.by_id["tiny-swap.x4"]
    for crop in sample_crops():
        gallery.runner._store(gallery.runner.path(x4, crop), high_resolution(crop, 4))
    gallery = hook.build_gallery(tiny_catalog)
    compare = hook.pages(tiny_catalog, gallery)["models/compare-x4-photo.md"]
    assert ran == []
    assert "gallery/photo/x4/tiny-swap.x4.png" in compare
    assert "sample not available" not in compare
    assert "models/gallery/photo/x4/tiny-swap.x4.png" in gallery.assets(charts=False)


@pytest.mark.parametrize(("value", "runs"), [("run", True), ("cached", False), (" RUN ", True)])
def test_samples_run_only_when_asked(
    hook: ModuleType,
    tiny_catalog: Catalog,
    monkeypatch: pytest.MonkeyPatch,
    value: str,
    runs: bool,
) -> None:
    monkeypatch.setenv("UPSCALER_DOCS_SAMPLES", value)
    assert hook.build_gallery(tiny_catalog).runner.run_models is runs


def test_an_unknown_samples_mode_names_the_valid_ones(
    hook: ModuleType, tiny_catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UPSCALER_DOCS_SAMPLES", "yes")
    with pytest.raises(RuntimeError, match=r"'yes'.*cached.*run"):
        hook.build_gallery(tiny_catalog)
