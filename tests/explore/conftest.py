"""Fixtures of the explorer and docs tests: Debian's Chromium for the browser tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from browser_support import CHROMIUM, apt_install_chromium


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's Chromium, installed on first use (CI runs as root on a fresh machine)."""
    pytest.importorskip("playwright.sync_api", reason="playwright is in the dev extra")
    if not Path(CHROMIUM).exists():
        problem = apt_install_chromium()
        if problem is not None:
            pytest.skip(f"no {CHROMIUM}: {problem}")
    return CHROMIUM
