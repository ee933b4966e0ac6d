"""An input's condition in one object, and the degradation protocol it matches.

Models are measured under degradation protocols (clean bicubic downscaling, JPEG at
qualities 30, 50 and 75, Gaussian noise at sigma 15 and 25, a blind real-world mix);
a model ranked under the protocol that matches the user's image is ranked for what
it will actually meet. This module reads the evidence (the file's JPEG tables, JPEG
traces and noise in the pixels, drawn or photographed content) and names the protocol
with one sentence saying why, so a choice made on it can be explained.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from upscaler.analyze.content import Domain, classify_content
from upscaler.analyze.jpeg_pixels import jpeg_history
from upscaler.analyze.jpeg_quality import JpegQuality, TableKind, read_jpeg_quality
from upscaler.analyze.noise import estimate_noise_sigma
from upscaler.analyze.pixels import Float, analysis_view, to_255

Protocol = Literal[
    "bicubic", "jpeg-q30", "jpeg-q50", "jpeg-q75", "noise-s15", "noise-s25", "real-world"
]
JpegSource = Literal["tables", "pixels"]

JPEG_Q30_MAX = 40
"""Qualities up to here are nearest the jpeg-q30 protocol (midway between 30 and 50)."""

JPEG_Q50_MAX = 62
"""Up to here jpeg-q50 (midway between 50 and 75, rounded down)."""

JPEG_Q75_MAX = 85
"""Up to here jpeg-q75. Above it JPEG's loss is below what the clean bicubic protocol's
models already handle: 90-95 is the "visually lossless" range of most encoders."""

NOISE_S25_MIN = 20.0
"""Noise sigma from here up matches noise-s25 (midway between 15 and 25)."""

NOISE_S15_MIN = 8.0
"""Noise sigma from here up matches noise-s15; below it an image counts as clean. Every
Set5/Set14 image reads below it (at most 6.9: the mandrill's film grain), and sigma 8
is about half of noise-s15's, past which a denoising model clearly wins."""


@dataclass(frozen=True)
class InputCondition:
    """What an input image looks like to a model, and the protocol that matches it.

    ``size`` is (width, height) after EXIF orientation. ``jpeg_quality`` is the IJG
    quality the image was (last, or most harshly) compressed with, read from the file's
    tables (``jpeg_source="tables"``) or from its pixels (``"pixels"``: a PNG that was a
    JPEG, an array, or a JPEG re-saved at a high quality); None when neither shows one.
    ``jpeg_tables`` says what the file's own tables are: ``ijg-standard`` (exact, as
    libjpeg and Pillow write them), ``non-standard`` (a camera's or Photoshop's: the
    quality is the nearest IJG one, with ``jpeg_confidence`` below 1), ``none`` (a JPEG
    without tables) or ``not-jpeg``. ``noise_sigma`` is in 0..255 units; ``domain`` is
    the catalog's domain id with ``domain_score`` (0 photo .. 1 drawn).
    """

    source: str | None
    format: str
    size: tuple[int, int]
    jpeg_quality: int | None
    jpeg_tables: TableKind
    jpeg_source: JpegSource | None
    jpeg_confidence: float | None
    noise_sigma: float
    domain: Domain
    domain_score: float
    protocol: Protocol
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values (``size`` as a [width, height] list)."""
        data = asdict(self)
        data["size"] = list(self.size)
        return data


def inspect_image(path: str | os.PathLike[str], *, max_pixels: int | None = None) -> InputCondition:
    """Read an image file's condition: its JPEG tables (header only) and its pixels.

    The pixels are decoded by the same guarded decoder as upscaling uses (regular files
    only, UPSCALER_MAX_PIXELS or ``max_pixels``, one frame), so a path that cannot be
    upscaled cannot be inspected either: it raises :class:`~upscaler.ImageError`.
    """
    from upscaler.errors import ImageError
    from upscaler.runtime.image_io import decode

    file = Path(path)
    header = read_jpeg_quality(file)
    try:
        decoded = decode(file, max_pixels=max_pixels)
    except ImageError:
        if header.tables != "none":
            raise
        raise ImageError(
            f"{file} is a JPEG without quantization tables (an abbreviated stream, as "
            "Motion-JPEG frames are): its pixels cannot be decoded on their own",
            hint="re-save it as a complete JPEG or PNG with the program that made it",
        ) from None
    return _condition(decoded.pixels, header, source=str(file))


def inspect_array(pixels: npt.NDArray[Any]) -> InputCondition:
    """Read an in-memory image's condition from its pixels alone (HxW or HxWxC; uint8,
    uint16 or floats in [0, 1]): no JPEG tables to read, so JPEG is found, if at all,
    as the block quantization it left in the pixels."""
    from upscaler.runtime.image_io import decode

    decoded = decode(np.asarray(pixels))
    return _condition(decoded.pixels, JpegQuality("array", "not-jpeg"), source=None)


def _condition(pixels: npt.NDArray[Any], header: JpegQuality, source: str | None) -> InputCondition:
    colour = analysis_view(to_255(pixels))
    sigma = round(estimate_noise_sigma(colour), 2)
    content = classify_content(colour)
    quality, origin = _jpeg_evidence(header, colour)
    protocol, reason = choose_protocol(
        quality,
        sigma,
        jpeg_source=origin,
        tables=header.tables,
        file_quality=header.quality,
    )
    confidence = header.confidence if origin == "tables" else None
    return InputCondition(
        source=source,
        format=header.format,
        size=(int(pixels.shape[1]), int(pixels.shape[0])),
        jpeg_quality=quality,
        jpeg_tables=header.tables,
        jpeg_source=origin,
        jpeg_confidence=confidence,
        noise_sigma=sigma,
        domain=content.domain,
        domain_score=content.score,
        protocol=protocol,
        reason=reason,
    )


def _jpeg_evidence(header: JpegQuality, colour: Float) -> tuple[int | None, JpegSource | None]:
    """The quality that describes the image's JPEG loss, and where it was read.

    A file's tables are the evidence when they show real loss. When they do not (no
    tables, not a JPEG, or a quality above JPEG_Q75_MAX) the pixels are read too: a PNG
    or an array that was a JPEG, or a web JPEG re-saved at 95 after a harsher first
    save, still carries the first save's block quantization, and that is the loss a
    model has to undo.
    """
    file_quality = header.quality if header.tables in ("ijg-standard", "non-standard") else None
    if file_quality is not None and file_quality <= JPEG_Q75_MAX:
        return file_quality, "tables"
    history = jpeg_history(colour)
    if history.quality is not None and (file_quality is None or history.quality < file_quality):
        return history.quality, "pixels"
    if file_quality is not None:
        return file_quality, "tables"
    return None, None


def choose_protocol(
    jpeg_quality: int | None,
    noise_sigma: float,
    *,
    jpeg_source: JpegSource | None = "tables",
    tables: TableKind = "ijg-standard",
    file_quality: int | None = None,
) -> tuple[Protocol, str]:
    """The protocol an image with this JPEG quality and noise matches, and why.

    JPEG loss at quality JPEG_Q75_MAX or below names a JPEG protocol; noise names a noise
    protocol when the image has no such loss (a high-quality JPEG keeps its noise); both
    at once match no single-degradation protocol and name the blind real-world mix.
    """
    noise = _noise_protocol(noise_sigma)
    sigma = f"{noise_sigma:.1f}"
    if jpeg_quality is None:
        if noise is None:
            return "bicubic", (
                f"no JPEG trace and little noise (σ ≈ {sigma}): ranked by the bicubic protocol"
            )
        return noise, (
            f"noise σ ≈ {sigma} estimated from the pixels: ranked by the {noise} protocol"
        )
    found = _jpeg_phrase(jpeg_quality, jpeg_source, tables, file_quality)
    if jpeg_quality > JPEG_Q75_MAX:
        if noise is None:
            return "bicubic", (
                f"{found}, a quality that loses little, and the noise is low (σ ≈ {sigma}): "
                "ranked by the bicubic protocol"
            )
        return noise, (
            f"{found}, a quality that loses little, but the pixels carry noise σ ≈ {sigma}: "
            f"ranked by the {noise} protocol"
        )
    jpeg = _jpeg_protocol(jpeg_quality)
    if noise is not None:
        return "real-world", (
            f"{found}, and the pixels also carry noise σ ≈ {sigma}: two degradations at once "
            f"match no single one, so ranked by the real-world protocol"
        )
    return jpeg, f"{found}: ranked by the {jpeg} protocol"


def _jpeg_protocol(quality: int) -> Protocol:
    if quality <= JPEG_Q30_MAX:
        return "jpeg-q30"
    if quality <= JPEG_Q50_MAX:
        return "jpeg-q50"
    return "jpeg-q75"


def _noise_protocol(sigma: float) -> Protocol | None:
    if sigma >= NOISE_S25_MIN:
        return "noise-s25"
    if sigma >= NOISE_S15_MIN:
        return "noise-s15"
    return None


def _jpeg_phrase(
    quality: int, source: JpegSource | None, tables: TableKind, file_quality: int | None
) -> str:
    """Where the quality was found, as the first half of the reason."""
    if source == "pixels":
        if file_quality is not None:
            return (
                f"JPEG quality ≈ {quality} found in the pixels' 8x8 block quantization "
                f"(the file says {file_quality}: it was saved again after a harsher save)"
            )
        return (
            f"JPEG quality ≈ {quality} found in the pixels' 8x8 block quantization "
            "(the image was a JPEG once)"
        )
    if tables == "non-standard":
        return (
            f"JPEG quality ≈ {quality} by the nearest IJG tables (the file's quantization "
            "tables are not the IJG standard ones, so this is an estimate)"
        )
    return f"JPEG quality ≈ {quality} found in the file's quantization tables"
