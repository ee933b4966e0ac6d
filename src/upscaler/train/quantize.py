"""Measure an int8 variant's activation ranges on the training sets, and write its entry.

Why the ranges are committed and not the int8 weights: the weights are derived from
downloaded ones, and nothing derived from downloaded weights is ever committed; users do
not have the training sets to calibrate with either. What an int8 build needs beyond the
parent's weights is one ``[min, max]`` per tensor, which is our own measurement. So
``upscaler catalog quantize PARENT --data T91 --data BSD200 --write`` measures them once
(percentiles of the float network's tensors over random LR patches of the training
folders, made with the evaluation's MATLAB bicubic), records where they came from
(folders by manifest hash, images, patches, patch size, percentile, seed, command,
version, date), and writes the variant
``<parent variant>-int8`` into the parent's family file. Every user's machine then
builds the same int8 model from the parent's verified files and these numbers
(:func:`upscaler.prepare.materialize.prepare_int8`). Evaluation sets are refused: ranges tuned
on Set5 would flatter the variant's Set5 score.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from upscaler.catalog.loader import Catalog
from upscaler.catalog.schema import ModelEntry, Quantize
from upscaler.errors import ConversionError

log = logging.getLogger("upscaler.train.quantize")

BATCH = 8
"""Patches per forward pass while measuring."""

DIGITS = 4
"""Decimals the committed ranges keep, rounded outward (min down, max up)."""


@dataclass(frozen=True)
class Calibrated:
    """Measured ranges and their provenance: the ``quantize:`` block of the variant."""

    parent: ModelEntry
    recipe: Quantize

    @property
    def variant(self) -> str:
        """The variant's name in the parent's family: ``int8-`` before the parent's
        trailing ``x<scale>`` (``x2`` → ``int8-x2``, ``ch48-x2`` → ``ch48-int8-x2``), so
        variant names keep ending in their scale."""
        head, _, tail = self.parent.variant.rpartition("-")
        return f"{head}-int8-{tail}" if head else f"int8-{tail}"

    @property
    def model_id(self) -> str:
        return f"{self.parent.family}.{self.variant}"

    def entry_values(self, defaults: Any) -> dict[str, Any]:
        """The variant's keys as its family file holds them: its scale, and each of the
        parent's attributes that its family's ``defaults`` (a ``VariantFields``) would
        not give it."""

        def given(key: str) -> Any:
            value = getattr(defaults, key, None)
            return _plain(value if value is not None else ModelEntry.model_fields[key].default)

        inherited = {
            key: _plain(getattr(self.parent, key))
            for key in COPIED
            if key == "scale" or _plain(getattr(self.parent, key)) != given(key)
        }
        return {
            **{k: v for k, v in inherited.items() if v is not None},
            "description": f"{self.parent.id} quantized to int8 (weights per channel, "
            "activations per tensor), run by TFLite with XNNPACK; built locally from the "
            "parent's weights and the ranges below.",
            "derived_from": self.parent.id,
            "quantization": "int8",
            "quantize": self.recipe.model_dump(),
        }


COPIED = (
    "scale",
    "channels",
    "value_range",
    "dataset",
    "objective",
    "degradation",
    "denoise",
    "params",
    "tiling",
    "wrapper",
)
"""Attributes an int8 variant shares with its parent (the quantization differs)."""


def _plain(value: Any) -> Any:
    """A catalog value as YAML holds it (models as mappings, tuples as lists)."""
    if hasattr(value, "model_dump"):
        return value.model_dump(exclude_defaults=True)
    return list(value) if isinstance(value, tuple) else value


def outward(low: float, high: float) -> list[float]:
    """``[low, high]`` rounded outward to :data:`DIGITS` decimals (never narrower)."""
    step = 10.0**DIGITS
    return [math.floor(low * step) / step, math.ceil(high * step) / step]


def patch_batches(
    pairs: Sequence[Any],
    *,
    scale: int,
    patches: int,
    patch_size: int,
    seed: int,
    value_range: tuple[float, float],
) -> Iterator[npt.NDArray[np.float32]]:
    """``patches`` random LR patches (the training sampler's, so area-weighted and
    augmented), in batches of :data:`BATCH`, mapped to the model's value range."""
    from upscaler.train.data import PatchSampler

    sampler = PatchSampler(pairs, scale=scale, lr_patch=patch_size, seed=seed)
    lo, hi = value_range
    for step in range(math.ceil(patches / BATCH)):
        size = min(BATCH, patches - step * BATCH)
        lr, _ = sampler.batch(step, size)
        yield (lr * np.float32(hi - lo) + np.float32(lo)).astype(np.float32)


def calibrate(
    parent: ModelEntry,
    folders: Sequence[str | os.PathLike[str]],
    *,
    patches: int = 512,
    patch_size: int = 64,
    percentile: float | None = None,
    seed: int = 0,
    command: str,
    version: str,
    date: str,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: bool = True,
    evaluation: Mapping[str, str] | None = None,
) -> Calibrated:
    """Measure ``parent``'s int8 network's ranges on ``folders`` (see the module docstring).

    ``evaluation`` (manifest hash -> set name; default: the sets the catalog's metrics
    name) are refused. Raises ConversionError for a parent that cannot be quantized.
    """
    from upscaler.prepare.materialize import int8_source
    from upscaler.train.data import evaluation_fingerprints, load_folders, refuse_evaluation_sets

    if parent.weights is None or parent.built_from_parent:
        raise ConversionError(f"{parent.id} has no weights of its own to quantize")
    if patches < 1 or patch_size < 8:
        raise ConversionError("give at least one patch of at least 8 pixels")
    pairs, records = load_folders(
        [Path(f) for f in folders],
        scale=parent.scale,
        channels=parent.channels,
        hr_patch=patch_size * parent.scale,
        seed=seed,
    )
    refuse_evaluation_sets(
        records, dict(evaluation) if evaluation is not None else evaluation_fingerprints()
    )
    _, graph = int8_source(parent, cache_dir=cache_dir, progress=progress)
    from upscaler.convert.int8 import PERCENTILE, SCHEME, measure_ranges

    percentile = PERCENTILE if percentile is None else percentile

    batches = patch_batches(
        pairs,
        scale=parent.scale,
        patches=patches,
        patch_size=patch_size,
        seed=seed,
        value_range=parent.value_range,
    )
    measured = measure_ranges(graph, batches, percentile=percentile)
    log.info("measured %d activation ranges of %s", len(measured), parent.id)
    recipe = Quantize.model_validate(
        {
            "scheme": SCHEME,
            "runtime": "tflite-xnnpack",
            "calibration": {
                "data": {r.name: r.fingerprint for r in records},
                "images": sum(r.used for r in records),
                "patches": patches,
                "patch_size": patch_size,
                "percentile": percentile,
                "seed": seed,
                "command": command,
                "version": version,
                "date": date,
            },
            "ranges": {name: outward(*bounds) for name, bounds in measured.items()},
        }
    )
    return Calibrated(parent, recipe)


def write_variant(result: Calibrated, catalog: Catalog) -> Path:
    """Write (or replace the recipe of) the int8 variant in the parent's family file of
    ``catalog``, atomically, keeping comments. New ranges make a new model, so the
    variant's metrics and speed, measured on the old one, are removed (``upscaler eval
    --write`` and the benchmark measure them again)."""
    from upscaler.catalog.yaml_edit import flow_lists, set_variant_values

    path = Path(result.parent.source_file)
    family = catalog.families[result.parent.family]
    values = result.entry_values(family.defaults)
    values["quantize"] = flow_lists(values["quantize"])
    set_variant_values(path, {result.variant: values}, create=True, drop=("metrics", "speed"))
    log.info("wrote %s into %s", result.model_id, path)
    return path
