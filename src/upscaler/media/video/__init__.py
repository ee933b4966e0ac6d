"""Video files through the same frame upscaler as still images (PyAV; FFmpeg inside its
wheel): decoded, upscaled frame by frame, encoded in resumable segments, joined with
the source's audio, subtitle and data streams copied packet for packet.

The entry point is :func:`upscale_video`; :func:`plan_video` says beforehand what it
will do. :func:`plan_segments`, :func:`encode_segment` and :func:`join_segments` are the
same work in pieces that other processes (Ray workers) can share: each takes only
paths, a :class:`Segment` and resolved :class:`VideoOptions`. Nothing here imports PyAV
until a video is touched.
"""

from upscaler.media.video.encode import SegmentResult, encode_segment
from upscaler.media.video.info import Colour, StreamInfo, VideoInfo
from upscaler.media.video.join import join_segments
from upscaler.media.video.options import CODECS, VideoOptions
from upscaler.media.video.probe import FrameIndex, index_frames, is_video_file, probe_video
from upscaler.media.video.segments import Segment, plan_segments
from upscaler.media.video.state import work_folder
from upscaler.media.video.upscale import VideoPlan, VideoReport, plan_video, upscale_video

__all__ = [
    "CODECS",
    "Colour",
    "FrameIndex",
    "Segment",
    "SegmentResult",
    "StreamInfo",
    "VideoInfo",
    "VideoOptions",
    "VideoPlan",
    "VideoReport",
    "encode_segment",
    "index_frames",
    "is_video_file",
    "join_segments",
    "plan_segments",
    "plan_video",
    "probe_video",
    "upscale_video",
    "work_folder",
]
