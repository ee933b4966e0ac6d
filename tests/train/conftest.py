"""Fixtures the training tests share."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from train_support import write_images

from upscaler.catalog import shipped_catalog_dir


@pytest.fixture
def catalog_copy(tmp_path: Path) -> Path:
    """The shipped catalog's YAML in a tmp folder (no weights): `catalog add` writes here."""
    root = tmp_path / "catalog"
    shutil.copytree(shipped_catalog_dir(), root, ignore=shutil.ignore_patterns("weights"))
    return root


@pytest.fixture(scope="module")
def small_t91(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four 48x48 images in a folder named T91 (records then read "upscaler train T91"),
    shared by the tests of one module."""
    return write_images(tmp_path_factory.mktemp("data") / "T91", 4, size=(48, 48))
