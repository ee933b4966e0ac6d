"""Which animation a file holds, told from its bytes (never its name), and its frames.

The signature picks the reader (``GIF8``, the PNG signature, ``RIFF....WEBP``); each
reader says from its headers alone whether the file is animated, so a still GIF, PNG or
WebP is left to the still-image path exactly as before.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from upscaler import settings
from upscaler.errors import ImageError, MediaError
from upscaler.media import animation_apng, animation_gif, animation_webp
from upscaler.media.animation_canvas import Canvas
from upscaler.media.animation_info import AnimationInfo
from upscaler.runtime.image_io import open_regular_file


@dataclass(frozen=True)
class AnimationSource:
    """An animation's header-level description and a way to composite its frames."""

    info: AnimationInfo
    delays: tuple[Fraction, ...]
    """Each frame's delay in seconds, as exactly as the format stores it."""
    frames: Callable[[], Iterator[Canvas]]
    """Every frame as viewers show it (HxWx4 RGBA uint8), decoded on demand."""


def read_bytes(path: Path, max_pixels: int | None) -> bytes:
    """The whole file, through the still path's guards (a regular file, not larger than
    any image within the pixel limit could be)."""
    with open_regular_file(path, max_pixels) as handle:
        try:
            return handle.read()
        except OSError as exc:
            raise ImageError(
                f"cannot read {path}: {exc.strerror or exc}", hint="check the file"
            ) from None


def may_be_animated(path: Path, max_pixels: int | None) -> bool:
    """From the first bytes of the file (and, for a PNG, its chunk headers up to the
    image data): False when it certainly holds no animation, so a probe never reads a
    large still image or a video whole. A GIF says nothing before its last frame, so any
    GIF may be one."""
    with open_regular_file(path, max_pixels) as handle:
        try:
            head = handle.read(32)
            if animation_gif.is_gif(head):
                return True
            if animation_webp.is_webp(head):
                return head[12:16] == b"VP8X" and len(head) > 20 and bool(head[20] & 0x02)
            if not animation_apng.is_png(head):
                return False
            pos = len(animation_apng.SIGNATURE)
            while True:
                handle.seek(pos)
                header = handle.read(8)
                if len(header) < 8:
                    return False
                length, kind = struct.unpack(">I4s", header)
                if kind == b"acTL":
                    return True
                if kind in (b"IDAT", b"IEND"):
                    return False
                pos += 12 + length
        except OSError as exc:
            raise ImageError(
                f"cannot read {path}: {exc.strerror or exc}", hint="check the file"
            ) from None


def open_animation(
    data: bytes, what: str, *, max_pixels: int | None = None
) -> AnimationSource | None:
    """The animation in ``data``, or None when it is a still image or no GIF/PNG/WebP.

    A GIF is animated when it has several image blocks; a PNG when it has an ``acTL``
    chunk before its image data (one animation frame is still an animation when the
    image data is a hidden default image); a WebP when its VP8X chunk has the animation
    flag. A GIF or WebP with one frame is a still. Damage that the header walk finds in
    an animation is a MediaError naming the file.
    """
    if animation_gif.is_gif(data):
        gif = animation_gif.parse(data, what)
        if len(gif.frames) < 2:
            return None
        limit = settings.max_pixels() if max_pixels is None else max_pixels
        animation_gif.check_frame_sizes(gif, what, limit)
        return AnimationSource(
            animation_gif.info_of(gif),
            animation_gif.delays(gif),
            lambda: animation_gif.frames(data, gif, what),
        )
    if animation_apng.is_png(data):
        apng = animation_apng.parse(data, what)
        if apng is None or (len(apng.frames) < 2 and not apng.hidden_default):
            return None
        return AnimationSource(
            animation_apng.info_of(apng),
            animation_apng.delays(apng),
            lambda: animation_apng.frames(data, apng, what),
        )
    if animation_webp.is_webp(data):
        webp = animation_webp.parse(data, what)
        if webp is None or len(webp.frames) < 2:
            return None
        return AnimationSource(
            animation_webp.info_of(webp),
            animation_webp.delays(webp),
            lambda: animation_webp.frames(data, webp, what),
        )
    return None


def require_animation(data: bytes, what: str, *, max_pixels: int | None = None) -> AnimationSource:
    """:func:`open_animation` for a file that must be an animation."""
    source = open_animation(data, what, max_pixels=max_pixels)
    if source is None:
        raise MediaError(
            f"{what} is not an animated GIF, APNG or WebP",
            hint="upscale a still image with upscale_file() or `upscaler upscale`, which "
            "take it as it is",
        )
    return source
