"""A JPEG past read from the pixels alone: a PNG that was once a JPEG, or an array.

JPEG quantizes each 8x8 block's DCT coefficients to multiples of its table's steps;
decoding and re-transforming the same blocks gives those multiples back, blurred only by
the rounding of pixels to integers (about 0.3 in coefficient units). So the luma
coefficients of a once-JPEG image sit on the lattice of the IJG table of its quality,
and on no other quality's lattice, the idea of Fan and de Queiroz, "Identification of
bitmap compression history: JPEG detection and quantizer estimation" (IEEE TIP 12(2),
2003). A never-compressed image fits no lattice, and a once-JPEG image fits none
either when its blocks are cut on another grid: that contrast is the evidence.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from upscaler.analyze.jpeg_quality import LUMINANCE, QUALITIES, ijg_table
from upscaler.analyze.pixels import Float, luma

FREQUENCIES = (
    (0, 0), (0, 1), (1, 0), (2, 0), (1, 1), (0, 2), (0, 3), (1, 2),
    (2, 1), (3, 0), (4, 0), (3, 1), (2, 2), (1, 3), (0, 4),
)  # fmt: skip
"""DC and the first 14 AC coefficients in zigzag order: the ones with enough non-zero
values at every quality to show their step; higher ones are mostly quantized to 0."""

MAX_BLOCKS = 8192
"""Blocks read per grid (evenly spread): the lattice fit is a mean over coefficients,
and 8192 of them per frequency settle it with room to spare."""

MIN_COEFFICIENTS = 15
"""Fewer non-zero coefficients (of distinct blocks) than this at a frequency say nothing
about its step. Drawings leave few: their flat blocks have none and most edge blocks
are clipped. At 15 anti-aliased line art is read from quality 30 up, and no drawing
or photo tried (Set5, Set14, tests/analyze's drawings) read as a wrong quality."""

MIN_FREQUENCIES = 3
"""A quality is judged on at least this many frequencies whose step is 2 or more (a step
of 1 is met by every image, so it is no evidence)."""

MAX_MISFIT = 0.42
"""Mean ``1 - cos(2 pi c / step)`` over coefficients below which they sit on a lattice.
Off-lattice values give about 1; a JPEG's give 0.01 to 0.2 at qualities up to 85 (0.37
for a slide that is mostly blown-out white), 0.35 to 0.45 at 90 to 95, where the steps
near the pixel rounding. On Set5/Set14 never-compressed images the best fit is 0.52."""

MIN_CONTRAST = 0.5
"""How much worse the same lattice must fit blocks cut 4 pixels off the grid: a smooth
never-compressed image can fit coarse lattices by accident, but then on every grid
(contrast under 0.5 on Set5/Set14), while a JPEG's lattice is lost off its grid (0.6
at quality 90, about 1 at 85 and below)."""

_STEPS = np.stack([ijg_table(LUMINANCE, q).reshape(8, 8) for q in QUALITIES])


def _dct_matrix() -> npt.NDArray[np.float64]:
    """The orthonormal 8-point DCT-II: JPEG's FDCT (T.81 A.3.3) in matrix form."""
    n = np.arange(8)
    matrix = np.sqrt(2 / 8) * np.cos((2 * n[np.newaxis, :] + 1) * n[:, np.newaxis] * np.pi / 16)
    matrix[0] /= np.sqrt(2)
    return np.asarray(matrix, dtype=np.float64)


_DCT = _dct_matrix()


@dataclass(frozen=True)
class JpegHistory:
    """What the pixels say: ``quality`` is None when they carry no JPEG trace.

    ``misfit`` is the lattice fit of the best quality on the detected grid (lower is
    tighter), ``contrast`` how much worse it fits off the grid, ``grid`` the (row,
    column) offset of the 8x8 blocks (not (0, 0) when the image was cropped).
    """

    quality: int | None
    misfit: float
    contrast: float
    grid: tuple[int, int] = (0, 0)


def jpeg_history(colour: Float) -> JpegHistory:
    """Estimate the JPEG quality an HxWxC image (0..255) was last saved with, if any.

    Read on luma, the plane JPEG quantizes as the tables say; pixels clipped to 0 or
    255 in any channel are left out, as the clipping moved them off the lattice.
    """
    if colour.ndim == 2:
        colour = colour[:, :, np.newaxis]
    if colour.shape[0] < 16 or colour.shape[1] < 16:
        return JpegHistory(None, 1.0, 0.0)
    plane = luma(colour)
    clipped = np.asarray(((colour <= 0.5) | (colour >= 254.5)).any(axis=2))
    best: JpegHistory | None = None
    for grid in dict.fromkeys([(0, 0), _blocking_grid(plane)]):
        misfits = _quality_misfits(_blocks(plane, clipped, grid))
        if not np.isfinite(misfits).any():
            continue
        # Neighbouring qualities can share every informative step (49 and 50 do):
        # the middle of a tie is the fairest reading.
        ties = np.flatnonzero(misfits <= np.nanmin(misfits) + 1e-9)
        index = int(ties[len(ties) // 2])
        shifted = _blocks(plane, clipped, ((grid[0] + 4) % 8, (grid[1] + 4) % 8))
        control = float(_quality_misfits(shifted, index)[0])
        off_grid = control if np.isfinite(control) else 1.0
        found = JpegHistory(
            QUALITIES[index], float(misfits[index]), off_grid - float(misfits[index]), grid
        )
        if best is None or (_passes(found), -found.misfit) > (_passes(best), -best.misfit):
            best = found
        if _passes(best):
            break  # found on the standard grid: no need to look for a cropped one
    if best is None:
        return JpegHistory(None, 1.0, 0.0)
    if not _passes(best):
        return JpegHistory(None, best.misfit, best.contrast, best.grid)
    return best


def _passes(found: JpegHistory) -> bool:
    """Whether a reading is evidence of a JPEG: a tight lattice, lost off the grid."""
    return found.misfit <= MAX_MISFIT and found.contrast >= MIN_CONTRAST


def _blocking_grid(plane: Float) -> tuple[int, int]:
    """Where block edges fall: the row and column phase (mod 8) with the largest mean
    step across it, as JPEG's blocks are coded independently. Finds the grid of a
    cropped JPEG; on an image with no blocks it is a harmless guess."""
    across_columns = np.abs(np.diff(plane, axis=1)).mean(axis=0)
    across_rows = np.abs(np.diff(plane, axis=0)).mean(axis=1)

    def phase(steps: npt.NDArray[np.float32]) -> int:
        usable = steps[: len(steps) // 8 * 8].reshape(-1, 8).mean(axis=0)
        return (int(np.argmax(usable)) + 1) % 8  # the step after pixel 7 starts a block

    return phase(across_rows), phase(across_columns)


def _blocks(
    plane: Float, clipped: npt.NDArray[np.bool_], grid: tuple[int, int]
) -> npt.NDArray[np.float64]:
    """DCT coefficients (N, 8, 8) of the distinct whole blocks on the grid, blocks with
    a clipped pixel left out (a clipped decode is off the lattice), at most MAX_BLOCKS
    evenly spread."""
    rows, cols = (plane.shape[0] - grid[0]) // 8, (plane.shape[1] - grid[1]) // 8
    if rows <= 0 or cols <= 0:
        return np.zeros((0, 8, 8))

    def cut(values: npt.NDArray[Any]) -> npt.NDArray[Any]:
        area = values[grid[0] : grid[0] + rows * 8, grid[1] : grid[1] + cols * 8]
        return area.reshape(rows, 8, cols, 8).swapaxes(1, 2).reshape(-1, 8, 8)

    blocks = cut(plane)[~cut(clipped).any(axis=(1, 2))]
    # Identical blocks (flat fills, the length of a straight edge) are one piece of
    # evidence, not hundreds: repeated, they would make any lattice that happens to
    # fit their few values look like a JPEG's.
    blocks = np.unique(blocks.reshape(-1, 64), axis=0).reshape(-1, 8, 8)
    if len(blocks) > MAX_BLOCKS:
        blocks = blocks[np.linspace(0, len(blocks) - 1, MAX_BLOCKS).astype(np.int64)]
    centred = blocks.astype(np.float64) - 128.0
    return np.asarray(_DCT @ centred @ _DCT.T)


def _quality_misfits(
    coefficients: npt.NDArray[np.float64], qualities: slice | int = slice(None)
) -> npt.NDArray[np.float64]:
    """Per quality (all of 1..100, or the ones ``qualities`` indexes): the mean lattice
    misfit over the informative frequencies (NaN where fewer than MIN_FREQUENCIES are)."""
    table = _STEPS[qualities].reshape(-1, 8, 8)
    per_frequency = np.full((len(FREQUENCIES), len(table)), np.nan)
    for row, (u, v) in enumerate(FREQUENCIES):
        steps = table[:, u, v]
        unique = np.unique(steps[steps >= 2]).astype(np.float64)
        if len(unique) == 0:
            continue
        values = coefficients[:, u, v]
        on = np.abs(values)[np.newaxis, :] > unique[:, np.newaxis] / 2
        counts = on.sum(axis=1)
        fit = np.where(
            on, 1.0 - np.cos(2 * np.pi * values[np.newaxis, :] / unique[:, np.newaxis]), 0
        )
        misfit = np.where(
            counts >= MIN_COEFFICIENTS, fit.sum(axis=1) / np.maximum(counts, 1), np.nan
        )
        lookup = dict(zip(unique.tolist(), misfit.tolist(), strict=True))
        per_frequency[row] = [lookup.get(float(step), np.nan) for step in steps]
    counted = np.isfinite(per_frequency).sum(axis=0)
    means = np.nansum(per_frequency, axis=0) / np.maximum(counted, 1)
    return np.where(counted >= MIN_FREQUENCIES, means, np.nan)
