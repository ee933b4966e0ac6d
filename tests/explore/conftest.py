"""Fixtures of the explorer and docs tests: the tiny local catalog, and Debian's Chromium."""

from __future__ import annotations

from pathlib import Path

import explore_tiny_catalog as tiny
import pytest
from browser_support import CHROMIUM, apt_install_chromium

from upscaler.catalog import Catalog, load_catalog


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's Chromium, installed on first use (CI runs as root on a fresh machine)."""
    pytest.importorskip("playwright.sync_api", reason="playwright is in the dev extra")
    if not Path(CHROMIUM).exists():
        problem = apt_install_chromium()
        if problem is not None:
            pytest.skip(f"no {CHROMIUM}: {problem}")
    return CHROMIUM


@pytest.fixture
def tiny_catalog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Catalog:
    """The tiny local catalog, offline, with a cache of its own (no network, no user cache)."""
    monkeypatch.setenv("UPSCALER_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("UPSCALER_OFFLINE", "1")
    return load_catalog(tiny.write_catalog(tmp_path / "tiny"))
