"""Upscaling a whole video file: plan, encode the missing segments, join, clean up.

:func:`plan_video` does every check that can be done before the model runs (the source,
the output path and container, the codec, each copied stream, the segment plan) and is
what ``describe()`` shows; :func:`upscale_video` carries the plan out, resuming from the
work folder a killed or cancelled run left (see :mod:`upscaler.media.video.state`).
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from upscaler.errors import Cancelled, MediaError
from upscaler.locks import FolderLock, Refusal
from upscaler.media.frames import FrameUpscaler, ProgressCallback
from upscaler.media.video.containers import (
    CONTAINERS,
    ContainerSpec,
    codec_fits,
    container_for,
    streams_to_copy,
)
from upscaler.media.video.encode import SegmentResult, encode_segment
from upscaler.media.video.encoding import Encoding, default_codec, encoding_for, resolve_options
from upscaler.media.video.info import StreamInfo, VideoInfo
from upscaler.media.video.join import join_segments
from upscaler.media.video.options import VideoOptions
from upscaler.media.video.probe import index_frames, probe_video
from upscaler.media.video.segments import Segment, plan_segments
from upscaler.media.video.state import RunState, SourceIdentity, work_folder

logger = logging.getLogger("upscaler.media.video")


@dataclass(frozen=True)
class VideoPlan:
    """What :func:`upscale_video` will do, decided before any frame is upscaled.

    ``options`` are resolved (codec, crf, pixel format and segment length filled in):
    hand them to :func:`~upscaler.media.video.encode.encode_segment` on every worker so
    all segments are encoded alike.
    """

    src: Path
    dst: Path
    info: VideoInfo
    options: VideoOptions
    encoding: Encoding
    container: str
    segments: tuple[Segment, ...]
    frame_count: int
    variable_frame_rate: bool
    copied: tuple[StreamInfo, ...]
    dropped: tuple[tuple[StreamInfo, str], ...]
    notes: tuple[str, ...]
    work_folder: Path

    def to_dict(self) -> dict[str, Any]:
        """Plain data for ``describe()`` and JSON output."""
        return {
            "src": str(self.src),
            "dst": str(self.dst),
            "source": self.info.to_dict(),
            "container": self.container,
            "codec": self.encoding.codec,
            "pixel_format": self.encoding.pixel_format,
            "crf": self.encoding.crf,
            "preset": self.encoding.preset,
            "lossless": self.encoding.lossless,
            "frames": self.frame_count,
            "variable_frame_rate": self.variable_frame_rate,
            "segments": len(self.segments),
            "segment_frames": [s.frames for s in self.segments],
            "copied_streams": [s.describe() for s in self.copied],
            "dropped_streams": [f"{s.describe()}: {why}" for s, why in self.dropped],
            "notes": list(self.notes),
            "work_folder": str(self.work_folder),
            "options": self.options.to_dict(),
        }


@dataclass(frozen=True)
class VideoReport:
    """What :func:`upscale_video` wrote. ``notes`` says everything that differs from
    the source besides the size (padding, pixel format, dropped alpha, left-out streams,
    damaged packets)."""

    src: Path
    dst: Path
    frames: int
    input_size: tuple[int, int]
    upscaled_size: tuple[int, int]
    output_size: tuple[int, int]
    codec: str
    pixel_format: str
    crf: int | None
    lossless: bool
    segments: int
    segments_resumed: int
    copied_streams: tuple[str, ...]
    dropped_streams: tuple[str, ...]
    notes: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {
            "src": str(self.src),
            "dst": str(self.dst),
            "frames": self.frames,
            "input_size": list(self.input_size),
            "upscaled_size": list(self.upscaled_size),
            "output_size": list(self.output_size),
            "codec": self.codec,
            "pixel_format": self.pixel_format,
            "crf": self.crf,
            "lossless": self.lossless,
            "segments": self.segments,
            "segments_resumed": self.segments_resumed,
            "copied_streams": list(self.copied_streams),
            "dropped_streams": list(self.dropped_streams),
            "notes": list(self.notes),
        }


def _check_paths(src: Path, dst: Path) -> None:
    if dst.is_dir():
        raise MediaError(
            f"the output {dst} is a folder",
            hint=f"name an output file inside it, e.g. {dst / src.name}",
        )
    if not dst.parent.is_dir():
        raise MediaError(f"output folder {dst.parent} does not exist", hint="create it first")
    try:
        same = dst.exists() and dst.samefile(src)
    except OSError:
        same = False
    if same or dst.absolute() == src.absolute():
        raise MediaError(
            f"the output {dst} is the input {src} itself; writing it would replace the input",
            hint=f"write to another name, e.g. {dst.stem}.upscaled{dst.suffix}",
        )


def _choose_codec(
    info: VideoInfo, options: VideoOptions, spec: ContainerSpec, dst: Path
) -> tuple[VideoOptions, list[str]]:
    """Resolved options whose codec ``dst``'s container holds, and notes."""
    resolved, notes = resolve_options(info, options)
    assert resolved.codec is not None and resolved.pixel_format is not None
    reason = codec_fits(spec, resolved.codec, resolved.pixel_format)
    if reason is None:
        return resolved, list(notes)
    if options.codec is None and not options.lossless:
        fallback = spec.fallback_deep if info.high_bit_depth else spec.fallback
        again, more = resolve_options(info, options, codec=fallback)
        assert again.codec is not None and again.pixel_format is not None
        if codec_fits(spec, again.codec, again.pixel_format) is None:
            note = (
                f"{dst.suffix} cannot hold {default_codec(info, options)}; "
                f"the video is encoded with {again.codec}"
            )
            return again, [*more, note]
    matroska = CONTAINERS[".mkv"]
    alternative = (
        f"write {dst.stem}.mkv, which can, or "
        if spec is not matroska
        and codec_fits(matroska, resolved.codec, resolved.pixel_format) is None
        else ""
    )
    raise MediaError(
        f"{dst.suffix} cannot hold {resolved.codec} video in {resolved.pixel_format} ({reason})",
        hint=f"{alternative}choose another codec (VideoOptions(codec=...))",
        cli_hint=f"{alternative}choose another codec (--codec NAME)",
    )


def plan_video(
    src: Path | str,
    dst: Path | str,
    options: VideoOptions | None = None,
    *,
    max_pixels: int | None = None,
) -> VideoPlan:
    """Check everything that can be checked before the model runs and decide the
    encoding and the segments; a MediaError names the first problem and its fix.

    Reads the whole source once (the packet index: exact frame count, timestamps).
    """
    source, target = Path(src), Path(dst)
    _check_paths(source, target)
    spec = container_for(target)
    info = probe_video(source, max_pixels=max_pixels)
    wanted = options if options is not None else VideoOptions()
    resolved, notes = _choose_codec(info, wanted, spec, target)
    encoding = encoding_for(info, resolved)
    notes.extend(encoding.notes)
    copied, dropped = streams_to_copy(info, resolved, target)
    index = index_frames(info)
    segments = plan_segments(info, resolved, index=index)
    expected, found = info.frame_count, index.frame_count
    if found < expected and (info.frame_count_declared or found < 0.9 * expected - 1):
        says = "declares" if info.frame_count_declared else "has the duration of"
        notes.append(f"the container {says} {expected} frames but holds {found} (truncated?)")
    if info.interlaced:
        notes.append(
            "the source is interlaced: both fields of each frame are upscaled together; "
            "deinterlace it first for a clean result"
        )
    if info.rotation:
        notes.append(f"rotation {info.rotation}° kept as display metadata")
    return VideoPlan(
        src=source,
        dst=target,
        info=info,
        options=resolved,
        encoding=encoding,
        container=spec.muxer,
        segments=tuple(segments),
        frame_count=index.frame_count,
        variable_frame_rate=index.variable_frame_rate or info.variable_frame_rate,
        copied=copied,
        dropped=dropped,
        notes=tuple(notes),
        work_folder=work_folder(target),
    )


def busy_refusal(folder: Path) -> Refusal:
    """The error for a second run on one video's work folder (whichever path, one process
    or Ray, holds its lock)."""

    def refuse(pid: int | None) -> MediaError:
        who = f" (pid {pid})" if pid else ""
        return MediaError(
            f"another upscaler process{who} is writing this video ({folder})",
            hint="wait for it to finish; two runs on one output would mix their segments",
        )

    return refuse


def _unique(items: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def video_report(
    plan: VideoPlan, results: dict[int, SegmentResult], resumed: int, join_notes: list[str]
) -> VideoReport:
    """What a finished run wrote, from its plan and its segments' results: the same
    report whichever path (one process or Ray workers) encoded the segments."""
    first = results[0]
    segment_notes = [note for i in sorted(results) for note in results[i].notes]
    return VideoReport(
        src=plan.src,
        dst=plan.dst,
        frames=sum(r.frames for r in results.values()),
        input_size=(plan.info.width, plan.info.height),
        upscaled_size=(first.upscaled_width, first.upscaled_height),
        output_size=(first.width, first.height),
        codec=plan.encoding.codec,
        pixel_format=plan.encoding.pixel_format,
        crf=plan.encoding.crf,
        lossless=plan.encoding.lossless,
        segments=len(plan.segments),
        segments_resumed=resumed,
        copied_streams=tuple(s.describe() for s in plan.copied),
        dropped_streams=tuple(f"{s.describe()}: {why}" for s, why in plan.dropped),
        notes=_unique([*plan.notes, *segment_notes, *join_notes]),
    )


def upscale_video(
    src: Path | str,
    dst: Path | str,
    upscale_frame: FrameUpscaler,
    *,
    options: VideoOptions | None = None,
    progress: ProgressCallback | None = None,
    model_key: str | None = None,
    max_pixels: int | None = None,
) -> VideoReport:
    """Upscale every frame of ``src`` with ``upscale_frame`` into ``dst``.

    Timing (each frame's timestamp, so variable frame rate too), rotation, colour tags,
    aspect ratio and metadata are kept; audio, subtitle and data streams are copied
    packet for packet (see :class:`VideoOptions` to leave them out). Everything that
    can be refused is refused before the first frame (:func:`plan_video`).

    Work is done in segments in ``.<dst name>.upscaler-video/`` beside ``dst``: after a
    kill, a crash or a :class:`~upscaler.errors.Cancelled` (which passes through), the
    same call continues from the last finished segment and gives the same file an
    uninterrupted run gives. ``model_key`` names what makes the frames (the facade's
    model and run settings); a rerun with another key, source or options is refused
    rather than mixed. ``progress`` gets (frames done, frames in all), counting resumed
    frames as done. ``dst`` appears complete or not at all.
    """
    plan = plan_video(src, dst, options, max_pixels=max_pixels)
    folder = plan.work_folder
    created = not folder.exists()
    folder.mkdir(exist_ok=True)
    settings = {"options": plan.options.to_dict(), "model": model_key}
    results: dict[int, SegmentResult] = {}
    with FolderLock(folder / ".lock", busy_refusal(folder)):
        try:
            state = RunState.open(
                folder,
                source=SourceIdentity.of(plan.src),
                settings=settings,
                segments=list(plan.segments),
            )
        except BaseException:
            if created:
                shutil.rmtree(folder, ignore_errors=True)
            raise
        results.update(state.done)
        resumed = len(results)
        if resumed:
            logger.info(
                "%s: resuming, %d of %d segments already done",
                plan.src.name,
                resumed,
                len(plan.segments),
            )
        before = sum(r.frames for r in results.values())
        total = max(plan.frame_count, before)
        try:
            for segment in plan.segments:
                if segment.index in results:
                    continue

                def step(done: int, _: int, offset: int = before) -> None:
                    if progress is not None:
                        progress(offset + done, max(total, offset + done))

                result = encode_segment(
                    plan.src,
                    segment,
                    upscale_frame,
                    folder,
                    plan.options,
                    info=plan.info,
                    progress=step,
                )
                if results and (result.width, result.height) != (
                    next(iter(results.values())).width,
                    next(iter(results.values())).height,
                ):
                    raise MediaError(
                        f"segment {segment.index} came out {result.width}×{result.height}, "
                        "earlier segments in another size (another model?)",
                        hint=f"delete {folder} to start over",
                    )
                state.record(result)
                results[segment.index] = result
                before += result.frames
            join_notes = join_segments(
                plan.src, list(results.values()), plan.dst, plan.options, info=plan.info
            )
        except BaseException as exc:
            if not results:  # nothing to resume: leave no folder behind
                state.remove()
            elif isinstance(exc, Cancelled | KeyboardInterrupt):
                logger.info(
                    "%s: stopped; %d of %d segments are kept in %s, run again to resume",
                    plan.src.name,
                    len(results),
                    len(plan.segments),
                    folder,
                )
            raise
        state.remove()
    return video_report(plan, results, resumed, join_notes)
