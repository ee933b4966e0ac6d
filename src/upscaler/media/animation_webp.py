"""Animated WebP in and out (the RIFF container of Google's "WebP Container
Specification": VP8X, ANIM and one ANMF chunk per frame).

Reading takes the structure (canvas, loop count, each frame's duration and codec) from
the chunks here, without decoding, and the pixels from Pillow, whose reader is libwebp's
own animation decoder: it composites blending and disposal exactly as browsers do.

Writing streams: each frame is coded as a still WebP by Pillow (lossless VP8L, or VP8
with an ALPH chunk when lossy) and its codec chunks are wrapped in an ANMF chunk written
here, as the rectangle that changed since the frame before (offsets even, as ANMF
stores half offsets), "do not blend" and "do not dispose": the frame's pixels, alpha
included, replace the canvas's in that rectangle, so the canvas after each frame is that
frame. Pillow's animated writer (libwebp's animation encoder) would merge identical
frames; here the frame count and every duration are the ones chosen.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import BinaryIO

import numpy as np
import numpy.typing as npt

from upscaler.errors import MediaError
from upscaler.media.animation_canvas import Box, Canvas, changed_box, pillow_errors
from upscaler.media.animation_info import AnimationInfo

MAX_SIDE = 16_383
"""VP8 and VP8L code at most 16383 pixels a side."""
MAX_DURATION_MS = (1 << 24) - 1
MAX_LOOPS = 65_535
_ANIMATION_FLAG = 0x02
_ALPHA_FLAG = 0x10
_NO_BLEND = 0x02
_CODEC_CHUNKS = (b"ALPH", b"VP8 ", b"VP8L")
DEFAULT_QUALITY = 80
"""Lossy quality when a lossy source gives none: Pillow's default, the still path's."""


@dataclass(frozen=True)
class WebpFrame:
    """One ANMF chunk's placement, duration and codec."""

    box: Box
    duration_ms: int
    lossless: bool


@dataclass(frozen=True)
class WebpFile:
    """The structure of an animated WebP (no pixels)."""

    width: int
    height: int
    plays: int
    has_alpha: bool
    frames: tuple[WebpFrame, ...]


def is_webp(head: bytes) -> bool:
    """True when the bytes start a RIFF WebP file."""
    return head[:4] == b"RIFF" and head[8:12] == b"WEBP"


def _u24(data: bytes, at: int) -> int:
    return int.from_bytes(data[at : at + 3], "little")


def _walk(data: bytes, start: int, end: int, what: str) -> Iterator[tuple[bytes, bytes]]:
    """``(fourcc, payload)`` of the RIFF chunks between two offsets."""
    pos = start
    while pos + 8 <= end:
        kind = data[pos : pos + 4]
        size = struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        if pos + 8 + size > end:
            raise MediaError(
                f"{what} ends inside its {kind.decode('latin-1')!r} chunk: the file is truncated",
                hint="download or export the WebP again",
            )
        yield kind, data[pos + 8 : pos + 8 + size]
        pos += 8 + size + (size & 1)


def parse(data: bytes, what: str) -> WebpFile | None:
    """The structure of an animated WebP, or None for a still one."""
    chunks = _walk(data, 12, len(data), what)
    first = next(chunks, None)
    if first is None or first[0] != b"VP8X" or len(first[1]) < 10:
        return None
    flags, features = first[1][0], first[1]
    if not flags & _ANIMATION_FLAG:
        return None
    if 8 + struct.unpack("<I", data[4:8])[0] > len(data):
        raise MediaError(
            f"{what} is shorter than its RIFF header says: the file is truncated",
            hint="download or export the WebP again",
        )
    width, height = 1 + _u24(features, 4), 1 + _u24(features, 7)
    plays = 0
    frames: list[WebpFrame] = []
    for kind, payload in chunks:
        if kind == b"ANIM" and len(payload) >= 6:
            plays = struct.unpack("<H", payload[4:6])[0]
        elif kind == b"ANMF" and len(payload) >= 16:
            x, y = 2 * _u24(payload, 0), 2 * _u24(payload, 3)
            w, h = 1 + _u24(payload, 6), 1 + _u24(payload, 9)
            codecs = {k for k, _ in _walk(payload, 16, len(payload), what)}
            frames.append(WebpFrame((x, y, x + w, y + h), _u24(payload, 12), b"VP8L" in codecs))
    if not frames:
        raise MediaError(f"{what} is an animation without frames", hint="export it again")
    return WebpFile(width, height, plays, bool(flags & _ALPHA_FLAG), tuple(frames))


def info_of(webp: WebpFile) -> AnimationInfo:
    """What the headers say (transparency: the VP8X alpha flag)."""
    return AnimationInfo(
        format="webp",
        width=webp.width,
        height=webp.height,
        frame_count=len(webp.frames),
        durations_ms=tuple(f.duration_ms for f in webp.frames),
        plays=webp.plays,
        has_transparency=webp.has_alpha,
        lossless=all(f.lossless for f in webp.frames),
    )


def delays(webp: WebpFile) -> tuple[Fraction, ...]:
    """Each frame's delay in seconds (WebP counts milliseconds)."""
    return tuple(Fraction(f.duration_ms, 1000) for f in webp.frames)


def frames(data: bytes, webp: WebpFile, what: str) -> Iterator[Canvas]:
    """Every frame as libwebp composites it: a fresh HxWx4 RGBA canvas each."""
    with pillow_errors(what) as opened:
        image = opened(data)
        count = int(getattr(image, "n_frames", 1))
    if count != len(webp.frames):
        raise MediaError(
            f"{what} holds {len(webp.frames)} frame chunks but decodes as {count} frames",
            hint="the file is damaged; export the WebP again",
        )
    for number in range(count):
        with pillow_errors(f"frame {number + 1} of {what}"):
            image.seek(number)
            canvas = np.asarray(image.convert("RGBA"), dtype=np.uint8)
        if canvas.shape[:2] != (webp.height, webp.width):
            raise MediaError(
                f"frame {number + 1} of {what} decodes as {canvas.shape[1]}x{canvas.shape[0]}, "
                f"not the canvas's {webp.width}x{webp.height}",
                hint="the file is damaged; export the WebP again",
            )
        yield canvas


# -- writing -----------------------------------------------------------------------------------


def _chunk(kind: bytes, payload: bytes) -> bytes:
    pad = b"\0" if len(payload) & 1 else b""
    return kind + struct.pack("<I", len(payload)) + payload + pad


def _u24_bytes(value: int) -> bytes:
    return value.to_bytes(3, "little")


class WebpWriter:
    """Writes frames to an animated WebP as they come (see the module docstring).

    ``quality`` None is lossless (VP8L); a number 0-100 is lossy VP8 at that quality.
    """

    def __init__(
        self,
        out: BinaryIO,
        *,
        width: int,
        height: int,
        plays: int,
        alpha: bool,
        quality: int | None,
    ) -> None:
        self.out = out
        self.width = width
        self.height = height
        self.alpha = alpha
        self.quality = quality
        self.previous: npt.NDArray[np.uint8] | None = None
        self.start = out.tell()
        flags = _ANIMATION_FLAG | (_ALPHA_FLAG if alpha else 0)
        features = bytes([flags, 0, 0, 0]) + _u24_bytes(width - 1) + _u24_bytes(height - 1)
        out.write(b"RIFF\0\0\0\0WEBP")
        out.write(_chunk(b"VP8X", features))
        # Background: transparent, which libwebp's decoder and browsers start from anyway.
        out.write(_chunk(b"ANIM", b"\0\0\0\0" + struct.pack("<H", min(plays, MAX_LOOPS))))

    def add(self, frame: npt.NDArray[np.uint8], delay: Fraction) -> None:
        """Write one HxWx3 (or x4) frame shown for ``delay`` seconds."""
        box: Box | None = (0, 0, self.width, self.height)
        if self.previous is not None:
            box = changed_box(self.previous, frame) or (0, 0, 1, 1)
        assert box is not None
        left, top, right, bottom = box
        left, top = left & ~1, top & ~1
        header = b"".join(
            [
                _u24_bytes(left // 2),
                _u24_bytes(top // 2),
                _u24_bytes(right - left - 1),
                _u24_bytes(bottom - top - 1),
                _u24_bytes(min(MAX_DURATION_MS, round(delay * 1000))),
                bytes([_NO_BLEND]),
            ]
        )
        coded = self._encode(frame[top:bottom, left:right])
        self.out.write(_chunk(b"ANMF", header + coded))
        self.previous = frame

    def _encode(self, pixels: npt.NDArray[np.uint8]) -> bytes:
        """The codec chunks (ALPH, VP8 or VP8L) of the pixels coded as a still WebP."""
        from PIL import Image

        buffer = io.BytesIO()
        image = Image.fromarray(np.ascontiguousarray(pixels))
        if self.quality is None:
            image.save(buffer, "WEBP", lossless=True)
        else:
            image.save(buffer, "WEBP", quality=self.quality)
        data = buffer.getvalue()
        kept = [
            _chunk(kind, payload)
            for kind, payload in _walk(data, 12, len(data), "an encoded frame")
            if kind in _CODEC_CHUNKS
        ]
        return b"".join(kept)

    def finish(self) -> None:
        """Write the RIFF size now that the file is complete."""
        end = self.out.tell()
        self.out.seek(self.start + 4)
        self.out.write(struct.pack("<I", end - self.start - 8))
        self.out.seek(end)
