"""Fixtures of the hostile-input suite: a tiny real catalog and model, files on disk, and
the checks every case makes (the exact error, nothing lost, nothing left behind).

The model is the tiny nearest-x2 TF.js upsampler of tests/tiny_models.py, behind a
one-family catalog with local weights, so no case touches the network; its cache is
shared by the session, so it is converted once.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hostile_support import Tiny
from tiny_models import write_tfjs_upsampler, write_tiny_catalog


@pytest.fixture(scope="session")
def tiny_files(tmp_path_factory: pytest.TempPathFactory) -> Tiny:
    base = tmp_path_factory.mktemp("hostile-tiny")
    catalog = write_tiny_catalog(base)
    model_json = write_tfjs_upsampler(base / "tfjs")
    return Tiny(catalog=catalog, home=base / "home", model_json=model_json)


@pytest.fixture
def tiny(tiny_files: Tiny, monkeypatch: pytest.MonkeyPatch) -> Tiny:
    """The tiny catalog and cache set in this process's environment, as a user would."""
    monkeypatch.setenv("UPSCALER_CATALOG", str(tiny_files.catalog))
    monkeypatch.setenv("UPSCALER_HOME", str(tiny_files.home))
    monkeypatch.delenv("UPSCALER_OFFLINE", raising=False)
    monkeypatch.delenv("UPSCALER_MAX_PIXELS", raising=False)
    from upscaler.catalog.loader import _cached

    _cached.cache_clear()
    return tiny_files


@pytest.fixture
def tf_tiny(tiny: Tiny) -> Tiny:
    """The tiny catalog, for cases that really run the model (TensorFlow needed)."""
    pytest.importorskip("tensorflow")
    return tiny


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Run a case with ``tmp_path`` as the working directory."""
    monkeypatch.chdir(tmp_path)
    yield tmp_path
