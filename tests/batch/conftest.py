"""A tiny local catalog (one nearest x2 model with local weights) for folder-job tests.

Its cache (UPSCALER_HOME) is shared by the whole session, so the TF.js → SavedModel
conversion happens once; each test points the library and the CLI at it through the
environment, exactly as a user would.
"""

from __future__ import annotations

import pytest
from batch_support import TinyEnv
from tiny_models import write_tiny_catalog


@pytest.fixture(scope="session")
def tiny_env(tmp_path_factory: pytest.TempPathFactory) -> TinyEnv:
    """A catalog folder whose only family, `tiny`, has local nearest-x2 weights."""
    base = tmp_path_factory.mktemp("tiny")
    return TinyEnv(catalog=write_tiny_catalog(base), home=base / "home")


@pytest.fixture
def tiny(tiny_env: TinyEnv, monkeypatch: pytest.MonkeyPatch) -> TinyEnv:
    """The tiny catalog and its cache, set in this process's environment."""
    pytest.importorskip("tensorflow")
    for name, value in tiny_env.environ().items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("UPSCALER_OFFLINE", raising=False)
    return tiny_env
