"""Cutting a video into segments: the unit of work that is resumed, and that Ray workers
share out.

A segment is a run of consecutive frames in presentation order. Each is encoded by a
fresh encoder, so its first frame is a keyframe of the output and segments join by
copying packets, with no re-encode and no seam. Boundaries are frame timestamps (from
:func:`~upscaler.media.video.probe.index_frames`), so a worker can seek to the source
keyframe before its segment and decode forward to it; a source whose packets lack usable
timestamps is cut by frame number instead and decoded from its start.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from upscaler.errors import MediaError
from upscaler.media.video.info import VideoInfo
from upscaler.media.video.options import DEFAULT_SEGMENT_SECONDS, VideoOptions
from upscaler.media.video.probe import FrameIndex, index_frames


@dataclass(frozen=True)
class Segment:
    """Frames ``first_frame`` .. ``first_frame + frames - 1`` of the video.

    ``start_pts``/``end_pts`` (source time base; ``end_pts`` exclusive, ``None`` for the
    last segment, which runs to the end) say the same by timestamp, which is what the
    encoder goes by when they are known; both are ``None`` when the source's timestamps
    cannot be trusted (then frames are counted from the start).
    """

    index: int
    first_frame: int
    frames: int
    start_pts: int | None
    end_pts: int | None
    last: bool

    @property
    def by_timestamp(self) -> bool:
        return self.start_pts is not None

    def contains(self, pts: int) -> bool:
        """True when a frame at ``pts`` belongs to this segment (timestamp mode)."""
        if self.start_pts is None:
            raise ValueError("this segment is cut by frame number, not by timestamp")
        return pts >= self.start_pts and (self.end_pts is None or pts < self.end_pts)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Segment:
        return cls(**data)


def _cuts_by_frames(count: int, per_segment: int) -> list[int]:
    return list(range(0, count, per_segment))


def _cuts_by_seconds(index: FrameIndex, seconds: float) -> list[int]:
    """A new segment at the first frame at least ``seconds`` after the current start."""
    cuts = [0]
    stamps = index.timestamps
    start = stamps[0]
    for number in range(1, stamps.size):
        if float((stamps[number] - start) * index.time_base) >= seconds:
            cuts.append(number)
            start = stamps[number]
    return cuts


def plan_segments(
    info: VideoInfo, options: VideoOptions, *, index: FrameIndex | None = None
) -> list[Segment]:
    """The segments of ``info``'s video under ``options``' segment length.

    ``index`` (from :func:`~upscaler.media.video.probe.index_frames`) is read from the
    file when not given. A source cut by frame number (no trustworthy timestamps) is cut
    every ``segment_frames`` frames, or every ``segment_seconds`` × its average rate.
    """
    frames = index if index is not None else index_frames(info)
    count = frames.frame_count
    if count == 0:
        raise MediaError(
            f"{info.path.name} has a video stream with no frames",
            hint="an empty or truncated recording cannot be upscaled",
        )
    if options.segment_frames is not None:
        cuts = _cuts_by_frames(count, options.segment_frames)
    else:
        seconds = options.segment_seconds or DEFAULT_SEGMENT_SECONDS
        if frames.exact:
            cuts = _cuts_by_seconds(frames, seconds)
        else:
            rate = float(info.average_rate) if info.average_rate else 25.0
            cuts = _cuts_by_frames(count, max(1, round(seconds * rate)))
    segments = []
    for number, first in enumerate(cuts):
        end = cuts[number + 1] if number + 1 < len(cuts) else count
        last = number + 1 == len(cuts)
        segments.append(
            Segment(
                index=number,
                first_frame=first,
                frames=end - first,
                start_pts=int(frames.timestamps[first]) if frames.exact else None,
                end_pts=None if last or not frames.exact else int(frames.timestamps[end]),
                last=last,
            )
        )
    return segments
