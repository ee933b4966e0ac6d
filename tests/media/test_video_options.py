"""VideoOptions are checked when made; plan_video refuses, before any model work, every
output that cannot be written as asked, and decides codec, pixel format and segments."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest
from video_clips import write_clip

from upscaler.errors import MediaError
from upscaler.media.video import VideoOptions, plan_segments, plan_video, probe_video

pytestmark = pytest.mark.timeout(120)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"codec": "h246"}, r"unknown video codec 'h246'.*did you mean .*h264"),
        ({"codec": "libx264", "crf": 52}, r"crf 52 is outside 0–51 for libx264"),
        ({"codec": "libsvtav1", "crf": 0}, r"crf 0 is outside 1–63"),
        ({"codec": "ffv1", "crf": 10}, r"ffv1 is lossless and takes no crf"),
        ({"crf": 18, "lossless": True}, r"contradict"),
        ({"crf": 18.5}, r"whole number"),
        ({"codec": "libx264", "preset": "fastest"}, r"unknown preset 'fastest'.*did you mean"),
        ({"codec": "ffv1", "preset": "fast"}, r"no speed presets"),
        ({"segment_frames": 10, "segment_seconds": 2.0}, r"not both"),
        ({"segment_frames": 0}, r"segment_frames must be"),
        ({"segment_seconds": float("nan")}, r"segment_seconds must be"),
        ({"pixel_format": "yuv421p"}, r"unknown pixel format 'yuv421p'"),
        ({"codec": "libsvtav1", "pixel_format": "yuv444p"}, r"cannot write pixel format yuv444p"),
        ({"drop_streams": (-1,)}, r"drop_streams holds -1"),
        ({"odd_size": "stretch"}, r"odd_size must be"),
    ],
)
def test_bad_options_fail_when_made(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(MediaError, match=message):
        VideoOptions(**kwargs)  # type: ignore[arg-type]


def test_everyday_codec_names_and_encoder_options_are_accepted() -> None:
    options = VideoOptions(codec="H265", encoder_options={"tune": "grain"}, drop_streams=(3, 1, 3))
    assert options.codec == "libx265"
    assert options.drop_streams == (1, 3)
    assert options.extra_encoder_options() == {"tune": "grain"}
    assert hash(options) == hash(
        VideoOptions(codec="hevc", encoder_options={"tune": "grain"}, drop_streams=(1, 3))
    )
    assert options.to_dict()["encoder_options"] == {"tune": "grain"}


# -- plan_video: codec and pixel format ----------------------------------------------------------


@pytest.fixture
def h264(tmp_path: Path) -> Path:
    return write_clip(tmp_path / "in.mp4", frames=12, audio="aac").path


def test_the_default_follows_the_source(h264: Path, tmp_path: Path) -> None:
    plan = plan_video(h264, tmp_path / "out.mp4")
    assert (plan.encoding.codec, plan.encoding.crf, plan.encoding.pixel_format) == (
        "libx264",
        18,
        "yuv420p",
    )
    assert plan.frame_count == 12 and len(plan.segments) == 1  # 10-second segments
    assert [s.describe() for s in plan.copied] == ["#1 audio (aac, und)"]
    assert plan.to_dict()["codec"] == "libx264"


def test_ten_bit_stays_ten_bit_where_the_codec_allows(tmp_path: Path) -> None:
    src = write_clip(
        tmp_path / "deep.mkv",
        codec="libx265",
        pixel_format="yuv420p10le",
        options={"x265-params": "log-level=error"},
        frames=4,
    ).path
    plan = plan_video(src, tmp_path / "out.mkv")
    assert (plan.encoding.codec, plan.encoding.pixel_format) == ("libx265", "yuv420p10le")
    assert plan.encoding.frame_format == "rgb48le"
    vp9 = plan_video(src, tmp_path / "out.webm", VideoOptions(codec="vp9"))
    assert vp9.encoding.pixel_format == "yuv420p"
    assert any("10-bit source written at 8 bits" in note for note in vp9.notes)


def test_lossless_means_ffv1_in_rgb(h264: Path, tmp_path: Path) -> None:
    plan = plan_video(h264, tmp_path / "out.mkv", VideoOptions(lossless=True))
    assert (plan.encoding.codec, plan.encoding.pixel_format, plan.encoding.crf) == (
        "ffv1",
        "bgr0",
        None,
    )
    x264 = plan_video(h264, tmp_path / "o.mkv", VideoOptions(codec="h264", lossless=True))
    assert x264.encoding.pixel_format == "yuv444p" and ("qp", "0") in x264.encoding.av_options
    with pytest.raises(MediaError, match="libsvtav1 has no lossless mode"):
        plan_video(h264, tmp_path / "o.mkv", VideoOptions(codec="av1", lossless=True))


def test_a_container_that_cannot_hold_the_source_codec_gets_its_own(
    h264: Path, tmp_path: Path
) -> None:
    plan = plan_video(h264, tmp_path / "out.webm", VideoOptions(copy_audio=False))
    assert plan.encoding.codec == "libvpx-vp9"
    assert any(".webm cannot hold libx264" in note for note in plan.notes)


def test_a_named_codec_the_container_cannot_hold_is_refused(h264: Path, tmp_path: Path) -> None:
    with pytest.raises(MediaError, match=r"\.webm cannot hold libx264") as caught:
        plan_video(h264, tmp_path / "out.webm", VideoOptions(codec="h264", copy_audio=False))
    assert "out.mkv" in str(caught.value)
    with pytest.raises(MediaError, match=r"\.mov cannot hold ffv1"):
        plan_video(h264, tmp_path / "out.mov", VideoOptions(lossless=True))


# -- plan_video: streams the output cannot hold --------------------------------------------------


def test_audio_the_container_cannot_hold_is_refused_with_both_fixes(
    h264: Path, tmp_path: Path
) -> None:
    with pytest.raises(MediaError, match=r"\.webm cannot hold .*#1 audio \(aac") as caught:
        plan_video(h264, tmp_path / "out.webm")
    assert "copy_audio=False" in str(caught.value) and "out.mkv" in str(caught.value)


def test_subtitles_in_mp4_are_refused_unless_left_out(tmp_path: Path) -> None:
    src = write_clip(tmp_path / "s.mkv", audio="libopus", subtitles=True).path
    with pytest.raises(MediaError, match=r"\.mp4 cannot hold .*#2 subtitle") as caught:
        plan_video(src, tmp_path / "out.mp4")
    assert "copy_subtitles=False" in str(caught.value) and "drop_streams=(2,)" in str(caught.value)
    assert caught.value.cli_hint == "write out.mkv, which can, or leave it out with --no-subtitles"
    plan = plan_video(src, tmp_path / "out.mp4", VideoOptions(copy_subtitles=False))
    assert [s.kind for s in plan.copied] == ["audio"]
    assert [(s.kind, why) for s, why in plan.dropped] == [
        ("subtitle", "left out (copy_subtitles=False)")
    ]
    same = plan_video(src, tmp_path / "out.mp4", VideoOptions(drop_streams=(2,)))
    assert [s.index for s, _ in same.dropped] == [2]


def test_drop_streams_must_name_a_stream_there_is(h264: Path, tmp_path: Path) -> None:
    with pytest.raises(MediaError, match=r"drop_streams names stream 7.*#1 audio"):
        plan_video(h264, tmp_path / "out.mp4", VideoOptions(drop_streams=(7,)))


# -- plan_video: output paths --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("out.avi", r"cannot write video as \.avi.*\.mkv"),
        ("out", r"without a suffix"),
        ("missing/out.mp4", r"output folder .*missing does not exist"),
    ],
)
def test_outputs_that_cannot_be_written_are_refused(
    h264: Path, tmp_path: Path, name: str, message: str
) -> None:
    with pytest.raises(MediaError, match=message):
        plan_video(h264, tmp_path / name)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]


def test_the_input_is_never_the_output(h264: Path, tmp_path: Path) -> None:
    before = h264.read_bytes()
    (tmp_path / "link.mp4").symlink_to(h264)
    for target in (h264, tmp_path / "." / "in.mp4", tmp_path / "link.mp4"):
        with pytest.raises(MediaError, match="is the input"):
            plan_video(h264, target)
    with pytest.raises(MediaError, match="is a folder"):
        plan_video(h264, tmp_path)
    assert h264.read_bytes() == before


# -- segments ------------------------------------------------------------------------------------


def test_segments_by_frames_and_by_seconds(h264: Path) -> None:
    info = probe_video(h264)
    by_frames = plan_segments(info, VideoOptions(segment_frames=5))
    assert [(s.first_frame, s.frames, s.last) for s in by_frames] == [
        (0, 5, False),
        (5, 5, False),
        (10, 2, True),
    ]
    assert by_frames[1].start_pts == by_frames[0].end_pts and by_frames[2].end_pts is None
    by_time = plan_segments(info, VideoOptions(segment_seconds=0.2))  # 25 fps: 5 frames
    assert [s.frames for s in by_time] == [5, 5, 2]


def test_variable_rate_segments_are_cut_by_time(tmp_path: Path) -> None:
    stamps = (0, 3000, 9000, 10000, 20000, 23000, 40000, 41000, 50000, 60000)
    src = write_clip(
        tmp_path / "vfr.mp4", frames=len(stamps), pts=stamps, time_base=Fraction(1, 90000)
    ).path
    segments = plan_segments(probe_video(src), VideoOptions(segment_seconds=0.2))
    # 0.2 s = 18000 ticks: cuts at the first frames at or past 18000 after each start
    assert [s.start_pts for s in segments] == [0, 20000, 40000, 60000]
    assert sum(s.frames for s in segments) == len(stamps)
