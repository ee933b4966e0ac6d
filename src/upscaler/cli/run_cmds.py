"""`upscaler describe|upscale|fetch|cache`: commands that touch models and files."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from upscaler.cli.output import print_json, print_table


def register(sub: Any, add_query_options: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add the run-time subcommands."""
    desc = sub.add_parser("describe", help="describe the model a choice resolves to")
    add_query_options(desc)
    desc.add_argument("--json", action="store_true")
    desc.set_defaults(handler=cmd_describe)

    up = sub.add_parser("upscale", help="upscale one image")
    up.add_argument("input", type=Path, help="image file to upscale")
    up.add_argument("-o", "--output", type=Path, required=True, help="output image file")
    add_query_options(up)
    up.add_argument("--describe", action="store_true", help="print describe() after the run")
    up.add_argument("--json", action="store_true", help="print describe() and timings as JSON")
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
    from upscaler.upscaler import Upscaler

    return Upscaler(
        args.model,
        query=args.query,
        dataset=args.dataset,
        scale=args.scale,
        channels=args.channels,
        architecture=args.architecture,
        implementation=args.implementation,
        pruning=args.pruning,
        quantization=args.quantization,
        prefer=args.prefer,
        strict=args.strict,
    )


def cmd_describe(args: argparse.Namespace) -> int:
    """Print describe() without loading the model."""
    description = upscaler_from_args(args).describe()
    if args.json:
        print_json(description.to_dict())
    else:
        print(description)
    return 0


def cmd_upscale(args: argparse.Namespace) -> int:
    """Upscale one file (written atomically) and report what ran."""
    upscaler = upscaler_from_args(args)
    started = time.perf_counter()
    upscaler.upscale_file(args.input, args.output, progress=not args.no_progress)
    seconds = time.perf_counter() - started
    description = upscaler.describe()
    if args.json:
        print_json(
            {
                "output": str(args.output),
                "seconds": round(seconds, 3),
                "describe": description.to_dict(),
            }
        )
        return 0
    print(f"wrote {args.output} in {seconds:.2f} s with {upscaler.model.id}")
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
        path = upscaler.prepare(convert=not args.no_convert, progress=not args.quiet)
        print(f"{upscaler.model.id}: {path}")
    return 0


def cmd_cache(args: argparse.Namespace) -> int:
    """list / verify / prune the cache."""
    from upscaler import fetch
    from upscaler.catalog import default_catalog

    if args.cache_command == "list":
        items = fetch.list_cache()
        rows = [item.to_dict() for item in items]
        if args.json:
            print_json(rows)
        else:
            print_table(rows, ("kind", "key", "size", "models", "path"))
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
    keep = [e.weights for e in default_catalog().entries if e.weights is not None]
    freed = fetch.prune_cache(keep=keep)
    if args.json:
        print_json({"freed_bytes": freed})
    else:
        print(f"freed {freed} bytes")
    return 0
