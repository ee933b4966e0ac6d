"""Tiny video files made with PyAV for the video tests, and ways to read them back.

Every clip is a few dozen frames of 32×24 (or so) so the suite stays fast. The frames
are a smooth colour ramp that moves from frame to frame plus a little noise: every frame
differs, and lossy codecs keep them recognisable. Reading back goes through PyAV's own
decoder and RGB conversion, the same path the code under test uses for its source, so a
lossless output can be compared bit for bit with ``nearest_x2`` of the decoded source.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest

av = pytest.importorskip("av")


def picture(number: int, width: int, height: int, *, deep: bool = False) -> np.ndarray:
    """Frame ``number`` of a clip: RGB, uint8 (or uint16 when ``deep``)."""
    rng = np.random.default_rng(number)
    x = np.linspace(0, 1, width, dtype=np.float64)[np.newaxis, :]
    y = np.linspace(0, 1, height, dtype=np.float64)[:, np.newaxis]
    shift = number / 7.0
    planes = [
        0.5 + 0.4 * np.sin(2 * np.pi * (x + shift)) * np.ones_like(y),
        0.5 + 0.4 * np.cos(2 * np.pi * (y + shift)) * np.ones_like(x),
        (x + y + shift) % 1.0,
    ]
    image = np.stack(planes, axis=2) + rng.normal(0, 0.02, (height, width, 3))
    image = np.clip(image, 0, 1)
    if deep:
        return np.rint(image * 65535).astype(np.uint16)
    return np.rint(image * 255).astype(np.uint8)


@dataclass(frozen=True)
class Clip:
    path: Path
    frames: int
    time_base: Fraction
    pts: tuple[int, ...]


def write_clip(
    path: Path,
    *,
    frames: int = 12,
    size: tuple[int, int] = (32, 24),
    codec: str = "libx264",
    pixel_format: str = "yuv420p",
    rate: int = 25,
    time_base: Fraction | None = None,
    pts: Sequence[int] | None = None,
    audio: str | None = None,
    subtitles: bool = False,
    rotation: int | None = None,
    options: dict[str, str] | None = None,
    container_format: str | None = None,
) -> Clip:
    """Write a clip; ``pts`` gives every frame's timestamp (variable frame rate),
    ``audio`` an audio encoder (``aac``, ``libopus``) for a tone as long as the video,
    ``subtitles`` three SubRip cues (Matroska only), ``rotation`` a display matrix."""
    width, height = size
    base = time_base or Fraction(1, rate * 512)
    stamps = list(pts) if pts is not None else [round(i / (rate * base)) for i in range(frames)]
    assert len(stamps) == frames
    deep = "10" in pixel_format or "12" in pixel_format or "16" in pixel_format
    with av.open(str(path), "w", format=container_format) as out:
        video = out.add_stream(codec, rate=rate, options=options or {})
        video.width, video.height, video.pix_fmt = width, height, pixel_format
        video.time_base = base
        video.codec_context.time_base = base
        if rotation is not None:
            video.set_display_rotation(rotation)
        sound = out.add_stream(audio, rate=48000, layout="mono") if audio else None
        text = out.add_mux_stream("subrip") if subtitles else None
        if text is not None:
            text.time_base = Fraction(1, 1000)
        for number, stamp in enumerate(stamps):
            fmt = "rgb48le" if deep else "rgb24"
            frame = av.VideoFrame.from_ndarray(
                picture(number, width, height, deep=deep), format=fmt
            )
            frame.pts = stamp
            frame.time_base = base
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        if sound is not None:
            _write_tone(out, sound, seconds=float(stamps[-1] * base) + 1 / rate)
        if text is not None:
            for cue in range(3):
                packet = av.Packet(f"cue {cue}".encode())
                packet.stream = text
                packet.pts = packet.dts = cue * 150
                packet.duration = 100
                packet.time_base = Fraction(1, 1000)
                out.mux(packet)
    return Clip(path, frames, base, tuple(stamps))


def _write_tone(out: Any, stream: Any, *, seconds: float) -> None:
    size = stream.codec_context.frame_size or 1024
    total = max(size, int(48000 * seconds))
    for start in range(0, total, size):
        t = (np.arange(start, start + size) / 48000.0).astype(np.float32)
        samples = (0.2 * np.sin(2 * np.pi * 440 * t))[np.newaxis, :].astype(np.float32)
        frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
        frame.sample_rate = 48000
        frame.pts = start
        out.mux(stream.encode(frame))
    out.mux(stream.encode(None))


def write_y4m_header(path: Path, width: int, height: int) -> None:
    """A YUV4MPEG2 file that declares ``width``×``height`` frames and holds none."""
    path.write_bytes(f"YUV4MPEG2 W{width} H{height} F25:1 Ip A1:1 C420jpeg\n".encode())


def decoded(path: Path, fmt: str = "rgb24") -> tuple[list[np.ndarray], list[int]]:
    """Every frame of the first video stream as arrays, and their timestamps."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = list(container.decode(stream))
        return [f.to_ndarray(format=fmt) for f in frames], [int(f.pts) for f in frames]


def video_facts(path: Path) -> dict[str, Any]:
    """Codec, size, pixel format, time base, rotation and colour tags of the first
    video stream (rotation from the first decoded frame)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        first = next(container.decode(stream))
        context = stream.codec_context
        return {
            "codec": context.name,
            "width": context.width,
            "height": context.height,
            "pixel_format": first.format.name,
            "time_base": Fraction(stream.time_base),
            "rotation": first.rotation,
            "colorspace": int(first.colorspace),
            "color_range": int(first.color_range),
            "streams": [
                (s.type, s.codec_context.name if s.codec_context else None)
                for s in container.streams
            ],
        }


def packets(path: Path, kind: str) -> list[tuple[bytes, float | None]]:
    """The payload and presentation time (seconds) of every packet of the first stream
    of ``kind`` (``audio``, ``subtitle``)."""
    with av.open(str(path)) as container:
        stream = next(s for s in container.streams if s.type == kind)
        return [
            (bytes(p), float(p.pts * p.time_base) if p.pts is not None else None)
            for p in container.demux(stream)
            if p.size
        ]
