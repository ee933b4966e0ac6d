"""probe_video, is_video_file and the packet index on real files made with PyAV, and
every bad input the video path must refuse before any model work (issue 28)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from video_clips import av, write_clip, write_y4m_header

from upscaler.errors import ImageError, MediaError
from upscaler.media.video import index_frames, is_video_file, probe_video

pytestmark = pytest.mark.timeout(120)

VFR_PTS = (0, 3000, 9000, 10000, 20000, 23000, 40000, 41000, 50000, 60000)


def test_probe_reads_codec_size_timing_and_the_other_streams(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "a.mp4", frames=12, audio="aac")
    info = probe_video(clip.path)
    assert (info.codec, info.width, info.height) == ("h264", 32, 24)
    assert (info.pixel_format, info.bit_depth, info.has_alpha) == ("yuv420p", 8, False)
    assert info.frame_count == 12 and info.frame_count_declared
    assert info.average_rate == 25 and not info.variable_frame_rate
    assert info.rotation == 0 and info.display_matrix is None
    assert [(s.index, s.kind, s.codec) for s in info.streams] == [(1, "audio", "aac")]
    assert info.duration == pytest.approx(0.48, abs=0.05)
    assert info.to_dict()["streams"][0]["kind"] == "audio"


def test_probe_keeps_rotation_from_the_display_matrix(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "r.mp4", rotation=90)
    info = probe_video(clip.path)
    assert info.rotation == 90
    assert info.display_matrix is not None and len(info.display_matrix) == 9


def test_ten_bit_source_is_described_as_ten_bit(tmp_path: Path) -> None:
    clip = write_clip(
        tmp_path / "deep.mkv",
        codec="libx265",
        pixel_format="yuv420p10le",
        options={"x265-params": "log-level=error"},
        frames=4,
    )
    info = probe_video(clip.path)
    assert (info.codec, info.pixel_format, info.bit_depth) == ("hevc", "yuv420p10le", 10)
    assert info.high_bit_depth


def test_the_index_holds_every_timestamp_of_a_variable_rate_clip(tmp_path: Path) -> None:
    clip = write_clip(
        tmp_path / "vfr.mp4", frames=len(VFR_PTS), pts=VFR_PTS, time_base=Fraction(1, 90000)
    )
    info = probe_video(clip.path)
    index = index_frames(info)
    assert index.exact and index.frame_count == len(VFR_PTS)
    assert tuple(index.timestamps.tolist()) == VFR_PTS
    assert index.variable_frame_rate
    assert index.keyframes.tolist()[0] == 0


def test_a_constant_rate_clip_is_not_variable(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "cfr.mkv", frames=20)  # Matroska rounds to milliseconds
    index = index_frames(probe_video(clip.path))
    assert index.frame_count == 20 and not index.variable_frame_rate


def test_a_subtitle_stream_is_listed(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "s.mkv", audio="libopus", subtitles=True)
    kinds = [s.kind for s in probe_video(clip.path).streams]
    assert kinds == ["audio", "subtitle"]


# -- is_video_file -------------------------------------------------------------------------------


def test_video_containers_are_video(tmp_path: Path) -> None:
    assert is_video_file(write_clip(tmp_path / "a.mp4").path)
    assert is_video_file(write_clip(tmp_path / "a.mkv").path)


def test_images_animations_and_text_are_not_video(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (8, 8), (i * 60, 0, 0)) for i in range(3)]
    for name in ("a.gif", "a.png", "a.webp"):
        frames[0].save(tmp_path / name, save_all=True, append_images=frames[1:])
    frames[0].save(tmp_path / "still.jpg")
    (tmp_path / "notes.txt").write_text("hello\n" * 100)
    for name in ("a.gif", "a.png", "a.webp", "still.jpg", "notes.txt"):
        assert not is_video_file(tmp_path / name), name
    assert not is_video_file(tmp_path / "missing.mp4")
    assert not is_video_file(tmp_path)


def test_broken_videos_go_the_video_way_to_be_refused_clearly(tmp_path: Path) -> None:
    noise = tmp_path / "noise.mp4"
    noise.write_bytes(bytes(range(256)) * 20)
    huge = tmp_path / "huge.y4m"
    write_y4m_header(huge, 100_000, 100_000)
    assert is_video_file(noise) and is_video_file(huge)
    (tmp_path / "noise.dat").write_bytes(bytes(range(256)) * 20)
    assert not is_video_file(tmp_path / "noise.dat")


def test_an_audio_file_goes_the_video_way_to_be_refused_clearly(tmp_path: Path) -> None:
    path = _audio_only(tmp_path / "sound.m4a")
    assert is_video_file(path)
    with pytest.raises(MediaError, match=r"no video stream .*audio"):
        probe_video(path)


# -- bad input -----------------------------------------------------------------------------------


def _audio_only(path: Path) -> Path:
    with av.open(str(path), "w") as out:
        stream = out.add_stream("aac", rate=48000, layout="mono")
        frame = av.AudioFrame.from_ndarray(
            np.zeros((1, 1024), np.float32), format="fltp", layout="mono"
        )
        frame.sample_rate, frame.pts = 48000, 0
        out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def test_random_bytes_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "noise.mp4"
    path.write_bytes(np.random.default_rng(1).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    with pytest.raises(MediaError, match="cannot be read as a video") as caught:
        probe_video(path)
    assert isinstance(caught.value, ImageError) and caught.value.exit_code == 10


def test_a_truncated_mp4_is_refused(tmp_path: Path) -> None:
    data = write_clip(tmp_path / "whole.mp4", frames=30).path.read_bytes()
    path = tmp_path / "half.mp4"
    path.write_bytes(data[: len(data) // 2])  # the index (moov) is at the end: gone
    with pytest.raises(MediaError, match="cannot be read as a video"):
        probe_video(path)


def test_an_empty_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "empty.mkv"
    path.write_bytes(b"")
    with pytest.raises(MediaError, match=r"empty\.mkv"):
        probe_video(path)


def test_a_video_stream_without_frames_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "none.y4m"
    write_y4m_header(path, 32, 24)
    with pytest.raises(MediaError, match="no frames"):
        probe_video(path)


def test_a_container_without_any_packet_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "zero.mkv"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height = 32, 24
        out.start_encoding()
    with pytest.raises(MediaError, match=r"zero\.mkv .*(frame|empty)"):
        probe_video(path)


def test_a_declared_100k_square_frame_is_refused_before_decoding(tmp_path: Path) -> None:
    path = tmp_path / "huge.y4m"
    write_y4m_header(path, 100_000, 100_000)
    with pytest.raises(MediaError, match=r"100000×100000 .*limit") as caught:
        probe_video(path)
    assert "UPSCALER_MAX_PIXELS" in str(caught.value)


def test_the_pixel_limit_is_the_callers_to_set(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "a.mp4")
    with pytest.raises(MediaError, match="32×24"):
        probe_video(clip.path, max_pixels=32 * 24 - 1)
    assert probe_video(clip.path, max_pixels=32 * 24).width == 32


def test_a_codec_ffmpeg_cannot_decode_is_refused(tmp_path: Path) -> None:
    data = write_clip(tmp_path / "ffv1.mkv", codec="ffv1", pixel_format="yuv444p").path.read_bytes()
    assert data.count(b"FFV1") == 1  # the FourCC of the track
    path = tmp_path / "unknown.mkv"
    path.write_bytes(data.replace(b"FFV1", b"ZQX9"))
    with pytest.raises(MediaError, match="no decoder"):
        probe_video(path)


def test_images_folders_and_missing_files_are_refused(tmp_path: Path) -> None:
    Image.new("RGB", (8, 8)).save(tmp_path / "still.png")
    with pytest.raises(MediaError, match="is an image"):
        probe_video(tmp_path / "still.png")
    with pytest.raises(MediaError, match="folder"):
        probe_video(tmp_path)
    with pytest.raises(MediaError, match="does not exist"):
        probe_video(tmp_path / "missing.mp4")


def test_a_playlist_cannot_reach_the_network(tmp_path: Path) -> None:
    path = tmp_path / "list.m3u8"
    path.write_text(
        "#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nhttp://127.0.0.1:9/a.ts\n#EXT-X-ENDLIST\n"
    )
    with pytest.raises(MediaError):
        probe_video(path)
