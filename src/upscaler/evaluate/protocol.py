"""The standard single-image super-resolution protocol, step by step.

For every HR image and scale ``s`` (the EDSR/RCAN evaluation, which is what published
model tables use):

1. **modcrop**: crop HR to a multiple of ``s`` (top-left kept), so LR is exactly ``1/s``.
2. **LR**: MATLAB ``imresize(HR, 1/s, 'bicubic')`` on the 8-bit RGB image, rounded to
   ``uint8`` as MATLAB does (:mod:`upscaler.evaluate.imresize`).
3. **SR**: the model (or MATLAB bicubic upward, for the ``bicubic`` baseline) turns the
   8-bit RGB LR into an 8-bit RGB image of the HR's size.
4. **Y**: both images to luma in float64, 0..255: MATLAB ``rgb2ycbcr``'s Y for colour
   images; for a ground truth stored as a *gray file* the gray value itself (and the SR's
   BT.601 luma, which is that value when R = G = B). The gray rule is what the reference
   scripts do (``if size(im, 3) == 3 ... else Y = im``) and is needed to reproduce the
   published Set14 numbers: applying the studio-swing formula to ``bridge.png`` instead
   adds 20·log10(255/219) = 1.32 dB to that image, +0.09 dB on the Set14 mean.
5. **shave** ``s`` pixels off every border of both.
6. **PSNR** (peak 255) and **SSIM** (Wang et al. 2004, ``ssim_index.m`` parameters) on the
   shaved Y; a set's numbers are the means over its images.

:data:`PROTOCOL_ID` names this recipe in the catalog's provenance; change the id when any
step changes, so old and new numbers are never compared silently.

The published *bicubic* rows (SRCNN, VDSR, and every later table that copies them) were
made slightly differently: the Y channel is extracted first (rounded to ``uint8``, as
``rgb2ycbcr`` on a ``uint8`` image does), resized down and up in floating point, and the
result rounded to ``uint8``. :func:`score_bicubic_y` reproduces that recipe
(:data:`BICUBIC_Y_PROTOCOL_ID`); it exists to check our imresize and SSIM against the
published bicubic SSIM to the fourth decimal. Models cannot be run that way (they consume
RGB), so model numbers and the ``bicubic`` baseline use :data:`PROTOCOL_ID`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from upscaler.catalog.protocols import BICUBIC, PROTOCOLS
from upscaler.errors import ImageError
from upscaler.evaluate.color import gray_level, rgb_to_y
from upscaler.evaluate.imresize import imresize, round_uint8
from upscaler.evaluate.metrics import SSIM_WINDOW, psnr, shave, ssim

PROTOCOL_ID = PROTOCOLS[BICUBIC].id
BICUBIC_Y_PROTOCOL_ID = "sr-y-only-bicubic-legacy-v1"
# Scale 1 is restoration (denoise-only models): the "LR" is the clean HR image itself, so
# the numbers say how much a model changes an image that has nothing to fix.
MIN_SCALE = 1

RgbUpscale = Callable[[npt.NDArray[np.uint8]], npt.NDArray[np.uint8]]


@dataclass(frozen=True)
class ImageScore:
    """PSNR (dB) and SSIM of one image on shaved Y, and what a degradation drew for it."""

    psnr_y: float
    ssim_y: float
    degradation: Mapping[str, Any] | None = None
    perceptual: float | None = None


MakeInput = Callable[[npt.NDArray[np.uint8], int], tuple[npt.NDArray[np.uint8], Mapping[str, Any]]]
"""A protocol's LR recipe: (mod-cropped HR, scale) -> (LR, what it drew)."""


def modcrop(image: npt.NDArray[Any], scale: int) -> npt.NDArray[Any]:
    """Crop the bottom/right so both sides are multiples of ``scale``."""
    height, width = image.shape[:2]
    return image[: height - height % scale, : width - width % scale]


def check_size(shape: tuple[int, ...], scale: int, name: str) -> None:
    """Refuse images too small for LR, shaving and the SSIM window, naming the minimum."""
    smallest = scale * max(2, -(-(SSIM_WINDOW + 2 * scale) // scale))
    if min(shape[:2]) < smallest:
        raise ImageError(
            f"{name} is {shape[1]}x{shape[0]}; at x{scale} the protocol needs at least "
            f"{smallest}x{smallest} (LR, a {scale}-pixel shave and an {SSIM_WINDOW}x"
            f"{SSIM_WINDOW} SSIM window)",
            hint="use larger images or a smaller --scale",
        )


def make_lr(hr: npt.NDArray[np.uint8], scale: int) -> npt.NDArray[np.uint8]:
    """MATLAB ``imresize(HR, 1/scale, 'bicubic')`` of a mod-cropped 8-bit image (the
    image itself at scale 1)."""
    if scale == 1:
        return hr.copy()
    return imresize(hr, 1.0 / scale)


def bicubic_upscale(lr: npt.NDArray[np.uint8], scale: int) -> npt.NDArray[np.uint8]:
    """MATLAB ``imresize(LR, scale, 'bicubic')``: the baseline every model must beat."""
    return imresize(lr, float(scale))


def luminance(rgb: npt.NDArray[np.uint8], *, gray: bool) -> npt.NDArray[np.float64]:
    """Y in float64 (0..255): rgb2ycbcr's Y, or the gray level for gray ground truth."""
    return gray_level(rgb) if gray else rgb_to_y(rgb)


def compare(
    hr: npt.NDArray[np.uint8], sr: npt.NDArray[np.uint8], scale: int, *, gray: bool
) -> ImageScore:
    """Steps 4-6 on a mod-cropped HR and an SR of the same size."""
    if hr.shape != sr.shape:
        raise ImageError(
            f"the upscaled image is {sr.shape[1]}x{sr.shape[0]}x{sr.shape[2]}, "
            f"expected {hr.shape[1]}x{hr.shape[0]}x{hr.shape[2]}",
            hint="the model's scale must match --scale",
        )
    y_hr = shave(luminance(hr, gray=gray), scale)
    y_sr = shave(luminance(sr, gray=gray), scale)
    return ImageScore(psnr(y_hr, y_sr), ssim(y_hr, y_sr))


def score_rgb(
    hr_full: npt.NDArray[np.uint8],
    scale: int,
    upscale: RgbUpscale,
    *,
    gray: bool,
    name: str = "image",
    make_input: MakeInput | None = None,
    perceptual: Callable[[npt.NDArray[np.uint8], npt.NDArray[np.uint8]], float] | None = None,
) -> ImageScore:
    """The whole protocol for one HR image and one RGB upscaler (a model or bicubic).

    ``make_input`` replaces step 2 with a degradation protocol's recipe; ``perceptual``
    scores (SR, HR) with a perceptual metric on top of PSNR/SSIM.
    """
    hr = modcrop(hr_full, scale)
    check_size(hr.shape, scale, name)
    drawn: Mapping[str, Any] | None = None
    if make_input is None:
        lr = make_lr(hr, scale)
    else:
        lr, drawn = make_input(hr, scale)
    sr = np.asarray(upscale(lr))
    if sr.dtype != np.uint8 or sr.ndim != 3:
        raise ImageError(
            f"the upscaler returned {sr.dtype} of shape {list(sr.shape)} for {name}",
            hint="an evaluated upscaler must return an HxWx3 uint8 array",
        )
    score = replace(compare(hr, sr, scale, gray=gray), degradation=drawn or None)
    return score if perceptual is None else replace(score, perceptual=perceptual(sr, hr))


def score_bicubic_y(hr_full: npt.NDArray[np.uint8], scale: int, *, gray: bool) -> ImageScore:
    """The legacy Y-only bicubic baseline of the published tables (see the module doc)."""
    hr = modcrop(hr_full, scale)
    check_size(hr.shape, scale, "image")
    y = round_uint8(luminance(hr, gray=gray)).astype(np.float64) / 255.0
    up = imresize(imresize(y, 1.0 / scale), float(scale))
    sr = round_uint8(up * 255.0).astype(np.float64)
    y_hr = shave(y * 255.0, scale)
    y_sr = shave(sr, scale)
    return ImageScore(psnr(y_hr, y_sr), ssim(y_hr, y_sr))
