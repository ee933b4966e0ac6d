"""Building the documentation site in tests, and reading its pages back as text."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from html import unescape
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "mkdocs.yml"
HOOK = ROOT / "docs" / "hooks" / "models_pages.py"


def build(site: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """`mkdocs build --strict` into ``site``, with an empty cache of its own and offline.

    Sample outputs are read from that cache only (``UPSCALER_DOCS_SAMPLES=cached``) unless
    the caller says ``run``: the shipped catalog's build then shows every sample as not
    available, which is what an offline first build must survive.
    """
    pytest.importorskip("mkdocs", reason="mkdocs is in the docs and dev extras")
    pytest.importorskip("material", reason="mkdocs-material is in the docs and dev extras")
    pytest.importorskip("mkdocstrings", reason="mkdocstrings is in the docs and dev extras")
    pytest.importorskip("matplotlib", reason="matplotlib is in the docs and dev extras")
    clean = {k: v for k, v in os.environ.items() if not k.startswith("UPSCALER_")}
    clean.update(
        UPSCALER_HOME=str(site.parent / f"{site.name}-home"),
        UPSCALER_OFFLINE="1",
        UPSCALER_DOCS_SAMPLES="cached",
    )
    clean.update(env, NO_MKDOCS_2_WARNING="1")
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(CONFIG), "-d", str(site)],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        check=False,
        timeout=240,
    )


def page(site: Path, path: str) -> str:
    html = (site / path / "index.html") if path else (site / "index.html")
    return html.read_text(encoding="utf-8")


def text_of(html: str) -> str:
    """Visible-ish text: tags dropped, whitespace collapsed (enough for `in` checks)."""
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


def code_of(html: str) -> str:
    """Text with tags removed outright, so highlighted code reads as written."""
    return unescape(re.sub(r"<[^>]+>", "", html))
