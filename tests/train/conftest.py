"""Fixtures the training tests share."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from upscaler.catalog import shipped_catalog_dir


@pytest.fixture
def catalog_copy(tmp_path: Path) -> Path:
    """The shipped catalog's YAML in a tmp folder (no weights): `catalog add` writes here."""
    root = tmp_path / "catalog"
    shutil.copytree(shipped_catalog_dir(), root, ignore=shutil.ignore_patterns("weights"))
    return root
