"""Fixtures for catalog tests: throw-away copies of the shipped catalog on disk."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from catalog_helpers import TmpCatalog

from upscaler.catalog import default_catalog, shipped_catalog_dir

GLOBAL_FAMILY = default_catalog().global_default.family


@pytest.fixture
def make_catalog(tmp_path: Path) -> Callable[..., TmpCatalog]:
    """Copy the shipped vocab.yaml and the named family files into a fresh folder.

    The family holding the catalog's global default (``GLOBAL_FAMILY``) comes along unless
    ``with_global=False``: a catalog needs exactly one, and most tests break something else.
    """

    def make(*families: str, name: str = "cat", with_global: bool = True) -> TmpCatalog:
        src = shipped_catalog_dir()
        root = tmp_path / name
        (root / "models").mkdir(parents=True)
        shutil.copy(src / "vocab.yaml", root / "vocab.yaml")
        wanted = list(families)
        if with_global and GLOBAL_FAMILY not in wanted:
            wanted.append(GLOBAL_FAMILY)
        for fam in wanted:
            shutil.copy(src / "models" / f"{fam}.yaml", root / "models" / f"{fam}.yaml")
        return TmpCatalog(root)

    return make
