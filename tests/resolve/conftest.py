"""Fixtures for resolver tests."""

from __future__ import annotations

import pytest

from upscaler.catalog import Catalog, default_catalog


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    """The shipped catalog: the resolver is tested against the real models."""
    return default_catalog()
