"""RGB → Y (luma) exactly as MATLAB's ``rgb2ycbcr``, in float64.

Super-resolution papers report PSNR/SSIM on the Y channel of ITU-R BT.601 "studio swing"
YCbCr, computed with MATLAB's ``rgb2ycbcr`` on ``im2double`` images. Its Y row is

    Y = (16 + 65.481 R + 128.553 G + 24.966 B) / 255      (R, G, B in [0, 1])

i.e. the BT.601 luma weights 0.299/0.587/0.114 scaled by 219/255 to the 16..235 range.
Multiplying by 255 gives Y on the 0..255 scale the metrics use, which for 8-bit
input is ``16 + (65.481 R8 + 128.553 G8 + 24.966 B8) / 255``. We keep it in float64 (no
rounding to uint8), as the reference evaluation scripts do.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

#: MATLAB rgb2ycbcr's Y row (coefficients for R, G, B in [0, 1], output in 0..255).
Y_OFFSET = 16.0
Y_WEIGHTS = (65.481, 128.553, 24.966)


def rgb_to_y(image: npt.NDArray[Any]) -> npt.NDArray[np.float64]:
    """Y on the 0..255 scale, float64, of an 8-bit ``H x W x 3`` (or gray ``H x W``) image.

    A gray image is treated as ``R = G = B`` (so its Y is ``16 + 219/255 * gray``), which
    is what the same formula gives for the 3-channel copy the model sees.
    """
    array = np.asarray(image)
    if array.dtype != np.uint8:
        raise ValueError(f"expected 8-bit pixels, got dtype {array.dtype}")
    rgb = array.astype(np.float64) / 255.0
    if rgb.ndim == 3 and rgb.shape[2] == 1:
        rgb = rgb[:, :, 0]
    if rgb.ndim == 2:
        return Y_OFFSET + sum(Y_WEIGHTS) * rgb
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected HxW or HxWx3, got shape {list(array.shape)}")
    r, g, b = rgb[:, :, 0], rgb[:, :, 1], rgb[:, :, 2]
    return Y_OFFSET + Y_WEIGHTS[0] * r + Y_WEIGHTS[1] * g + Y_WEIGHTS[2] * b


#: ITU-R BT.601 luma weights (full range): the gray level of an RGB triple.
LUMA_WEIGHTS = (0.299, 0.587, 0.114)


def gray_level(image: npt.NDArray[Any]) -> npt.NDArray[np.float64]:
    """Full-range BT.601 luma in float64, 0..255: exactly the gray value when R = G = B.

    Used for images whose ground truth is a gray file: the reference scripts compare such
    images on their gray values (no 16..235 studio swing), and a model's RGB output for
    them is folded back to gray with these weights before comparison.
    """
    array = np.asarray(image)
    if array.dtype != np.uint8:
        raise ValueError(f"expected 8-bit pixels, got dtype {array.dtype}")
    values = array.astype(np.float64)
    if values.ndim == 3 and values.shape[2] == 1:
        values = values[:, :, 0]
    if values.ndim == 2:
        return values
    if values.ndim != 3 or values.shape[2] != 3:
        raise ValueError(f"expected HxW or HxWx3, got shape {list(array.shape)}")
    r, g, b = values[:, :, 0], values[:, :, 1], values[:, :, 2]
    # 0.299 R + 0.587 G + 0.114 B, written around G so that R = G = B gives G bit-exactly.
    return g + LUMA_WEIGHTS[0] * (r - g) + LUMA_WEIGHTS[2] * (b - g)
