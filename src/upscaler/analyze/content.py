"""Drawn or photographed: which kind of model suits the image.

Drawings (anime, comics, illustrations, diagrams) are flat fills bounded by outlines:
most of their pixels sit in wide areas of one colour, their gradients are either zero
or a hard edge, and a handful of colours cover most of the picture. Photographs have
sensor noise and texture everywhere, so almost no 5x5 window is flat, and their colours
spread over thousands of bins. The three shares below measure exactly that; none needs
a model, and each survives JPEG at web qualities (its ringing stays within a couple of
levels away from edges). Drawings with heavy grain or noise read as photos: for those
the noise, not the line art, is what a model has to deal with.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from upscaler.analyze.pixels import Float

Domain = Literal["anime", "photo"]
"""The catalog's domain ids: ``anime`` covers every drawn image (its models are trained
on anime and illustrations), ``photo`` everything captured by a camera."""

FLAT_STEP = 2.0
"""Neighbouring pixels differing by at most this much (0..255, any channel) are "the
same colour": JPEG's ringing in a flat fill stays within it at qualities from 30 up."""

FLAT_WINDOW = 5
"""A pixel is in a large flat region when the whole window around it is flat; a
photo's smooth sky passes a 2x2 test by chance far more often than a 5x5 one."""

QUIET_STEP = 4.0
"""Gradient at or below which a pixel counts as quiet, for the sparsity share."""

PALETTE_BITS = 5
"""Bits kept per channel when counting colours (32 levels: JPEG noise stays in a bin)."""

PALETTE_TOP = 16
"""How many of the most common colours the palette share counts."""

WEIGHTS = {"flat": 0.6, "quiet": 0.3, "palette": 0.1}
"""The flat share decides most: on Set5/Set14 photos it is at most 0.19 (monarch after
JPEG q40), on drawings at least 0.3 (anti-aliased, gradient-filled, JPEG q40). The
other two break ties; the palette share is left out for gray images, whose 32 levels
any photo fills."""

RANGES = {"flat": (0.05, 0.45), "quiet": (0.30, 0.80), "palette": (0.20, 0.80)}
"""Each share's photo-like and drawing-like ends; a share is scaled to 0..1 between them."""

ANIME_THRESHOLD = 0.4
"""Scores at or above this are labelled anime: midway between the highest photo (0.32,
Set14's monarch after JPEG q30) and the lowest drawing (0.49, a gradient-filled one
after JPEG q30) measured when the weights were set."""


@dataclass(frozen=True)
class ContentEstimate:
    """The label, its score (0 = surely a photo, 1 = surely drawn) and the shares it
    was made from, for anyone tuning the weights."""

    domain: Domain
    score: float
    flat_share: float
    quiet_share: float
    palette_share: float | None


def classify_content(colour: Float) -> ContentEstimate:
    """Label an HxWxC 0..255 image anime (drawn) or photo."""
    if colour.ndim == 2:
        colour = colour[:, :, np.newaxis]
    if colour.shape[0] < FLAT_WINDOW + 1 or colour.shape[1] < FLAT_WINDOW + 1:
        return ContentEstimate("photo", 0.0, 0.0, 0.0, None)
    gradient = _max_gradient(colour)
    flat = _window_all(gradient <= FLAT_STEP, FLAT_WINDOW)
    shares: dict[str, float] = {
        "flat": float(flat.mean()),
        "quiet": float((gradient <= QUIET_STEP).mean()),
    }
    if colour.shape[2] >= 3:
        shares["palette"] = _palette_share(colour)
    total = sum(WEIGHTS[name] for name in shares)
    score = sum(WEIGHTS[name] * _scaled(name, value) for name, value in shares.items()) / total
    return ContentEstimate(
        "anime" if score >= ANIME_THRESHOLD else "photo",
        round(score, 3),
        round(shares["flat"], 4),
        round(shares["quiet"], 4),
        round(shares["palette"], 4) if "palette" in shares else None,
    )


def _scaled(name: str, value: float) -> float:
    low, high = RANGES[name]
    return float(np.clip((value - low) / (high - low), 0.0, 1.0))


def _max_gradient(colour: Float) -> npt.NDArray[np.float32]:
    """Per pixel (H-1 x W-1): the largest step to its right or lower neighbour, over
    the channels."""
    across = np.abs(np.diff(colour, axis=1)).max(axis=2)[:-1, :]
    down = np.abs(np.diff(colour, axis=0)).max(axis=2)[:, :-1]
    return np.asarray(np.maximum(across, down), dtype=np.float32)


def _window_all(mask: npt.NDArray[np.bool_], size: int) -> npt.NDArray[np.bool_]:
    """True where every pixel of the size x size window starting there is True (an
    integral image makes it one pass whatever the window)."""
    counts = np.pad(mask.astype(np.int32).cumsum(axis=0).cumsum(axis=1), ((1, 0), (1, 0)))
    window = (
        counts[size:, size:]
        - counts[:-size, size:]
        - counts[size:, :-size]
        + counts[:-size, :-size]
    )
    return np.asarray(window == size * size)


def _palette_share(colour: Float) -> float:
    """Share of pixels in the PALETTE_TOP most common colours, at PALETTE_BITS a channel."""
    levels = np.clip(colour[:, :, :3], 0, 255).astype(np.int32) >> (8 - PALETTE_BITS)
    index = (
        (levels[:, :, 0] << (2 * PALETTE_BITS))
        | (levels[:, :, 1] << PALETTE_BITS)
        | levels[:, :, 2]
    )
    counts = np.bincount(index.ravel(), minlength=1 << (3 * PALETTE_BITS))
    top = np.sort(counts)[-PALETTE_TOP:]
    return float(top.sum() / index.size)
