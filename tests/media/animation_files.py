"""Animated test files written byte by byte, independent of the code under test.

Pillow's animated writers choose frame rectangles, disposal and blending themselves (and
merge identical frames), so the cases that matter (a GIF frame at an offset with
disposal 3, an APNG frame blended OVER a partial region) are built here from the
specifications: GIF blocks with literal-only LZW codes, APNG chunks with unfiltered
zlib rows. Also: reading any animation back with Pillow, frame by frame.
"""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

# -- GIF -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GifFrameSpec:
    indices: np.ndarray  # HxW uint8 colour indices
    left: int = 0
    top: int = 0
    delay_cs: int = 10
    disposal: int = 1
    transparent: int | None = None


def _lzw_literal(indices: np.ndarray) -> bytes:
    """GIF LZW data (code size 8) that codes every pixel as a literal: a clear code
    every 200 codes keeps the code width at 9 bits, so no string table is needed."""
    clear, end = 256, 257
    codes = [clear]
    for count, value in enumerate(indices.reshape(-1).tolist()):
        if count and count % 200 == 0:
            codes.append(clear)
        codes.append(int(value))
    codes.append(end)
    bits = 0
    nbits = 0
    out = bytearray()
    for code in codes:
        bits |= code << nbits
        nbits += 9
        while nbits >= 8:
            out.append(bits & 255)
            bits >>= 8
            nbits -= 8
    if nbits:
        out.append(bits & 255)
    blocks = bytearray([8])
    for start in range(0, len(out), 255):
        piece = out[start : start + 255]
        blocks.append(len(piece))
        blocks += piece
    blocks.append(0)
    return bytes(blocks)


def gif_bytes(
    width: int,
    height: int,
    palette: list[tuple[int, int, int]],
    frames: list[GifFrameSpec],
    *,
    loop: int | None = 0,
) -> bytes:
    """An animated GIF with a global palette (padded to 256) and the given frames."""
    table = bytearray(768)
    for i, colour in enumerate(palette):
        table[3 * i : 3 * i + 3] = bytes(colour)
    out = bytearray(b"GIF89a")
    out += struct.pack("<HHBBB", width, height, 0xF7, 0, 0) + table
    if loop is not None:
        out += b"\x21\xff\x0bNETSCAPE2.0\x03\x01" + struct.pack("<H", loop) + b"\x00"
    for frame in frames:
        flags = (frame.disposal << 2) | (1 if frame.transparent is not None else 0)
        out += (
            b"\x21\xf9\x04"
            + struct.pack("<BHB", flags, frame.delay_cs, frame.transparent or 0)
            + b"\x00"
        )
        h, w = frame.indices.shape
        out += struct.pack("<BHHHHB", 0x2C, frame.left, frame.top, w, h, 0)
        out += _lzw_literal(frame.indices)
    out += b";"
    return bytes(out)


def gif_image_blocks(data: bytes) -> list[tuple[int, int, int, int, int]]:
    """``(left, top, width, height, flags)`` of every image block of a GIF."""
    pos = 13
    if data[10] & 0x80:
        pos += 3 << ((data[10] & 7) + 1)
    found = []
    while data[pos] != 0x3B:
        if data[pos] == 0x21:
            pos += 2
        else:
            found.append(struct.unpack("<HHHHB", data[pos + 1 : pos + 10]))
            flags = data[pos + 9]
            pos += 10 + ((3 << ((flags & 7) + 1)) if flags & 0x80 else 0) + 1
        while data[pos]:
            pos += data[pos] + 1
        pos += 1
    return found


# -- APNG ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ApngFrameSpec:
    rgba: np.ndarray  # HxWx4 uint8
    left: int = 0
    top: int = 0
    delay: tuple[int, int] = (1, 10)
    dispose: int = 0  # 0 none, 1 background, 2 previous
    blend: int = 0  # 0 source, 1 over


def _chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(payload, zlib.crc32(kind)) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def _rows(rgba: np.ndarray) -> bytes:
    h = rgba.shape[0]
    raw = np.concatenate([np.zeros((h, 1), np.uint8), rgba.reshape(h, -1)], axis=1)
    return zlib.compress(raw.tobytes())


def apng_bytes(
    width: int,
    height: int,
    frames: list[ApngFrameSpec],
    *,
    plays: int = 0,
    hidden_default: np.ndarray | None = None,
) -> bytes:
    """An RGBA APNG whose first frame is its default image, or whose default image is
    ``hidden_default``, shown only by viewers that know no APNG."""
    out = bytearray(b"\x89PNG\r\n\x1a\n")
    out += _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0))
    out += _chunk(b"acTL", struct.pack(">II", len(frames), plays))
    if hidden_default is not None:
        out += _chunk(b"IDAT", _rows(hidden_default))
    sequence = 0
    for number, frame in enumerate(frames):
        h, w = frame.rgba.shape[:2]
        control = struct.pack(
            ">IIIIIHHBB",
            sequence,
            w,
            h,
            frame.left,
            frame.top,
            *frame.delay,
            frame.dispose,
            frame.blend,
        )
        out += _chunk(b"fcTL", control)
        sequence += 1
        if number == 0 and hidden_default is None:
            out += _chunk(b"IDAT", _rows(frame.rgba))
        else:
            out += _chunk(b"fdAT", struct.pack(">I", sequence) + _rows(frame.rgba))
            sequence += 1
    out += _chunk(b"IEND", b"")
    return bytes(out)


# -- Pillow-written sources and reading back ----------------------------------------------------


def pillow_animation(
    path: Path, frames: list[np.ndarray], durations: list[int], **params: object
) -> Path:
    """Write ``frames`` (HxWx3 or x4 uint8) with Pillow's own animated writer."""
    images = [Image.fromarray(f) for f in frames]
    images[0].save(path, save_all=True, append_images=images[1:], duration=durations, **params)
    return path


@dataclass(frozen=True)
class ReadBack:
    frames: list[np.ndarray]  # HxWx4 RGBA as Pillow composites them
    durations: list[float]
    loop: int | None
    format: str | None


def read_back(path: Path) -> ReadBack:
    """Every frame of an animation as Pillow shows it, with its timing and loop."""
    with Image.open(io.BytesIO(path.read_bytes())) as image:
        frames, durations = [], []
        for number in range(getattr(image, "n_frames", 1)):
            image.seek(number)
            image.load()
            frames.append(np.asarray(image.convert("RGBA")).copy())
            durations.append(image.info.get("duration"))
        return ReadBack(frames, durations, image.info.get("loop"), image.format)
