"""Long videos on Ray (issue 28, item 4): a video's segments upscaled by Ray Data actors
and joined by the driver give the very file the single-process path gives; segments a
single-process run finished are not encoded again; `upscaler batch --engine ray` sends
videos through the segments and images through today's per-file mapping.

Every expected frame is known: the model is the tiny nearest-x2 one, and the outputs are
lossless (FFV1 in RGB), so each output frame must equal ``nearest_x2`` of the decoded
source frame bit for bit. The clips have a keyframe every 10 frames and segments of half
a second (13 frames at 25 fps), so most segments start between two source keyframes.

The tests that start a Ray cluster are slow (a local cluster and two actors that each
import TensorFlow); the others check what must end before any worker starts.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from batch_support import TinyEnv, noise, read_pixels, write_image
from cli_helpers import Result
from media.video_clips import decoded, packets, write_clip  # skips without PyAV
from tiny_models import nearest_x2

from upscaler.arguments import check_run_arguments
from upscaler.batch import ModelSpec, RayOptions, RunOptions
from upscaler.batch.ray_video import (
    SegmentActor,
    VideoWork,
    error_from_row,
    upscale_video_on_ray,
)
from upscaler.errors import Cancelled, MediaError
from upscaler.locks import FolderLock
from upscaler.media.video import (
    SegmentResult,
    VideoOptions,
    encode_segment,
    plan_video,
    upscale_video,
    work_folder,
)
from upscaler.media.video.state import RunState, SourceIdentity
from upscaler.media_files import model_key

pytest.importorskip("ray.data", reason="Ray Data is not installed: pip install 'upscaler[ray]'")

Cli = Callable[..., Result]
LOSSLESS = VideoOptions(lossless=True, segment_seconds=0.5)
SPEC = ModelSpec(model="tiny.x2")
TWO_WORKERS = RayOptions(workers=2)
VIDEO_FLAGS = ("--lossless", "--segment-seconds", "0.5", "--no-progress")


def clip(path: Path) -> Path:
    """60 frames at 25 fps with AAC audio, a source keyframe every 10 frames."""
    return write_clip(path, frames=60, audio="aac", options={"g": "10"}).path


def tiny_frames() -> Callable[[Any], Any]:
    """The FrameUpscaler the facade builds, on the tiny model, in this process."""
    upscaler = SPEC.build()
    return lambda frame: np.asarray(upscaler.upscale(frame, progress=False))


def the_key() -> str:
    """The resume key the facade and the Ray path both compute for SPEC with defaults."""
    return model_key(SPEC.build(), check_run_arguments())


def assert_same_video(a: Path, b: Path) -> None:
    frames_a, pts_a = decoded(a)
    frames_b, pts_b = decoded(b)
    assert pts_a == pts_b
    assert len(frames_a) == len(frames_b)
    for number, (x, y) in enumerate(zip(frames_a, frames_b, strict=True)):
        np.testing.assert_array_equal(x, y, err_msg=f"frame {number}")
    assert packets(a, "audio") == packets(b, "audio")


def audio_payloads(path: Path) -> list[bytes]:
    """The audio packets' bytes (their times are in each container's own clock)."""
    return [payload for payload, _ in packets(path, "audio")]


def assert_upscaled_frame_for_frame(src: Path, dst: Path) -> None:
    """Every source frame once, in order, upscaled exactly: none dropped or repeated."""
    before, _ = decoded(src)
    after, _ = decoded(dst)
    assert len(after) == len(before) == 60
    for number, (x, y) in enumerate(zip(before, after, strict=True)):
        np.testing.assert_array_equal(y, nearest_x2(x), err_msg=f"frame {number}")


# -- what ends before any worker starts ----------------------------------------------------------


def test_a_file_that_is_no_video_is_refused_before_ray_starts(
    tiny: TinyEnv, tmp_path: Path
) -> None:
    import ray

    src = tmp_path / "fake.mp4"
    src.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(200))
    dst = tmp_path / "out.mkv"
    with pytest.raises(MediaError):
        upscale_video_on_ray(SPEC, RunOptions(video=LOSSLESS), src, dst, TWO_WORKERS)
    assert not ray.is_initialized()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fake.mp4"]


def test_a_video_another_process_is_writing_is_refused(tiny: TinyEnv, tmp_path: Path) -> None:
    src = clip(tmp_path / "in.mp4")
    dst = tmp_path / "out.mkv"
    folder = work_folder(dst)
    folder.mkdir()
    with (
        FolderLock(folder / ".lock", lambda pid: MediaError(f"held by {pid}")),
        pytest.raises(MediaError, match="another upscaler process"),
    ):
        upscale_video_on_ray(SPEC, RunOptions(video=LOSSLESS), src, dst, TWO_WORKERS)
    assert not dst.exists()


def test_a_run_killed_before_its_join_is_joined_without_workers(
    tiny: TinyEnv, tmp_path: Path
) -> None:
    """Every segment is in the state (a run killed during the join): the driver joins,
    no cluster starts, and the file is the single-process file."""
    import ray

    src = clip(tmp_path / "in.mp4")
    dst = tmp_path / "out.mkv"
    plan = plan_video(src, dst, LOSSLESS)
    state = RunState.open(
        plan.work_folder,
        source=SourceIdentity.of(src),
        settings={"options": plan.options.to_dict(), "model": the_key()},
        segments=list(plan.segments),
    )
    for segment in plan.segments:
        state.record(encode_segment(src, segment, nearest_x2, plan.work_folder, plan.options))

    report = upscale_video_on_ray(SPEC, RunOptions(video=LOSSLESS), src, dst, TWO_WORKERS)

    assert not ray.is_initialized()
    assert (report.frames, report.segments_resumed) == (60, len(plan.segments))
    assert not plan.work_folder.exists()
    single = tmp_path / "single.mkv"
    upscale_video(src, single, nearest_x2, options=LOSSLESS)
    assert_same_video(dst, single)


def test_batch_on_ray_reports_a_broken_video_without_starting_workers(
    tiny: TinyEnv, cli: Cli, tmp_path: Path
) -> None:
    import ray

    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    (src / "broken.mp4").write_bytes(b"not a video at all" * 10)

    result = cli("batch", str(src), str(dst), "--engine", "ray", *VIDEO_FLAGS)

    assert result.code == 12, result
    assert "1 files: done 0, skipped 0, failed 1" in result.out
    assert not ray.is_initialized()
    (line,) = (dst / "upscaler-failures.jsonl").read_text(encoding="utf-8").splitlines()
    record = json.loads(line)
    assert (record["path"], record["error"]) == (str(src / "broken.mp4"), "MediaError")
    assert sorted(p.name for p in dst.iterdir()) == ["upscaler-failures.jsonl"]


def test_an_unknown_engine_is_a_usage_error(tiny: TinyEnv, cli: Cli, tmp_path: Path) -> None:
    src = write_image(tmp_path / "in.png", noise(8, 8, 1))
    result = cli("upscale", str(src), "-o", str(tmp_path / "out.png"), "--engine", "rya")
    assert result.code == 2
    assert "unknown engine 'rya'" in result.err and "did you mean ray?" in result.err
    assert not (tmp_path / "out.png").exists()


def test_ray_flags_with_the_local_engine_are_ignored_with_a_warning(
    tiny: TinyEnv, cli: Cli, tmp_path: Path
) -> None:
    pixels = noise(8, 6, 2)
    src = write_image(tmp_path / "in.png", pixels)
    out = tmp_path / "out.png"
    result = cli("upscale", str(src), "-o", str(out), "--workers", "3", "--no-progress")
    assert result.code == 0, result
    assert "--workers only apply to --engine ray; ignored" in result.err
    np.testing.assert_array_equal(read_pixels(out), nearest_x2(pixels))


def test_a_worker_sends_segments_and_errors_back_as_rows(tiny: TinyEnv, tmp_path: Path) -> None:
    """The actor's contract, in this process: a finished segment comes back as its
    result, a segment that cannot be read as a ``failed`` row of its error class (its
    video fails, the job goes on), a model that cannot load as a ``setup-error`` row that
    the driver raises as the original class."""
    src = clip(tmp_path / "in.mp4")
    plan = plan_video(src, tmp_path / "out.mkv", LOSSLESS)
    plan.work_folder.mkdir()
    work = VideoWork(
        src, plan.work_folder, plan.options, plan.info, {s.index: s for s in plan.segments}
    )
    actor = SegmentActor(asdict(SPEC), asdict(RunOptions(video=LOSSLESS)), [work])

    good = actor({"video": np.array([0]), "segment": np.array([1])})
    assert good["status"] == ["done"], good
    result = SegmentResult.from_dict(json.loads(good["result"][0]), plan.work_folder)
    assert (result.index, result.frames, result.first_pts) == (1, 13, plan.segments[1].start_pts)
    assert result.path.is_file()

    src.write_bytes(b"no longer a video")
    bad = actor({"video": np.array([0]), "segment": np.array([2])})
    assert (bad["status"], bad["error"]) == (["failed"], ["MediaError"])
    assert not (plan.work_folder / "segment-00002.mp4").exists()

    other = ModelSpec(model="tiny.x9")
    broken = SegmentActor(asdict(other), asdict(RunOptions(video=LOSSLESS)), [work])
    rows = broken({"video": np.array([0]), "segment": np.array([0])})
    assert rows["status"] == ["setup-error"]
    row = {name: values[0] for name, values in rows.items()}
    error = error_from_row(row, src)
    assert type(error).__name__ == rows["error"][0] and "tiny.x9" in error.message


# -- on a local Ray cluster ----------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_segments_on_two_workers_give_the_single_process_video(
    tiny: TinyEnv, cli: Cli, tmp_path: Path
) -> None:
    src = clip(tmp_path / "in.mp4")
    plan = plan_video(src, tmp_path / "plan.mkv", LOSSLESS)
    starts = [s.first_frame for s in plan.segments]
    assert len(starts) == 5 and any(first % 10 for first in starts)  # cuts between keyframes

    on_ray = tmp_path / "ray.mkv"
    result = cli(
        "upscale", str(src), "-o", str(on_ray), "--engine", "ray", "--workers", "2", "--json",
        *VIDEO_FLAGS,
    )  # fmt: skip

    assert result.code == 0, result
    (output,) = json.loads(result.out)["outputs"]
    media = output["media"]
    assert (media["kind"], media["frames"], media["segments"]) == ("video", 60, 5)
    assert (media["segments_resumed"], media["codec"]) == (0, "ffv1")
    assert not work_folder(on_ray).exists()
    single = tmp_path / "single.mkv"
    upscale_video(src, single, tiny_frames(), options=LOSSLESS, model_key=the_key())
    assert_same_video(on_ray, single)
    assert_upscaled_frame_for_frame(src, on_ray)


class StopsInSegment:
    """A FrameUpscaler whose output is marked (lowest bit flipped) and that raises
    Cancelled at frame ``stop``: the marked frames show which segments it made."""

    def __init__(self, stop: int) -> None:
        self.stop = stop
        self.calls = 0

    def __call__(self, frame: Any) -> Any:
        if self.calls == self.stop:
            raise Cancelled("stopped by the test")
        self.calls += 1
        return nearest_x2(frame) ^ 1


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_ray_finishes_only_the_segments_a_single_process_run_left(
    tiny: TinyEnv, tmp_path: Path
) -> None:
    src = clip(tmp_path / "in.mp4")
    dst = tmp_path / "out.mkv"
    plan = plan_video(src, dst, LOSSLESS)
    two_segments = plan.segments[0].frames + plan.segments[1].frames
    with pytest.raises(Cancelled):
        upscale_video(
            src, dst, StopsInSegment(two_segments + 3), options=LOSSLESS, model_key=the_key()
        )
    assert sorted(p.name for p in work_folder(dst).glob("segment-*")) == [
        "segment-00000.mp4",
        "segment-00001.mp4",
    ]

    report = upscale_video_on_ray(SPEC, RunOptions(video=LOSSLESS), src, dst, TWO_WORKERS)

    assert (report.segments, report.segments_resumed, report.frames) == (5, 2, 60)
    assert not work_folder(dst).exists()
    before, _ = decoded(src)
    after, _ = decoded(dst)
    assert len(after) == 60
    marked = [
        bool(np.array_equal(y, nearest_x2(x) ^ 1)) for x, y in zip(before, after, strict=True)
    ]
    exact = [bool(np.array_equal(y, nearest_x2(x))) for x, y in zip(before, after, strict=True)]
    assert marked == [n < two_segments for n in range(60)]  # the kept segments, untouched
    assert exact == [n >= two_segments for n in range(60)]  # the other 3, made on Ray
    assert audio_payloads(dst) == audio_payloads(src)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_batch_on_ray_splits_videos_and_maps_images(
    tiny: TinyEnv, cli: Cli, tmp_path: Path
) -> None:
    import ray

    src, dst = tmp_path / "src", tmp_path / "dst"
    images = {"a.png": noise(12, 10, 1), "sub/b.png": noise(9, 14, 2)}
    for rel, pixels in images.items():
        write_image(src / rel, pixels)
    (src / "clips").mkdir()
    video = clip(src / "clips" / "walk.mkv")

    result = cli("batch", str(src), str(dst), "--engine", "ray", "--workers", "2", *VIDEO_FLAGS)

    assert result.code == 0, result
    assert "3 files: done 3, skipped 0, failed 0" in result.out
    assert not ray.is_initialized()  # one cluster for images and video, shut down after
    for rel, pixels in images.items():
        np.testing.assert_array_equal(read_pixels(dst / rel), nearest_x2(pixels), err_msg=rel)
    assert_upscaled_frame_for_frame(video, dst / "clips" / "walk.mkv")
    assert audio_payloads(dst / "clips" / "walk.mkv") == audio_payloads(video)
    assert sorted(p.name for p in (dst / "clips").iterdir()) == ["walk.mkv"]
