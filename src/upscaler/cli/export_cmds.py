"""`upscaler export MODEL --format onnx -o model.onnx`: a model for other runtimes.

The model's weights are parsed into the converter's ops and written by a second builder
(:mod:`upscaler.export`), so the file runs without this package or TensorFlow.
"""

from __future__ import annotations

import argparse
from typing import Any

from upscaler.cli.output import print_json

DESCRIPTION = (
    "Write a catalog model (by id) or a local model (a path with a /) to a file other "
    "runtimes load. ONNX: opset 17, input 'input' float32 NCHW [N, C, H, W] in [0, 1], "
    "output 'output' float32 NCHW [N, C, scale*H, scale*W] in [0, 1]; the model's own "
    "value range, padding and residual are inside the file (see docs/export.md). Only "
    "models whose weights the converter parses (TF.js layers, ncnn, npz) can be exported."
)


def register(sub: Any) -> None:
    """Add `upscaler export`."""
    from upscaler.export import EXPORT_FORMATS

    cmd = sub.add_parser(
        "export", help="write a model as an ONNX file for other runtimes", description=DESCRIPTION
    )
    cmd.add_argument("model", metavar="MODEL", help="a model id, or a local model path with a /")
    cmd.add_argument(
        "-o", "--output", required=True, metavar="FILE", help="the file to write (model.onnx)"
    )
    cmd.add_argument(
        "--format",
        default="onnx",
        choices=sorted(EXPORT_FORMATS),
        help="what to write (default: onnx)",
    )
    cmd.add_argument(
        "--scale", metavar="N", help="the scale of a local model that does not record one"
    )
    cmd.add_argument("--json", action="store_true", help="print what was written as JSON")
    cmd.set_defaults(handler=cmd_export)


def cmd_export(args: argparse.Namespace) -> int:
    """Export MODEL; every mistake a user can fix is refused before any download."""
    from upscaler.export import export_model

    report = export_model(
        args.model, args.output, format=args.format, scale=args.scale, progress=not args.quiet
    )
    if args.json:
        print_json(
            {
                "path": str(report.path),
                "format": args.format,
                "opset": report.opset,
                "size_bytes": report.size_bytes,
                "parameters": report.parameters,
                "scale": report.scale,
                "input_channels": report.input_channels,
                "output_channels": report.output_channels,
                "metadata": report.metadata,
            }
        )
        return 0
    if not args.quiet:
        channels = f"{report.input_channels} -> {report.output_channels or '?'} channels"
        print(
            f"wrote {report.path} ({args.format}, opset {report.opset}, "
            f"{report.size_bytes / 1e6:.1f} MB): x{report.scale}, {channels}, "
            "NCHW float32 in [0, 1]"
        )
    return 0
