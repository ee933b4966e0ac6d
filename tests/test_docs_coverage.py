"""What a new user looks for in the docs is there (issue 14, item 20)."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VARIABLE = re.compile(r"\bUPSCALER_[A-Z][A-Z_]*[A-Z]\b")
INTERNAL = {"UPSCALER_BENCH_THREADS"}  # benchmarks/run.py's own, documented there


def _mentioned(folder: str) -> set[str]:
    names: set[str] = set()
    for path in (REPO / folder).rglob("*.py"):
        names |= set(VARIABLE.findall(path.read_text(encoding="utf-8")))
    return names


def test_every_environment_variable_is_in_the_environment_page() -> None:
    documented = set(VARIABLE.findall((REPO / "docs" / "environment.md").read_text("utf-8")))
    used = (_mentioned("src") | _mentioned("tests") | _mentioned("benchmarks")) - INTERNAL
    assert "UPSCALER_DATASETS" in used
    assert used <= documented, sorted(used - documented)


def test_readme_mentions_the_explorer_and_how_to_build_the_docs() -> None:
    readme = (REPO / "README.md").read_text("utf-8")
    assert "upscaler explore" in readme
    assert "mkdocs build" in readme and ".[docs]" in readme
