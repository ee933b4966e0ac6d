"""Folder jobs: every image under a folder, upscaled into a mirrored tree, resumably.

``run_batch(src, dst, model=ModelSpec(scale=4))`` runs in this process (the model loaded
once); ``engine="ray"`` spreads the same work over Ray Data actors (optional extra
``upscaler[ray]``). Outputs are written atomically, finished outputs are skipped on a
rerun, and files that fail are listed in ``DST/upscaler-failures.jsonl``.
"""

from __future__ import annotations

from upscaler.batch.job import BatchSummary, run_batch
from upscaler.batch.options import FORMATS, ModelSpec, RunOptions, format_suffix
from upscaler.batch.plan import IMAGE_SUFFIXES, REPORT_NAME, discover, is_complete
from upscaler.batch.ray_engine import RayOptions  # Ray itself loads only when a job runs
from upscaler.batch.worker import FileResult
from upscaler.errors import BatchError, BatchIncomplete

__all__ = [
    "FORMATS",
    "IMAGE_SUFFIXES",
    "REPORT_NAME",
    "BatchError",
    "BatchIncomplete",
    "BatchSummary",
    "FileResult",
    "ModelSpec",
    "RayOptions",
    "RunOptions",
    "discover",
    "format_suffix",
    "is_complete",
    "run_batch",
]
