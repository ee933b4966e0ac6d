"""What a video file is, from its headers and first frame: the record every step reads.

Kept free of PyAV objects (plain numbers and strings only) so that it pickles to a Ray
worker, prints in ``describe()`` and compares in tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

StreamKind = Literal["audio", "subtitle", "data", "attachment", "video"]

# The names FFmpeg gives the colour tags (libavutil/pixfmt.h); only the values a file
# can sensibly carry are listed, others print as their number.
COLOR_RANGES = {0: "unspecified", 1: "tv", 2: "pc"}
COLORSPACES = {
    0: "rgb",
    1: "bt709",
    2: "unspecified",
    4: "fcc",
    5: "bt470bg",
    6: "smpte170m",
    7: "smpte240m",
    8: "ycgco",
    9: "bt2020nc",
    10: "bt2020c",
}
COLOR_PRIMARIES = {
    1: "bt709",
    2: "unspecified",
    4: "bt470m",
    5: "bt470bg",
    6: "smpte170m",
    7: "smpte240m",
    8: "film",
    9: "bt2020",
    10: "smpte428",
    11: "smpte431",
    12: "smpte432",
    22: "ebu3213",
}
COLOR_TRANSFERS = {
    1: "bt709",
    2: "unspecified",
    4: "gamma22",
    5: "gamma28",
    6: "smpte170m",
    7: "smpte240m",
    8: "linear",
    13: "iec61966-2-1",
    14: "bt2020-10",
    15: "bt2020-12",
    16: "smpte2084",
    18: "arib-std-b67",
}


def _name(table: dict[int, str], value: int) -> str:
    return table.get(value, str(value))


@dataclass(frozen=True)
class Colour:
    """The colour tags of a video stream, as FFmpeg numbers them (H.273 code points).

    They are copied onto the output so a player shows the upscaled video with the same
    matrix, range, primaries and transfer as the source; the RGB conversion on each side
    of the model uses the same matrix and range, so colours do not shift.
    """

    range: int = 0
    space: int = 2
    primaries: int = 2
    transfer: int = 2

    @property
    def full_range(self) -> bool:
        """True for full-range ("pc", JPEG) samples; unspecified YUV means limited."""
        return self.range == 2

    def to_dict(self) -> dict[str, str]:
        return {
            "range": _name(COLOR_RANGES, self.range),
            "space": _name(COLORSPACES, self.space),
            "primaries": _name(COLOR_PRIMARIES, self.primaries),
            "transfer": _name(COLOR_TRANSFERS, self.transfer),
        }


@dataclass(frozen=True)
class StreamInfo:
    """A stream of the source other than the video being upscaled: copied packet for
    packet into the output (never re-encoded), or left out on request."""

    index: int
    kind: StreamKind
    codec: str
    language: str | None = None
    title: str | None = None

    def describe(self) -> str:
        """``#1 audio (aac, eng)``: how messages and reports name the stream."""
        extra = ", ".join(part for part in (self.codec, self.language) if part)
        return f"#{self.index} {self.kind} ({extra})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "kind": self.kind,
            "codec": self.codec,
            "language": self.language,
            "title": self.title,
        }


@dataclass(frozen=True)
class VideoInfo:
    """A video file as its container and first decoded frame describe it.

    ``frame_count`` is the container's declared count when it has one
    (``frame_count_declared``), else an estimate from duration × average rate; the exact
    count comes from :func:`~upscaler.media.video.probe.index_frames`, which reads every
    packet. ``variable_frame_rate`` is FFmpeg's judgement from the timestamps it read
    while probing (the real rate and the average rate disagree); the packet index says
    it for certain. ``rotation`` is the display matrix's angle in degrees counter-
    clockwise (0, 90, 180, 270), ``display_matrix`` the nine raw numbers (flips
    included), both ``None``/0 when the file has none.
    """

    path: Path
    container: str
    codec: str
    codec_long_name: str
    stream_index: int
    width: int
    height: int
    pixel_format: str
    bit_depth: int
    has_alpha: bool
    time_base: Fraction
    average_rate: Fraction | None
    variable_frame_rate: bool
    start_pts: int | None
    duration: float | None
    frame_count: int
    frame_count_declared: bool
    rotation: int
    display_matrix: tuple[int, ...] | None
    colour: Colour
    sample_aspect_ratio: Fraction | None
    interlaced: bool
    streams: tuple[StreamInfo, ...] = field(default=())

    @property
    def high_bit_depth(self) -> bool:
        """More than 8 bits per sample: frames go to the model as 16-bit RGB."""
        return self.bit_depth > 8

    def to_dict(self) -> dict[str, Any]:
        """A plain-data view for ``describe()`` and JSON output."""
        return {
            "path": str(self.path),
            "container": self.container,
            "codec": self.codec,
            "width": self.width,
            "height": self.height,
            "pixel_format": self.pixel_format,
            "bit_depth": self.bit_depth,
            "has_alpha": self.has_alpha,
            "time_base": str(self.time_base),
            "average_rate": str(self.average_rate) if self.average_rate else None,
            "variable_frame_rate": self.variable_frame_rate,
            "duration": self.duration,
            "frame_count": self.frame_count,
            "frame_count_declared": self.frame_count_declared,
            "rotation": self.rotation,
            "colour": self.colour.to_dict(),
            "sample_aspect_ratio": (
                str(self.sample_aspect_ratio) if self.sample_aspect_ratio else None
            ),
            "interlaced": self.interlaced,
            "streams": [s.to_dict() for s in self.streams],
        }
