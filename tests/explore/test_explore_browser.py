"""The explorer in a real browser: headless Chromium (Debian's package) driven by Playwright.

`upscaler explore` runs in a subprocess on 127.0.0.1 against a catalog of tiny local
models (no network). The test uploads an image, changes the scale, runs the model and
checks what a person would: the resolver's answer, the generated code, the output picture
(its pixels, fetched from the page), the timing and metrics, and that the page asked no
host but 127.0.0.1 for anything. A full-page screenshot is saved and its path printed.
"""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import explore_tiny_catalog as tiny_catalog
import numpy as np
import pytest
from browser_support import LOOPBACK_HOSTS, launch
from PIL import Image

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]  # includes installing chromium


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_until_serving(proc: subprocess.Popen[bytes], url: str, log: Path) -> None:
    while True:  # no clock: a server that never answers is a hang the timeout marker ends
        if proc.poll() is not None:
            pytest.fail(f"upscaler explore exited {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as reply:  # loopback only
                if reply.status == 200:
                    return
        except OSError:
            time.sleep(0.5)


@pytest.fixture
def explorer_url(tmp_path: Path) -> Iterator[str]:
    """`upscaler explore` on a free loopback port, with the tiny catalog."""
    pytest.importorskip("gradio", reason="gradio is in the explore and dev extras")
    catalog = tiny_catalog.write_catalog(tmp_path / "tiny")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("UPSCALER_", "GRADIO_"))}
    env.update(
        UPSCALER_CATALOG=str(catalog),
        UPSCALER_HOME=str(tmp_path / "home"),
        UPSCALER_OFFLINE="1",
        GRADIO_TEMP_DIR=str(tmp_path / "gradio"),
    )
    log = tmp_path / "explore.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "upscaler", "explore", "--port", str(port), "--no-browser"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=tmp_path,
        )
    url = f"http://127.0.0.1:{port}/"
    try:
        _wait_until_serving(proc, url, log)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)


def _png(path: Path, rgb: np.ndarray) -> Path:
    Image.fromarray(rgb, "RGB").save(path)
    return path


def test_upload_change_scale_run_and_copyable_code(
    chromium: str, explorer_url: str, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    from playwright.sync_api import expect, sync_playwright

    rgb = np.random.default_rng(7).integers(0, 256, size=(16, 24, 3), dtype=np.uint8)
    photo = _png(tmp_path / "tiny-photo.png", rgb)
    shot = tmp_path_factory.mktemp("explorer-screenshot") / "explorer.png"
    requested: list[str] = []

    with sync_playwright() as pw:
        context = launch(
            pw, chromium, tmp_path / "chromium-profile", {"width": 1400, "height": 1100}
        )
        try:
            page = context.new_page()
            page.on("request", lambda request: requested.append(request.url))
            page.set_default_timeout(60_000)
            page.goto(explorer_url)

            # Nothing chosen yet: the catalog's global default, and code saying so.
            resolution = page.locator("#resolution")
            expect(resolution).to_contain_text("Exact match: tiny-swap.x2")
            python = page.locator("#code-python")
            expect(python).to_contain_text("up = Upscaler()")

            # Upload: the code now names the uploaded file.
            page.locator("#input-image input[type=file]").set_input_files(str(photo))
            expect(python).to_contain_text('up.upscale_file("tiny-photo.png", "tiny-photo-x2.png")')

            # Change the scale: the resolver's answer and both code forms follow.
            page.get_by_role("combobox", name="scale").click()
            page.get_by_role("option", name="x4", exact=True).click()
            expect(resolution).to_contain_text("Exact match: tiny-swap.x4")
            expect(python).to_contain_text("up = Upscaler(scale=4)")
            expect(python).to_contain_text('"tiny-photo-x4.png"')
            page.get_by_role("tab", name="Command line").click()
            expect(page.locator("#code-cli")).to_contain_text(
                "upscaler upscale tiny-photo.png -o tiny-photo-x4.png --scale 4"
            )
            expect(page.locator("#code-cli button[aria-label*='Copy' i]").first).to_be_visible()

            # Run: the slider shows the output, the timing and the model's metrics appear.
            page.locator("#run").click()
            timing = page.locator("#timing")
            expect(timing).to_contain_text("tiny-swap.x4 upscaled 24×16 → 96×64", timeout=180_000)
            facts = page.locator("#facts")
            expect(facts).to_contain_text("31.25")
            expect(facts).to_contain_text("0.8765")
            expect(facts).to_contain_text("123 ms per output megapixel")
            images = page.locator("#result img")
            expect(images).to_have_count(2)

            # The picture shown is the model's output, pixel for pixel.
            sources = [images.nth(i).get_attribute("src") or "" for i in range(2)]
            shown = []
            for src in sources:
                reply = context.request.get(src)
                assert reply.ok, src
                shown.append(np.asarray(Image.open(io.BytesIO(reply.body())).convert("RGB")))
            expected = tiny_catalog.reference(rgb, 4)
            assert any(np.array_equal(s, expected) for s in shown), [s.shape for s in shown]
            before = np.repeat(np.repeat(rgb, 4, axis=0), 4, axis=1)
            assert any(np.array_equal(s, before) for s in shown)

            # Strict with no exact match: nothing to run; pinning an alternative fixes it.
            page.get_by_role("combobox", name="channels").click()
            page.get_by_role("option", name="4 (RGBA)").click()
            expect(resolution).to_contain_text("Nearest alternative: tiny-swap.x4")
            page.get_by_label("strict (raise instead of adapting)").check()
            expect(resolution).to_contain_text("raises NoMatchingModel")
            expect(page.locator("#run")).to_be_disabled()
            page.locator("#alternatives [role=gridcell]", has_text="tiny-swap.x4").first.click()
            page.get_by_role("tab", name="Python").click()
            expect(python).to_contain_text('up = Upscaler(model="tiny-swap.x4", strict=True)')
            expect(resolution).to_contain_text("Exact match: tiny-swap.x4")
            expect(page.locator("#run")).to_be_enabled()

            page.screenshot(path=str(shot), full_page=True)
        finally:
            context.close()

    print(f"\nexplorer screenshot: {shot}")
    assert shot.stat().st_size > 10_000
    hosts = {urlsplit(u).hostname for u in requested if urlsplit(u).scheme in ("http", "https")}
    assert hosts <= LOOPBACK_HOSTS, f"the page contacted {hosts - LOOPBACK_HOSTS}"


def test_explore_says_where_it_serves_and_nothing_about_sharing(
    explorer_url: str, tmp_path: Path
) -> None:
    """Issue 14, item 19: Gradio's own lines ("To create a public link, set share=True")
    are noise for a local tool that never shares; one line of ours says where it is."""
    deadline = time.monotonic() + 30  # the server answers a moment before the line is out
    while True:
        log = (tmp_path / "explore.log").read_text(encoding="utf-8", errors="replace")
        serving = [line for line in log.splitlines() if explorer_url.rstrip("/") in line]
        if serving or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert serving and "Ctrl+C" in serving[0], log
    assert "share=True" not in log and "public link" not in log, log


def test_chart_follows_the_choice_and_models_compare_side_by_side(
    chromium: str, explorer_url: str, tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    rgb = np.random.default_rng(11).integers(0, 256, size=(20, 28, 3), dtype=np.uint8)
    photo = _png(tmp_path / "compare-me.png", rgb)
    shot = tmp_path / "explorer-compare.png"
    requested: list[str] = []

    with sync_playwright() as pw:
        context = launch(pw, chromium, tmp_path / "chromium-profile")
        try:
            page = context.new_page()
            page.on("request", lambda request: requested.append(request.url))
            page.set_default_timeout(60_000)
            page.goto(explorer_url)
            expect(page.locator("#resolution")).to_contain_text("Exact match: tiny-swap.x2")

            # The chart of the choice's scale, the choice ringed; it follows the scale.
            note = page.locator("#chart-note")
            expect(note).to_contain_text("Ringed: tiny-swap.x2")
            chart = page.locator("#chart img")
            expect(chart).to_be_visible()
            first = chart.get_attribute("src")
            page.get_by_role("combobox", name="scale").click()
            page.get_by_role("option", name="x4", exact=True).click()
            expect(note).to_contain_text("Ringed: tiny-swap.x4")
            expect(chart).not_to_have_attribute("src", first or "")
            assert chart.evaluate("img => img.naturalWidth") > 500

            # Two models side by side on the uploaded image, each with its time.
            page.locator("#input-image input[type=file]").set_input_files(str(photo))
            picker = page.get_by_role("combobox", name="models to compare on the input image")
            for model_id in ("tiny-swap.x2", "tiny-swap.x4"):
                picker.click()
                page.get_by_role("option", name=model_id).click()
            page.locator("#compare").click()
            timing = page.locator("#compare-timing")
            expect(timing).to_contain_text("Fastest here", timeout=180_000)
            expect(timing).to_contain_text("56×40")
            expect(timing).to_contain_text("112×80")
            shown = page.locator("#compare-gallery img")
            expect(shown).to_have_count(2)
            captions = page.locator("#compare-gallery").inner_text()
            assert "tiny-swap.x2:" in captions and "tiny-swap.x4:" in captions

            wide = page.evaluate(
                "() => [document.documentElement, ...document.querySelectorAll("
                "'#compare-timing, #compare-timing *')]"
                ".map(el => el.scrollWidth - el.clientWidth).filter(d => d > 1)"
            )
            assert wide == [], f"the explorer scrolls sideways at 1280 px: {wide}"
            page.locator("#compare").scroll_into_view_if_needed()
            page.screenshot(path=str(shot), full_page=True)
        finally:
            context.close()

    print(f"\nexplorer compare screenshot (1280 px wide): {shot}")
    hosts = {urlsplit(u).hostname for u in requested if urlsplit(u).scheme in ("http", "https")}
    assert hosts <= LOOPBACK_HOSTS, f"the page contacted {hosts - LOOPBACK_HOSTS}"
