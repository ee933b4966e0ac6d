"""`upscaler models plot` and `upscaler models samples`: the chart and the sample crops.

Registered under ``models`` by :func:`register` (one call from ``models_cmds``), in a
module of their own so that `models list` and `show` evolve without touching them.
matplotlib and TensorFlow are imported only when these commands run.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from upscaler.catalog.protocols import BICUBIC, PROTOCOLS, protocol_named
from upscaler.errors import QueryError


def register(msub: Any) -> None:
    """Add ``plot`` and ``samples`` to the ``models`` subcommands."""
    plot = msub.add_parser(
        "plot",
        help="draw the quality-vs-speed chart (needs matplotlib: the docs extra)",
        description="Mean PSNR-Y against ms per output megapixel, per scale, from the "
        "catalog's measured numbers under one protocol: log x axis, the Pareto front of "
        "fidelity models dashed, perceptual models hollow (with their LPIPS where "
        "measured). Models not measured yet are counted, not drawn. Without --scale, "
        "every scale with numbers under the protocol, the global default's scale first.",
    )
    plot.add_argument(
        "--scale", type=int, action="append", help="only this scale; repeatable (in this order)"
    )
    plot.add_argument(
        "--protocol",
        default=BICUBIC,
        metavar="NAME",
        help=f"the measurement protocol whose numbers to plot (default {BICUBIC}): "
        + ", ".join(PROTOCOLS),
    )
    plot.add_argument("--highlight", metavar="ID", help="ring one model (e.g. your choice)")
    plot.add_argument(
        "-o", "--output", required=True, help="chart file: .png or .svg (format from suffix)"
    )
    plot.set_defaults(handler=cmd_plot)

    samples = msub.add_parser(
        "samples",
        help="run models on the four sample crops (cached; the docs gallery uses them)",
        description="Runs each model on the gallery's sample crops and caches the outputs "
        "under the cache root, keyed by model id, weights hash and crop hash, so the docs "
        "build only runs what changed. Models that cannot be fetched are reported, not fatal.",
    )
    samples.add_argument("ids", nargs="*", metavar="ID", help="model ids (default: every model)")
    samples.add_argument(
        "-o", "--output", help="also write LR, bicubic, outputs and HR as PNGs into this folder"
    )
    samples.set_defaults(handler=cmd_samples)


def cmd_plot(args: argparse.Namespace) -> int:
    """`models plot`: write the chart; the format comes from the output's suffix."""
    from upscaler.catalog import default_catalog
    from upscaler.gallery.chart import FORMATS, render

    protocol = protocol_named(args.protocol).name  # a typo is a QueryError with the nearest
    out = Path(args.output)
    fmt = out.suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise QueryError(
            f"cannot tell the chart format from {args.output!r}",
            hint="name the output chart.png or chart.svg",
        )
    catalog = default_catalog()
    if args.highlight:
        catalog.get(args.highlight)  # an unknown id is a NoMatchingModel with suggestions
    data = render(catalog, scales=args.scale, protocol=protocol, fmt=fmt, highlight=args.highlight)
    out.write_bytes(data)
    print(f"wrote {out} ({len(data):,} bytes)")
    return 0


def cmd_samples(args: argparse.Namespace) -> int:
    """`models samples`: fill the sample cache; exit 0 even when some model is unavailable."""
    from upscaler.catalog import default_catalog
    from upscaler.gallery.samples import SampleRunner, write_folder

    catalog = default_catalog()
    entries = [catalog.get(i) for i in args.ids] if args.ids else list(catalog.entries)
    runner = SampleRunner()
    for entry in entries:
        problem = runner.run_all(entry)
        print(f"{entry.id}: {problem or 'ok'}")
    if args.output:
        written = write_folder(runner, entries, Path(args.output))
        print(f"wrote {written} images to {args.output}")
    return 0
