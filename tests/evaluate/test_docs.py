"""docs/evaluation.md shows the catalog's metrics exactly (regenerate, never edit)."""

from __future__ import annotations

from pathlib import Path

from upscaler.catalog import default_catalog
from upscaler.evaluate.report import BEGIN, END, metrics_table

DOC = Path(__file__).resolve().parents[2] / "docs" / "evaluation.md"


def test_the_metrics_table_in_the_docs_is_the_catalogs() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert BEGIN in text and END in text, f"{DOC} lost its table markers"
    shown = text.split(BEGIN, 1)[1].split(END, 1)[0].strip()
    assert shown == metrics_table(default_catalog()), (
        "docs/evaluation.md is out of date: paste the output of "
        "`python -m upscaler.evaluate.report` between its markers"
    )
