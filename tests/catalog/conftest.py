"""Fixtures for catalog tests: the shipped catalog and throw-away copies of it on disk."""

from __future__ import annotations

import logging
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from upscaler.catalog import Catalog, default_catalog, shipped_catalog_dir

PROBLEM = re.compile(r"^(?P<file>.+?\.ya?ml):(?P<line>\d+): (?P<message>.*)$", re.DOTALL)


@dataclass(frozen=True)
class Problem:
    """One `file:line: message` line of a CatalogError, parsed."""

    file: Path
    line: int
    message: str


def parse_problem(text: str) -> Problem:
    match = PROBLEM.match(text)
    assert match, f"problem is not `file:line: message`: {text!r}"
    return Problem(Path(match["file"]), int(match["line"]), match["message"])


def line_containing(path: Path, needle: str) -> int:
    """The 1-based line of the only line of ``path`` that contains ``needle``."""
    hits = [i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line]
    assert len(hits) == 1, f"{needle!r} is on lines {hits} of {path}, expected exactly one"
    return hits[0]


@dataclass
class TmpCatalog:
    """A catalog folder under tmp_path: vocab.yaml plus some shipped family files."""

    root: Path

    def family(self, name: str) -> Path:
        return self.root / "models" / f"{name}.yaml"

    def edit(self, name: str, old: str, new: str, count: int = 1) -> Path:
        """Replace ``old`` by ``new`` in a family file; ``old`` must occur ``count`` times."""
        path = self.family(name)
        text = path.read_text()
        assert text.count(old) == count, f"{old!r} occurs {text.count(old)} times in {path}"
        path.write_text(text.replace(old, new))
        return path


@pytest.fixture(scope="session")
def shipped() -> Catalog:
    return default_catalog()


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


@pytest.fixture(autouse=True)
def _restore_upscaler_logger() -> Iterator[None]:
    """The CLI installs a stderr handler on the `upscaler` logger; undo it after each test."""
    logger = logging.getLogger("upscaler")
    handlers, level = list(logger.handlers), logger.level
    yield
    logger.handlers[:] = handlers
    logger.setLevel(level)
