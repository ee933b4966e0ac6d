"""Helpers of the hostile-input suite (a plain module: tests/hostile is on sys.path)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import Result
from PIL import Image


@dataclass(frozen=True)
class Tiny:
    """The tiny catalog, its shared cache and the TF.js model file on disk."""

    catalog: Path
    home: Path
    model_json: Path


def noise(height: int, width: int, channels: int = 3, seed: int = 0) -> np.ndarray:
    """Random uint8 pixels (HxWxC)."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (height, width, channels), dtype=np.uint8)


def write_png(path: Path, height: int = 6, width: int = 5, channels: int = 3) -> Path:
    """A small real PNG."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = noise(height, width, channels)
    Image.fromarray(pixels[:, :, 0] if channels == 1 else pixels).save(path)
    return path


def snapshot(folder: Path) -> dict[str, str]:
    """Every entry under ``folder`` (names, hidden ones too) with a hash of its content,
    so a case can assert that nothing was lost, changed or left behind."""
    state: dict[str, str] = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = Path(root, name)
            rel = path.relative_to(folder).as_posix()
            if path.is_symlink():
                state[rel] = "link:" + os.readlink(path)
            elif path.is_file():
                try:
                    state[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
                except OSError:
                    state[rel] = "unreadable"
            else:
                state[rel] = "dir" if path.is_dir() else "other"
    return state


def assert_cli_error(result: Result, code: int, *words: str) -> None:
    """One `error:` line (naming ``words``), one `hint:` line, the exit code, no traceback."""
    assert result.code == code, result
    assert "Traceback" not in result.err, result.err
    lines = [line for line in result.err.strip().splitlines() if line]
    assert lines and lines[0].startswith("error: "), result.err
    assert len([line for line in lines if line.startswith("error: ")]) == 1, result.err
    assert any(line.startswith("hint: ") for line in lines), result.err
    for word in words:
        assert word in lines[0], (word, result.err)


_UNPRIVILEGED = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]


def run_cli_process(*argv: str) -> subprocess.CompletedProcess[str]:
    """The real `upscaler` in a new process. As root it runs without the capabilities that
    let root read and write anywhere, so file permissions mean what they mean for any
    user (skipped where that cannot be arranged)."""
    prefix: list[str] = []
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("root without setpriv: permissions cannot be tested")
        prefix = _UNPRIVILEGED
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    command = [*prefix, sys.executable, "-m", "upscaler.cli.main", *argv]
    done = subprocess.run(
        command, capture_output=True, text=True, env=env, timeout=300, check=False
    )
    if prefix and done.stderr.startswith("setpriv:"):
        pytest.skip(f"cannot drop root's capabilities here: {done.stderr.strip()}")
    return done
