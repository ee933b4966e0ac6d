"""docs/evaluation.md and docs/protocols.md show the catalog's metrics exactly (regenerate,
never edit)."""

from __future__ import annotations

from pathlib import Path

from upscaler.catalog import default_catalog
from upscaler.evaluate.report import (
    BEGIN,
    END,
    PROTOCOLS_BEGIN,
    PROTOCOLS_END,
    metrics_table,
    protocol_tables,
)

DOC = Path(__file__).resolve().parents[2] / "docs" / "evaluation.md"


def test_the_metrics_table_in_the_docs_is_the_catalogs() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert BEGIN in text and END in text, f"{DOC} lost its table markers"
    shown = text.split(BEGIN, 1)[1].split(END, 1)[0].strip()
    assert shown == metrics_table(default_catalog()), (
        "docs/evaluation.md is out of date: paste the output of "
        "`python -m upscaler.evaluate.report` between its markers"
    )


def test_the_protocol_tables_in_the_docs_are_the_catalogs() -> None:
    doc = DOC.with_name("protocols.md")
    text = doc.read_text(encoding="utf-8")
    assert PROTOCOLS_BEGIN in text and PROTOCOLS_END in text, f"{doc} lost its table markers"
    shown = text.split(PROTOCOLS_BEGIN, 1)[1].split(PROTOCOLS_END, 1)[0].strip()
    assert shown == protocol_tables(default_catalog()), (
        "docs/protocols.md is out of date: paste the output of "
        "`python -m upscaler.evaluate.report --protocols` between its markers"
    )
