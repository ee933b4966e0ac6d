"""`upscaler batch SRC DST`: a folder job, in-process or on Ray.

Errors go through main()'s mapping (one line, a hint, a documented exit code): a job
that cannot start raises BatchError (11), one that ran with failures BatchIncomplete (12).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from upscaler.cli.options import (
    add_query_options,
    add_run_options,
    run_options_from_args,
    spec_from_args,
)
from upscaler.cli.output import print_json

if TYPE_CHECKING:
    from upscaler.batch.worker import FileResult

logger = logging.getLogger("upscaler.cli")


def register(sub: Any) -> None:
    """Add `upscaler batch`."""
    batch = sub.add_parser(
        "batch",
        help="upscale every image under a folder into a mirrored folder (resumable)",
        description=(
            "Upscale every PNG, JPEG, WebP, BMP and TIFF file under SRC (recursively) into "
            "the same tree under DST. Finished outputs are skipped on a rerun; files that "
            "fail are listed in DST/upscaler-failures.jsonl and the job goes on."
        ),
    )
    batch.add_argument("src", type=Path, metavar="SRC", help="folder of images (recursive)")
    batch.add_argument("dst", type=Path, metavar="DST", help="output folder (created)")
    add_query_options(batch)
    add_run_options(batch)
    batch.add_argument("--overwrite", action="store_true", help="redo outputs that already exist")
    batch.add_argument("--json", action="store_true", help="print the summary as JSON")
    batch.add_argument("--no-progress", action="store_true", help="no progress bar")
    engine = batch.add_argument_group("engine")
    engine.add_argument(
        "--engine",
        default="local",
        metavar="ENGINE",
        help="local (default: this process) or ray (Ray Data actors; upscaler[ray])",
    )
    engine.add_argument(
        "--workers", type=int, metavar="N", help="Ray actors, one model each (default 1)"
    )
    engine.add_argument(
        "--gpus-per-worker", type=float, metavar="G", help="GPUs per Ray actor (default 0)"
    )
    engine.add_argument(
        "--address",
        metavar="ADDR",
        help="an existing Ray cluster (default: a local one started for the job)",
    )
    batch.set_defaults(handler=cmd_batch)


def _print_failure(result: FileResult) -> None:
    """One stderr line per failed file, above the progress bar."""
    if result.status != "failed":
        return
    from tqdm import tqdm

    tqdm.write(f"failed: {result.src}: {result.error}: {result.message}", file=sys.stderr)


def cmd_batch(args: argparse.Namespace) -> int:
    """Run the folder job and print its summary; non-zero when any file failed."""
    from upscaler.batch import BatchIncomplete, RayOptions, run_batch

    ray_flags = {
        "--workers": args.workers,
        "--gpus-per-worker": args.gpus_per_worker,
        "--address": args.address,
    }
    given = [flag for flag, value in ray_flags.items() if value is not None]
    if args.engine == "local" and given:
        logger.warning("%s only apply to --engine ray; ignored", ", ".join(given))
    ray_options = RayOptions(
        workers=args.workers if args.workers is not None else 1,
        gpus_per_worker=args.gpus_per_worker or 0.0,
        address=args.address,
    )
    summary = run_batch(
        args.src,
        args.dst,
        model=spec_from_args(args),
        options=run_options_from_args(args),
        output_format=args.format,
        overwrite=args.overwrite,
        engine=args.engine,
        ray_options=ray_options,
        progress=not (args.no_progress or args.quiet),
        on_result=_print_failure,
    )
    if args.json:
        print_json(summary.to_dict())
    else:
        print(summary.line())
    if summary.failed:
        raise BatchIncomplete(
            f"{summary.failed} of {summary.total} files failed; the others are written",
            hint=f"see {summary.report}; rerun the same command to retry only what is missing",
        )
    return 0
