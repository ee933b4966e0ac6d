"""`upscaler inspect IMAGE ...`: what an input looks like to a model, and why it matters.

Reads each image's JPEG quality (from its tables, or from its pixels), its noise and
whether it is drawn or photographed, and names the degradation protocol that matches
it: the one `degradation="auto"` ranks models by.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from upscaler.cli.output import print_json

if TYPE_CHECKING:
    from upscaler.analyze import InputCondition

DESCRIPTION = (
    "Read each image's condition: the JPEG quality it was saved with (from the file's "
    "quantization tables, or from the 8x8 block quantization a JPEG leaves in the pixels), "
    "its noise sigma (0..255), whether it is drawn (anime) or a photo, and the degradation "
    "protocol that matches it, with the reason. Nothing is written; no model is loaded."
)


def register(sub: Any) -> None:
    """Add `upscaler inspect`."""
    cmd = sub.add_parser(
        "inspect",
        help="read an image's JPEG quality, noise and content, and the protocol it matches",
        description=DESCRIPTION,
    )
    cmd.add_argument("images", nargs="+", metavar="IMAGE", help="image files to inspect")
    cmd.add_argument("--json", action="store_true", help="print a JSON array, one object per image")
    cmd.set_defaults(handler=cmd_inspect)


def cmd_inspect(args: argparse.Namespace) -> int:
    """Inspect every IMAGE; a path that is not an image is refused before any is read."""
    from upscaler.analyze import inspect_image
    from upscaler.runtime.image_io import check_image_file

    paths = [Path(p) for p in args.images]
    for path in paths:
        check_image_file(path)
    conditions = [inspect_image(path) for path in paths]
    if args.json:
        print_json([c.to_dict() for c in conditions])
        return 0
    for index, condition in enumerate(conditions):
        if index:
            print()
        for line in condition_lines(condition):
            print(line)
    return 0


def condition_lines(condition: InputCondition) -> list[str]:
    """One image as a title line and aligned ``field  value`` lines beneath it."""
    width, height = condition.size
    rows = [
        ("format", f"{condition.format}, {width}x{height}"),
        ("jpeg quality", _quality_text(condition)),
        ("noise sigma", f"{condition.noise_sigma:.1f}"),
        ("domain", f"{condition.domain} (score {condition.domain_score:.2f})"),
        ("protocol", condition.protocol),
        ("reason", condition.reason),
    ]
    key_width = max(len(key) for key, _ in rows) + 2
    return [str(condition.source), *(f"  {key:<{key_width}}{value}" for key, value in rows)]


def _quality_text(condition: InputCondition) -> str:
    quality = condition.jpeg_quality
    if quality is None:
        if condition.jpeg_tables == "none":
            return "- (a JPEG without quantization tables; none found in the pixels)"
        return "- (not a JPEG, and no JPEG trace in the pixels)"
    if condition.jpeg_source == "pixels":
        return f"{quality} (from the pixels' 8x8 block quantization)"
    if condition.jpeg_tables == "non-standard":
        return (
            f"{quality} (nearest IJG quality: the tables are non-standard, "
            f"confidence {condition.jpeg_confidence or 0:.2f})"
        )
    return f"{quality} (IJG standard tables)"
