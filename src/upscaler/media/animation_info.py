"""What an animation is, from its headers: the one record every animation reader fills in.

Kept apart from the readers and writers so the facade, ``describe()`` and the CLI can
speak about an animation (frames, timing, loops) without importing any codec code.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Literal

from upscaler import settings
from upscaler.errors import MediaError

AnimationFormat = Literal["gif", "apng", "webp"]

MAX_FRAMES = 100_000
"""The most frames an animation may have, whatever their size: each frame is one model
call with its own fixed cost, and a GIF frame can take as little as 20 bytes of file, so a
2 MB file could otherwise ask for hours of work."""


@dataclass(frozen=True)
class AnimationInfo:
    """An animated GIF, APNG or WebP as its headers describe it.

    ``plays`` is how many times the animation is shown in all, ``0`` meaning forever:
    APNG's ``num_plays`` and WebP's loop count say exactly that, while a GIF's
    NETSCAPE2.0 loop count is the number of *repeats* after the first showing (browsers
    play ``loop + 1`` times) and a GIF without that block plays once. One convention
    here lets any format be written as any other without changing how often it plays.

    ``has_transparency`` is exact for an output (it is what was written); for a source
    it is what the headers allow (a transparent colour index, an alpha channel), which a
    decode may find unused.
    """

    format: AnimationFormat
    width: int
    height: int
    frame_count: int
    durations_ms: tuple[int, ...]
    plays: int
    has_transparency: bool
    lossless: bool = True
    """False for a lossy WebP, and for a GIF written with a palette error."""
    palette_error: float | None = None
    """A written GIF only: the mean absolute difference, per channel and visible pixel,
    of its palette colours from the upscaled frames (0.0 when they held at most 256
    colours)."""

    @property
    def duration_ms(self) -> int:
        """The length of one showing, in milliseconds."""
        return sum(self.durations_ms)

    @property
    def loops_forever(self) -> bool:
        """True when the animation repeats without end."""
        return self.plays == 0

    def to_dict(self) -> dict[str, Any]:
        """A plain-data view (for ``describe()`` and ``--json`` output)."""
        return {
            "format": self.format,
            "width": self.width,
            "height": self.height,
            "frames": self.frame_count,
            "durations_ms": list(self.durations_ms),
            "duration_ms": self.duration_ms,
            "plays": self.plays,
            "loops_forever": self.loops_forever,
            "has_transparency": self.has_transparency,
            "lossless": self.lossless,
            "palette_error": self.palette_error,
        }


def milliseconds(delays: tuple[Fraction, ...]) -> tuple[int, ...]:
    """Frame delays in seconds as whole milliseconds (what ``durations_ms`` holds)."""
    return tuple(round(delay * 1000) for delay in delays)


def check_limits(
    info: AnimationInfo,
    what: str,
    *,
    max_pixels: int | None = None,
    max_animation_pixels: int | None = None,
) -> None:
    """Refuse, from the headers alone, an animation too large to upscale unannounced.

    Two bounds: one frame may have no more pixels than one still image
    (``UPSCALER_MAX_PIXELS``, the decompression-bomb guard), and all frames together no
    more than ``UPSCALER_MAX_ANIMATION_PIXELS`` (frames × width × height), since a GIF
    of 10,000 frames costs ten thousand model runs and, for GIF output, a spill file of
    every upscaled frame; plus at most :data:`MAX_FRAMES` frames.
    """
    frame_pixels = info.width * info.height
    if info.width < 1 or info.height < 1:
        raise MediaError(
            f"{what} declares a {info.width}x{info.height} canvas: an animation with no pixels",
            hint="the file is damaged; pass an animated GIF, APNG or WebP",
        )
    limit = settings.max_pixels() if max_pixels is None else max_pixels
    if frame_pixels > limit:
        raise MediaError(
            f"{what} has {info.width}x{info.height} = {frame_pixels:,} pixels a frame, above "
            f"the limit of {limit:,} (a guard against decompression bombs)",
            hint="pass max_pixels=N, or set UPSCALER_MAX_PIXELS",
        )
    if info.frame_count > MAX_FRAMES:
        raise MediaError(
            f"{what} has {info.frame_count:,} frames, more than the {MAX_FRAMES:,} an "
            "animation may have",
            hint="cut the animation into shorter pieces first",
        )
    budget = (
        settings.max_animation_pixels() if max_animation_pixels is None else max_animation_pixels
    )
    total = info.frame_count * frame_pixels
    if total > budget:
        raise MediaError(
            f"{what} has {info.frame_count:,} frames of {info.width}x{info.height}: "
            f"{total:,} pixels in all, above the limit of {budget:,} for one animation",
            hint="pass max_animation_pixels=N, or set UPSCALER_MAX_ANIMATION_PIXELS, to "
            "upscale it anyway",
        )
