"""PSNR and SSIM as the super-resolution literature computes them (float64).

- **PSNR** on Y in 0..255 with peak 255, after shaving ``scale`` pixels off every border
  (the reconstruction near the border depends on padding conventions, not on the model).
- **SSIM** after Wang, Bovik, Sheikh and Simoncelli, "Image quality assessment: from
  error visibility to structural similarity", IEEE TIP 13(4), 2004, with the parameters
  of their reference ``ssim_index.m``: an 11x11 Gaussian window with sigma 1.5 (normalised
  to sum to one), ``K1 = 0.01``, ``K2 = 0.03``, ``L = 255``, statistics computed only where
  the window fits inside the image ('valid' filtering), and the mean of the SSIM map.
  No automatic downsampling (that belongs to the later ``ssim.m``, not ``ssim_index.m``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

PEAK = 255.0
SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1 = 0.01
SSIM_K2 = 0.03


def shave(image: npt.NDArray[Any], border: int) -> npt.NDArray[Any]:
    """Drop ``border`` pixels on each side (nothing when ``border`` is 0)."""
    if border < 0:
        raise ValueError(f"border must be >= 0, got {border}")
    if border == 0:
        return image
    if image.shape[0] <= 2 * border or image.shape[1] <= 2 * border:
        raise ValueError(f"image of shape {list(image.shape)} is too small to shave {border}")
    return image[border:-border, border:-border]


def _check_pair(a: npt.NDArray[Any], b: npt.NDArray[Any]) -> None:
    if a.shape != b.shape:
        raise ValueError(f"images differ in shape: {list(a.shape)} vs {list(b.shape)}")
    if a.ndim != 2:
        raise ValueError(f"expected single-channel (HxW) images, got shape {list(a.shape)}")


def psnr(reference: npt.NDArray[Any], test: npt.NDArray[Any], *, peak: float = PEAK) -> float:
    """Peak signal-to-noise ratio in dB; ``inf`` for identical images."""
    _check_pair(reference, test)
    diff = np.asarray(reference, dtype=np.float64) - np.asarray(test, dtype=np.float64)
    mse = float(np.mean(diff * diff))
    if mse == 0.0:
        return math.inf
    return 10.0 * math.log10(peak * peak / mse)


def gaussian_window(size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA) -> npt.NDArray[np.float64]:
    """MATLAB ``fspecial('gaussian', size, sigma)``: sampled Gaussian normalised to sum 1."""
    half = (size - 1) / 2.0
    x = np.arange(size, dtype=np.float64) - half
    g = np.exp(-(x[:, np.newaxis] ** 2 + x[np.newaxis, :] ** 2) / (2.0 * sigma * sigma))
    g[g < np.finfo(np.float64).eps * g.max()] = 0.0
    normalised: npt.NDArray[np.float64] = g / g.sum()
    return normalised


def _valid_band(length: int, taps: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """The ``(length - k + 1) x length`` matrix of a 1-D 'valid' correlation with ``taps``."""
    size = taps.shape[0]
    band = np.zeros((length - size + 1, length), dtype=np.float64)
    for offset, weight in enumerate(taps):
        band[np.arange(length - size + 1), np.arange(length - size + 1) + offset] = weight
    return band


def _filter_valid(image: npt.NDArray[np.float64], window: npt.NDArray[np.float64]) -> Any:
    """2-D correlation keeping only fully covered positions (MATLAB ``filter2(.., 'valid')``).

    The Gaussian window is separable (rank one), so it is two 1-D passes, each one banded
    matrix product (BLAS does a 480x320 image in milliseconds).
    """
    column = window.sum(axis=1)
    row = window.sum(axis=0)
    left = _valid_band(image.shape[0], column)
    right = _valid_band(image.shape[1], row)
    return left @ image @ right.T


def ssim(reference: npt.NDArray[Any], test: npt.NDArray[Any], *, peak: float = PEAK) -> float:
    """Mean SSIM (Wang et al. 2004) with the reference implementation's parameters."""
    _check_pair(reference, test)
    if min(reference.shape) < SSIM_WINDOW:
        raise ValueError(
            f"SSIM needs images of at least {SSIM_WINDOW}x{SSIM_WINDOW}, "
            f"got {list(reference.shape)}"
        )
    x = np.asarray(reference, dtype=np.float64)
    y = np.asarray(test, dtype=np.float64)
    window = gaussian_window()
    c1 = (SSIM_K1 * peak) ** 2
    c2 = (SSIM_K2 * peak) ** 2
    mu_x = _filter_valid(x, window)
    mu_y = _filter_valid(y, window)
    mu_xx, mu_yy, mu_xy = mu_x * mu_x, mu_y * mu_y, mu_x * mu_y
    sigma_xx = _filter_valid(x * x, window) - mu_xx
    sigma_yy = _filter_valid(y * y, window) - mu_yy
    sigma_xy = _filter_valid(x * y, window) - mu_xy
    numerator = (2.0 * mu_xy + c1) * (2.0 * sigma_xy + c2)
    denominator = (mu_xx + mu_yy + c1) * (sigma_xx + sigma_yy + c2)
    return float(np.mean(numerator / denominator))
