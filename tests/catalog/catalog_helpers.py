"""Helpers shared by the catalog tests (imported by name; pytest puts this folder on sys.path)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

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
