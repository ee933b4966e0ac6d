"""What reaches stderr from the library: no TensorFlow banner the user asked away, and no
progress bar when stderr is not a terminal (issue 14, item 19)."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest
from PIL import Image
from tiny_models import write_tfjs_upsampler

# slow as a whole: each case starts a fresh interpreter with TensorFlow
pytestmark = pytest.mark.slow

IMPORT = """
from upscaler.errors import DependencyError
from upscaler.runtime.savedmodel import require_tensorflow
try:
    require_tensorflow()
except DependencyError:
    pass
"""


@pytest.mark.parametrize(
    ("level", "shown"), [(None, False), ("3", False), ("1", False), ("0", True)]
)
def test_tensorflow_banner_follows_the_users_log_level(
    tmp_path: Path, level: str | None, shown: bool
) -> None:
    """TensorFlow writes its banner to file descriptor 2 while it is imported, before any
    log level applies. A stand-in package does the same (then fails to import, so nothing
    else runs): the banner must be hidden unless the user asked for info logs (level 0)."""
    fake = tmp_path / "fake" / "tensorflow"
    fake.mkdir(parents=True)
    banner = 'os.write(2, b"BANNER from the C++ runtime\\n")'
    (fake / "__init__.py").write_text(
        f'import os\n{banner}\nraise ImportError("stand-in")\n', encoding="utf-8"
    )
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path / "fake"), env.get("PYTHONPATH", "")])
    if level is not None:
        env["TF_CPP_MIN_LOG_LEVEL"] = level
    done = subprocess.run(
        [sys.executable, "-c", IMPORT], capture_output=True, text=True, env=env, check=False
    )
    assert done.returncode == 0, done.stderr
    assert ("BANNER" in done.stderr) is shown, done.stderr


def _upscale(tmp_path: Path, *, terminal: bool) -> str:
    """`upscaler upscale` in a fresh process; its stderr is a pipe, or a pseudo-terminal."""
    model = write_tfjs_upsampler(tmp_path / "model")
    src = tmp_path / "in.png"
    Image.new("RGB", (40, 30), (10, 20, 30)).save(src)
    argv = [sys.executable, "-m", "upscaler", "upscale", str(src), "-o", str(tmp_path / "o.png")]
    argv += ["--model", str(model), "--scale", "2", "--patch-size", "16"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("UPSCALER_")}
    env["UPSCALER_HOME"] = str(tmp_path / "home")
    env.pop("COLUMNS", None)
    if not terminal:
        done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
        assert done.returncode == 0, done.stderr
        return done.stderr
    leader, follower = pty.openpty()
    # a new pseudo-terminal is 0 columns wide, and tqdm draws a bar that wide: nothing
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    try:
        proc = subprocess.run(
            argv, stdout=subprocess.DEVNULL, stderr=follower, env=env, check=False
        )
        os.close(follower)
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(leader)
    assert proc.returncode == 0
    return b"".join(chunks).decode("utf-8", "replace")


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
def test_progress_bars_only_on_a_terminal(tmp_path: Path) -> None:
    pytest.importorskip("tensorflow")
    piped = _upscale(tmp_path / "piped", terminal=False)
    assert "tile" not in piped and "%|" not in piped, piped
    shown = _upscale(tmp_path / "tty", terminal=True)
    assert "tile" in shown, shown
