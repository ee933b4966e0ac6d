"""`upscaler eval`: measure PSNR/SSIM with the standard protocol; `--write` records them.

The protocol is documented in docs/evaluation.md and implemented in
:mod:`upscaler.evaluate`; this module only turns arguments into targets, prints, and
(with ``--write``) stores each model's numbers in the catalog as soon as it is measured,
so a long ``--all`` run that is interrupted keeps what it finished.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from upscaler.catalog.protocols import BICUBIC as BICUBIC_PROTOCOL
from upscaler.cli.options import add_prefer_option
from upscaler.cli.output import print_json, print_table
from upscaler.resolve.prefer import DEFAULT_PREFER

if TYPE_CHECKING:
    from upscaler.catalog.protocols import ProtocolSpec
    from upscaler.evaluate.datasets import EvalSet
    from upscaler.evaluate.runner import EvalResult, Method


def register(sub: Any) -> None:
    """Add `upscaler eval`."""
    ev = sub.add_parser(
        "eval",
        help="measure PSNR/SSIM (Y, BT.601) on evaluation sets; --write stores them",
        description="Measure a model (id, family, query or local path), the bicubic "
        "baseline, or --all catalog models on sets of HR images, with the standard SR "
        "protocol (docs/evaluation.md).",
    )
    ev.add_argument(
        "target",
        nargs="?",
        help='a model id, a family, a query such as "scale=4 dataset=div2k", a model path, '
        "'bicubic' (MATLAB bicubic, same protocol) or 'bicubic-y' (the published tables' "
        "Y-only bicubic)",
    )
    ev.add_argument("--all", action="store_true", help="every catalog model, each at its scale")
    ev.add_argument(
        "--data",
        action="append",
        type=Path,
        required=True,
        metavar="DIR",
        help="an evaluation set: a folder with HR/ inside, or a folder of images (repeatable)",
    )
    ev.add_argument(
        "--scale",
        type=int,
        help="upscaling factor; needed for bicubic; with --all, only models of this scale",
    )
    add_prefer_option(
        ev, help=f"how a query ranks several exact matches (default: {DEFAULT_PREFER})"
    )
    ev.add_argument(
        "--protocol",
        action="append",
        metavar="NAME",
        help="what happens to each image before the model (repeatable; default bicubic): "
        "bicubic, jpeg-q30, jpeg-q50, jpeg-q75, noise-s15, noise-s25, real-world "
        "(docs/protocols.md)",
    )
    ev.add_argument(
        "--lpips",
        action="store_true",
        help="also measure LPIPS (perceptual, lower is better); always on for perceptual "
        "models, which it ranks (its parameters are fetched once, 10 MB cached)",
    )
    ev.add_argument("--json", action="store_true", help="print every number as JSON")
    ev.add_argument(
        "--write",
        action="store_true",
        help="store each catalog model's metrics in its catalog file (with provenance)",
    )
    ev.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    ev.set_defaults(handler=cmd_eval)


def _catalog_targets(args: argparse.Namespace) -> list[str]:
    from upscaler.catalog import default_catalog
    from upscaler.errors import QueryError

    entries = default_catalog().entries
    if args.scale is not None:
        entries = tuple(e for e in entries if e.scale == args.scale)
        if not entries:
            scales = sorted({e.scale for e in default_catalog().entries})
            raise QueryError(
                f"no catalog model has scale {args.scale}",
                hint=f"catalog scales: {', '.join(map(str, scales))}; or drop --scale",
            )
    return [e.id for e in entries]


def _methods_for(
    target: str, args: argparse.Namespace, specs: Sequence[ProtocolSpec], *, pinned: bool
) -> list[Method]:
    """Turn one target into a scoring method per protocol (a model is built once, through
    the facade, and measured under each)."""
    from upscaler.errors import QueryError
    from upscaler.evaluate.runner import (
        BICUBIC,
        BICUBIC_Y,
        bicubic_method,
        bicubic_y_method,
        check_scale,
        upscaler_method,
    )
    from upscaler.upscaler import Upscaler

    if target in (BICUBIC, BICUBIC_Y):
        if args.scale is None:
            raise QueryError(
                f"{target} needs --scale", hint=f"upscaler eval {target} --scale 2 ..."
            )
        if target == BICUBIC_Y:
            if [s.name for s in specs] != [BICUBIC_PROTOCOL]:
                raise QueryError(
                    "bicubic-y is the published tables' clean recipe; it takes no --protocol",
                    hint="measure 'bicubic' under a degradation protocol instead",
                )
            return [bicubic_y_method(args.scale)]
        return [bicubic_method(args.scale, spec) for spec in specs]
    if args.scale is not None:
        check_scale(args.scale)
    if pinned:
        upscaler = Upscaler(model=target)
    elif "=" in target:
        upscaler = Upscaler(query=target, scale=args.scale, prefer=args.prefer)
    else:
        upscaler = Upscaler(model=target, scale=args.scale, prefer=args.prefer)
    perceptual = None
    if args.lpips or upscaler.model.objective != "fidelity":
        from upscaler.evaluate.perceptual import ensure_metric_ready, perceptual_score

        ensure_metric_ready(progress=not (args.no_progress or args.quiet))
        scale = upscaler.scale

        def perceptual(sr: Any, hr: Any) -> float:
            return perceptual_score(sr, hr, shave=scale)

    return [upscaler_method(upscaler, target, spec, perceptual=perceptual) for spec in specs]


def _command_line(args: argparse.Namespace, sets: Sequence[EvalSet], protocol: str) -> str:
    """The command as provenance: set folders by name, never this machine's paths, and
    the one protocol whose numbers it writes."""
    parts = ["upscaler", "eval"]
    if args.all:
        parts.append("--all")
    else:
        target = str(args.target)
        parts.append(f'"{target}"' if " " in target else target)
    from upscaler.evaluate.illustration import RECIPES

    for given, eval_set in zip(args.data, sets, strict=True):
        # a generated set is named by its version, which regenerates it anywhere
        generated = str(given) in RECIPES and not Path(given).expanduser().exists()
        parts += ["--data", str(given) if generated else eval_set.name]
    if args.scale is not None:
        parts += ["--scale", str(args.scale)]
    if protocol != BICUBIC_PROTOCOL:
        parts += ["--protocol", protocol]
    parts.append("--write")
    return " ".join(parts)


def _print_human(results: Sequence[EvalResult]) -> None:
    if len(results) == 1:
        result = results[0]
        model = (
            f" ({result.model_id})" if result.model_id and result.model_id != result.target else ""
        )
        for set_result in result.sets.values():
            print(
                f"{result.target}{model} x{result.scale} on {set_result.name} "
                f"[{result.protocol_name}: {result.protocol}]"
            )
            lines: list[dict[str, Any]] = [
                {"image": i.name, "psnr_y": f"{i.psnr_y:.2f}", "ssim_y": f"{i.ssim_y:.4f}"}
                for i in set_result.images
            ]
            lines.append(
                {
                    "image": "mean",
                    "psnr_y": f"{set_result.psnr_y:.2f}",
                    "ssim_y": f"{set_result.ssim_y:.4f}",
                }
            )
            columns: tuple[str, ...] = ("image", "psnr_y", "ssim_y")
            if set_result.perceptual is not None:
                for line, image in zip(lines, [*set_result.images, None], strict=True):
                    value = image.perceptual if image is not None else set_result.perceptual
                    line["lpips"] = f"{value:.4f}" if value is not None else None
                columns = (*columns, "lpips")
            print_table(lines, columns)
            print()
        return
    rows: list[dict[str, Any]] = [
        {
            "target": r.target,
            "scale": r.scale,
            "protocol": r.protocol_name,
            "set": s.name,
            "images": len(s.images),
            "psnr_y": f"{s.psnr_y:.2f}",
            "ssim_y": f"{s.ssim_y:.4f}",
            "lpips": f"{s.perceptual:.4f}" if s.perceptual is not None else None,
            "seconds": f"{s.seconds:.1f}",
        }
        for r in results
        for s in r.sets.values()
    ]
    lpips = ("lpips",) if any(row["lpips"] for row in rows) else ()
    print("protocols in docs/protocols.md; means over each set's images")
    print_table(
        rows,
        ("target", "scale", "protocol", "set", "images", "psnr_y", "ssim_y", *lpips, "seconds"),
    )


def cmd_eval(args: argparse.Namespace) -> int:
    """Measure the targets on every set; print; optionally write metrics to the catalog."""
    from upscaler import __version__
    from upscaler.catalog import default_catalog
    from upscaler.catalog.protocols import protocol_named
    from upscaler.errors import QueryError
    from upscaler.evaluate.datasets import load_sets
    from upscaler.evaluate.runner import BASELINES, check_scale, evaluate
    from upscaler.evaluate.write import check_writable, today, write_metrics

    if args.all == (args.target is not None):
        raise QueryError(
            "give one target or --all",
            hint="upscaler eval esrgan-slim.x2 --data DIR, or upscaler eval --all --data DIR",
        )
    if args.scale is not None:
        check_scale(args.scale)
    if args.write and not args.all and args.target in BASELINES:
        raise QueryError(
            f"{args.target} is not a catalog model; --write stores catalog models' metrics",
            hint="drop --write",
        )
    specs = list(
        {s.name: s for s in map(protocol_named, args.protocol or [BICUBIC_PROTOCOL])}.values()
    )
    sets = load_sets(list(args.data))
    targets = _catalog_targets(args) if args.all else [str(args.target)]
    progress = not (args.no_progress or args.quiet)
    catalog = default_catalog()
    date = today()
    results: list[EvalResult] = []
    for number, target in enumerate(targets, start=1):
        methods = _methods_for(target, args, specs, pinned=args.all)
        if args.write:
            check_writable(methods[0], catalog)
        for method in methods:
            started = time.perf_counter()
            result = evaluate(method, sets, progress=progress)
            if args.write:
                command = _command_line(args, sets, result.protocol_name)
                write_metrics(
                    [result],
                    catalog,
                    command=command,
                    version=__version__,
                    date=date,
                    perceptual_name="lpips",
                )
            results.append(result)
            if (len(targets) > 1 or len(methods) > 1) and not args.quiet:
                means = ", ".join(
                    f"{s.name} {s.psnr_y:.2f}/{s.ssim_y:.4f}" for s in result.sets.values()
                )
                print(
                    f"[{number}/{len(targets)}] {target} x{result.scale} "
                    f"{result.protocol_name}: {means} ({time.perf_counter() - started:.0f} s)"
                    f"{' written' if args.write else ''}",
                    file=sys.stderr,
                    flush=True,
                )
    if args.json:
        protocols = sorted({r.protocol for r in results})
        print_json(
            {
                "protocol": protocols[0] if len(protocols) == 1 else protocols,
                "results": [r.to_dict() for r in results],
            }
        )
    else:
        _print_human(results)
    return 0
