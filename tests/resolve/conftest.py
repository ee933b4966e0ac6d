"""Fixtures for resolver tests."""

from __future__ import annotations

import pytest

from upscaler.catalog import Catalog, default_catalog


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    """The shipped catalog: the resolver is tested against the real models."""
    return default_catalog()


@pytest.fixture(scope="session")
def unmeasured(catalog: Catalog) -> Catalog:
    """The shipped catalog without metrics and speeds: what ranking falls back to (the
    catalog order) before anything was measured, or for models nobody measured."""
    entries = tuple(e.model_copy(update={"metrics": None, "speed": None}) for e in catalog.entries)
    return Catalog(
        root=catalog.root, vocab=catalog.vocab, entries=entries, families=catalog.families
    )
