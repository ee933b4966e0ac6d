"""Which output containers are written, and whether one can hold what goes into it.

Asked of FFmpeg itself, before any frame is upscaled: the video codec by encoding one
small frame into an in-memory file of the output's format, each copied stream by writing
an in-memory header with it. A refusal then names the stream, a container that can hold
it and the option that leaves it out, instead of failing at the end of a long run.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from upscaler.errors import MediaError
from upscaler.media.video._av import ffmpeg_reason, is_ffmpeg_error, open_input, require_av
from upscaler.media.video.info import StreamInfo, VideoInfo
from upscaler.media.video.options import VideoOptions


@dataclass(frozen=True)
class ContainerSpec:
    """An output container: FFmpeg's muxer name, its options, and the encoder to use
    when the source's codec does not fit it (8-bit and deeper sources)."""

    muxer: str
    options: tuple[tuple[str, str], ...]
    fallback: str
    fallback_deep: str


_MP4_OPTIONS = (("movflags", "+faststart"),)
"""The index at the front of the file, so players and browsers start before the end has
arrived (costs one extra pass over the file at the end)."""

CONTAINERS: dict[str, ContainerSpec] = {
    ".mp4": ContainerSpec("mp4", _MP4_OPTIONS, "libx264", "libx265"),
    ".m4v": ContainerSpec("mp4", _MP4_OPTIONS, "libx264", "libx265"),
    ".mov": ContainerSpec("mov", _MP4_OPTIONS, "libx264", "libx265"),
    ".mkv": ContainerSpec("matroska", (), "libx264", "libx265"),
    ".webm": ContainerSpec("webm", (), "libvpx-vp9", "libsvtav1"),
}
"""Output suffixes. AVI, MPEG-TS and the like are not offered: they cannot carry
B-frame and variable frame rate timing exactly; Matroska holds anything they hold."""


def container_for(dst: Path) -> ContainerSpec:
    """The container for ``dst``'s suffix, or a MediaError listing the offered ones."""
    spec = CONTAINERS.get(dst.suffix.lower())
    if spec is None:
        raise MediaError(
            f"cannot write video as {dst.suffix or 'a file without a suffix'} ({dst.name})",
            hint=f"name the output {', '.join(CONTAINERS)} (.mkv holds every codec and stream)",
        )
    return spec


def _memory_output(spec: ContainerSpec) -> Any:
    av = require_av()
    return av.open(io.BytesIO(), "w", format=spec.muxer)


def codec_fits(spec: ContainerSpec, encoder: str, pixel_format: str) -> str | None:
    """``None`` when ``spec`` holds ``encoder``'s output, else FFmpeg's reason; found by
    encoding one 64×64 frame into an in-memory file of that format."""
    av = require_av()
    output = _memory_output(spec)
    try:
        stream = output.add_stream(encoder, rate=25)
        stream.width = stream.height = 64
        stream.pix_fmt = pixel_format
        frame = av.VideoFrame(64, 64, pixel_format)
        for plane in frame.planes:
            plane.update(bytes(plane.buffer_size))
        frame.pts = 0
        output.mux(stream.encode(frame))
        output.mux(stream.encode(None))
        output.close()
    except Exception as exc:
        if is_ffmpeg_error(exc) or isinstance(exc, ValueError):
            return ffmpeg_reason(exc)
        raise
    return None


def _stream_fits(spec: ContainerSpec, template: Any) -> str | None:
    """``None`` when a stream copied from ``template`` can be written into ``spec``."""
    output = _memory_output(spec)
    try:
        output.add_stream_from_template(template, opaque=True)
        output.start_encoding()
        output.close()
    except Exception as exc:
        if is_ffmpeg_error(exc) or isinstance(exc, ValueError):
            return ffmpeg_reason(exc)
        raise
    return None


def _wanted(stream: StreamInfo, options: VideoOptions) -> str | None:
    """Why ``stream`` is left out on request, or ``None`` when it is to be copied."""
    if stream.index in options.drop_streams:
        return "drop_streams"
    if stream.kind == "audio" and not options.copy_audio:
        return "copy_audio=False"
    if stream.kind == "subtitle" and not options.copy_subtitles:
        return "copy_subtitles=False"
    if stream.kind in ("data", "attachment", "video") and not options.copy_data:
        return "copy_data=False"
    return None


def _leave_out_hint(stream: StreamInfo) -> str:
    flag = {"audio": "copy_audio", "subtitle": "copy_subtitles"}.get(stream.kind, "copy_data")
    return f"VideoOptions({flag}=False) or VideoOptions(drop_streams=({stream.index},))"


def _leave_out_flag(stream: StreamInfo) -> str | None:
    """The command line's way to leave ``stream`` out, where it has one."""
    return {"audio": "--no-audio", "subtitle": "--no-subtitles"}.get(stream.kind)


def streams_to_copy(
    info: VideoInfo, options: VideoOptions, dst: Path
) -> tuple[tuple[StreamInfo, ...], tuple[tuple[StreamInfo, str], ...]]:
    """(streams copied into ``dst``, (stream, why it is left out) pairs).

    A stream that is wanted but that ``dst``'s container cannot hold is a MediaError
    naming the stream, a container that can hold it and the option that leaves it out.
    """
    spec = container_for(dst)
    unknown = [i for i in options.drop_streams if i not in {s.index for s in info.streams}]
    if unknown:
        listed = ", ".join(s.describe() for s in info.streams) or "none"
        raise MediaError(
            f"drop_streams names stream {unknown[0]}, which {info.path.name} does not "
            f"have besides its video (#{info.stream_index})",
            hint=f"its other streams are: {listed}",
        )
    copied: list[StreamInfo] = []
    dropped: list[tuple[StreamInfo, str]] = []
    wanted = []
    for stream in info.streams:
        reason = _wanted(stream, options)
        if reason is None:
            wanted.append(stream)
        else:
            dropped.append((stream, f"left out ({reason})"))
    if not wanted:
        return (), tuple(dropped)
    matroska = CONTAINERS[".mkv"]
    with open_input(info.path, str(info.path)) as container:
        for stream in wanted:
            template = container.streams[stream.index]
            reason = _stream_fits(spec, template)
            if reason is None:
                copied.append(stream)
                continue
            alternative = (
                ".mkv"
                if spec is not matroska and _stream_fits(matroska, template) is None
                else None
            )
            where = f"write {dst.stem}{alternative}, which can, or " if alternative else ""
            flag = _leave_out_flag(stream)
            cli = f"{where}leave it out with {flag}" if flag else None
            if cli is None and alternative:
                cli = f"write {dst.stem}{alternative}, which can"
            raise MediaError(
                f"{dst.suffix} cannot hold {info.path.name}'s stream {stream.describe()} "
                f"({reason}); it would be copied as it is, not re-encoded",
                hint=f"{where}leave it out with {_leave_out_hint(stream)}",
                cli_hint=cli,
            )
    return tuple(copied), tuple(dropped)
