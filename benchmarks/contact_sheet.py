"""Labelled tiles laid out in rows: the contact sheets the docs' figures are made of
(benchmarks/protocol_crops.py, benchmarks/video_frame_strip.py)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw

LABEL_HEIGHT = 18
GAP = 4


def labelled_tile(pixels: np.ndarray, label: str) -> Image.Image:
    """``pixels`` with a line of text above them."""
    image = Image.new("RGB", (pixels.shape[1], pixels.shape[0] + LABEL_HEIGHT), "white")
    image.paste(Image.fromarray(pixels), (0, LABEL_HEIGHT))
    ImageDraw.Draw(image).text((3, 3), label, fill="black")
    return image


def contact_sheet(rows: Sequence[Sequence[Image.Image]]) -> Image.Image:
    """The rows one under the other, tiles side by side, a small white gap between."""
    width = max(sum(t.width for t in row) + GAP * (len(row) - 1) for row in rows)
    height = sum(row[0].height for row in rows) + GAP * (len(rows) - 1)
    sheet = Image.new("RGB", (width, height), "white")
    y = 0
    for row in rows:
        x = 0
        for tile in row:
            sheet.paste(tile, (x, y))
            x += tile.width + GAP
        y += row[0].height + GAP
    return sheet
