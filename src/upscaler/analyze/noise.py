"""How noisy an image is: the standard deviation of additive noise, in 0..255 units.

Immerkaer's operator (J. Immerkaer, "Fast noise variance estimation", Computer Vision
and Image Understanding 64(2), 1996) is the difference of two discrete Laplacians: it
cancels image structure up to second order and leaves 36 sigma^2 of noise variance,
so for Gaussian noise ``sigma = sqrt(pi / 2) / 6 * mean |I * M|``. Over a whole image,
edges and texture leak into that mean and read as noise; so the mean is taken per
16x16 block and the image's noise is read from its quietest blocks (the 5th percentile,
scaled so that pure noise reads its true sigma), as block-selection estimators do.
Each colour channel is measured on its own, as noise is added to each channel by the
degradation protocols and by camera sensors, and the median of the channels is kept.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from upscaler.analyze.pixels import Float

BLOCK = 16
"""Block side: 196 residuals a block keep a block's own estimate within about 5% for
pure noise, and small enough that most photos have many blocks of sky, skin or wall."""

PERCENTILE = 5.0
"""Which quiet blocks speak for the image: low enough to skip texture (a mandrill's fur
still reads 7 here, against 15 for the whole-image mean), high enough to stay steady."""

PERCENTILE_TO_SIGMA = 1.157
"""True sigma over the 5th percentile of block estimates, for pure Gaussian noise
(measured on 4096x4096 fields at sigma 2..25: 1.146..1.159; tests/analyze checks it)."""

MAX_CLIPPED = 0.05
"""Blocks with more of their pixels at 0 or 255 than this are left out: clipping cuts
the noise's tails, so a blown-out sky would read as quieter than it is."""

MIN_BLOCKS = 8
"""Fewer blocks than this (an image under about 50x50) and the percentile means
nothing: the whole-image mean is used instead, which texture can only raise."""

_SCALE = float(np.sqrt(np.pi / 2) / 6)


def estimate_noise_sigma(colour: Float) -> float:
    """Noise sigma (0..255 units) of an HxWxC image on the 0..255 scale."""
    if colour.ndim == 2:
        colour = colour[:, :, np.newaxis]
    if colour.shape[0] < 3 or colour.shape[1] < 3:
        return 0.0
    per_channel = [_channel_sigma(colour[:, :, c]) for c in range(colour.shape[2])]
    return float(np.median(per_channel))


def _channel_sigma(plane: Float) -> float:
    values = plane.astype(np.float32)
    residual = np.abs(
        values[:-2, :-2]
        - 2 * values[:-2, 1:-1]
        + values[:-2, 2:]
        - 2 * values[1:-1, :-2]
        + 4 * values[1:-1, 1:-1]
        - 2 * values[1:-1, 2:]
        + values[2:, :-2]
        - 2 * values[2:, 1:-1]
        + values[2:, 2:]
    )
    clipped = ((values <= 0.5) | (values >= 254.5))[1:-1, 1:-1]
    block_means = _block_means(residual, BLOCK)
    block_clipped = _block_means(clipped.astype(np.float32), BLOCK)
    quiet = block_means[block_clipped <= MAX_CLIPPED]
    if quiet.size < MIN_BLOCKS:
        return _SCALE * float(residual.mean())
    return _SCALE * PERCENTILE_TO_SIGMA * float(np.percentile(quiet, PERCENTILE))


def _block_means(values: npt.NDArray[np.float32], size: int) -> npt.NDArray[np.float32]:
    """Means of the whole size x size blocks (a partial last row or column is dropped)."""
    rows, cols = values.shape[0] // size, values.shape[1] // size
    if rows == 0 or cols == 0:
        return np.zeros(0, dtype=np.float32)
    cut = values[: rows * size, : cols * size]
    return np.asarray(cut.reshape(rows, size, cols, size).mean(axis=(1, 3))).ravel()
