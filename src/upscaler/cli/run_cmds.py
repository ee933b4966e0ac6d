"""`upscaler describe|upscale|fetch|cache`: commands that touch models and files."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from upscaler.cli.options import (
    add_engine_options,
    add_query_options,
    add_run_options,
    ray_options_from_args,
    run_options_from_args,
    spec_from_args,
)
from upscaler.cli.output import Column, human_size, print_json, print_table

if TYPE_CHECKING:
    from upscaler.media_files import MediaKind


def register(sub: Any) -> None:
    """Add the run-time subcommands."""
    desc = sub.add_parser("describe", help="describe the model a choice resolves to")
    add_query_options(desc)
    desc.add_argument(
        "--input",
        type=Path,
        metavar="FILE",
        help="also say what upscaling this animation or video will do (frames, codec, segments)",
    )
    desc.add_argument(
        "--output", type=Path, metavar="FILE", help="with --input: the output (its container)"
    )
    desc.add_argument("--json", action="store_true")
    desc.set_defaults(handler=cmd_describe)

    up = sub.add_parser(
        "upscale",
        help="upscale images into a file or a folder",
        description=(
            "Upscale IN into OUT. OUT is a file for one input, and a folder (created) for "
            "several inputs, an existing folder, or a path ending in '/'. Every output is "
            "written atomically. For whole folder trees, resumable, use `upscaler batch`."
        ),
    )
    up.add_argument("inputs", nargs="+", type=Path, metavar="IN", help="image files")
    up.add_argument(
        "-o", "--output", required=True, metavar="OUT", help="output file, or folder (ends in /)"
    )
    add_query_options(up)
    add_run_options(up)
    add_engine_options(
        up,
        engine_help="local (default: this process) or ray: each video's segments on Ray Data "
        "actors (upscaler[ray]); images stay in this process",
    )
    up.add_argument("--describe", action="store_true", help="print describe() after the run")
    up.add_argument(
        "--json", action="store_true", help="print describe(), outputs and timings as JSON"
    )
    up.add_argument("--no-progress", action="store_true")
    up.set_defaults(handler=cmd_upscale)

    fetch = sub.add_parser("fetch", help="download, verify and convert a model ahead of time")
    fetch.add_argument("target", nargs="?", help='a model id, or a query such as "scale=4"')
    fetch.add_argument("--all", action="store_true", help="every catalog model")
    fetch.add_argument("--no-convert", action="store_true", help="download and verify only")
    fetch.set_defaults(handler=cmd_fetch)

    cache = sub.add_parser("cache", help="inspect the model cache")
    csub = cache.add_subparsers(dest="cache_command", metavar="ACTION")
    csub.required = True
    for name, helptext in (
        ("list", "list cached downloads and converted models"),
        ("verify", "re-hash every cached file; remove the bad ones"),
        ("prune", "remove temp files and entries no catalog model uses"),
    ):
        p = csub.add_parser(name, help=helptext)
        p.add_argument("--json", action="store_true")
        p.set_defaults(handler=cmd_cache)


def upscaler_from_args(args: argparse.Namespace) -> Any:
    """Build an Upscaler from the shared model-choice options."""
    return spec_from_args(args).build()


def cmd_describe(args: argparse.Namespace) -> int:
    """Print describe() without loading the model."""
    description = upscaler_from_args(args).describe(args.input, output=args.output)
    if args.json:
        print_json(description.to_dict())
    else:
        print(description)
    return 0


def _upscale_targets(args: argparse.Namespace) -> tuple[list[tuple[Path, Path]], Path | None]:
    """(input, output) pairs, and the output folder when OUT is one (else None).

    OUT is a file for one input; a folder (of the inputs' names) for several inputs, an
    existing folder, or a path ending in a separator (kept as typed, before Path drops it).
    """
    from upscaler.batch.options import format_suffix
    from upscaler.batch.plan import output_name
    from upscaler.errors import BatchError, ImageError, QueryError
    from upscaler.runtime.image_io import refuse_overwriting_input

    suffix = format_suffix(args.format)
    inputs: list[Path] = args.inputs
    for path in inputs:
        if not path.exists():
            raise ImageError(f"no such image file: {path}", hint="check the path")
        if path.is_dir():
            raise ImageError(
                f"{path} is a folder, not an image file",
                hint=f"upscale a folder tree with: upscaler batch {path} OUT",
            )
    out = Path(args.output)
    as_folder = len(inputs) > 1 or out.is_dir() or args.output.endswith(("/", os.sep))
    if not as_folder:
        same = {".jpeg": ".jpg", ".tiff": ".tif"}
        given = same.get(out.suffix.lower(), out.suffix.lower())
        if suffix is not None and not out.suffix:
            out = out.with_name(out.name + suffix)
        elif suffix is not None and given != suffix:
            raise QueryError(
                f"--format {args.format} disagrees with the output name {out.name}",
                hint=f"name the output {out.stem}{suffix}, or drop --format",
            )
        refuse_overwriting_input(inputs[0], out)
        return [(inputs[0], out)], None
    if out.exists() and not out.is_dir():
        raise BatchError(
            f"{out} is a file, but {len(inputs)} inputs need a folder",
            hint="pass a folder as -o (it is created when missing)",
        )
    pairs: list[tuple[Path, Path]] = []
    seen: dict[Path, Path] = {}
    for path in inputs:
        target = out / output_name(path, suffix)
        if target in seen:
            raise BatchError(
                f"{seen[target]} and {path} would both be written to {target}",
                hint="rename one input, or upscale them into different folders",
            )
        refuse_overwriting_input(path, target)
        seen[target] = path
        pairs.append((path, target))
    return pairs, out


def check_media_before_work(
    upscaler: Any,
    kind: MediaKind,
    src: Path,
    dst: Path,
    options: Any,
    *,
    folder_made_later: bool,
) -> None:
    """Refuse what the user can fix in an animation or a video before the model loads:
    everything its plan checks (limits, container and codec, streams the output cannot
    hold); the output side only when the output folder exists already."""
    from upscaler.media_files import plan_media_file

    scale = options.outscale or float(upscaler.scale)
    if folder_made_later:
        plan_media_file(kind, src, None, scale=scale, video=options.video)
    elif kind == "animation":
        from upscaler.media.animation import check_animation_output, probe_animation

        info = probe_animation(src)
        if info is not None:
            check_animation_output(info, src, dst, scale=scale)
    else:
        plan_media_file(kind, src, dst, scale=scale, video=options.video)


def cmd_upscale(args: argparse.Namespace) -> int:
    """Upscale files (each written atomically) and report what ran and how long it took."""
    from upscaler.media_files import media_kind
    from upscaler.upscaler import check_input_image, check_output_path

    options = run_options_from_args(args)
    ray_options = ray_options_from_args(args)
    if ray_options is not None:
        from upscaler.batch.ray_engine import import_ray

        import_ray()  # a missing extra fails before anything is touched
    pairs, folder = _upscale_targets(args)
    moving: list[tuple[Path, Path, MediaKind]] = []
    for src, dst in pairs:  # what the user can fix fails now, not after the model loads
        kind = media_kind(src) if src.is_file() else "image"
        if kind != "image":
            moving.append((src, dst, kind))
            continue
        check_output_path(dst, folder_made_later=folder is not None)
        check_input_image(src)
    spec = spec_from_args(args)
    upscaler = spec.build()
    on_ray = {dst for _, dst, kind in moving if kind == "video" and ray_options is not None}
    for src, dst, kind in moving:
        check_media_before_work(
            upscaler, kind, src, dst, options, folder_made_later=folder is not None
        )
    show = not (args.no_progress or args.quiet)
    began = time.perf_counter()
    if len(on_ray) < len(pairs):  # Ray's workers load their own models
        upscaler.load(progress=show)
    load_seconds = time.perf_counter() - began
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
    outputs: list[dict[str, Any]] = []
    from tqdm import tqdm

    from upscaler.progress import tqdm_disable

    several = len(pairs) > 1
    with tqdm(
        total=len(pairs),
        unit="file",
        disable=tqdm_disable(show and several),
        file=sys.stderr,
    ) as bar:
        for src, dst in pairs:
            started = time.perf_counter()
            if dst in on_ray and ray_options is not None:
                from upscaler.batch.ray_video import upscale_video_on_ray

                report = upscale_video_on_ray(
                    spec, options, src, dst, ray_options, progress=show and not several
                )
                media: dict[str, Any] | None = {"kind": "video", **report.to_dict()}
            else:
                upscaler.upscale_file(
                    src,
                    dst,
                    quality=options.quality,
                    progress=show and not several,
                    **options.upscale_kwargs(),
                )
                media = upscaler.describe().runtime.media
            seconds = time.perf_counter() - started
            outputs.append({"input": str(src), "output": str(dst), "seconds": round(seconds, 3)})
            if media is not None and media.get("dst") == str(dst):
                outputs[-1]["media"] = media
            if not args.json:
                bar.write(f"wrote {dst} in {seconds:.2f} s with {upscaler.model.id}")
            bar.update(1)
    total = time.perf_counter() - began
    description = upscaler.describe()
    if args.json:
        print_json(
            {
                "model": upscaler.model.id,
                "outputs": outputs,
                "load_seconds": round(load_seconds, 3),
                "seconds": round(total, 3),
                "describe": description.to_dict(),
            }
        )
        return 0
    if args.describe:
        print(description)
    return 0


def cmd_fetch(args: argparse.Namespace) -> int:
    """Pre-fetch (and by default convert) models so later runs work offline."""
    from upscaler.catalog import default_catalog
    from upscaler.errors import QueryError
    from upscaler.upscaler import Upscaler

    catalog = default_catalog()
    if args.all:
        targets = [Upscaler(e.id) for e in catalog.entries]
    elif args.target:
        if args.target in catalog.by_id or args.target in catalog.families:
            targets = [Upscaler(args.target)]
        else:
            targets = [Upscaler(query=args.target)]
    else:
        raise QueryError("say what to fetch", hint="upscaler fetch esrgan-slim.x2, or --all")
    for upscaler in targets:
        folders = upscaler.prepare(convert=not args.no_convert, progress=not args.quiet)
        print(f"{upscaler.model.id}: {', '.join(str(f) for f in folders)}")
    return 0


def print_cache_summary(summary: Any) -> None:
    """One row per model, the entries no model uses, and the total (each entry once)."""
    rows = [
        {
            "model": m.model,
            # no files: weights read in place from a local `source: {path: ...}`
            "files": f"{m.files}/{m.expected}" if m.expected else "-",
            "converted": "yes" if m.converted else "no",
            "verified": ("yes" if m.verified else "no") if m.expected else "-",
            "size": human_size(m.size),
        }
        for m in summary.models
    ]
    columns = (
        Column("model"),
        Column("files", numeric=True),
        Column("converted"),
        Column("verified"),
        Column("size", numeric=True),
    )
    if rows:
        print_table(rows, columns)
    if summary.unused_entries:
        print(
            f"not used by any model: {summary.unused_entries} entries, "
            f"{human_size(summary.unused_size)} (`upscaler cache prune` removes them)"
        )
    count = len(summary.models)
    print(
        f"total: {count} model{'' if count == 1 else 's'}, {human_size(summary.total_size)} "
        f"in {summary.root}"
    )


def cmd_cache(args: argparse.Namespace) -> int:
    """list / verify / prune the cache."""
    from upscaler import fetch
    from upscaler.catalog import default_catalog

    if args.cache_command == "list":
        if args.json:
            print_json([item.to_dict() for item in fetch.list_cache()])
        else:
            print_cache_summary(fetch.summarize_cache())
        return 0
    if args.cache_command == "verify":
        problems = fetch.verify_cache()
        if args.json:
            print_json({"problems": problems})
        for problem in problems:
            print(problem, file=sys.stderr)
        if not args.json:
            print("cache ok" if not problems else f"{len(problems)} bad entries removed")
        return 0 if not problems else 1
    from upscaler.evaluate.perceptual_weights import LPIPS_ALEX

    # the evaluator's LPIPS parameters are no model, but a prune must not drop them
    keep: list[Any] = [e.weights for e in default_catalog().entries if e.weights is not None]
    freed = fetch.prune_cache(keep=[*keep, LPIPS_ALEX.record])
    if args.json:
        print_json({"freed_bytes": freed})
    else:
        print(f"freed {human_size(freed)}")
    return 0
