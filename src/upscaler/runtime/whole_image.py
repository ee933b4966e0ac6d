"""The simplest run path: the whole image through the model in one call.

Kept small and separate so that tiling, batching and device placement can replace it
without touching the loader. The pixel mapping reproduces UpscalerJS 1.0 exactly:
uint8 RGB is mapped onto the model's value range in float32 (``x / 255`` for ``[0, 1]``
models, unchanged for ``[0, 255]`` models), the output is clipped to that range, mapped
back to 0..255, clipped again and rounded half-to-even (``np.rint``), which is what
writing floats into a JavaScript ``Uint8ClampedArray`` does.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np
import numpy.typing as npt

from upscaler.errors import ImageError, ModelLoadError
from upscaler.runtime.savedmodel import LoadedModel

log = logging.getLogger("upscaler.runtime.whole_image")


def _range(value_range: Any) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in value_range)
    except (TypeError, ValueError):
        raise ModelLoadError(f"value range {value_range!r} is not a pair of numbers") from None
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ModelLoadError(f"value range {value_range!r} must be finite with min < max")
    return lo, hi


def check_rgb(rgb: Any) -> npt.NDArray[np.uint8]:
    """Refuse anything but a non-empty HxWx3 uint8 array, naming what was passed."""
    if not isinstance(rgb, np.ndarray):
        raise ImageError(f"expected an HxWx3 uint8 numpy array, got {type(rgb).__name__}")
    if rgb.dtype != np.uint8:
        raise ImageError(f"expected a uint8 image, got dtype {rgb.dtype}")
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ImageError(f"expected an HxWx3 RGB image, got shape {list(rgb.shape)}")
    if rgb.shape[0] == 0 or rgb.shape[1] == 0:
        raise ImageError(f"image of shape {list(rgb.shape)} is empty")
    return rgb


def to_model_range(
    rgb: npt.NDArray[np.uint8], value_range: tuple[float, float]
) -> npt.NDArray[np.float32]:
    """Map 0..255 onto the model's range, float32, with UpscalerJS's exact arithmetic."""
    lo, hi = _range(value_range)
    x = rgb.astype(np.float32)
    span = hi - lo
    if span != 255.0:
        # Divide rather than multiply by the reciprocal: for [0, 1] this is bit-identical
        # to UpscalerJS's tf.div(pixels, 255).
        x = x / np.float32(255.0 / span)
    if lo != 0.0:
        x = x + np.float32(lo)
    return x


def from_model_range(
    out: npt.NDArray[np.float32], value_range: tuple[float, float]
) -> npt.NDArray[np.uint8]:
    """Clip to the model's range, map back to 0..255, round half-to-even, uint8."""
    lo, hi = _range(value_range)
    if not np.all(np.isfinite(out)):
        raise ImageError("the model produced NaN or infinite values for this image")
    y = np.clip(out.astype(np.float32, copy=False), np.float32(lo), np.float32(hi))
    if lo != 0.0:
        y = y - np.float32(lo)
    span = hi - lo
    if span != 255.0:
        y = y * np.float32(255.0 / span)
    return np.rint(np.clip(y, 0.0, 255.0)).astype(np.uint8)


def upscale_rgb(
    model: LoadedModel, rgb: npt.NDArray[np.uint8], value_range: tuple[float, float]
) -> npt.NDArray[np.uint8]:
    """Upscale one HxWx3 uint8 image with one model call; returns the uint8 result.

    The output may have any channel count the model returns (3 for every shipped model).
    """
    image = check_rgb(rgb)
    batch = to_model_range(image, value_range)[np.newaxis]
    out = model.predict(batch)
    log.debug("ran %s on %s -> %s", model.path.name, list(image.shape), list(out.shape[1:]))
    return from_model_range(out[0], value_range)


def upscale_any(
    model: LoadedModel, pixels: npt.NDArray[Any], value_range: tuple[float, float]
) -> npt.NDArray[Any]:
    """Whole-image upscale of HxWx3 uint8, uint16 or float32 [0, 1] pixels, same dtype out.

    uint8 takes the exact UpscalerJS path (:func:`upscale_rgb`); deeper pixels are mapped
    linearly onto the value range and rounded half-to-even back to their own scale.
    """
    if pixels.dtype == np.uint8:
        return upscale_rgb(model, pixels, value_range)
    lo, hi = _range(value_range)
    white = 65535.0 if pixels.dtype == np.uint16 else 1.0
    batch = (pixels.astype(np.float32) / np.float32(white)) * np.float32(hi - lo) + np.float32(lo)
    out = model.predict(batch[np.newaxis])[0]
    if not np.all(np.isfinite(out)):
        raise ImageError("the model produced NaN or infinite values for this image")
    unit = (np.clip(out, lo, hi) - np.float32(lo)) / np.float32(hi - lo)
    result: npt.NDArray[Any] = (
        np.rint(unit * 65535.0).astype(np.uint16)
        if pixels.dtype == np.uint16
        else unit.astype(np.float32)
    )
    return result
