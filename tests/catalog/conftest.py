"""Fixtures for catalog tests: throw-away copies of the shipped catalog on disk."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from catalog_helpers import TmpCatalog

from upscaler.catalog import shipped_catalog_dir


@pytest.fixture
def make_catalog(tmp_path: Path) -> Callable[..., TmpCatalog]:
    """Copy the shipped vocab.yaml and the named family files into a fresh folder."""

    def make(*families: str, name: str = "cat") -> TmpCatalog:
        src = shipped_catalog_dir()
        root = tmp_path / name
        (root / "models").mkdir(parents=True)
        shutil.copy(src / "vocab.yaml", root / "vocab.yaml")
        for fam in families:
            shutil.copy(src / "models" / f"{fam}.yaml", root / "models" / f"{fam}.yaml")
        return TmpCatalog(root)

    return make
