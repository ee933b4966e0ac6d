"""Animations and videos through the entry points users call: ``Upscaler.upscale_file``,
``describe(input=...)``, ``upscaler upscale``, ``upscaler describe --input`` and
``upscaler batch`` (issue 28, item 3), with the tiny nearest-x2 model so every expected
frame is known exactly, and PyAV reading every output back."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from animation_files import pillow_animation, read_back
from cli_helpers import Result
from PIL import Image
from tiny_models import nearest_x2, write_tfjs_upsampler

av = pytest.importorskip("av")
from video_clips import decoded, packets, video_facts, write_clip  # noqa: E402

from upscaler.media_files import media_kind  # noqa: E402

pytestmark = pytest.mark.timeout(300)

Cli = Callable[..., Result]


def _seconds(path: Path) -> list[float]:
    """Every video frame's presentation time, in seconds."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return [float(f.pts * stream.time_base) for f in container.decode(stream)]


def _frames(count: int, size: tuple[int, int] = (12, 10)) -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    return [rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8) for _ in range(count)]


@pytest.fixture(scope="module")
def model_json(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tfjs_upsampler(tmp_path_factory.mktemp("tfjs"))


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("home")


@pytest.fixture
def model(model_json: Path, home: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    pytest.importorskip("tensorflow")
    monkeypatch.setenv("UPSCALER_HOME", str(home))
    return ["--model", str(model_json), "--scale", "2"]


# -- what a file holds -------------------------------------------------------------------


def test_media_kind_tells_stills_animations_and_videos_apart(tmp_path: Path) -> None:
    still = tmp_path / "still.png"
    Image.fromarray(_frames(1)[0]).save(still)
    one_frame_gif = tmp_path / "one.gif"
    Image.fromarray(_frames(1)[0]).save(one_frame_gif)
    gif = pillow_animation(tmp_path / "anim.gif", _frames(3), [80, 80, 80], loop=0)
    webp = pillow_animation(tmp_path / "anim.webp", _frames(3), [80, 80, 80], lossless=True)
    clip = write_clip(tmp_path / "clip.mp4", frames=4).path
    text = tmp_path / "notes.txt"
    text.write_text("not a picture")
    odd_name = tmp_path / "clip.bin"
    odd_name.write_bytes(clip.read_bytes())
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    assert media_kind(still) == "image"
    assert media_kind(one_frame_gif) == "image"
    assert media_kind(gif) == "animation"
    assert media_kind(webp) == "animation"
    assert media_kind(clip) == "video"
    assert media_kind(odd_name) == "video"  # known by its content, not its name
    assert media_kind(text) == "image"  # the still path names the problem
    assert media_kind(fifo) == "image"  # never opened for reading: no hang
    assert media_kind(tmp_path / "missing.mp4") == "image"


# -- the Python API ------------------------------------------------------------------------


def test_upscale_file_writes_a_video_with_its_audio(tmp_path: Path, tiny_upscaler: Any) -> None:
    clip = write_clip(tmp_path / "in.mkv", frames=8, audio="aac")
    out = tmp_path / "out.mkv"
    from upscaler.media.video import VideoOptions

    tiny_upscaler.upscale_file(clip.path, out, video=VideoOptions(lossless=True), progress=False)
    facts = video_facts(out)
    assert (facts["width"], facts["height"]) == (64, 48)
    frames_in, _ = decoded(clip.path)
    frames_out, _ = decoded(out)
    assert len(frames_out) == len(frames_in) == 8
    one_frame = 1 / 25
    for before, after in zip(_seconds(clip.path), _seconds(out), strict=True):
        assert abs(before - after) < one_frame
    for before, after in zip(frames_in, frames_out, strict=True):
        diff = np.abs(after.astype(int) - nearest_x2(before).astype(int))
        assert diff.max() <= 1
    assert [p for p, _ in packets(out, "audio")] == [p for p, _ in packets(clip.path, "audio")]
    media = tiny_upscaler.describe().runtime.media
    assert media["kind"] == "video" and media["frames"] == 8 and media["lossless"] is True
    assert "last media   video: 8 frames in 1 segments" in str(tiny_upscaler.describe())


def test_upscale_file_writes_an_animation(tmp_path: Path, tiny_upscaler: Any) -> None:
    frames = _frames(3)
    src = pillow_animation(tmp_path / "in.webp", frames, [40, 90, 120], loop=0, lossless=True)
    out = tmp_path / "out.webp"
    tiny_upscaler.upscale_file(src, out, progress=False)
    back = read_back(out)
    assert len(back.frames) == 3
    assert back.durations == [40, 90, 120]
    for frame, got in zip(frames, back.frames, strict=True):
        np.testing.assert_array_equal(got[..., :3], nearest_x2(frame))
    assert tiny_upscaler.describe().runtime.media["frames"] == 3


def test_describe_input_plans_a_video_without_the_model(tmp_path: Path, tiny_upscaler: Any) -> None:
    clip = write_clip(tmp_path / "talk.mp4", frames=6, audio="aac")
    description = tiny_upscaler.describe(clip.path)
    plan = description.input_plan
    assert plan is not None
    assert plan["kind"] == "video" and plan["frames"] == 6 and plan["codec"] == "libx264"
    assert any("aac" in s for s in plan["copied_streams"])
    assert "input        video: 6 frames in 1 segments, libx264" in str(description)
    assert description.to_dict()["input_plan"]["frames"] == 6


def test_describe_input_of_a_still_adds_nothing(tmp_path: Path, tiny_upscaler: Any) -> None:
    still = tmp_path / "still.png"
    Image.fromarray(_frames(1)[0]).save(still)
    assert tiny_upscaler.describe(still).input_plan is None


# -- the command line ------------------------------------------------------------------------


def test_cli_upscales_a_video(cli: Cli, model: list[str], tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "in.mp4", frames=5, audio="aac")
    out = tmp_path / "out.mp4"
    result = cli("upscale", str(clip.path), "-o", str(out), *model, "--crf", "20", "--json")
    assert result.code == 0, result
    report = json.loads(result.out)
    media = report["outputs"][0]["media"]
    assert media["frames"] == 5 and media["crf"] == 20 and media["codec"] == "libx264"
    assert len(decoded(out)[0]) == 5


def test_cli_upscales_an_animated_gif(cli: Cli, model: list[str], tmp_path: Path) -> None:
    src = pillow_animation(tmp_path / "in.gif", _frames(4), [50, 60, 70, 80], loop=0)
    out = tmp_path / "out.gif"
    result = cli("upscale", str(src), "-o", str(out), *model)
    assert result.code == 0, result
    assert result.out.startswith(f"wrote {out} in ")
    back = read_back(out)
    assert len(back.frames) == 4 and back.durations == [50, 60, 70, 80]
    assert back.frames[0].shape[:2] == (20, 24)


def test_cli_refuses_a_video_into_an_image_name_before_the_model(
    cli: Cli, model_json: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An empty home: a model load would convert into it, so an empty home afterwards
    # shows that the refusal came first.
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("UPSCALER_HOME", str(home))
    clip = write_clip(tmp_path / "in.mp4", frames=3)
    result = cli(
        "upscale",
        str(clip.path),
        "-o",
        str(tmp_path / "out.png"),
        "--model",
        str(model_json),
        "--scale",
        "2",
    )
    assert result.code == 10, result
    assert "cannot write video as .png" in result.err
    assert "Traceback" not in result.err
    assert not (tmp_path / "out.png").exists()
    assert not any(home.rglob("saved_model.pb"))


def test_cli_refuses_an_animation_into_a_still_format(
    cli: Cli, model: list[str], tmp_path: Path
) -> None:
    src = pillow_animation(tmp_path / "in.gif", _frames(3), [50, 50, 50], loop=0)
    result = cli("upscale", str(src), "-o", str(tmp_path / "out.jpg"), *model)
    assert result.code == 10, result
    assert ".gif" in result.err and "Traceback" not in result.err
    assert not (tmp_path / "out.jpg").exists()


def test_cli_bad_video_option_is_refused(cli: Cli, model: list[str], tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "in.mp4", frames=3)
    result = cli("upscale", str(clip.path), "-o", str(tmp_path / "o.mp4"), *model, "--crf", "99")
    assert result.code == 10, result
    assert "crf" in result.err and "Traceback" not in result.err


def test_cli_describe_input(cli: Cli, model: list[str], tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "in.mkv", frames=4, audio="libopus")
    result = cli("describe", *model, "--input", str(clip.path), "--json")
    assert result.code == 0, result
    plan = json.loads(result.out)["input_plan"]
    assert plan["frames"] == 4 and plan["container"] == "matroska"
    text = cli("describe", *model, "--input", str(clip.path))
    assert "input        video: 4 frames" in text.out


def test_batch_takes_stills_animations_and_videos(
    cli: Cli, model: list[str], tmp_path: Path
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    Image.fromarray(_frames(1)[0]).save(src / "still.png")
    pillow_animation(src / "anim.gif", _frames(3), [50, 50, 50], loop=0)
    write_clip(src / "clip.mp4", frames=4, audio="aac")
    write_clip(src / "old.avi", frames=3, codec="mpeg4")
    dst = tmp_path / "dst"
    result = cli("batch", str(src), str(dst), *model, "--no-progress")
    assert result.code == 0, result
    assert sorted(p.name for p in dst.iterdir() if not p.name.startswith(".")) == [
        "anim.gif",
        "clip.mp4",
        "old.mkv",  # AVI is read, not written: Matroska holds what it held
        "still.png",
    ]
    assert len(read_back(dst / "anim.gif").frames) == 3
    assert len(decoded(dst / "clip.mp4")[0]) == 4
    assert len(decoded(dst / "old.mkv")[0]) == 3
    again = cli("batch", str(src), str(dst), *model, "--no-progress")
    assert again.code == 0, again
    assert "done 0, skipped 4, failed 0" in again.out
