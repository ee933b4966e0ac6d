"""The models pages in a real browser at 1280 px: tables that fit, the chart, the slider.

Two builds served on 127.0.0.1: the shipped catalog offline with an empty cache (every
sample "not available", as a first offline build), and the tiny catalog with its samples
run. Headless Debian Chromium checks what a reader would notice: no sideways scrolling
(``scrollWidth <= clientWidth`` of the page and of every table), one-line rows in the
family tables, a chart that loaded, and a before/after slider that moves and switches
images. Full-page screenshots go to the test's tmp folder; their paths are printed.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import explore_tiny_catalog as tiny
import pytest
from browser_support import launch, serve
from docs_support import build

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

#: Overflow of the page and of each table wrapper Material scrolls sideways.
OVERFLOW_JS = """() => {
  const wide = (el) => ({name: el.className || el.tagName, scroll: el.scrollWidth,
                          client: el.clientWidth});
  const tables = [...document.querySelectorAll('.md-typeset__scrollwrap, .md-typeset__table')];
  return [wide(document.documentElement), ...tables.map(wide)]
    .filter((box) => box.scroll > box.client + 1);
}"""


@pytest.fixture(scope="module")
def sites(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("sites")
    shipped = build(root / "shipped")
    assert shipped.returncode == 0, shipped.stdout + shipped.stderr
    catalog = tiny.write_catalog(root / "tiny-catalog")
    tiny_site = build(root / "tiny", UPSCALER_CATALOG=str(catalog), UPSCALER_DOCS_SAMPLES="run")
    assert tiny_site.returncode == 0, tiny_site.stdout + tiny_site.stderr
    return {"shipped": root / "shipped", "tiny": root / "tiny"}


@pytest.fixture
def browser_page(chromium: str, tmp_path: Path) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        context = launch(pw, chromium, tmp_path / "chromium-profile")
        try:
            page = context.new_page()
            page.set_default_timeout(30_000)
            yield page
        finally:
            context.close()


def _shot(page: Any, tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"\nscreenshot ({name}, 1280 px wide): {path}")
    assert path.stat().st_size > 10_000
    return path


def _loaded(page: Any, selector: str) -> list[int]:
    return list(
        page.eval_on_selector_all(
            selector, "els => els.map(el => el.complete ? el.naturalWidth : 0)"
        )
    )


def test_overview_fits_1280_and_shows_the_chart(
    sites: dict[str, Path], browser_page: Any, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    page = browser_page
    with serve(sites["shipped"]) as url:
        page.goto(url + "models/")
        expect(page.locator("h1")).to_contain_text("Models")
        assert page.evaluate(OVERFLOW_JS) == []
        table = page.locator("table", has=page.locator("th", has_text="mean PSNR-Y (bicubic)"))
        expect(table).to_be_visible()
        headers = table.locator("th").all_inner_texts()
        assert headers == [
            "model",
            "domain",
            "scale",
            "mean PSNR-Y (bicubic)",
            "speed",
            "size",
            "licence",
        ]
        chart = page.locator("img.quality-chart").first
        expect(chart).to_be_visible()
        assert _loaded(page, "img.quality-chart")[0] > 600
        box = chart.bounding_box()
        assert box is not None and box["width"] >= 600  # readable, not a thumbnail
        page.get_by_text("x4", exact=True).first.click()
        x4 = page.locator("img.quality-chart[src$='x4.svg']")
        expect(x4).to_be_visible()
        page.get_by_text("x2", exact=True).first.click()
        _shot(page, tmp_path, "models-overview")


def test_family_tables_are_compact(
    sites: dict[str, Path], browser_page: Any, tmp_path: Path
) -> None:
    page = browser_page
    with serve(sites["shipped"]) as url:
        for family in ("esrgan-legacy", "realesrgan", "span"):
            page.goto(url + f"models/{family}/")
            assert page.evaluate(OVERFLOW_JS) == [], family
            variants = page.locator("#variants ~ .md-typeset__scrollwrap").first
            heights = variants.locator("tbody tr").evaluate_all(
                "rows => rows.map(r => r.offsetHeight)"
            )
            assert heights, family
            assert max(heights) <= 48, (family, heights)  # one line per variant
            missing = page.locator(".sample-grid figure.missing")
            assert missing.count() > 0  # an offline build without a cache says so
        page.goto(url + "models/esrgan-legacy/")
        _shot(page, tmp_path, "family-esrgan-legacy")


def test_comparison_page_slider_moves_and_switches(
    sites: dict[str, Path], browser_page: Any, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    page = browser_page
    with serve(sites["tiny"]) as url:
        page.goto(url + "models/compare-x4-photo/")
        assert page.evaluate(OVERFLOW_JS) == []
        slider = page.locator(".before-after").first
        frame = slider.locator(".ba-frame")
        expect(frame).to_be_visible()
        left, right = slider.locator("select").nth(0), slider.locator("select").nth(1)
        expect(left.locator("option:checked")).to_have_text("bicubic")
        expect(right.locator("option:checked")).to_have_text("tiny-swap.x4")
        images = slider.locator(".ba-frame img")
        expect(images).to_have_count(2)
        assert all(w == 192 for w in _loaded(page, ".before-after:first-of-type .ba-frame img"))
        assert frame.evaluate("f => f.style.getPropertyValue('--pos')") == "50%"

        slider.locator("input[type=range]").fill("20")
        assert frame.evaluate("f => f.style.getPropertyValue('--pos')") == "20%"
        box = frame.bounding_box()
        assert box is not None and box["width"] == 384  # twice the crop, pixel for pixel
        page.mouse.click(box["x"] + box["width"] * 0.75, box["y"] + box["height"] / 2)
        assert frame.evaluate("f => f.style.getPropertyValue('--pos')") == "75%"

        right.select_option(label="original")
        expect(slider.locator(".ba-right")).to_have_attribute("src", "../gallery/photo/x4/hr.png")
        expect(slider.locator(".ba-tag.right")).to_have_text("original")
        right.select_option(label="tiny-swap.x4")
        slider.locator("input[type=range]").fill("50")
        _shot(page, tmp_path, "compare-x4-photo")
