"""Animated GIF in and out (GIF89a, the W3C/CompuServe specification of 1990).

Reading walks the block structure here and hands each frame's LZW data to Pillow inside
a minimal one-frame GIF, then composites as browsers do: the canvas starts transparent,
a frame's transparent index leaves what is under it, and after the frame is shown its
disposal applies (1: keep, 2: clear its rectangle to transparent, 3: restore what was
there before it; 0 keeps, as browsers treat "unspecified").

Writing is the reverse: one global 256-colour palette (:mod:`upscaler.media.gif_palette`)
for every frame, each frame the rectangle that changed, LZW-coded by Pillow and spliced
into a file whose blocks are written here, so the frame count, every delay and the
disposal of every frame are exactly the ones chosen (Pillow's own animated writer merges
identical frames and picks disposal itself).
"""

from __future__ import annotations

import io
import logging
import math
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO

import numpy as np
import numpy.typing as npt

from upscaler.atomic import temp_path
from upscaler.errors import MediaError
from upscaler.media.animation_canvas import (
    Box,
    Canvas,
    changed_box,
    mask_box,
    pillow_decode,
    union,
)
from upscaler.media.animation_info import AnimationInfo, milliseconds
from upscaler.media.gif_palette import PaletteBuilder, PaletteMapper

logger = logging.getLogger("upscaler.media.gif")

SIGNATURES = (b"GIF87a", b"GIF89a")
MAX_SIDE = 65_535
"""GIF stores sizes in 16 bits."""
MAX_LOOPS = 65_535
_TRAILER = 0x3B
_EXTENSION = 0x21
_IMAGE = 0x2C
_GRAPHIC_CONTROL = 0xF9
_APPLICATION = 0xFF
_LOOP_APPS = (b"NETSCAPE2.0", b"ANIMEXTS1.0")


@dataclass(frozen=True)
class GifFrame:
    """One image block and the graphic control extension before it."""

    box: Box
    interlaced: bool
    palette: bytes
    data: tuple[int, int]
    """Offsets of the LZW code size byte and of the end of the block terminator."""
    delay_cs: int
    disposal: int
    transparent: int | None


@dataclass(frozen=True)
class GifFile:
    """The structure of a GIF: its canvas, loop count and frames (no pixels decoded)."""

    width: int
    height: int
    loop: int | None
    """The NETSCAPE2.0 repeat count; None when the block is absent (play once)."""
    frames: tuple[GifFrame, ...]


class _Cursor:
    """Reads a GIF's bytes in order; running out of them is a truncated file."""

    def __init__(self, data: bytes, what: str) -> None:
        self.data = data
        self.what = what
        self.pos = 0
        self.frames_seen = 0

    def take(self, count: int) -> bytes:
        end = self.pos + count
        if end > len(self.data):
            raise MediaError(
                f"{self.what} ends in the middle of frame {self.frames_seen + 1}: the file "
                "is truncated",
                hint="download or export the GIF again",
            )
        chunk = self.data[self.pos : end]
        self.pos = end
        return chunk

    def blocks(self) -> list[bytes]:
        """The data sub-blocks up to their zero-length terminator."""
        found: list[bytes] = []
        while True:
            size = self.take(1)[0]
            if size == 0:
                return found
            found.append(self.take(size))

    def skip_blocks(self) -> None:
        while True:
            size = self.take(1)[0]
            if size == 0:
                return
            self.take(size)


def is_gif(head: bytes) -> bool:
    """True when the bytes start with a GIF signature."""
    return head[:6] in SIGNATURES


def parse(data: bytes, what: str) -> GifFile:
    """The block structure of a GIF; a truncated or malformed one is a MediaError.

    As in browsers, a file that ends cleanly after a complete frame without its trailer,
    or goes on with a byte that starts no block, is read as the frames before that point
    (with a warning): the still path reads such stills, and must keep reading them.
    Ending inside a block is truncation.
    """
    cursor = _Cursor(data, what)
    if cursor.take(6) not in SIGNATURES:
        raise MediaError(f"{what} is not a GIF", hint="pass a GIF, APNG or WebP file")
    width, height, flags, _background, _aspect = struct.unpack("<HHBBB", cursor.take(7))
    global_palette = cursor.take(3 << ((flags & 7) + 1)) if flags & 0x80 else b""
    loop: int | None = None
    frames: list[GifFrame] = []
    control: tuple[int, int, int | None] | None = None
    while True:
        if cursor.pos == len(data) and frames:
            logger.warning(
                "%s has no trailer after its %d frames; read as those frames", what, len(frames)
            )
            break
        kind = cursor.take(1)[0]
        if kind == _TRAILER:
            break
        if kind == _EXTENSION:
            label = cursor.take(1)[0]
            blocks = cursor.blocks()
            if label == _GRAPHIC_CONTROL and blocks and len(blocks[0]) >= 4:
                packed, delay, index = struct.unpack("<BHB", blocks[0][:4])
                control = (delay, (packed >> 2) & 7, index if packed & 1 else None)
            elif label == _APPLICATION and blocks and blocks[0][:11] in _LOOP_APPS:
                sub = blocks[1] if len(blocks) > 1 else b""
                if len(sub) >= 3 and sub[0] == 1:
                    loop = struct.unpack("<H", sub[1:3])[0]
            continue
        if kind != _IMAGE and frames:
            # Browsers stop at a byte that starts no block; so does this reader.
            logger.warning(
                "%s: a byte 0x%02x that starts no block follows frame %d; read as the %d "
                "frames before it",
                what,
                kind,
                len(frames),
                len(frames),
            )
            break
        if kind != _IMAGE:
            raise MediaError(
                f"{what} holds an unknown block 0x{kind:02x} at byte {cursor.pos - 1} "
                f"(after {len(frames)} frames): the file is damaged",
                hint="download or export the GIF again",
            )
        left, top, w, h, packed = struct.unpack("<HHHHB", cursor.take(9))
        palette = cursor.take(3 << ((packed & 7) + 1)) if packed & 0x80 else global_palette
        start = cursor.pos
        cursor.take(1)  # LZW minimum code size
        cursor.skip_blocks()
        delay, disposal, transparent = control if control is not None else (0, 0, None)
        frames.append(
            GifFrame(
                box=(left, top, left + w, top + h),
                interlaced=bool(packed & 0x40),
                palette=palette,
                data=(start, cursor.pos),
                delay_cs=delay,
                disposal=disposal,
                transparent=transparent,
            )
        )
        control = None
        cursor.frames_seen = len(frames)
    if not frames:
        raise MediaError(f"{what} holds no image", hint="pass a GIF with at least one frame")
    return GifFile(width, height, loop, tuple(frames))


def check_frame_sizes(gif: GifFile, what: str, limit: int) -> None:
    """Refuse a frame whose own rectangle has more pixels than ``limit``: the canvas
    size says nothing about it, and a few MB of LZW codes can declare a frame of four
    billion pixels that a decoder would allocate whole before clipping it."""
    for number, frame in enumerate(gif.frames, 1):
        left, top, right, bottom = frame.box
        if (right - left) * (bottom - top) > limit:
            raise MediaError(
                f"frame {number} of {what} is {right - left}x{bottom - top} = "
                f"{(right - left) * (bottom - top):,} pixels, above the limit of {limit:,} "
                "(a guard against decompression bombs)",
                hint="pass max_pixels=N, or set UPSCALER_MAX_PIXELS",
            )


def centiseconds(delay: Fraction) -> int:
    """A delay as GIF stores it: whole hundredths of a second, rounded half up."""
    return min(65_535, math.floor(delay * 100 + Fraction(1, 2)))


def plays_of(loop: int | None) -> int:
    """Times shown in all for a NETSCAPE repeat count (see AnimationInfo.plays)."""
    if loop is None:
        return 1
    return 0 if loop == 0 else loop + 1


def info_of(gif: GifFile) -> AnimationInfo:
    """What the headers say; transparency is possible when a frame names a transparent
    index, clears to the (transparent) background, or the first frame leaves part of
    the canvas uncovered."""
    first = gif.frames[0].box
    uncovered = first[0] > 0 or first[1] > 0 or first[2] < gif.width or first[3] < gif.height
    transparent = uncovered or any(f.transparent is not None or f.disposal == 2 for f in gif.frames)
    return AnimationInfo(
        format="gif",
        width=gif.width,
        height=gif.height,
        frame_count=len(gif.frames),
        durations_ms=milliseconds(delays(gif)),
        plays=plays_of(gif.loop),
        has_transparency=transparent,
    )


def delays(gif: GifFile) -> tuple[Fraction, ...]:
    """Each frame's delay in seconds (GIF counts hundredths)."""
    return tuple(Fraction(f.delay_cs, 100) for f in gif.frames)


def _frame_indices(data: bytes, frame: GifFrame, number: int, what: str) -> npt.NDArray[np.uint8]:
    """One frame's colour indices, its LZW data decoded by Pillow inside a one-frame GIF
    of the frame's own size."""
    left, top, right, bottom = frame.box
    width, height = right - left, bottom - top
    palette = frame.palette or bytes(np.repeat(np.arange(256, dtype=np.uint8), 3))
    bits = max(1, (len(palette) // 3 - 1).bit_length())
    table = palette.ljust(3 << bits, b"\0")
    mini = b"".join(
        [
            b"GIF89a",
            struct.pack("<HHBBB", width, height, 0x80 | (bits - 1), 0, 0),
            table,
            struct.pack("<BHHHHB", _IMAGE, 0, 0, width, height, 0x40 if frame.interlaced else 0),
            data[frame.data[0] : frame.data[1]],
            bytes([_TRAILER]),
        ]
    )
    image = pillow_decode(mini, f"frame {number} of {what}")
    return np.asarray(image, dtype=np.uint8)


def _colours(frame: GifFrame) -> npt.NDArray[np.uint8]:
    """The frame's palette as 256 RGBA entries (missing ones opaque black), its
    transparent index at alpha 0."""
    table = np.zeros((256, 4), dtype=np.uint8)
    table[:, 3] = 255
    rgb = np.frombuffer(frame.palette[: 768 - len(frame.palette) % 3], dtype=np.uint8)
    rgb = rgb[: (len(rgb) // 3) * 3].reshape(-1, 3)
    if rgb.size == 0:
        rgb = np.repeat(np.arange(256, dtype=np.uint8)[:, None], 3, axis=1)
    table[: len(rgb), :3] = rgb
    if frame.transparent is not None:
        table[frame.transparent, 3] = 0
    return table


def frames(data: bytes, gif: GifFile, what: str) -> Iterator[Canvas]:
    """Every frame as browsers show it: a fresh HxWx4 RGBA canvas per frame."""
    canvas = np.zeros((gif.height, gif.width, 4), dtype=np.uint8)
    for number, frame in enumerate(gif.frames, 1):
        left, top, right, bottom = frame.box
        if right == left or bottom == top:  # an empty frame draws nothing but is shown
            yield canvas.copy()
            continue
        indices = _frame_indices(data, frame, number, what)
        # Clip to the canvas: viewers draw only what lies on it.
        x1, y1 = min(right, gif.width), min(bottom, gif.height)
        region = canvas[top:y1, left:x1]
        saved = region.copy() if frame.disposal == 3 else None
        if region.size:
            pixels = _colours(frame)[indices[: y1 - top, : x1 - left]]
            if frame.transparent is None:
                region[...] = pixels
            else:
                shown = indices[: y1 - top, : x1 - left] != frame.transparent
                region[shown] = pixels[shown]
        yield canvas.copy()
        if frame.disposal == 2:
            region[...] = 0
        elif saved is not None:
            region[...] = saved


# -- writing -----------------------------------------------------------------------------------


class GifWriter:
    """Writes upscaled frames as one animated GIF with a global palette.

    The palette must see every frame before any frame can be written, so :meth:`add`
    spills each frame to a temp file beside the output (not RAM) while the palette
    builder counts its colours; :meth:`finish` then reads the frames back one at a time,
    maps them to the palette and writes them. At most two frames and their index maps
    are in memory at once.
    """

    def __init__(
        self,
        out: BinaryIO,
        folder: Path,
        *,
        width: int,
        height: int,
        frame_count: int,
        plays: int,
        alpha: bool,
    ) -> None:
        self.out = out
        self.width = width
        self.height = height
        self.frame_count = frame_count
        self.plays = plays
        self.alpha = alpha
        self.channels = 4 if alpha else 3
        self.delays: list[int] = []
        self.builder = PaletteBuilder(255 if alpha else 256)
        self.spill_path = temp_path(folder, ".frames")
        self.spill: BinaryIO | None = self.spill_path.open("r+b")
        self.palette_error = 0.0
        self.table = b""

    def add(self, frame: npt.NDArray[np.uint8], delay: Fraction) -> None:
        """Spill one upscaled HxWx3 (or x4) frame and count its colours."""
        assert self.spill is not None
        self.builder.add(frame)
        self.spill.write(np.ascontiguousarray(frame).tobytes())
        self.delays.append(centiseconds(delay))

    def _read(self, number: int) -> npt.NDArray[np.uint8]:
        assert self.spill is not None
        size = self.width * self.height * self.channels
        self.spill.seek(number * size)
        raw = self.spill.read(size)
        return np.frombuffer(raw, dtype=np.uint8).reshape(self.height, self.width, self.channels)

    def finish(self) -> None:
        """Build the palette and write every frame. Sets :attr:`palette_error`: the mean
        absolute difference, per channel, of the written visible pixels from the upscaled
        ones (0 when the frames hold at most 256 colours)."""
        mapper = PaletteMapper(self.builder.palette(), transparent=255 if self.alpha else None)
        self.table = mapper.table_bytes()
        self._header()
        count = len(self.delays)
        blank = mapper.transparent if mapper.transparent is not None else 0
        shown = np.full((self.height, self.width), blank, dtype=np.uint8)
        current = mapper.map(self._read(0))
        for number in range(count):
            following = mapper.map(self._read(number + 1)) if number + 1 < count else None
            shown = self._frame(number, current, following, shown, mapper.transparent)
            if following is not None:
                current = following
        self.out.write(bytes([_TRAILER]))
        self.palette_error = mapper.error

    def _header(self) -> None:
        self.out.write(b"GIF89a")
        self.out.write(struct.pack("<HHBBB", self.width, self.height, 0xF7, 0, 0))
        self.out.write(self.table)
        if self.plays != 1:
            repeats = 0 if self.plays == 0 else min(MAX_LOOPS, self.plays - 1)
            self.out.write(b"\x21\xff\x0bNETSCAPE2.0\x03\x01")
            self.out.write(struct.pack("<H", repeats) + b"\x00")

    def _frame(
        self,
        number: int,
        target: npt.NDArray[np.uint8],
        following: npt.NDArray[np.uint8] | None,
        shown: npt.NDArray[np.uint8],
        transparent: int | None,
    ) -> npt.NDArray[np.uint8]:
        """Write frame ``number`` so the canvas becomes ``target``; returns the canvas
        the next frame is drawn on.

        The rectangle drawn is what changed since the canvas shown; unchanged pixels in
        it are written transparent when there is a transparent index, which leaves them
        as they are. A pixel that must turn transparent in the next frame cannot be drawn
        transparent (that leaves it), so this frame takes disposal 2 and a rectangle
        that covers it: the viewer clears the rectangle once the frame has been shown.
        """
        full: Box = (0, 0, self.width, self.height)
        box = full if number == 0 else changed_box(shown, target)
        disposal = 1
        if transparent is not None and following is not None:
            clear = (following == transparent) & (target != transparent)
            if clear.any():
                disposal = 2
                box = union(box, mask_box(clear))
        if box is None:
            box = (0, 0, 1, 1)  # nothing changed: a one-pixel frame keeps the frame count
        left, top, right, bottom = box
        pixels = target[top:bottom, left:right]
        if transparent is not None and number > 0:
            pixels = np.where(pixels == shown[top:bottom, left:right], transparent, pixels)
        flags = (disposal << 2) | (1 if transparent is not None else 0)
        self.out.write(b"\x21\xf9\x04")
        self.out.write(struct.pack("<BHB", flags, self.delays[number], transparent or 0) + b"\x00")
        self._image(np.ascontiguousarray(pixels, dtype=np.uint8), left, top)
        after = target.copy()
        if disposal == 2:
            assert transparent is not None
            after[top:bottom, left:right] = transparent
        return after

    def _image(self, indices: npt.NDArray[np.uint8], left: int, top: int) -> None:
        """One image block: Pillow LZW-codes the indices as a one-frame GIF, whose image
        data is spliced in under this file's global palette."""
        from PIL import Image

        image = Image.fromarray(indices, "P")
        image.putpalette(self.table)
        buffer = io.BytesIO()
        image.save(buffer, "GIF", optimize=False, interlace=False)
        coded = buffer.getvalue()
        frame = parse(coded, "an encoded frame").frames[0]
        height, width = indices.shape
        self.out.write(struct.pack("<BHHHHB", _IMAGE, left, top, width, height, 0))
        self.out.write(coded[frame.data[0] : frame.data[1]])

    def close(self) -> None:
        """Remove the spill file (always, finished or not)."""
        if self.spill is not None:
            self.spill.close()
            self.spill = None
        self.spill_path.unlink(missing_ok=True)
