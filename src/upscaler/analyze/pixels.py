"""The one pixel form every analysis reads: float32 on the 0..255 scale, alpha dropped.

The degradation protocols are defined on 8-bit values (noise sigma "on 0..255", JPEG
qualities of 8-bit encoders), so 16-bit and float inputs are brought to that scale
first; alpha says nothing about how the colour was degraded and is left out. Large
images are read through a mosaic of tiles so an inspection costs the same for a 50 MP
photo as for a 4 MP one.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

Float = npt.NDArray[np.float32]

LUMA_WEIGHTS = (0.299, 0.587, 0.114)
"""ITU-R BT.601 luma, the Y of JPEG's YCbCr (JFIF, ITU-T T.871): the plane a JPEG
encoder quantizes most finely and the one its quantization traces are read from."""

MAX_ANALYSED_PIXELS = 4 * 1024 * 1024
"""Above this many pixels the analyses read a mosaic of tiles: every statistic here is
an average or a percentile over local windows, which a few megapixels estimate as well
as the whole image does."""

TILE = 512
"""Mosaic tile side. A multiple of 8, and tiles are cut at multiples of 8, so a JPEG's
8x8 block grid survives into the mosaic."""


def to_255(pixels: npt.NDArray[Any]) -> Float:
    """HxWxC (C in 1..4; uint8, uint16 or float in [0, 1]) as float32 0..255 with the
    colour channels only: gray stays one channel, gray+alpha and RGBA lose alpha."""
    if pixels.ndim == 2:
        pixels = pixels[:, :, np.newaxis]
    colour = pixels[:, :, :1] if pixels.shape[2] <= 2 else pixels[:, :, :3]
    if colour.dtype == np.uint8:
        return colour.astype(np.float32)
    if colour.dtype == np.uint16:
        return colour.astype(np.float32) * np.float32(255.0 / 65535.0)
    return colour.astype(np.float32) * np.float32(255.0)


def luma(colour: Float) -> Float:
    """The BT.601 luma plane of a 0..255 image (gray images are their own luma)."""
    if colour.shape[2] == 1:
        return colour[:, :, 0]
    weights = np.asarray(LUMA_WEIGHTS, dtype=np.float32)
    return np.asarray(colour @ weights, dtype=np.float32)


def analysis_view(colour: Float) -> Float:
    """The image itself when small enough, else a mosaic of evenly spread tiles.

    Tile origins are multiples of 8 so JPEG block boundaries keep their phase; the seams
    between tiles add a few edges, which the texture-robust statistics below ignore.
    """
    height, width = colour.shape[:2]
    if height * width <= MAX_ANALYSED_PIXELS:
        return colour
    per_side = int(np.sqrt(MAX_ANALYSED_PIXELS)) // TILE  # tiles per mosaic side
    rows = _origins(height, per_side)
    cols = _origins(width, per_side)
    tile_h = min(TILE, height)
    tile_w = min(TILE, width)
    strips = [
        np.concatenate([colour[y : y + tile_h, x : x + tile_w] for x in cols], axis=1) for y in rows
    ]
    return np.ascontiguousarray(np.concatenate(strips, axis=0))


def _origins(length: int, count: int) -> list[int]:
    """Up to ``count`` tile origins, multiples of 8, spread evenly over ``length``."""
    if length <= TILE:
        return [0]
    last = (length - TILE) // 8 * 8
    if count <= 1:
        return [last // 2 // 8 * 8]
    picks = np.linspace(0, last, count)
    return sorted({int(p) // 8 * 8 for p in picks})
