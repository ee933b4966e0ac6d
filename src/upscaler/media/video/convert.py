"""Frames between FFmpeg's pixel formats and the model's RGB arrays, both ways with the
same colour matrix and range, so that a frame the model leaves alone comes back as it
went in (within the rounding of one YUV↔RGB conversion).

The source's matrix and range are read from the decoded frame by swscale; on the way
back they are given explicitly (:func:`sws_colorspace`), because a frame made from an
array carries no tags. Untagged sources use swscale's default (BT.601) on both sides.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from upscaler.errors import MediaError
from upscaler.media.video.encoding import Encoding
from upscaler.media.video.info import Colour

_SWS_BY_AVCOL = {
    1: "ITU709",
    4: "FCC",
    5: "ITU601",
    6: "ITU601",
    7: "SMPTE240M",
    9: "BT2020",
    10: "BT2020",
}
"""FFmpeg's colour-space tags (AVColorSpace, H.273 matrix coefficients) → the matrices
swscale can apply; the rest fall back to its default."""


def sws_colorspace(colour: Colour) -> str | None:
    """swscale's name for the source's YUV matrix (``None``: swscale's default)."""
    return _SWS_BY_AVCOL.get(colour.space)


def frame_to_array(frame: Any, encoding: Encoding) -> npt.NDArray[Any]:
    """A decoded frame as the HxWxC array the model takes (``encoding.frame_format``)."""
    array = frame.to_ndarray(format=encoding.frame_format)
    return np.ascontiguousarray(array)


def fitted_size(
    width: int, height: int, multiple: tuple[int, int], odd_size: str
) -> tuple[int, int]:
    """The encodable size for a ``width``×``height`` model output."""
    step_w, step_h = multiple
    if odd_size == "crop":
        fitted = (width // step_w) * step_w, (height // step_h) * step_h
        if fitted[0] >= 1 and fitted[1] >= 1:
            return fitted
    return -(-width // step_w) * step_w, -(-height // step_h) * step_h


def fit(pixels: npt.NDArray[Any], size: tuple[int, int]) -> npt.NDArray[Any]:
    """``pixels`` cropped or edge-padded to ``size`` (width, height). Padding repeats the
    last row/column rather than adding black, so a player's scaler never blends a dark
    line into the picture."""
    width, height = size
    out = pixels[:height, :width]
    pad_h, pad_w = height - out.shape[0], width - out.shape[1]
    if pad_h or pad_w:
        out = np.pad(out, ((0, pad_h), (0, pad_w), (0, 0)), mode="edge")
    return np.ascontiguousarray(out)


def array_to_frame(
    pixels: npt.NDArray[Any], encoding: Encoding, colour: Colour, reformatter: Any
) -> Any:
    """The encoder's frame for a model output (already fitted to an encodable size)."""
    from upscaler.media.video._av import require_av

    av = require_av()
    frame = av.VideoFrame.from_ndarray(pixels, format=encoding.frame_format)
    target = av.VideoFormat(encoding.pixel_format)
    if target.is_rgb:
        return reformatter.reformat(frame, format=encoding.pixel_format)
    return reformatter.reformat(
        frame,
        format=encoding.pixel_format,
        dst_colorspace=sws_colorspace(colour),
        dst_color_range="JPEG" if colour.full_range else "MPEG",
    )


def check_model_output(
    out: Any, given: npt.NDArray[Any], first: tuple[int, ...] | None, number: int
) -> npt.NDArray[Any]:
    """The frame upscaler's result, or a MediaError saying how it broke the contract of
    :data:`~upscaler.media.frames.FrameUpscaler` (same dtype and channels; one size for
    every frame of a video)."""
    if not isinstance(out, np.ndarray):
        raise MediaError(
            f"the frame upscaler returned {type(out).__name__} for frame {number}, "
            "not a numpy array"
        )
    if out.ndim != 3 or out.shape[2] != given.shape[2] or out.dtype != given.dtype:
        raise MediaError(
            f"the frame upscaler returned a {out.shape} {out.dtype} array for a "
            f"{given.shape} {given.dtype} frame ({number}); it must keep channels and dtype"
        )
    if out.shape[0] < 1 or out.shape[1] < 1:
        raise MediaError(f"the frame upscaler returned an empty frame for frame {number}")
    if first is not None and out.shape != first:
        raise MediaError(
            f"frame {number} came back {out.shape[1]}×{out.shape[0]}, earlier frames "
            f"{first[1]}×{first[0]}: every frame of a video must have one size",
            hint="the model must upscale every frame by the same factor",
        )
    return out
