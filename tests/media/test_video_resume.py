"""Resumable video runs: a cancel, Ctrl-C or kill -9 leaves finished segments that a
rerun continues from, giving the video an uninterrupted run gives; a state that belongs
to another run is refused, never mixed; the pieces work in other processes (Ray)."""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
import textwrap
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from process_helpers import kill_9_when
from tiny_models import nearest_x2
from video_clips import decoded, packets, video_facts, write_clip

from upscaler.errors import Cancelled, MediaError
from upscaler.locks import FolderLock
from upscaler.media.frames import FrameUpscaler
from upscaler.media.video import (
    VideoOptions,
    encode_segment,
    join_segments,
    plan_video,
    upscale_video,
    work_folder,
)
from upscaler.media.video.state import RunState, SourceIdentity

pytestmark = pytest.mark.timeout(300)

OPTIONS = VideoOptions(segment_frames=4)


class Counting:
    """A FrameUpscaler that counts its calls and can fail at a given call."""

    def __init__(
        self, inner: FrameUpscaler, fail_at: int | None = None, error: BaseException | None = None
    ) -> None:
        self.inner = inner
        self.fail_at = fail_at
        self.error = error or Cancelled("cancelled by the test")
        self.calls = 0

    def __call__(self, frame: Any) -> Any:
        if self.fail_at is not None and self.calls == self.fail_at:
            raise self.error
        self.calls += 1
        return self.inner(frame)


@pytest.fixture
def source(tmp_path: Path) -> Path:
    return write_clip(tmp_path / "in.mp4", frames=12, audio="aac").path


def same_video(a: Path, b: Path) -> None:
    frames_a, pts_a = decoded(a)
    frames_b, pts_b = decoded(b)
    assert pts_a == pts_b
    assert len(frames_a) == len(frames_b)
    for x, y in zip(frames_a, frames_b, strict=True):
        np.testing.assert_array_equal(x, y)
    assert packets(a, "audio") == packets(b, "audio")


def interrupted(src: Path, dst: Path, upscale: FrameUpscaler, fail_at: int, **kwargs: Any) -> None:
    failing = Counting(upscale, fail_at, kwargs.pop("error", None))
    with pytest.raises((Cancelled, KeyboardInterrupt)):
        upscale_video(src, dst, failing, options=kwargs.pop("options", OPTIONS), **kwargs)
    assert not dst.exists()


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_a_cancelled_run_resumes_to_the_same_video(
    tmp_path: Path, source: Path, frame_upscaler: FrameUpscaler, suffix: str
) -> None:
    dst = tmp_path / f"out{suffix}"
    interrupted(source, dst, frame_upscaler, fail_at=6)  # in segment 1 (frames 4-7)
    folder = work_folder(dst)
    assert sorted(p.name for p in folder.iterdir()) == ["segment-00000.mp4", "state.json"]
    state = json.loads((folder / "state.json").read_text())
    assert [d["frames"] for d in state["done"]] == [4]

    again = Counting(frame_upscaler)
    report = upscale_video(source, dst, again, options=OPTIONS)
    assert again.calls == 8  # segments 1 and 2 only
    assert (report.segments, report.segments_resumed, report.frames) == (3, 1, 12)
    assert not folder.exists()

    whole = tmp_path / f"whole{suffix}"
    upscale_video(source, whole, frame_upscaler, options=OPTIONS)
    same_video(dst, whole)


def test_ctrl_c_keeps_the_finished_segments(
    tmp_path: Path, source: Path, frame_upscaler: FrameUpscaler
) -> None:
    dst = tmp_path / "out.mkv"
    interrupted(source, dst, frame_upscaler, fail_at=9, error=KeyboardInterrupt())
    again = Counting(frame_upscaler)
    report = upscale_video(source, dst, again, options=OPTIONS)
    assert (again.calls, report.segments_resumed) == (4, 2)


def test_other_options_are_refused_not_mixed(
    tmp_path: Path, source: Path, frame_upscaler: FrameUpscaler
) -> None:
    dst = tmp_path / "out.mp4"
    interrupted(source, dst, frame_upscaler, fail_at=6)
    with pytest.raises(MediaError, match=r"other options .*crf 18 → 20") as caught:
        upscale_video(source, dst, frame_upscaler, options=VideoOptions(segment_frames=4, crf=20))
    assert str(work_folder(dst)) in str(caught.value) and "delete" in str(caught.value)
    assert not dst.exists()
    with pytest.raises(MediaError, match=r"other options or another model"):
        upscale_video(source, dst, frame_upscaler, options=OPTIONS, model_key="another.x2")


def test_a_changed_source_is_refused(tmp_path: Path, frame_upscaler: FrameUpscaler) -> None:
    src = write_clip(tmp_path / "in.mp4", frames=12).path
    dst = tmp_path / "out.mp4"
    interrupted(src, dst, frame_upscaler, fail_at=6)
    write_clip(src, frames=12, rate=30)  # same name, other video
    with pytest.raises(MediaError, match="another source file"):
        upscale_video(src, dst, frame_upscaler, options=OPTIONS)


def test_a_damaged_segment_is_encoded_again(
    tmp_path: Path, source: Path, frame_upscaler: FrameUpscaler
) -> None:
    dst = tmp_path / "out.mkv"
    interrupted(source, dst, frame_upscaler, fail_at=6)
    segment = work_folder(dst) / "segment-00000.mp4"
    segment.write_bytes(segment.read_bytes()[:100])
    again = Counting(frame_upscaler)
    upscale_video(source, dst, again, options=OPTIONS)
    assert again.calls == 12


def test_a_run_stopped_before_any_segment_leaves_no_folder(
    tmp_path: Path, source: Path, frame_upscaler: FrameUpscaler
) -> None:
    dst = tmp_path / "out.mkv"
    interrupted(source, dst, frame_upscaler, fail_at=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]


def test_a_record_without_a_finished_segment_is_simply_replaced(
    tmp_path: Path, source: Path, frame_upscaler: FrameUpscaler
) -> None:
    """What a kill -9 before the first segment leaves: nothing to lose, so no refusal."""
    dst = tmp_path / "out.mkv"
    RunState.open(
        work_folder(dst),
        source=SourceIdentity.of(source),
        settings={"options": {"crf": 40}, "model": "old"},
        segments=[],
    )
    report = upscale_video(source, dst, frame_upscaler, options=VideoOptions(segment_frames=6))
    assert (report.frames, report.segments, report.segments_resumed) == (12, 2, 0)
    assert not work_folder(dst).exists()


def test_two_runs_on_one_output_do_not_mix(
    tmp_path: Path, source: Path, frame_upscaler: FrameUpscaler
) -> None:
    dst = tmp_path / "out.mkv"
    folder = work_folder(dst)
    folder.mkdir()
    with (
        FolderLock(folder / ".lock", lambda pid: MediaError(f"held by {pid}")),
        pytest.raises(MediaError, match="another upscaler process"),
    ):
        upscale_video(source, dst, frame_upscaler, options=OPTIONS)
    assert not dst.exists()


# -- the pieces, in other processes --------------------------------------------------------------


def test_segments_encoded_in_other_processes_join_into_the_same_video(tmp_path: Path) -> None:
    """What a Ray job does: plan here, map encode_segment over worker processes given only
    paths and options, join here. The source has a keyframe every 3 frames, so workers
    seek into it rather than decode from the start."""
    src = write_clip(tmp_path / "in.mp4", frames=14, audio="aac", options={"g": "3"}).path
    dst = tmp_path / "joined.mkv"
    plan = plan_video(src, dst, VideoOptions(segment_frames=4))
    workdir = tmp_path / "work"
    workdir.mkdir()
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=2, mp_context=context) as pool:
        futures = [
            pool.submit(encode_segment, src, segment, nearest_x2, workdir, plan.options)
            for segment in reversed(plan.segments)
        ]
        results = [f.result(timeout=120) for f in futures]
    assert sorted(r.frames for r in results) == [2, 4, 4, 4]
    join_segments(src, results, dst, plan.options)

    local = tmp_path / "local.mkv"
    upscale_video(src, local, nearest_x2, options=VideoOptions(segment_frames=4))
    same_video(dst, local)
    source_frames, source_pts = decoded(src)
    _, joined_pts = decoded(dst)
    assert len(joined_pts) == len(source_frames) == 14
    # Matroska counts milliseconds (and shifts AAC's negative start): same steps
    steps = np.diff(joined_pts) / 1000 - np.diff(source_pts) * float(video_facts(src)["time_base"])
    assert np.abs(steps).max() <= 0.001


KILLED_RUN = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    from upscaler.media.video import VideoOptions, upscale_video

    def slow(frame):
        time.sleep(0.05)
        return np.repeat(np.repeat(frame, 2, axis=0), 2, axis=1)

    upscale_video(sys.argv[1], sys.argv[2], slow, options=VideoOptions(segment_frames=3))
    """
)


@pytest.mark.slow
def test_kill_9_mid_run_then_resume(tmp_path: Path) -> None:
    src = write_clip(tmp_path / "in.mp4", frames=24, audio="aac").path
    dst = tmp_path / "out.mp4"
    state = work_folder(dst) / "state.json"
    log = tmp_path / "child.log"

    def one_segment_done() -> bool:
        try:
            return len(json.loads(state.read_text())["done"]) >= 2
        except (OSError, ValueError, KeyError):
            return False

    with log.open("wb") as stderr:
        child = subprocess.Popen(
            [sys.executable, "-c", KILLED_RUN, str(src), str(dst)],
            stderr=stderr,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        )
        kill_9_when(child, one_segment_done, log, timeout=120)
    assert not dst.exists()
    again = Counting(nearest_x2)
    report = upscale_video(src, dst, again, options=VideoOptions(segment_frames=3))
    assert report.segments_resumed >= 2 and again.calls <= 24 - 6
    whole = tmp_path / "whole.mp4"
    upscale_video(src, whole, nearest_x2, options=VideoOptions(segment_frames=3))
    same_video(dst, whole)
    assert not work_folder(dst).exists()
