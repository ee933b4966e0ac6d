"""upscale_video end to end with the real tiny nearest-x2 model: frames, timing, audio,
subtitles, rotation, 10-bit, odd sizes, and nothing at the output when a run fails.

Outputs are read back with PyAV. With a lossless output the expected frames are known
exactly (``nearest_x2`` of the decoded source), so each frame is checked to within one
grey level; lossy outputs are checked for timing, streams and closeness.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tiny_models import nearest_x2
from video_clips import decoded, packets, video_facts, write_clip

from upscaler.errors import MediaError
from upscaler.media.frames import FrameUpscaler
from upscaler.media.video import VideoOptions, upscale_video, work_folder

pytestmark = pytest.mark.timeout(300)

LOSSLESS = VideoOptions(lossless=True, segment_frames=5)
VFR_PTS = (0, 3000, 9000, 10000, 20000, 23000, 40000, 41000, 50000, 60000)


def max_diff(a: np.ndarray, b: np.ndarray) -> int:
    return int(np.abs(a.astype(np.int32) - b.astype(np.int32)).max())


def assert_frames_are_nearest_x2(
    src: Path, dst: Path, fmt: str = "rgb24", tolerance: int = 1
) -> None:
    source, _ = decoded(src, fmt)
    output, _ = decoded(dst, fmt)
    assert len(output) == len(source)
    for number, (before, after) in enumerate(zip(source, output, strict=True)):
        assert max_diff(after, nearest_x2(before)) <= tolerance, f"frame {number}"


def first_frame_seconds(path: Path) -> float:
    _, stamps = decoded(path)
    return float(stamps[0] * video_facts(path)["time_base"])


def assert_audio_copied_in_sync(src: Path, dst: Path) -> None:
    """Audio packets byte for byte, at the same times relative to the first video frame
    (Matroska cannot store the negative start of AAC priming, so its muxer shifts every
    stream by the same amount)."""
    copied, original = packets(dst, "audio"), packets(src, "audio")
    assert [data for data, _ in copied] == [data for data, _ in original]
    shift = first_frame_seconds(dst) - first_frame_seconds(src)
    times = np.array([t for _, t in copied]) - shift
    assert np.allclose(times, [t for _, t in original], atol=1.5e-3)


def test_lossless_output_is_the_model_output_frame_for_frame(
    tmp_path: Path, frame_upscaler: FrameUpscaler
) -> None:
    src = write_clip(tmp_path / "in.mp4", frames=12, audio="aac").path
    dst = tmp_path / "out.mkv"
    report = upscale_video(src, dst, frame_upscaler, options=LOSSLESS)
    assert_frames_are_nearest_x2(src, dst, tolerance=0)
    assert (report.frames, report.segments, report.segments_resumed) == (12, 3, 0)
    assert (report.input_size, report.output_size) == ((32, 24), (64, 48))
    assert (report.codec, report.pixel_format, report.lossless) == ("ffv1", "bgr0", True)
    assert report.copied_streams == ("#1 audio (aac, und)",)
    assert_audio_copied_in_sync(src, dst)
    assert not work_folder(dst).exists()
    assert report.to_dict()["frames"] == 12


def test_default_encode_keeps_timestamps_and_audio_bytes(
    tmp_path: Path, frame_upscaler: FrameUpscaler
) -> None:
    src = write_clip(tmp_path / "in.mp4", frames=12, audio="aac").path
    dst = tmp_path / "out.mp4"
    report = upscale_video(src, dst, frame_upscaler, options=VideoOptions(segment_frames=5))
    facts = video_facts(dst)
    assert (facts["codec"], facts["width"], facts["height"]) == ("h264", 64, 48)
    assert (report.codec, report.crf) == ("libx264", 18)
    _, source_pts = decoded(src)
    frames, output_pts = decoded(dst)
    assert output_pts == source_pts and len(frames) == 12
    assert_audio_copied_in_sync(src, dst)
    source, _ = decoded(src)
    for before, after in zip(source, frames, strict=True):  # lossy, but close
        error = np.abs(after.astype(np.int32) - nearest_x2(before).astype(np.int32)).mean()
        assert error < 6


def test_subtitles_and_opus_audio_are_copied_packet_for_packet(
    tmp_path: Path, frame_upscaler: FrameUpscaler
) -> None:
    src = write_clip(tmp_path / "in.mkv", audio="libopus", subtitles=True).path
    dst = tmp_path / "out.mkv"
    upscale_video(src, dst, frame_upscaler, options=LOSSLESS)
    assert [kind for kind, _ in video_facts(dst)["streams"]] == ["video", "audio", "subtitle"]
    assert packets(dst, "subtitle") == packets(src, "subtitle")
    assert_audio_copied_in_sync(src, dst)


def test_left_out_streams_are_left_out(tmp_path: Path, frame_upscaler: FrameUpscaler) -> None:
    src = write_clip(tmp_path / "in.mkv", audio="libopus", subtitles=True).path
    dst = tmp_path / "out.mp4"
    report = upscale_video(
        src, dst, frame_upscaler, options=VideoOptions(copy_subtitles=False, copy_audio=False)
    )
    assert [kind for kind, _ in video_facts(dst)["streams"]] == ["video"]
    assert len(report.dropped_streams) == 2


@pytest.mark.parametrize(
    ("codec", "decoder"),
    [("h265", "hevc"), ("vp9", "vp9"), ("av1", "libdav1d"), ("ffv1", "ffv1")],
)
def test_every_offered_codec_writes_every_frame(
    tmp_path: Path, frame_upscaler: FrameUpscaler, codec: str, decoder: str
) -> None:
    src = write_clip(tmp_path / "in.mp4", frames=6).path
    dst = tmp_path / "out.mkv"
    upscale_video(src, dst, frame_upscaler, options=VideoOptions(codec=codec, segment_frames=4))
    facts = video_facts(dst)
    assert (facts["codec"], facts["width"], facts["height"]) == (decoder, 64, 48)
    _, stamps = decoded(dst)
    assert len(stamps) == 6 and stamps == sorted(set(stamps))


def test_webm_gets_vp9_and_keeps_opus(tmp_path: Path, frame_upscaler: FrameUpscaler) -> None:
    src = write_clip(tmp_path / "in.mkv", audio="libopus").path
    dst = tmp_path / "out.webm"
    report = upscale_video(src, dst, frame_upscaler)
    assert report.codec == "libvpx-vp9" and video_facts(dst)["codec"] == "vp9"
    assert any(".webm cannot hold libx264" in note for note in report.notes)
    assert_audio_copied_in_sync(src, dst)


def test_x264_lossless_is_within_the_yuv_rounding(
    tmp_path: Path, frame_upscaler: FrameUpscaler
) -> None:
    src = write_clip(tmp_path / "in.mp4", frames=4).path
    dst = tmp_path / "out.mp4"
    report = upscale_video(
        src, dst, frame_upscaler, options=VideoOptions(codec="h264", lossless=True)
    )
    assert report.pixel_format == "yuv444p"
    # lossless in YUV: only the rounding of 8-bit limited-range RGB -> YUV -> RGB remains
    assert_frames_are_nearest_x2(src, dst, tolerance=2)


@pytest.mark.parametrize(("suffix", "exact"), [(".mp4", True), (".mkv", False)])
def test_variable_frame_rate_survives(
    tmp_path: Path, frame_upscaler: FrameUpscaler, suffix: str, exact: bool
) -> None:
    src = write_clip(
        tmp_path / "vfr.mp4", frames=len(VFR_PTS), pts=VFR_PTS, time_base=Fraction(1, 90000)
    ).path
    dst = tmp_path / f"out{suffix}"
    upscale_video(src, dst, frame_upscaler, options=VideoOptions(segment_frames=4))
    _, stamps = decoded(dst)
    base = video_facts(dst)["time_base"]
    seconds = [float(p * base) for p in stamps]
    expected = [p / 90000 for p in VFR_PTS]
    if exact:  # MP4 keeps the source's time base: the very same timestamps
        assert base == Fraction(1, 90000) and tuple(stamps) == VFR_PTS
    shortest = min(np.diff(expected))
    assert np.abs(np.array(seconds) - np.array(expected)).max() < shortest


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_rotation_is_kept(tmp_path: Path, frame_upscaler: FrameUpscaler, suffix: str) -> None:
    src = write_clip(tmp_path / "r.mp4", rotation=90).path
    dst = tmp_path / f"out{suffix}"
    report = upscale_video(src, dst, frame_upscaler)
    assert video_facts(dst)["rotation"] == 90
    assert "rotation 90° kept as display metadata" in report.notes


def test_colour_tags_are_kept(tmp_path: Path, frame_upscaler: FrameUpscaler) -> None:
    src = write_clip(
        tmp_path / "bt709.mp4",
        options={
            "colorspace": "bt709",
            "color_range": "tv",
            "color_primaries": "bt709",
            "color_trc": "bt709",
        },
    ).path
    before = video_facts(src)
    assert before["colorspace"] == 1  # the clip really is tagged
    dst = tmp_path / "out.mkv"
    upscale_video(src, dst, frame_upscaler)
    after = video_facts(dst)
    assert (after["colorspace"], after["color_range"]) == (
        before["colorspace"],
        before["color_range"],
    )


def test_ten_bit_stays_ten_bit(tmp_path: Path, frame_upscaler: FrameUpscaler) -> None:
    src = write_clip(
        tmp_path / "deep.mkv",
        codec="libx265",
        pixel_format="yuv420p10le",
        options={"x265-params": "log-level=error"},
        frames=6,
    ).path
    dst = tmp_path / "out.mkv"
    report = upscale_video(src, dst, frame_upscaler)
    facts = video_facts(dst)
    assert (facts["codec"], facts["pixel_format"]) == ("hevc", "yuv420p10le")
    assert report.pixel_format == "yuv420p10le"
    lossless = tmp_path / "lossless.mkv"
    upscale_video(src, lossless, frame_upscaler, options=VideoOptions(lossless=True))
    assert video_facts(lossless)["pixel_format"] == "gbrp10le"
    # one 10-bit level is 64 in the 16-bit scale the frames travel in
    assert_frames_are_nearest_x2(src, lossless, fmt="rgb48le", tolerance=64)


def test_a_one_pixel_wide_video(tmp_path: Path, frame_upscaler: FrameUpscaler) -> None:
    src = write_clip(
        tmp_path / "thin.y4m", codec="rawvideo", pixel_format="yuv444p", size=(1, 24), frames=5
    ).path
    dst = tmp_path / "out.mkv"
    report = upscale_video(src, dst, frame_upscaler, options=VideoOptions(lossless=True))
    assert report.output_size == (2, 48)
    assert_frames_are_nearest_x2(src, dst, tolerance=0)


def _drop_last_column(frame_upscaler: FrameUpscaler) -> FrameUpscaler:
    def upscale(frame: Any) -> Any:
        return np.ascontiguousarray(frame_upscaler(frame)[:, :-1])

    return upscale


@pytest.mark.parametrize(
    ("odd_size", "width", "word"), [("pad", 64, "padded"), ("crop", 62, "cropped")]
)
def test_odd_sizes_are_padded_or_cropped_and_said(
    tmp_path: Path, frame_upscaler: FrameUpscaler, odd_size: str, width: int, word: str
) -> None:
    src = write_clip(tmp_path / "in.mp4", frames=4).path
    dst = tmp_path / "out.mp4"
    options = VideoOptions(odd_size=odd_size)  # type: ignore[arg-type]
    report = upscale_video(src, dst, _drop_last_column(frame_upscaler), options=options)
    assert (report.upscaled_size, report.output_size) == ((63, 48), (width, 48))
    assert video_facts(dst)["width"] == width
    assert any(f"63×48 {word} to {width}×48" in note for note in report.notes)


def test_a_truncated_matroska_file_is_upscaled_as_far_as_it_goes(
    tmp_path: Path, frame_upscaler: FrameUpscaler
) -> None:
    data = write_clip(tmp_path / "whole.mkv", frames=30).path.read_bytes()
    src = tmp_path / "cut.mkv"
    src.write_bytes(data[: len(data) // 2])
    dst = tmp_path / "out.mkv"
    report = upscale_video(src, dst, frame_upscaler, options=VideoOptions(lossless=True))
    frames, _ = decoded(dst)
    assert 0 < report.frames == len(frames) < 30
    assert any("has the duration of 30 frames" in note for note in report.notes)
    assert_frames_are_nearest_x2(src, dst, tolerance=0)


def test_progress_counts_every_frame(tmp_path: Path, frame_upscaler: FrameUpscaler) -> None:
    src = write_clip(tmp_path / "in.mp4", frames=12).path
    calls: list[tuple[int, int]] = []
    upscale_video(
        src,
        tmp_path / "out.mkv",
        frame_upscaler,
        options=VideoOptions(segment_frames=5),
        progress=lambda done, total: calls.append((done, total)),
    )
    assert calls == [(n, 12) for n in range(1, 13)]


def test_a_broken_frame_upscaler_fails_cleanly(tmp_path: Path) -> None:
    src = write_clip(tmp_path / "in.mp4", frames=4).path
    dst = tmp_path / "out.mp4"
    with pytest.raises(MediaError, match="keep channels and dtype"):
        upscale_video(src, dst, lambda frame: frame.astype(np.float32))
    with pytest.raises(MediaError, match="every frame of a video must have one size"):
        sizes = iter([2, 3, 3, 3])
        upscale_video(src, dst, lambda f: np.repeat(np.repeat(f, next(sizes), 0), 2, 1))
    assert not dst.exists()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        ("subtitle_into_mp4", r"cannot hold .*subtitle"),
        ("aac_into_webm", r"cannot hold .*audio"),
        ("src_is_dst", r"is the input"),
        ("missing_folder", r"does not exist"),
    ],
)
def test_refusals_happen_before_the_model_runs(tmp_path: Path, make: str, message: str) -> None:
    calls = []

    def counting(frame: Any) -> Any:
        calls.append(1)
        return nearest_x2(frame)

    src = write_clip(tmp_path / "in.mkv", audio="aac", subtitles=True).path
    dst = {
        "subtitle_into_mp4": tmp_path / "out.mp4",
        "aac_into_webm": tmp_path / "out.webm",
        "src_is_dst": src,
        "missing_folder": tmp_path / "no" / "out.mkv",
    }[make]
    options = VideoOptions(copy_subtitles=make != "aac_into_webm")
    with pytest.raises(MediaError, match=message):
        upscale_video(src, dst, counting, options=options)
    assert calls == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mkv"]
