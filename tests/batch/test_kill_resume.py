"""kill -9 in the middle of a job, then the same command again: nothing truncated at a
final name, the killed run's temp files gone, finished files untouched, the rest done."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from batch_support import TinyEnv, noise, read_pixels, write_image
from cli_helpers import Result
from PIL import Image
from process_helpers import kill_9_when
from tiny_models import nearest_x2

# slow as a whole: its fixtures build, train or serve for real (docs/contributing-a-model.md)
pytestmark = pytest.mark.slow

Cli = Callable[..., Result]
FILES = 48
SIZE = 96  # noise compresses badly, so each PNG takes a visible moment to encode


def outputs(dst: Path) -> list[Path]:
    return sorted(p for p in dst.rglob("*.png") if not p.name.startswith("."))


def test_kill_9_mid_job_then_rerun(tiny: TinyEnv, cli: Cli, tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "out"
    sources = {}
    for i in range(FILES):
        rel = f"d{i % 3}/img_{i:03d}.png"
        sources[rel] = write_image(src / rel, noise(SIZE, SIZE, i))
    env = {k: v for k, v in os.environ.items() if not k.startswith("UPSCALER_")}
    env.update(tiny.environ())
    log = tmp_path / "stderr.txt"
    with log.open("wb") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "upscaler", "batch", str(src), str(dst), "--no-progress"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    kill_9_when(proc, lambda: bool(outputs(dst)), log, timeout=120)

    finished = outputs(dst)
    assert 0 < len(finished) < FILES, "the kill came too late to test anything"
    for path in finished:  # every file at a final name is whole
        with Image.open(path) as image:
            image.load()
            assert image.size == (2 * SIZE, 2 * SIZE)
    # What a kill during a write leaves behind (whether or not this kill hit one):
    leftover = dst / "d1" / ".img_001.k3x_9q2a.png"
    leftover.parent.mkdir(parents=True, exist_ok=True)
    leftover.write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    user_file = dst / "d1" / ".keep"
    user_file.write_text("mine", encoding="utf-8")
    before = {p: p.stat().st_mtime_ns for p in finished}

    result = cli("batch", str(src), str(dst), "--no-progress")

    assert result.code == 0, result
    assert f"done {FILES - len(finished)}, skipped {len(finished)}, failed 0" in result.out
    assert {p: p.stat().st_mtime_ns for p in finished} == before
    assert len(outputs(dst)) == FILES
    for rel, source in sources.items():
        np.testing.assert_array_equal(read_pixels(dst / rel), nearest_x2(read_pixels(source)))
    hidden = sorted(p.name for p in dst.rglob(".*"))
    assert hidden == [".keep"]  # the killed run's lock file went with the finished rerun
    assert user_file.read_text(encoding="utf-8") == "mine"
