"""Animated PNG in and out (the APNG chunks of the W3C PNG Third Edition, section 4.9).

Reading walks the chunks here (checking every CRC), hands each frame's compressed rows
to Pillow inside a minimal one-frame PNG, and composites as the specification says:
``APNG_BLEND_OP_OVER`` is true alpha compositing, ``APNG_DISPOSE_OP_PREVIOUS`` restores
the region as it was before the frame. A default image that is not part of the animation
(IDAT before the first fcTL) is not shown, as viewers do not show it.

Writing streams: every frame is written as soon as it is upscaled, as the rectangle that
changed since the frame before, with ``APNG_DISPOSE_OP_NONE`` and
``APNG_BLEND_OP_SOURCE``. SOURCE replaces the pixels, alpha included, so a pixel that
turns transparent really is transparent, and the canvas after each frame is exactly that
frame. The frame count and every delay are the ones chosen (Pillow's writer merges
identical frames).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import BinaryIO

import numpy as np
import numpy.typing as npt

from upscaler.errors import MediaError
from upscaler.media.animation_canvas import Box, Canvas, blend_over, changed_box, pillow_decode
from upscaler.media.animation_info import AnimationInfo, milliseconds
from upscaler.runtime.png_write import filter_rows

SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_SIDE = 2**31 - 1
DISPOSE_NONE, DISPOSE_BACKGROUND, DISPOSE_PREVIOUS = 0, 1, 2
BLEND_SOURCE, BLEND_OVER = 0, 1
_CHUNK_BYTES = 1 << 18
_BAND_BYTES = 1 << 18


@dataclass(frozen=True)
class ApngFrame:
    """One frame control chunk and where its compressed rows are."""

    box: Box
    delay: Fraction
    dispose: int
    blend: int
    parts: tuple[tuple[int, int], ...]
    """Offsets (start, end) of the zlib data in the IDAT or fdAT chunks."""


@dataclass(frozen=True)
class ApngFile:
    """The structure of an APNG: its header chunks, plays and frames (no pixels)."""

    width: int
    height: int
    header: bytes
    palette: bytes
    transparency: bytes
    plays: int
    frames: tuple[ApngFrame, ...]
    hidden_default: bool
    """The IDAT image is a default image for viewers without APNG, not a frame."""


def is_png(head: bytes) -> bool:
    """True when the bytes start with the PNG signature."""
    return head[:8] == SIGNATURE


def _chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(payload, zlib.crc32(kind)) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def _chunks(data: bytes, what: str) -> Iterator[tuple[bytes, int, int, bool]]:
    """``(type, start, end, crc_ok)`` of each chunk's payload, up to IEND."""
    pos = len(SIGNATURE)
    while True:
        if pos + 8 > len(data):
            raise MediaError(
                f"{what} ends before its IEND chunk: the file is truncated",
                hint="download or export the APNG again",
            )
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        start, end = pos + 8, pos + 8 + length
        if end + 4 > len(data):
            raise MediaError(
                f"{what} ends inside its {kind.decode('latin-1')!r} chunk: the file is truncated",
                hint="download or export the APNG again",
            )
        crc = struct.unpack(">I", data[end : end + 4])[0]
        crc_ok = zlib.crc32(data[start:end], zlib.crc32(kind)) & 0xFFFFFFFF == crc
        yield kind, start, end, crc_ok
        if kind == b"IEND":
            return
        pos = end + 4


def parse(data: bytes, what: str) -> ApngFile | None:
    """The structure of an APNG, or None for a PNG without animation control."""
    header = palette = transparency = b""
    control: tuple[int, int] | None = None
    frames: list[ApngFrame] = []
    pending: tuple[Box, Fraction, int, int] | None = None
    parts: list[tuple[int, int]] = []
    hidden_default = False

    def close_frame() -> None:
        if pending is not None:
            if not parts:
                raise MediaError(
                    f"{what}: frame {len(frames) + 1} has no image data",
                    hint="the file is damaged; export the APNG again",
                )
            frames.append(ApngFrame(pending[0], pending[1], pending[2], pending[3], tuple(parts)))

    chunks = _chunks(data, what)
    while True:
        try:
            kind, start, end, crc_ok = next(chunks)
        except StopIteration:
            break
        except MediaError:
            if control is None:
                return None  # not an animation: the still path reports the damage
            raise
        if not crc_ok and (control is not None or kind == b"acTL"):
            raise MediaError(
                f"{what} has a damaged {kind.decode('latin-1')!r} chunk at byte {start - 8} "
                "(its CRC does not match)",
                hint="download or export the APNG again",
            )
        payload = data[start:end]
        if kind == b"IHDR":
            header = payload
        elif kind == b"PLTE":
            palette = payload
        elif kind == b"tRNS":
            transparency = payload
        elif kind == b"acTL" and len(payload) == 8:
            control = struct.unpack(">II", payload)
        elif kind == b"IDAT":
            if control is None:
                return None  # a still PNG: the image data came before any animation chunk
            if pending is not None:
                parts.append((start, end))
            else:
                hidden_default = True
        elif kind == b"fcTL" and control is not None:
            close_frame()
            if len(payload) != 26:
                raise MediaError(f"{what} has a damaged fcTL chunk", hint="export it again")
            _, w, h, x, y, num, den, dispose, blend = struct.unpack(">IIIIIHHBB", payload)
            delay = Fraction(num, den or 100)
            pending = ((x, y, x + w, y + h), delay, dispose, blend)
            parts = []
        elif kind == b"fdAT" and pending is not None:
            parts.append((start + 4, end))
    if control is None or len(header) != 13:
        return None
    close_frame()
    width, height = struct.unpack(">II", header[:8])
    declared, plays = control
    if len(frames) != declared:
        raise MediaError(
            f"{what} declares {declared} frames but holds {len(frames)}: the file is damaged",
            hint="export the APNG again",
        )
    for number, frame in enumerate(frames, 1):
        left, top, right, bottom = frame.box
        if right > width or bottom > height or right <= left or bottom <= top:
            raise MediaError(
                f"frame {number} of {what} ({left},{top})-({right},{bottom}) lies outside its "
                f"{width}x{height} canvas",
                hint="the file is damaged; export the APNG again",
            )
    return ApngFile(
        width, height, header, palette, transparency, plays, tuple(frames), hidden_default
    )


def info_of(apng: ApngFile) -> AnimationInfo:
    """What the headers say (transparency: an alpha colour type or a tRNS chunk)."""
    colour_type = apng.header[9]
    return AnimationInfo(
        format="apng",
        width=apng.width,
        height=apng.height,
        frame_count=len(apng.frames),
        durations_ms=milliseconds(delays(apng)),
        plays=apng.plays,
        has_transparency=colour_type in (4, 6) or bool(apng.transparency),
    )


def delays(apng: ApngFile) -> tuple[Fraction, ...]:
    """Each frame's delay in seconds, exactly as stored."""
    return tuple(frame.delay for frame in apng.frames)


def _frame_pixels(data: bytes, apng: ApngFile, frame: ApngFrame, number: int, what: str) -> Canvas:
    """One frame's RGBA pixels, its rows decoded by Pillow inside a one-frame PNG."""
    left, top, right, bottom = frame.box
    header = struct.pack(">II", right - left, bottom - top) + apng.header[8:]
    pieces = [SIGNATURE, _chunk(b"IHDR", header)]
    if apng.palette:
        pieces.append(_chunk(b"PLTE", apng.palette))
    if apng.transparency:
        pieces.append(_chunk(b"tRNS", apng.transparency))
    pieces.append(_chunk(b"IDAT", b"".join(data[a:b] for a, b in frame.parts)))
    pieces.append(_chunk(b"IEND", b""))
    image = pillow_decode(b"".join(pieces), f"frame {number} of {what}")
    if image.mode.startswith("I"):  # 16-bit gray: keep the high byte
        gray = (np.asarray(image, dtype=np.uint32) >> 8).astype(np.uint8)
        return np.dstack([gray, gray, gray, np.full_like(gray, 255)])
    return np.asarray(image.convert("RGBA"), dtype=np.uint8)


def frames(data: bytes, apng: ApngFile, what: str) -> Iterator[Canvas]:
    """Every frame as the specification composites it: a fresh HxWx4 RGBA canvas each."""
    canvas = np.zeros((apng.height, apng.width, 4), dtype=np.uint8)
    for number, frame in enumerate(apng.frames, 1):
        pixels = _frame_pixels(data, apng, frame, number, what)
        left, top, right, bottom = frame.box
        region = canvas[top:bottom, left:right]
        dispose = frame.dispose
        if number == 1 and dispose == DISPOSE_PREVIOUS:
            dispose = DISPOSE_BACKGROUND  # the specification's rule for the first frame
        saved = region.copy() if dispose == DISPOSE_PREVIOUS else None
        if frame.blend == BLEND_OVER:
            blend_over(region, pixels)
        else:
            region[...] = pixels
        yield canvas.copy()
        if dispose == DISPOSE_BACKGROUND:
            region[...] = 0
        elif saved is not None:
            region[...] = saved


# -- writing -----------------------------------------------------------------------------------


def _delay_fraction(delay: Fraction) -> tuple[int, int]:
    """A delay as fcTL's 16-bit numerator and denominator, as exact as they allow."""
    exact = delay.limit_denominator(65_535)
    if exact.numerator <= 65_535:
        return exact.numerator, exact.denominator
    millis = round(delay * 1000)
    if millis <= 65_535:
        return millis, 1000
    return min(65_535, round(delay)), 1


class ApngWriter:
    """Writes frames to an APNG as they come (see the module docstring)."""

    def __init__(
        self, out: BinaryIO, *, width: int, height: int, frame_count: int, plays: int, alpha: bool
    ) -> None:
        self.out = out
        self.width = width
        self.height = height
        self.frame_count = frame_count
        self.channels = 4 if alpha else 3
        self.sequence = 0
        self.previous: npt.NDArray[np.uint8] | None = None
        self.written = 0
        header = struct.pack(">IIBBBBB", width, height, 8, 6 if alpha else 2, 0, 0, 0)
        out.write(SIGNATURE)
        out.write(_chunk(b"IHDR", header))
        out.write(_chunk(b"acTL", struct.pack(">II", frame_count, plays)))

    def add(self, frame: npt.NDArray[np.uint8], delay: Fraction) -> None:
        """Write one HxWx3 (or x4) frame shown for ``delay`` seconds."""
        box: Box | None = (0, 0, self.width, self.height)
        if self.previous is not None:
            box = changed_box(self.previous, frame) or (0, 0, 1, 1)
        assert box is not None
        left, top, right, bottom = box
        num, den = _delay_fraction(delay)
        control = struct.pack(
            ">IIIIIHHBB",
            self._next(),
            right - left,
            bottom - top,
            left,
            top,
            num,
            den,
            DISPOSE_NONE,
            BLEND_SOURCE,
        )
        self.out.write(_chunk(b"fcTL", control))
        for piece in _deflate(frame[top:bottom, left:right]):
            if self.previous is None:
                self.out.write(_chunk(b"IDAT", piece))
            else:
                self.out.write(_chunk(b"fdAT", struct.pack(">I", self._next()) + piece))
        self.previous = frame
        self.written += 1

    def _next(self) -> int:
        number = self.sequence
        self.sequence += 1
        return number

    def finish(self) -> None:
        """End the file (after exactly ``frame_count`` frames)."""
        self.out.write(_chunk(b"IEND", b""))


def _deflate(pixels: npt.NDArray[np.uint8]) -> Iterator[bytes]:
    """The zlib stream of a region's filtered rows, in pieces of up to 256 KiB (the
    filters and compression of :mod:`upscaler.runtime.png_write`)."""
    height, width, channels = pixels.shape
    stride = width * channels
    deflate = zlib.compressobj(6, zlib.DEFLATED, 15, 8, zlib.Z_FILTERED)
    pending = bytearray()
    prior = np.zeros(stride, dtype=np.uint8)
    band = max(1, _BAND_BYTES // max(stride, 1))
    for top in range(0, height, band):
        rows = np.ascontiguousarray(pixels[top : top + band]).reshape(-1, stride)
        pending += deflate.compress(filter_rows(rows, prior, channels).data)
        prior = rows[-1].copy()
        while len(pending) >= _CHUNK_BYTES:
            yield bytes(pending[:_CHUNK_BYTES])
            del pending[:_CHUNK_BYTES]
    pending += deflate.flush()
    if pending:
        yield bytes(pending)
