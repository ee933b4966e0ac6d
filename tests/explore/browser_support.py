"""What the browser tests share: Debian's Chromium, its flags, and a loopback web server.

Playwright drives the distribution's ``/usr/bin/chromium`` (``executable_path``); it never
downloads a browser. CI runs as root on a fresh machine, so the ``chromium`` fixture
(tests/explore/conftest.py) installs the package with apt-get on first use.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LOOPBACK_HOSTS = {"127.0.0.1", "localhost"}
#: The width the pages must fit without scrolling sideways (a common laptop window).
LAPTOP = {"width": 1280, "height": 900}


def apt_install_chromium() -> str | None:
    """Install Debian's chromium when we are root with apt; the reason when we cannot."""
    apt = shutil.which("apt-get")
    if apt is None or os.geteuid() != 0:
        return "needs root and apt-get to install Debian's chromium package"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = [apt, "install", "-y", "-q", "--no-install-recommends", "chromium"]
    for step in ([], [[apt, "update", "-q"]]):
        for cmd in step:
            subprocess.run(cmd, env=env, capture_output=True, check=False, timeout=600)
        done = subprocess.run(install, env=env, capture_output=True, text=True, check=False)
        if done.returncode == 0 and Path(CHROMIUM).exists():
            return None
    return f"apt-get install chromium failed: {done.stderr.strip()[-300:]}"


EXPECT_TIMEOUT_MS = 60_000
"""How long an ``expect`` waits: the pages answer in well under a second on a quiet
machine, but a loaded 2-core CI box can take several (Playwright's default is 5 s)."""


def launch(pw: Any, chromium: str, profile: Path, viewport: dict[str, int] = LAPTOP) -> Any:
    """A headless Chromium context with a fresh profile, Debian's binary, our flags."""
    from playwright.sync_api import expect

    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    return pw.chromium.launch_persistent_context(
        str(profile),
        executable_path=chromium,
        headless=True,
        args=CHROMIUM_ARGS,
        viewport=viewport,
    )


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Keep the test output clean."""


@contextmanager
def serve(folder: Path) -> Iterator[str]:
    """Serve a built site on a free loopback port; yields its base URL."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
