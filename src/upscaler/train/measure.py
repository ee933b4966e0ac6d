"""Measure a newly added model the way every catalog model is measured, and record it.

Metrics come from the evaluation protocol (:mod:`upscaler.evaluate`) through
:func:`~upscaler.evaluate.write.write_metrics`, exactly as ``upscaler eval ID --data ...
--write`` writes them; speed comes from the benchmark's own ``--write-speed`` run in a
fresh process (``benchmarks/run.py``, in a source checkout beside the catalog), with
``UPSCALER_CATALOG`` pointing at the catalog that holds the new entry. Nobody types
metrics or speeds.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from upscaler.errors import TrainingError


def measure_metrics(
    model_id: str, catalog_root: Path, data: Sequence[Path], *, progress: bool = True
) -> dict[str, tuple[float, float]]:
    """Evaluate ``model_id`` on every set and write its ``metrics:``; returns set key ->
    (PSNR-Y, SSIM-Y)."""
    from upscaler import __version__
    from upscaler.catalog.loader import load_catalog
    from upscaler.evaluate.datasets import load_sets
    from upscaler.evaluate.runner import evaluate, upscaler_method
    from upscaler.evaluate.write import today, write_metrics
    from upscaler.upscaler import Upscaler

    catalog = load_catalog(catalog_root)
    sets = load_sets(list(data))
    upscaler = Upscaler(model=model_id, catalog=catalog)
    result = evaluate(upscaler_method(upscaler, model_id), sets, progress=progress)
    command = " ".join(
        ["upscaler", "eval", model_id, *(f"--data {s.name}" for s in sets), "--write"]
    )
    write_metrics([result], catalog, command=command, version=__version__, date=today())
    return {key: (s.psnr_y, s.ssim_y) for key, s in result.sets.items()}


def benchmark_speed(model_id: str, catalog_root: Path) -> float:
    """Run ``benchmarks/run.py --sections none --write-speed --models ID`` for the catalog
    at ``catalog_root`` and return the ms per output megapixel it wrote."""
    from upscaler.catalog.loader import load_catalog

    script = catalog_root.resolve().parent / "benchmarks" / "run.py"
    if not script.is_file():
        raise TrainingError(
            f"no benchmark script at {script}",
            hint="measure speed from a source checkout: python benchmarks/run.py "
            f"--sections none --write-speed --models {model_id}",
        )
    env = {**os.environ, "UPSCALER_CATALOG": str(catalog_root.resolve())}
    done = subprocess.run(
        [sys.executable, str(script), "--sections", "none", "--write-speed", "--models", model_id],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise TrainingError(f"the speed benchmark failed: {last}", hint="run it by hand to see why")
    entry = load_catalog(catalog_root).get(model_id)
    if entry.speed is None:
        raise TrainingError(f"the benchmark wrote no speed for {model_id}")
    return entry.speed.ms_per_output_megapixel
