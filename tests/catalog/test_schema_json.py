"""catalog/schema.json is generated from the pydantic models and must be current."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from upscaler.catalog import shipped_catalog_dir
from upscaler.catalog.schema import family_json_schema
from upscaler.cli.main import main


def generated_schema_text() -> str:
    return json.dumps(family_json_schema(), indent=2, sort_keys=True) + "\n"


def test_schema_json_is_current() -> None:
    on_disk = (shipped_catalog_dir() / "schema.json").read_text(encoding="utf-8")
    assert on_disk == generated_schema_text(), (
        "catalog/schema.json is stale: the catalog pydantic models changed. "
        "Run `upscaler catalog schema --write` and commit the result."
    )


def test_schema_describes_family_files() -> None:
    schema = family_json_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["additionalProperties"] is False
    assert {"schema_version", "family", "title", "variants"} <= set(schema["required"])
    variant = schema["$defs"]["VariantSpec"]
    assert variant["additionalProperties"] is False
    assert {"scale", "channels", "weights", "default", "derived_from"} <= set(variant["properties"])


def test_cli_schema_prints_the_generated_schema(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["catalog", "schema"]) == 0
    assert capsys.readouterr().out == generated_schema_text()


def test_cli_schema_write_regenerates_a_stale_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "catalog"
    shutil.copytree(shipped_catalog_dir(), root)
    (root / "schema.json").write_text("{}\n")
    monkeypatch.setenv("UPSCALER_CATALOG", str(root))
    assert main(["catalog", "schema", "--write"]) == 0
    assert str(root / "schema.json") in capsys.readouterr().out
    assert (root / "schema.json").read_text() == generated_schema_text()
    assert not [p.name for p in root.iterdir() if p.name.endswith(".tmp")]
