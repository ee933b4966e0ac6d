"""Joining finished segments, and the source's other streams, into the output file.

Packets are copied, never re-encoded: the video's from the segment files (each starts
with a keyframe, all were encoded with identical settings, so their headers agree), the
audio, subtitle and data packets byte for byte from the source. The two are merged in
time order so the muxer's interleaving buffer stays small, and the file is written to a
temp name and renamed, so the output appears complete or not at all.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

from upscaler.atomic import write_atomically
from upscaler.errors import MediaError
from upscaler.media.video._av import ffmpeg_reason, is_ffmpeg_error, open_input, require_av
from upscaler.media.video.containers import container_for, streams_to_copy
from upscaler.media.video.encode import SegmentResult
from upscaler.media.video.info import VideoInfo
from upscaler.media.video.options import VideoOptions
from upscaler.media.video.probe import probe_video

logger = logging.getLogger("upscaler.media.video")

_DERIVED_TAGS = ("duration", "encoder", "bps", "number_of_", "_statistics", "creation_time")
"""Stream tags that describe the old encoding (Matroska statistics, encoder names); they
would be false for the new one, so they are not copied."""


def _tags(metadata: dict[str, str]) -> dict[str, str]:
    return {
        key: value
        for key, value in metadata.items()
        if not key.lower().startswith(_DERIVED_TAGS) and not key.lower().endswith("-eng")
    }


def _check_results(results: Sequence[SegmentResult]) -> list[SegmentResult]:
    ordered = sorted(results, key=lambda r: r.index)
    if not ordered:
        raise MediaError("no segments to join")
    for position, result in enumerate(ordered):
        if result.index != position:
            raise MediaError(
                f"segment {position} is missing (have {[r.index for r in ordered]})",
                hint="encode every planned segment before joining",
            )
        if not result.path.is_file() or result.path.stat().st_size != result.size:
            raise MediaError(
                f"segment file {result.path} is missing or changed",
                hint="encode that segment again",
            )
        first = ordered[0]
        if (result.width, result.height) != (first.width, first.height):
            raise MediaError(
                f"segment {position} is {result.width}×{result.height}, segment 0 "
                f"{first.width}×{first.height}: they were made by different models",
                hint="encode every segment with the same model and options",
            )
        if position and result.first_pts <= ordered[position - 1].last_pts:
            raise MediaError(
                f"segment {position} starts at or before the end of segment {position - 1}",
                hint="segments must come from one plan (plan_segments)",
            )
    return ordered


def _segment_offset(result: SegmentResult, segment: Any, source_base: Fraction) -> int:
    """Ticks (segment time base) to add to the timestamps read back from a segment file
    so that its first frame is at the timestamp it was encoded at.

    MP4 may shift a track whose first decode timestamp is not zero (an edit list, kept
    in the movie's coarser timescale); the shift is the same for every packet, so it is
    measured on the first frame and undone exactly. A segment whose last frame does not
    then land where it was encoded is damaged.
    """
    stream = segment.streams.video[0]
    base = Fraction(stream.time_base)
    stamps = [p.pts for p in segment.demux(stream) if p.size and p.pts is not None]
    segment.seek(0, stream=stream, backward=True)
    if not stamps:
        raise MediaError(f"segment file {result.path} holds no frames", hint="encode it again")
    first = result.first_pts * source_base / base
    last = result.last_pts * source_base / base
    offset = first - min(stamps)
    if first.denominator != 1 or last.denominator != 1 or max(stamps) + offset != last:
        raise MediaError(
            f"segment file {result.path} does not hold the frames recorded for it",
            hint="delete it and encode that segment again",
        )
    return int(offset)


def _video_packets(
    results: Sequence[SegmentResult], stream: Any, source_base: Fraction
) -> Iterator[Any]:
    """Every segment's packets in order, at the timestamps they were encoded at, their
    decode timestamps kept strictly rising: a fresh encoder with B-frames starts its
    decode clock a little before its first frame, which can reach back past the previous
    segment's last decode timestamp when frame durations vary; such a packet moves one
    tick later (never past its own presentation time, which is what a player shows)."""
    av = require_av()
    last_dts: Fraction | None = None
    for result in results:
        with av.open(str(result.path), "r") as segment:
            offset = _segment_offset(result, segment, source_base)
            source = segment.streams.video[0]
            base = Fraction(source.time_base)
            for packet in segment.demux(source):
                if packet.size == 0 or packet.dts is None:
                    continue
                packet.dts += offset
                if packet.pts is not None:
                    packet.pts += offset
                dts = packet.dts * base
                if last_dts is not None and dts <= last_dts:
                    fixed = int(last_dts / base) + 1
                    if packet.pts is not None and fixed > packet.pts:
                        raise MediaError(
                            f"segment {result.index} cannot follow segment "
                            f"{result.index - 1}: their timestamps overlap",
                            hint="encode the segments again from one plan",
                        )
                    packet.dts = fixed
                    dts = fixed * base
                last_dts = dts
                packet.stream = stream
                yield packet


def _copied_packets(container: Any, targets: dict[int, Any], notes: list[str]) -> Iterator[Any]:
    if not targets:
        return
    streams = [container.streams[i] for i in targets]
    skipped = 0
    try:
        for packet in container.demux(*streams):
            if packet.size == 0:
                continue
            if packet.dts is None:
                if packet.pts is None:
                    skipped += 1
                    continue
                packet.dts = packet.pts
            packet.stream = targets[packet.stream.index]
            yield packet
    except Exception as exc:
        if not is_ffmpeg_error(exc):
            raise
        notes.append(f"copying the other streams stopped early: {ffmpeg_reason(exc)}")
    if skipped:
        notes.append(
            f"{skipped} packet(s) of the copied streams had no timestamp and were left out"
        )


def _time(packet: Any) -> float:
    stamp = packet.dts if packet.dts is not None else packet.pts
    return float(stamp * packet.time_base) if stamp is not None else 0.0


def _merge(first: Iterable[Any], second: Iterable[Any]) -> Iterator[Any]:
    """Two time-ordered packet streams as one (by decode time; the video first on ties)."""
    a, b = iter(first), iter(second)
    x, y = next(a, None), next(b, None)
    while x is not None or y is not None:
        if y is None or (x is not None and _time(x) <= _time(y)):
            yield x
            x = next(a, None)
        else:
            yield y
            y = next(b, None)


def join_segments(
    src: Path,
    results: Sequence[SegmentResult],
    dst: Path,
    options: VideoOptions,
    *,
    info: VideoInfo | None = None,
    max_pixels: int | None = None,
) -> list[str]:
    """Write ``dst`` from the segment files in ``results`` (all of the plan's segments,
    any order) and ``src``'s other streams as ``options`` keep them; returns notes.

    ``dst`` appears complete or not at all. Container metadata (title, dates, ...) and
    each stream's tags, language and disposition are carried over; tags that described
    the old encoding are not.
    """
    av = require_av()
    source_path, target = Path(src), Path(dst)
    video = info if info is not None else probe_video(source_path, max_pixels=max_pixels)
    ordered = _check_results(results)
    spec = container_for(target)
    copied, _ = streams_to_copy(video, options, target)
    notes: list[str] = []

    def write(tmp: Path) -> None:
        with (
            open_input(source_path, str(source_path)) as source,
            av.open(str(ordered[0].path), "r") as first,
            av.open(str(tmp), "w", format=spec.muxer, options=dict(spec.options)) as out,
        ):
            out.metadata.update(_tags(dict(source.metadata)))
            main = source.streams[video.stream_index]
            vout = out.add_stream_from_template(first.streams.video[0], opaque=True)
            vout.metadata.update(_tags(dict(main.metadata)))
            vout.disposition = main.disposition
            targets: dict[int, Any] = {}
            for stream in copied:
                template = source.streams[stream.index]
                made = out.add_stream_from_template(template, opaque=True)
                made.metadata.update(_tags(dict(template.metadata)))
                made.disposition = template.disposition
                targets[stream.index] = made
            packets = _merge(
                _video_packets(ordered, vout, video.time_base),
                _copied_packets(source, targets, notes),
            )
            for packet in packets:
                out.mux(packet)

    try:
        write_atomically(target, write)
    except MediaError:
        raise
    except OSError as exc:
        raise MediaError(
            f"cannot write {target}: {exc.strerror or exc}",
            hint="check that the output folder is writable and has free space",
        ) from None
    except Exception as exc:
        if is_ffmpeg_error(exc):
            raise MediaError(
                f"cannot write {target}: {ffmpeg_reason(exc)}",
                hint="try .mkv, which holds every codec and stream",
            ) from None
        raise
    return notes
