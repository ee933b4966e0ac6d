"""One segment: decode its frames, upscale each, encode them with a fresh encoder.

:func:`encode_segment` needs only paths, a picklable :class:`Segment` and resolved
:class:`VideoOptions`, so a Ray worker (or any other process) can run it; it writes one
file into the work folder, atomically, and reports what it wrote. It never touches the
resume state: whoever schedules the segments records the results.

Frames stream: one decoded frame, a couple of upscaled frames waiting for the encoder
and the encoder's own look-ahead are all that is held, whatever the segment's length.
The encoder runs on its own thread (FFmpeg releases the GIL, as TensorFlow does), so
encoding frame n overlaps the model's work on frame n + 1 instead of adding to it.
"""

from __future__ import annotations

import hashlib
import logging
import queue
import threading
from collections.abc import Generator, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from upscaler.atomic import write_atomically
from upscaler.errors import MediaError
from upscaler.media.frames import FrameUpscaler, ProgressCallback
from upscaler.media.video._av import ffmpeg_reason, is_ffmpeg_error, open_input, require_av
from upscaler.media.video.convert import (
    array_to_frame,
    check_model_output,
    fit,
    fitted_size,
    frame_to_array,
)
from upscaler.media.video.encoding import Encoding, encoding_for
from upscaler.media.video.info import VideoInfo
from upscaler.media.video.options import VideoOptions
from upscaler.media.video.probe import probe_video
from upscaler.media.video.segments import Segment

logger = logging.getLogger("upscaler.media.video")

SEGMENT_FORMAT = "mp4"
"""The container of segment files: it keeps the source's time base exactly (Matroska
rounds to milliseconds), holds every offered codec (FFV1 included) and B-frame
timestamps, and is what the join reads packets back from."""


def segment_name(index: int) -> str:
    return f"segment-{index:05d}.{SEGMENT_FORMAT}"


@dataclass(frozen=True)
class SegmentResult:
    """What :func:`encode_segment` wrote: the file, its frames and their first and last
    timestamps (source time base), the encoded size and the model's output size."""

    index: int
    path: Path
    frames: int
    first_pts: int
    last_pts: int
    width: int
    height: int
    upscaled_width: int
    upscaled_height: int
    size: int
    sha256: str
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["path"] = self.path.name
        data["notes"] = list(self.notes)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any], folder: Path) -> SegmentResult:
        values = dict(data)
        values["path"] = folder / str(values["path"])
        values["notes"] = tuple(values.get("notes", ()))
        return cls(**values)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class _Decoded:
    """The segment's frames in presentation order, with the timestamp each is encoded at.

    By timestamp: seek to the source keyframe at or before the segment's start (when it
    is not the first segment) and decode forward, skipping earlier frames; a seek that
    lands after the start (a container without a usable index) falls back to decoding
    from the beginning. By frame number: decode from the beginning and count.
    Timestamps that do not increase (broken files) are nudged forward by one tick, since
    an encoder refuses them; missing ones continue the frame rate.
    """

    def __init__(self, src: Path, info: VideoInfo, segment: Segment) -> None:
        self.src = src
        self.info = info
        self.segment = segment
        self.nudged = 0
        self.skipped_packets = 0
        self.truncated = False
        rate = info.average_rate
        step = 1 / (rate * info.time_base) if rate else 1
        self.step = max(1, round(step))

    def __iter__(self) -> Iterator[tuple[int, Any]]:
        seek = self.segment.by_timestamp and self.segment.first_frame > 0
        if seek:
            frames = self._frames(seek=True)
            first = next(frames, None)
            assert self.segment.start_pts is not None
            if first is not None and (first.pts is None or first.pts <= self.segment.start_pts):
                yield from self._select(self._chain(first, frames))
                return
            frames.close()
            logger.debug("seek overshot segment %d; decoding from the start", self.segment.index)
        yield from self._select(self._frames(seek=False))

    @staticmethod
    def _chain(first: Any, rest: Iterator[Any]) -> Iterator[Any]:
        yield first
        yield from rest

    def _frames(self, *, seek: bool) -> Generator[Any, None, None]:
        container = open_input(self.src, str(self.src))
        with container:
            stream = container.streams[self.info.stream_index]
            stream.thread_type = "AUTO"
            if seek:
                container.seek(self.segment.start_pts, stream=stream, backward=True)
            packets = container.demux(stream)
            while True:
                try:
                    packet = next(packets)
                except StopIteration:
                    break
                except Exception as exc:
                    if not is_ffmpeg_error(exc):
                        raise
                    self.truncated = True
                    logger.warning("%s: reading stopped: %s", self.src.name, ffmpeg_reason(exc))
                    packet = None
                try:
                    decoded = stream.decode(packet)
                except Exception as exc:
                    if not is_ffmpeg_error(exc):
                        raise
                    self.skipped_packets += 1
                    logger.warning(
                        "%s: a damaged packet was skipped: %s", self.src.name, ffmpeg_reason(exc)
                    )
                    decoded = []
                yield from decoded
                if packet is None:
                    break

    def _select(self, frames: Iterator[Any]) -> Iterator[tuple[int, Any]]:
        segment = self.segment
        number = -1
        last: int | None = None
        end_frame = segment.first_frame + segment.frames
        for frame in frames:
            number += 1
            pts = frame.pts
            if segment.by_timestamp:
                assert segment.start_pts is not None
                if pts is None:
                    if last is None:
                        continue  # no telling whether it is before the segment
                elif pts < segment.start_pts:
                    continue
                elif segment.end_pts is not None and pts >= segment.end_pts:
                    break
            else:
                if number < segment.first_frame:
                    continue
                if number >= end_frame and not segment.last:
                    break
            if pts is None:
                pts = (last + self.step) if last is not None else number * self.step
            if last is not None and pts <= last:
                pts = last + 1
                self.nudged += 1
            last = pts
            yield pts, frame

    def notes(self) -> list[str]:
        notes = []
        if self.nudged:
            notes.append(
                f"{self.nudged} frame(s) had repeated or decreasing timestamps; "
                "each was moved one tick later"
            )
        if self.skipped_packets:
            notes.append(f"{self.skipped_packets} damaged packet(s) could not be decoded")
        if self.truncated:
            notes.append("the source ended early (truncated or damaged)")
        return notes


class _Writer:
    """The segment's encoder and file, opened at the first frame (the model decides the
    output size)."""

    def __init__(self, path: Path, info: VideoInfo, encoding: Encoding, options: VideoOptions):
        self.path = path
        self.info = info
        self.encoding = encoding
        self.options = options
        self.container: Any = None
        self.stream: Any = None
        self.size: tuple[int, int] = (0, 0)
        self.upscaled: tuple[int, ...] | None = None
        self.av = require_av()
        self.reformatter = self.av.video.reformatter.VideoReformatter()

    def _open(self, shape: tuple[int, ...]) -> None:
        info, encoding = self.info, self.encoding
        height, width = shape[:2]
        self.size = fitted_size(width, height, encoding.multiple, self.options.odd_size)
        self.container = self.av.open(str(self.path), "w", format="mp4")
        try:
            stream = self.container.add_stream(
                encoding.codec, rate=info.average_rate, options=dict(encoding.av_options)
            )
            stream.width, stream.height = self.size
            stream.pix_fmt = encoding.pixel_format
            stream.time_base = info.time_base
            context = stream.codec_context
            context.time_base = info.time_base
            rgb = self.av.VideoFormat(encoding.pixel_format).is_rgb
            context.color_range = 2 if rgb else info.colour.range
            context.colorspace = 0 if rgb else info.colour.space
            context.color_primaries = info.colour.primaries
            context.color_trc = info.colour.transfer
            if info.sample_aspect_ratio is not None:
                context.sample_aspect_ratio = info.sample_aspect_ratio
            if info.display_matrix is not None:
                stream.set_display_matrix(info.display_matrix)
            elif info.rotation:
                stream.set_display_rotation(info.rotation)
            context.open()
        except Exception as exc:
            self.container.close()
            if is_ffmpeg_error(exc) or isinstance(exc, ValueError):
                raise MediaError(
                    f"{encoding.codec} cannot encode {self.size[0]}×{self.size[1]} "
                    f"{encoding.pixel_format} frames: {ffmpeg_reason(exc)}",
                    hint="choose another codec or pixel format (VideoOptions(codec=...))",
                    cli_hint="choose another codec or pixel format (--codec, --pixel-format)",
                ) from None
            raise
        self.stream = stream

    def write(self, pixels: Any, pts: int) -> None:
        if self.container is None:
            self._open(pixels.shape)
            self.upscaled = pixels.shape
        fitted = fit(pixels, self.size)
        frame = array_to_frame(fitted, self.encoding, self.info.colour, self.reformatter)
        frame.pts = pts
        frame.time_base = self.info.time_base
        self.container.mux(self.stream.encode(frame))

    def close(self) -> None:
        """Flush the encoder and finish the file."""
        if self.container is None:
            return
        container, self.container = self.container, None
        try:
            container.mux(self.stream.encode(None))
        finally:
            container.close()

    def abandon(self) -> None:
        """Close the file after a failure (its temp name is removed by the caller)."""
        if self.container is not None:
            container, self.container = self.container, None
            try:
                container.close()
            except Exception as exc:  # already failing: keep the first error
                logger.debug("closing an abandoned segment file: %s", exc)


class _EncodeThread:
    """Feeds a :class:`_Writer` from a bounded queue on a worker thread.

    The queue holds at most ``depth`` frames, so a slow encoder makes the model wait
    rather than memory grow. After a writer error the thread keeps draining the queue
    (so ``put`` never blocks forever) and the error is raised to the caller on its next
    ``put`` or at ``finish``.
    """

    def __init__(self, writer: _Writer, depth: int = 2) -> None:
        self.writer = writer
        self.queue: queue.Queue[tuple[Any, int] | None] = queue.Queue(maxsize=depth)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="upscaler-video-encode", daemon=True)
        self.thread.start()
        self.stopped = False

    def _run(self) -> None:
        while True:
            item = self.queue.get()
            if item is None:
                return
            if self.error is None:
                try:
                    self.writer.write(*item)
                except BaseException as exc:
                    self.error = exc

    def put(self, pixels: Any, pts: int) -> None:
        if self.error is not None:
            raise self.error
        self.queue.put((pixels, pts))

    def stop(self) -> None:
        """Let the queued frames be written and end the thread (idempotent)."""
        if not self.stopped:
            self.stopped = True
            self.queue.put(None)
            self.thread.join()

    def finish(self) -> None:
        """Wait for every frame to be written; raise the writer's error if it had one."""
        self.stop()
        if self.error is not None:
            raise self.error


def encode_segment(
    src: Path,
    segment: Segment,
    upscale_frame: FrameUpscaler,
    workdir: Path,
    options: VideoOptions,
    *,
    info: VideoInfo | None = None,
    progress: ProgressCallback | None = None,
    max_pixels: int | None = None,
) -> SegmentResult:
    """Upscale and encode ``segment`` of ``src`` into ``workdir``/segment-NNNNN.mp4.

    ``options`` should be the planner's resolved options (``plan.options``) so that every
    segment is encoded alike; ``info`` saves a re-probe. ``progress`` gets (frames done
    in this segment, frames in it). The file appears whole or not at all; a Cancelled
    (or any error) from ``upscale_frame`` passes through and leaves no file.
    """
    source = Path(src)
    video = info if info is not None else probe_video(source, max_pixels=max_pixels)
    encoding = encoding_for(video, options)
    target = Path(workdir) / segment_name(segment.index)
    decoded = _Decoded(source, video, segment)
    state: dict[str, Any] = {}

    def write(tmp: Path) -> None:
        writer = _Writer(tmp, video, encoding, options)
        encoder = _EncodeThread(writer)
        done = 0
        first_pts: int | None = None
        last_pts = 0
        shape: tuple[int, ...] | None = None
        try:
            for pts, frame in decoded:
                pixels = frame_to_array(frame, encoding)
                out = check_model_output(
                    upscale_frame(pixels), pixels, shape, segment.first_frame + done
                )
                shape = out.shape
                encoder.put(out, pts)
                first_pts = pts if first_pts is None else first_pts
                last_pts = pts
                done += 1
                if progress is not None:
                    progress(done, max(segment.frames, done))
            encoder.finish()
            writer.close()
        finally:
            encoder.stop()
            writer.abandon()
        if first_pts is None or writer.upscaled is None:
            raise MediaError(
                f"{source.name}: segment {segment.index} (frames from {segment.first_frame}) "
                "decoded to no frame",
                hint="the file may be damaged or truncated",
            )
        state.update(
            frames=done,
            first_pts=first_pts,
            last_pts=last_pts,
            size=writer.size,
            upscaled=writer.upscaled,
            bytes=tmp.stat().st_size,
            sha256=file_sha256(tmp),
        )

    write_atomically(target, write)
    notes = decoded.notes()
    upscaled_h, upscaled_w = state["upscaled"][:2]
    if state["size"] != (upscaled_w, upscaled_h):
        how = "padded" if state["size"][0] >= upscaled_w else "cropped"
        notes.append(
            f"model output {upscaled_w}×{upscaled_h} {how} to "
            f"{state['size'][0]}×{state['size'][1]} ({encoding.pixel_format} needs "
            f"multiples of {encoding.multiple[0]}×{encoding.multiple[1]})"
        )
    if not segment.last and state["frames"] != segment.frames:
        notes.append(f"{state['frames']} frames decoded where the index counted {segment.frames}")
    return SegmentResult(
        index=segment.index,
        path=target,
        frames=int(state["frames"]),
        first_pts=int(state["first_pts"]),
        last_pts=int(state["last_pts"]),
        width=int(state["size"][0]),
        height=int(state["size"][1]),
        upscaled_width=int(upscaled_w),
        upscaled_height=int(upscaled_h),
        size=int(state["bytes"]),
        sha256=str(state["sha256"]),
        notes=tuple(notes),
    )
