"""`upscaler batch SRC DST`: a folder job, in-process or on Ray; and the run options it
shares with `upscaler upscale`.

Errors go through main()'s mapping (one line, a hint, a documented exit code): a job
that cannot start raises BatchError (11), one that ran with failures BatchIncomplete (12).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from upscaler.cli.output import print_json

if TYPE_CHECKING:
    from upscaler.batch.options import ModelSpec, RunOptions
    from upscaler.batch.worker import FileResult

logger = logging.getLogger("upscaler.cli")


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """Options of one run (tiles, device, output), shared by `upscale` and `batch`."""
    group = parser.add_argument_group("run")
    group.add_argument("--patch-size", type=int, metavar="PX", help="tile size in input pixels")
    group.add_argument("--padding", type=int, metavar="PX", help="tile overlap in input pixels")
    group.add_argument("--batch-size", type=int, metavar="N", help="tiles per model call")
    group.add_argument(
        "--device", default="auto", help='"auto" (default), "cpu" or "gpu:N" (e.g. gpu:0)'
    )
    from upscaler.runtime.precision import PRECISIONS

    group.add_argument(
        "--precision",
        choices=PRECISIONS,
        help="float32 (default, exact) or bfloat16 (about 2x faster on CPUs with "
        "AVX512-BF16/AMX, outputs differ slightly); also UPSCALER_PRECISION",
    )
    from upscaler.runtime.tiled import BORDERS

    group.add_argument(
        "--border",
        choices=BORDERS,
        default=None,
        help="what the model sees beyond the image edge: replicate (its edge pixels, no pale "
        "frame) or zero (UpscalerJS's and ncnn's exact output); default: the model's "
        "catalog entry says which it measured best, else replicate",
    )
    group.add_argument(
        "--outscale", type=float, metavar="X", help="final scale (default: the model's)"
    )
    group.add_argument(
        "--alpha",
        default="model",
        metavar="MODE",
        help="alpha channel: model (run the model on it, default) or bicubic",
    )
    group.add_argument(
        "--format",
        metavar="FMT",
        help="output format png, jpg, webp or tif (default: each input's own)",
    )
    group.add_argument("--quality", type=int, metavar="Q", help="JPEG/WebP quality, 1..100")


def spec_from_args(args: argparse.Namespace) -> ModelSpec:
    """The model choice of the shared options, as data a worker can rebuild."""
    from upscaler.batch.options import ModelSpec

    return ModelSpec(
        model=args.model,
        query=args.query,
        dataset=args.dataset,
        scale=args.scale,
        channels=args.channels,
        objective=args.objective,
        degradation="auto" if getattr(args, "auto", False) else args.degradation,
        domain=args.domain,
        denoise=args.denoise,
        architecture=args.architecture,
        implementation=args.implementation,
        pruning=args.pruning,
        quantization=args.quantization,
        prefer=args.prefer,
        strict=args.strict,
        # `describe` and `resolve` take no run options: their defaults apply.
        device=getattr(args, "device", "auto"),
        precision=getattr(args, "precision", None),
        border=getattr(args, "border", None),
    )


def run_options_from_args(args: argparse.Namespace) -> RunOptions:
    """Per-image options, validated (a bad --alpha or --quality fails before any work)."""
    from upscaler.batch.options import RunOptions

    return RunOptions(
        patch_size=args.patch_size,
        padding=args.padding,
        batch_size=args.batch_size,
        outscale=args.outscale,
        alpha=args.alpha,
        quality=args.quality,
    )


def register(sub: Any) -> None:
    """Add `upscaler batch`."""
    from upscaler.cli.main import add_query_options

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
