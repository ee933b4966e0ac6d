"""Write measured metrics into the catalog (``eval --write``), never by hand.

Each catalog variant gets a ``metrics:`` block matching
:class:`upscaler.catalog.schema.Metrics`: the provenance (command, version, date,
protocol id and the fingerprint of every set) and the per-set means, PSNR rounded to two
decimals and SSIM to four as tables print them. Writes go through
:func:`upscaler.catalog.yaml_edit.set_variant_values`, which keeps comments, re-reads the
file right before writing (other commands write ``speed:`` and ``tiling:`` into the same
files) and replaces it atomically.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from upscaler.catalog.loader import Catalog
from upscaler.catalog.protocols import BICUBIC
from upscaler.catalog.schema import Metrics
from upscaler.catalog.yaml_edit import set_variant_values
from upscaler.errors import QueryError
from upscaler.evaluate.runner import EvalResult

logger = logging.getLogger("upscaler.evaluate")

PSNR_DECIMALS = 2
SSIM_DECIMALS = 4
PERCEPTUAL_DECIMALS = 4


def today() -> str:
    """The date a measurement was made, ISO 8601, in UTC so it does not depend on where."""
    return dt.datetime.now(dt.UTC).date().isoformat()


def metrics_block(
    result: EvalResult,
    *,
    command: str,
    version: str,
    date: str,
    perceptual_name: str | None = None,
) -> dict[str, Any]:
    """The ``metrics:`` mapping for one result, validated against the catalog schema;
    ``perceptual_name`` is the Metric field a measured perceptual mean is stored as."""
    block: dict[str, Any] = {
        "provenance": {
            "command": command,
            "version": version,
            "date": date,
            "protocol": result.protocol,
            "data": {key: s.fingerprint for key, s in result.sets.items()},
        },
        "sets": {
            key: {
                "psnr_y": round(s.psnr_y, PSNR_DECIMALS),
                "ssim_y": round(s.ssim_y, SSIM_DECIMALS),
                **(
                    {perceptual_name: round(perceptual, PERCEPTUAL_DECIMALS)}
                    if perceptual_name is not None and (perceptual := s.perceptual) is not None
                    else {}
                ),
            }
            for key, s in result.sets.items()
        },
    }
    Metrics.model_validate(block)
    return block


class Measured(Protocol):
    """What :func:`check_writable` needs: a method before the run, or its result after."""

    @property
    def target(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def scale(self) -> int: ...
    @property
    def model_id(self) -> str | None: ...
    @property
    def model_scale(self) -> int | None: ...


def check_writable(result: Measured, catalog: Catalog) -> None:
    """Only a catalog model measured at its own scale may carry numbers in the catalog.

    Called before a run (on the method) so a long measurement never ends in a refusal.
    """
    if result.kind != "model" or result.model_id is None or result.model_id not in catalog.by_id:
        raise QueryError(
            f"{result.target} is not a catalog model, so there is nowhere to write its metrics",
            hint="--write takes catalog models (an id, a query or --all); drop --write",
        )
    if result.model_scale != result.scale:
        raise QueryError(
            f"{result.model_id} is a x{result.model_scale} model measured at x{result.scale}; "
            "the catalog keeps numbers at a model's own scale",
            hint="drop --scale (or give the model's scale) when using --write",
        )


def write_metrics(
    results: Sequence[EvalResult],
    catalog: Catalog,
    *,
    command: str,
    version: str,
    date: str | None = None,
    perceptual_name: str | None = None,
) -> list[Path]:
    """Write each result's block into its model's family file; returns the files touched.

    The clean bicubic protocol's numbers are the variant's ``metrics``; any other
    protocol's go under ``protocol_metrics.<name>``, beside those already there.
    """
    when = date or today()
    by_file: dict[Path, dict[str, dict[str, Any]]] = {}
    for result in results:
        check_writable(result, catalog)
        assert result.model_id is not None
        entry = catalog.by_id[result.model_id]
        block = metrics_block(
            result, command=command, version=version, date=when, perceptual_name=perceptual_name
        )
        fields = by_file.setdefault(Path(entry.source_file), {}).setdefault(entry.variant, {})
        if result.protocol_name == BICUBIC:
            fields["metrics"] = block
        else:
            fields.setdefault("protocol_metrics", {})[result.protocol_name] = block
    for path, values in by_file.items():
        set_variant_values(path, values, merge=("protocol_metrics",))
        logger.info("wrote metrics of %s into %s", ", ".join(values), path)
    return list(by_file)
