"""The options several commands share, and what they become.

The model-choice options (``describe``, ``upscale``, ``batch``) are built from the
attribute table and the prefer table, and the run options (``upscale``, ``batch``) are
defined here once, so that no command module imports another for them and the command
modules and `main` (which only registers and dispatches) import this one.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from upscaler.catalog.attributes import ATTRIBUTES, as_listed_in_help
from upscaler.resolve.prefer import DEFAULT_PREFER, PREFER_CHOICES

if TYPE_CHECKING:
    from upscaler.batch.options import ModelSpec, RunOptions
    from upscaler.batch.ray_engine import RayOptions


def add_prefer_option(parser: Any, *, help: str | None = None) -> None:
    """``--prefer``, with the prefer table's choices and default."""
    parser.add_argument("--prefer", default=DEFAULT_PREFER, choices=PREFER_CHOICES, help=help)


def add_query_options(parser: argparse.ArgumentParser) -> None:
    """The model-choice options shared by every command that picks a model."""
    group = parser.add_argument_group("model choice")
    group.add_argument(
        "--model",
        help="a model id (family.variant), or a local model path with a / (./mine)",
    )
    group.add_argument("--query", help='attributes as one string, e.g. "dataset=DIV2K scale=2"')
    for row in as_listed_in_help():
        group.add_argument(row.flag, help=row.help)
        if row.from_input is not None:
            group.add_argument(row.from_input.flag, action="store_true", help=row.from_input.help)
    add_prefer_option(group, help=f"how to rank several exact matches (default: {DEFAULT_PREFER})")
    group.add_argument("--strict", action="store_true", help="fail instead of adapting")


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
    from upscaler.arguments import BORDERS

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
    add_video_options(parser)


def add_video_options(parser: argparse.ArgumentParser) -> None:
    """How video inputs are encoded (docs/video.md); images and animations ignore them."""
    group = parser.add_argument_group("video")
    group.add_argument(
        "--codec", metavar="NAME", help="h264, h265, vp9, av1 or ffv1 (default: the input's)"
    )
    group.add_argument("--crf", type=int, metavar="N", help="constant quality, lower is better")
    group.add_argument("--preset", metavar="NAME", help="encoder speed preset (x264: medium, ...)")
    group.add_argument(
        "--pixel-format", metavar="FMT", help="e.g. yuv420p10le (default: the input's)"
    )
    group.add_argument("--lossless", action="store_true", help="encode every frame losslessly")
    group.add_argument(
        "--segment-seconds",
        type=float,
        metavar="S",
        help="length of the resumable segments (a rerun after a kill resumes from the last)",
    )
    group.add_argument("--no-audio", action="store_true", help="leave the audio streams out")
    group.add_argument("--no-subtitles", action="store_true", help="leave the subtitle streams out")


def video_options_from_args(args: argparse.Namespace) -> Any:
    """VideoOptions from the video flags, or None when none was given (the input's own
    codec and quality, every stream copied); a bad value fails before any work."""
    given = {
        "codec": args.codec,
        "crf": args.crf,
        "preset": args.preset,
        "pixel_format": args.pixel_format,
        "segment_seconds": args.segment_seconds,
    }
    flags = {
        "lossless": args.lossless,
        "copy_audio": not args.no_audio,
        "copy_subtitles": not args.no_subtitles,
    }
    chosen = {k: v for k, v in given.items() if v is not None}
    if not chosen and flags == {"lossless": False, "copy_audio": True, "copy_subtitles": True}:
        return None
    from upscaler.media.video import VideoOptions

    return VideoOptions(**chosen, **flags)


def add_engine_options(parser: argparse.ArgumentParser, *, engine_help: str) -> None:
    """``--engine local|ray`` and the Ray engine's options (docs/batch.md)."""
    group = parser.add_argument_group("engine")
    group.add_argument("--engine", default="local", metavar="ENGINE", help=engine_help)
    group.add_argument(
        "--workers", type=int, metavar="N", help="Ray actors, one model each (default 1)"
    )
    group.add_argument(
        "--gpus-per-worker", type=float, metavar="G", help="GPUs per Ray actor (default 0)"
    )
    group.add_argument(
        "--address",
        metavar="ADDR",
        help="an existing Ray cluster (default: a local one started for the run)",
    )


def ray_options_from_args(args: argparse.Namespace) -> RayOptions | None:
    """RayOptions for ``--engine ray``, None for ``--engine local`` (Ray flags given with
    it are ignored, with a warning); an unknown engine is a QueryError (exit 2)."""
    import logging

    from upscaler.errors import QueryError, nearest

    engines = ("local", "ray")
    if args.engine not in engines:
        close = nearest(args.engine, engines)
        raise QueryError(
            f"unknown engine {args.engine!r}; valid engines: local, ray",
            hint=f"did you mean {close[0]}?" if close else "use local or ray",
        )
    flags = {
        "--workers": args.workers,
        "--gpus-per-worker": args.gpus_per_worker,
        "--address": args.address,
    }
    if args.engine == "local":
        given = [flag for flag, value in flags.items() if value is not None]
        if given:
            logging.getLogger("upscaler.cli").warning(
                "%s only apply to --engine ray; ignored", ", ".join(given)
            )
        return None
    from upscaler.batch.ray_engine import RayOptions

    return RayOptions(
        workers=args.workers if args.workers is not None else 1,
        gpus_per_worker=args.gpus_per_worker or 0.0,
        address=args.address,
    )


def attributes_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """The query attributes the options give (``--auto`` is ``--degradation auto``)."""
    attributes: dict[str, Any] = {}
    for row in ATTRIBUTES:
        value = getattr(args, row.name)
        if row.from_input is not None and getattr(args, row.from_input.dest, False):
            value = row.from_input.value
        if value is not None:
            attributes[row.name] = value
    return attributes


def spec_from_args(args: argparse.Namespace) -> ModelSpec:
    """The model choice of the shared options, as data a worker can rebuild."""
    from upscaler.batch.options import ModelSpec

    return ModelSpec(
        model=args.model,
        query=args.query,
        **attributes_from_args(args),
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
        video=video_options_from_args(args),
    )
