"""Animated GIF, APNG and WebP: every frame upscaled, written as the same kind.

The contract with the caller is two functions. :func:`probe_animation` looks at a file's
headers (milliseconds, no pixel decoded) and says whether it is an animation, so stills
keep the still path. :func:`upscale_animation` upscales every frame through the
caller's :data:`~upscaler.media.frames.FrameUpscaler` and writes the result atomically.

What a viewer sees is what is upscaled: each frame is composited first (GIF disposal and
transparent indices, APNG dispose and blend operations, WebP blending), and every output
frame is written so that it reproduces exactly its composited canvas, transparent areas
included. Timing (each frame's delay) and the number of plays are kept; see
docs/animations.md for what each format can store.

Memory stays at a few frames whatever the length: frames are decoded one at a time, and
APNG and WebP frames are written as soon as they are upscaled. GIF needs every upscaled
frame twice (once to choose the palette, once to write them), so they are spilled to a
temp file beside the output, not kept in RAM.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
from collections.abc import Generator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import numpy.typing as npt

from upscaler.atomic import write_atomically
from upscaler.errors import MediaError
from upscaler.media.animation_canvas import Canvas
from upscaler.media.animation_info import AnimationFormat, AnimationInfo, check_limits
from upscaler.media.animation_read import (
    AnimationSource,
    may_be_animated,
    open_animation,
    read_bytes,
)
from upscaler.media.animation_read import require_animation as _require_animation
from upscaler.media.animation_webp import DEFAULT_QUALITY
from upscaler.media.animation_write import (
    MAX_PLAYS,
    OUTPUT_SUFFIXES,
    FrameWriter,
    check_size,
    frame_writer,
    output_format,
    written_delay,
)
from upscaler.media.frames import FrameUpscaler, ProgressCallback
from upscaler.runtime.image_io import refuse_overwriting_input

__all__ = [
    "OUTPUT_SUFFIXES",
    "AnimationInfo",
    "check_animation_output",
    "probe_animation",
    "upscale_animation",
]

logger = logging.getLogger("upscaler.media.animation")


def probe_animation(
    path: Path,
    *,
    max_pixels: int | None = None,
    max_animation_pixels: int | None = None,
) -> AnimationInfo | None:
    """The animation ``path`` holds, from its headers; None for a still image (a GIF,
    PNG or WebP of one frame, or any other format), which the still path handles.

    Refused before any frame is decoded, with a MediaError: a frame above ``max_pixels``
    (default ``UPSCALER_MAX_PIXELS``), all frames together above
    ``max_animation_pixels`` (default ``UPSCALER_MAX_ANIMATION_PIXELS``), more than
    100,000 frames, and a file whose block structure is truncated or damaged.
    """
    path = Path(path)
    if not may_be_animated(path, max_pixels):
        return None
    source = open_animation(read_bytes(path, max_pixels), str(path), max_pixels=max_pixels)
    if source is None:
        return None
    check_limits(
        source.info, str(path), max_pixels=max_pixels, max_animation_pixels=max_animation_pixels
    )
    return source.info


def check_animation_output(
    info: AnimationInfo, src: Path, dst: Path, *, scale: float | None = None
) -> AnimationFormat:
    """Refuse, before any work, an output that cannot hold the upscaled animation; the
    format it will be written in.

    ``dst`` must name a format that keeps animation (``.gif``, ``.png``/``.apng``,
    ``.webp``), lie in an existing folder, not be a folder, and not be ``src`` under any
    name. With ``scale``, the output size is checked against the format's limit too
    (WebP: 16383 pixels a side, GIF: 65535).
    """
    dst = Path(dst)
    if dst.is_dir():
        raise MediaError(
            f"the output {dst} is a folder",
            hint=f"name an output file inside it, e.g. {dst / Path(src).name}",
        )
    if not dst.parent.is_dir():
        raise MediaError(f"output folder {dst.parent} does not exist", hint="create it first")
    fmt = output_format(dst)
    refuse_overwriting_input(Path(src), dst)
    if scale is not None:
        check_size(fmt, round(info.width * scale), round(info.height * scale), dst)
    return fmt


def upscale_animation(
    src: Path,
    dst: Path,
    upscale_frame: FrameUpscaler,
    *,
    quality: int | None = None,
    progress: ProgressCallback | None = None,
    max_pixels: int | None = None,
    max_animation_pixels: int | None = None,
) -> AnimationInfo:
    """Upscale every frame of the animation ``src`` and write it to ``dst``; the
    written animation's info.

    ``dst``'s suffix picks the format (any animated format to any other is fine).
    Frames go to ``upscale_frame`` as RGBA (HxWx4 uint8) when any composited frame has
    a pixel that is not opaque, else as RGB. ``quality`` is for WebP output: None writes
    lossless frames when the source is lossless (GIF, APNG, lossless WebP) and quality
    80 when it is a lossy WebP; a number 0-100 writes lossy frames at that quality. GIF
    and APNG are always written losslessly but for GIF's palette.

    Everything that can be known before upscaling is checked first (the output name,
    the limits of :func:`probe_animation`, and every frame decoded once), so a damaged
    file fails in seconds, not after an hour of model time. ``dst`` is written
    atomically: on any error, and on :class:`~upscaler.errors.Cancelled` from
    ``upscale_frame``, nothing is left at ``dst`` (an existing file there is untouched)
    and no temp file stays behind.
    """
    src, dst = Path(src), Path(dst)
    if quality is not None and not (isinstance(quality, int) and 0 <= quality <= 100):
        raise MediaError(
            f"quality must be a whole number from 0 to 100, not {quality!r}",
            hint="pass quality=90, or None for lossless WebP frames",
        )
    data = read_bytes(src, max_pixels)
    source = _require_animation(data, str(src), max_pixels=max_pixels)
    info = source.info
    fmt = check_animation_output(info, src, dst)
    check_limits(info, str(src), max_pixels=max_pixels, max_animation_pixels=max_animation_pixels)
    alpha = _any_transparency(source)
    if quality is None and fmt == "webp" and not info.lossless:
        quality = DEFAULT_QUALITY
    job = _Job(
        source,
        dst,
        fmt=fmt,
        alpha=alpha,
        quality=quality,
        upscale_frame=upscale_frame,
        progress=progress,
    )
    write_atomically(dst, job.write)
    result = job.result()
    logger.info(
        "%s: %d frames upscaled to %dx%d (%s%s)",
        dst.name,
        result.frame_count,
        result.width,
        result.height,
        "RGBA" if alpha else "RGB",
        "" if result.palette_error is None else f", GIF palette error {result.palette_error:.2f}",
    )
    return result


def _any_transparency(source: AnimationSource) -> bool:
    """Decode every frame once: True when any composited pixel is not opaque.

    This pass also proves every frame decodes before the first model run, so a file
    damaged in its last frame fails here, not after all the others were upscaled.
    """
    transparent = False
    for canvas in source.frames():
        if source.info.has_transparency and not transparent:
            transparent = bool((canvas[..., 3] != 255).any())
    return transparent


class _Job:
    """One upscaling run: frames in, the writer fed, what was written remembered."""

    def __init__(
        self,
        source: AnimationSource,
        dst: Path,
        *,
        fmt: AnimationFormat,
        alpha: bool,
        quality: int | None,
        upscale_frame: FrameUpscaler,
        progress: ProgressCallback | None,
    ) -> None:
        self.source = source
        self.dst = dst
        self.fmt = fmt
        self.alpha = alpha
        self.quality = quality
        self.upscale_frame = upscale_frame
        self.progress = progress
        self.size: tuple[int, int] | None = None
        self.palette_error: float | None = None

    def _upscaled(self) -> Generator[npt.NDArray[np.uint8], None, None]:
        """Each frame through the model, its shape checked against the first's."""
        total = self.source.info.frame_count
        channels = 4 if self.alpha else 3
        if self.progress is not None:
            self.progress(0, total)
        for number, canvas in enumerate(self.source.frames(), 1):
            pixels: Canvas = np.ascontiguousarray(canvas if self.alpha else canvas[..., :3])
            out = _checked(self.upscale_frame(pixels), channels, number, self.size)
            if self.size is None:
                self.size = (out.shape[1], out.shape[0])
                check_size(self.fmt, self.size[0], self.size[1], self.dst)
            yield out
            if self.progress is not None:
                self.progress(number, total)

    def write(self, tmp: Path) -> None:
        """Fill the temp file ``tmp`` (``write_atomically`` renames it into place)."""
        frames = self._upscaled()
        with contextlib.closing(frames):  # the decoder is let go of on any way out
            first = next(frames)
            width, height = first.shape[1], first.shape[0]
            if self.fmt == "gif":
                _check_spill_space(tmp.parent, self.source.info.frame_count * first.nbytes)
            with tmp.open("r+b") as out, self._writer(out, tmp.parent, width, height) as writer:
                delays = iter(self.source.delays)
                writer.add(first, next(delays))
                for frame in frames:
                    writer.add(frame, next(delays))
                writer.finish()
                self.palette_error = getattr(writer, "palette_error", None)

    def _writer(
        self, out: BinaryIO, folder: Path, width: int, height: int
    ) -> AbstractContextManager[FrameWriter]:
        return frame_writer(
            self.fmt,
            out,
            folder,
            width=width,
            height=height,
            frame_count=self.source.info.frame_count,
            plays=self.source.info.plays,
            alpha=self.alpha,
            quality=self.quality,
        )

    def result(self) -> AnimationInfo:
        """The info of what was written."""
        assert self.size is not None
        lossless = {
            "gif": self.palette_error == 0.0,
            "apng": True,
            "webp": self.quality is None,
        }[self.fmt]
        return AnimationInfo(
            format=self.fmt,
            width=self.size[0],
            height=self.size[1],
            frame_count=self.source.info.frame_count,
            durations_ms=tuple(written_delay(self.fmt, d) for d in self.source.delays),
            plays=min(self.source.info.plays, MAX_PLAYS[self.fmt]),
            has_transparency=self.alpha,
            lossless=lossless,
            palette_error=self.palette_error,
        )


def _checked(
    out: Any, channels: int, number: int, size: tuple[int, int] | None
) -> npt.NDArray[np.uint8]:
    """The frame upscaler's result, refused unless it is what the contract promises."""
    array = np.asarray(out)
    if array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] != channels:
        raise MediaError(
            f"the frame upscaler returned a {array.dtype} array of shape {list(array.shape)} "
            f"for frame {number}; expected HxWx{channels} uint8",
            hint="a FrameUpscaler must return the same channels and dtype it is given",
        )
    if size is not None and (array.shape[1], array.shape[0]) != size:
        raise MediaError(
            f"frame {number} came back {array.shape[1]}x{array.shape[0]}, frame 1 "
            f"{size[0]}x{size[1]}; every frame of an animation must have one size",
            hint="a FrameUpscaler must scale every frame alike",
        )
    return np.ascontiguousarray(array)


def _check_spill_space(folder: Path, needed: int) -> None:
    """A GIF's upscaled frames are spilled beside the output: refuse to start when the
    disk cannot hold them (with 64 MiB to spare for the GIF itself)."""
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return
    if needed + (64 << 20) > free:
        raise MediaError(
            f"writing this GIF needs {needed / 1e6:,.0f} MB of temporary space in {folder} "
            f"for its upscaled frames, and only {free / 1e6:,.0f} MB are free",
            hint="free some space, or write .webp or .png (APNG), which need none",
        )
