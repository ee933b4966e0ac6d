"""Reading a video's description: the cheap header check, the probe, the packet index.

Three depths, because the callers need different certainty at different cost:

* :func:`is_video_file` opens the container and looks at its streams (no frame is
  decoded): the dispatcher's question "video path or image path?".
* :func:`probe_video` also decodes the first frame, which is the only way to know the
  real pixel format, rotation, colour tags and that the codec decodes at all, so every
  refusal (no video stream, no frames, a codec FFmpeg cannot decode, a declared frame
  size past the pixel limit) happens here, before any model work.
* :func:`index_frames` reads every video packet (no decoding): the exact frame count,
  every timestamp and every keyframe, from which segments are planned.
"""

from __future__ import annotations

import logging
import struct
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from upscaler import settings
from upscaler.errors import DependencyError, MediaError
from upscaler.media.video._av import (
    is_ffmpeg_error,
    media_error,
    open_input,
    require_av,
)
from upscaler.media.video.info import Colour, StreamInfo, StreamKind, VideoInfo

logger = logging.getLogger("upscaler.media.video")

IMAGE_FORMATS = frozenset(
    {
        "image2",
        "gif",
        "apng",
        "webp",
        "avif",
        "ico",
        "jpegxl_anim",
        "alias_pix",
        "brender_pix",
        "fits",
        # text art: FFmpeg "decodes" any text or binary file of these names as video
        "tty",
        "bin",
        "xbin",
        "idf",
        "adf",
    }
)
"""Demuxers that read still images, animated images (those go to the animation path)
or arbitrary text as a "video"; ``*_pipe`` demuxers (png_pipe, jpeg_pipe, ...) too."""

VIDEO_SUFFIXES = frozenset(
    {
        ".mp4",
        ".m4v",
        ".mov",
        ".mkv",
        ".webm",
        ".avi",
        ".ts",
        ".mts",
        ".m2ts",
        ".mpg",
        ".mpeg",
        ".wmv",
        ".flv",
        ".ogv",
        ".3gp",
        ".y4m",
        ".nut",
        ".mxf",
    }
)
"""Suffixes taken for video when PyAV is missing, so that such a file reaches the
video path and its clear "install the video extra" error instead of "not an image"."""

_FIRST_FRAME_PACKETS = 2000
"""How many packets the probe reads looking for the first frame before calling the file
broken (a decoder may need several packets; none needs thousands)."""


def _is_image_format(name: str) -> bool:
    return any(part in IMAGE_FORMATS or part.endswith("_pipe") for part in name.split(","))


def _main_video_stream(container: Any) -> Any | None:
    """The video stream to upscale: the first that is not a cover picture."""
    av = require_av()
    attached = av.stream.Disposition.attached_pic
    for stream in container.streams.video:
        if not stream.disposition & attached:
            return stream
    return None


def is_video_file(path: Path | str) -> bool:
    """True when ``path`` is for the video path: FFmpeg reads it as an audio/video
    container (not a still or animated image, not text that FFmpeg would render as a
    "video"), or it has a video suffix or header but cannot be opened.

    The last two and audio-only files count as video on purpose: they then get the
    video path's clear refusal ("cannot be read as a video", "no video stream", a
    declared size past the limit) rather than the image path's "not an image". Without
    PyAV the answer comes from the suffix, so that the video path can say which extra to
    install. Only the headers are read; nothing is decoded.
    """
    file = Path(path)
    video_name = file.suffix.lower() in VIDEO_SUFFIXES
    try:
        av = require_av()
    except DependencyError:
        return video_name
    if not file.is_file():
        return False
    if _declared_y4m_size(file) is not None:
        return True
    try:
        container = av.open(str(file), "r", options={"protocol_whitelist": "file"})
    except Exception as exc:
        if is_ffmpeg_error(exc) or isinstance(exc, OSError):
            return video_name
        raise
    with container:
        if _is_image_format(container.format.name):
            return False
        return bool(_main_video_stream(container) is not None or container.streams.audio)


def _stream_kind(stream: Any) -> StreamKind:
    kind = str(stream.type)
    if kind in ("audio", "subtitle", "data", "attachment", "video"):
        return kind  # type: ignore[return-value]
    return "data"


def _stream_codec(stream: Any) -> str:
    context = stream.codec_context
    if context is not None and context.name:
        return str(context.name)
    name = getattr(stream, "name", None)
    if name:
        return str(name)
    tag = str(getattr(stream, "codec_tag", "") or "").strip("\x00 ")
    return f"unknown codec {tag}" if tag else "unknown codec"


def _other_streams(container: Any, main_index: int) -> tuple[StreamInfo, ...]:
    out = []
    for stream in container.streams:
        if stream.index == main_index:
            continue
        metadata = dict(stream.metadata or {})
        out.append(
            StreamInfo(
                index=int(stream.index),
                kind=_stream_kind(stream),
                codec=_stream_codec(stream),
                language=stream.language or None,
                title=metadata.get("title") or None,
            )
        )
    return tuple(out)


def _check_size(path: Path, width: int, height: int, max_pixels: int | None) -> None:
    limit = settings.max_pixels() if max_pixels is None else max_pixels
    if width * height > limit:
        raise MediaError(
            f"{path.name} declares {width}×{height} frames ({width * height:,} pixels), "
            f"past the limit of {limit:,} pixels per frame",
            hint="pass max_pixels=N, or set UPSCALER_MAX_PIXELS, for larger video",
            cli_hint="set UPSCALER_MAX_PIXELS=N for larger video",
        )


def _declared_y4m_size(path: Path) -> tuple[int, int] | None:
    """The frame size a YUV4MPEG2 header declares: FFmpeg refuses sizes past its own
    limit with an unhelpful "resource busy", so the header is read here first."""
    try:
        with path.open("rb") as handle:
            line = handle.read(256).split(b"\n", 1)[0]
    except OSError:
        return None
    if not line.startswith(b"YUV4MPEG2 "):
        return None
    fields = {token[:1]: token[1:] for token in line.split()[1:] if token}
    try:
        return int(fields.get(b"W", b"0")), int(fields.get(b"H", b"0"))
    except ValueError:
        return None


def _first_frame(container: Any, stream: Any, path: Path) -> Any:
    """Decode until the first frame, or refuse the file (no frames, undecodable)."""
    packets = 0
    try:
        for packet in container.demux(stream):
            if packet.size:
                packets += 1
            for frame in packet.decode():
                return frame
            if packets >= _FIRST_FRAME_PACKETS:
                break
    except Exception as exc:
        if is_ffmpeg_error(exc):
            raise media_error(
                f"{path.name}: the {stream.codec_context.name} video cannot be decoded",
                exc,
                hint="the file may be damaged or truncated; try re-encoding it",
            ) from None
        raise
    if packets == 0:
        raise MediaError(
            f"{path.name} has a video stream with no frames",
            hint="an empty or truncated recording cannot be upscaled",
        )
    raise MediaError(
        f"{path.name}: {packets} video packets decode to no frame "
        f"(codec {stream.codec_context.name})",
        hint="the file may be damaged or truncated; try re-encoding it",
    )


def _display_matrix(frame: Any, stream: Any) -> tuple[tuple[int, ...] | None, int]:
    """The raw display matrix (nine int32) and its rotation, from the decoded frame
    (FFmpeg attaches the stream's matrix to every frame), else a ``rotate`` tag."""
    av = require_av()
    side = frame.side_data
    kind = av.sidedata.sidedata.Type.DISPLAYMATRIX
    if kind in side:
        raw = bytes(side[kind])
        if len(raw) >= 36:
            matrix = struct.unpack("<9i", raw[:36])
            return matrix, int(frame.rotation) % 360
    tag = (stream.metadata or {}).get("rotate")
    if tag is not None:
        try:
            return None, (-int(float(tag))) % 360
        except ValueError:
            logger.warning("ignoring the unreadable rotate tag %r", tag)
    return None, 0


def _fraction(value: Any) -> Fraction | None:
    if value is None:
        return None
    fraction = Fraction(value)
    return fraction if fraction > 0 else None


def _variable_rate(stream: Any) -> bool:
    """FFmpeg's real base rate and the average rate disagree by more than 1 %."""
    average, base = _fraction(stream.average_rate), _fraction(stream.base_rate)
    if average is None or base is None:
        return False
    return abs(float(average) / float(base) - 1.0) > 0.01


def probe_video(path: Path | str, *, max_pixels: int | None = None) -> VideoInfo:
    """Describe the video in ``path``, or refuse it before any work with a MediaError:
    not a readable container, an image, no video stream (audio only), a declared frame
    size past ``max_pixels`` (``UPSCALER_MAX_PIXELS`` by default), a codec FFmpeg cannot
    decode, or no frame at all. The first frame is decoded, so a file this accepts has
    at least one frame that decodes."""
    file = Path(path)
    if file.is_dir():
        raise MediaError(f"{file} is a folder, not a video file")
    header_size = _declared_y4m_size(file)
    if header_size is not None:
        _check_size(file, *header_size, max_pixels)
    container = open_input(file, str(file))
    with container:
        fmt = str(container.format.name)
        if _is_image_format(fmt):
            raise MediaError(
                f"{file.name} is an image ({fmt}), not a video",
                hint="still and animated images go through the image path",
            )
        stream = _main_video_stream(container)
        if stream is None:
            kinds = sorted({str(s.type) for s in container.streams})
            if not kinds:
                raise MediaError(
                    f"{file.name} holds no streams at all", hint="the file is empty or truncated"
                )
            raise MediaError(
                f"{file.name} has no video stream (it holds: {', '.join(kinds)})",
                hint="only files with pictures can be upscaled",
            )
        context = stream.codec_context
        if context is None:
            raise MediaError(
                f"{file.name}: FFmpeg has no decoder for its video codec ({_stream_codec(stream)})",
                hint="re-encode it with a common codec (H.264, H.265, VP9, AV1) first",
            )
        declared_w, declared_h = int(context.width or 0), int(context.height or 0)
        _check_size(file, declared_w, declared_h, max_pixels)
        frame = _first_frame(container, stream, file)
        width, height = int(frame.width), int(frame.height)
        _check_size(file, width, height, max_pixels)
        components = frame.format.components
        matrix, rotation = _display_matrix(frame, stream)
        time_base = _fraction(stream.time_base) or Fraction(1, 1000)
        duration: float | None = None
        if stream.duration:
            duration = float(stream.duration * time_base)
        elif container.duration:
            duration = container.duration / 1_000_000
        average = _fraction(stream.average_rate) or _fraction(stream.guessed_rate)
        declared = int(stream.frames or 0)
        if declared > 0:
            count = declared
        elif duration and average:
            count = max(1, round(duration * float(average)))
        else:
            count = 1
        sar = _fraction(stream.codec_context.sample_aspect_ratio)
        return VideoInfo(
            path=file,
            container=fmt,
            codec=str(context.name),
            codec_long_name=str(getattr(context.codec, "long_name", "") or context.name),
            stream_index=int(stream.index),
            width=width,
            height=height,
            pixel_format=str(frame.format.name),
            bit_depth=max(int(c.bits) for c in components),
            has_alpha=any(c.is_alpha for c in components),
            time_base=time_base,
            average_rate=average,
            variable_frame_rate=_variable_rate(stream),
            start_pts=stream.start_time,
            duration=duration,
            frame_count=count,
            frame_count_declared=declared > 0,
            rotation=rotation,
            display_matrix=matrix,
            colour=Colour(
                range=int(frame.color_range),
                space=int(frame.colorspace),
                primaries=int(frame.color_primaries),
                transfer=int(frame.color_trc),
            ),
            sample_aspect_ratio=sar if sar is not None and sar != 1 else None,
            interlaced=bool(frame.interlaced_frame),
            streams=_other_streams(container, int(stream.index)),
        )


@dataclass(frozen=True, eq=False)
class FrameIndex:
    """Every video packet's presentation timestamp, in presentation order, and which of
    them start a keyframe: read from the container without decoding.

    ``timestamps`` is sorted (decode order differs from presentation order when a codec
    has B-frames). ``exact`` is False when some packet had no timestamp or two shared
    one (raw streams, some AVI files): then frames can only be counted from the start,
    and segments are cut by frame number rather than by time.
    """

    timestamps: npt.NDArray[np.int64]
    keyframes: npt.NDArray[np.int64]
    time_base: Fraction
    exact: bool

    @property
    def frame_count(self) -> int:
        return int(self.timestamps.size)

    @property
    def variable_frame_rate(self) -> bool:
        """True when frame durations differ by more than rounding to the time base."""
        if self.timestamps.size < 3 or not self.exact:
            return False
        steps = np.diff(self.timestamps)
        spread = int(steps.max() - steps.min())
        return spread > max(1, round(0.02 * float(steps.mean())))

    def seconds(self, pts: int) -> float:
        return float(pts * self.time_base)


def index_frames(info: VideoInfo) -> FrameIndex:
    """Read every packet of ``info``'s video stream (no decoding): exact frame count,
    timestamps and keyframes. Costs one read of the file."""
    container = open_input(info.path, str(info.path))
    stamps: list[int] = []
    keys: list[int] = []
    missing = 0
    with container:
        stream = container.streams[info.stream_index]
        try:
            for packet in container.demux(stream):
                if packet.size == 0 and packet.pts is None and packet.dts is None:
                    continue  # the demuxer's end-of-stream marker
                if packet.is_discard:
                    continue
                if packet.pts is None:
                    missing += 1
                    continue
                stamps.append(int(packet.pts))
                if packet.is_keyframe:
                    keys.append(int(packet.pts))
        except Exception as exc:
            if not is_ffmpeg_error(exc):
                raise
            logger.warning(
                "%s: reading stopped after %d packets: %s",
                info.path.name,
                len(stamps) + missing,
                exc,
            )
    timestamps = np.sort(np.asarray(stamps, dtype=np.int64))
    unique = timestamps.size == 0 or bool(np.all(np.diff(timestamps) > 0))
    if missing:
        # Frames without timestamps are still frames: count them, number them in order.
        timestamps = np.arange(timestamps.size + missing, dtype=np.int64)
    return FrameIndex(
        timestamps=timestamps,
        keyframes=np.sort(np.asarray(keys, dtype=np.int64)),
        time_base=info.time_base,
        exact=missing == 0 and unique,
    )
