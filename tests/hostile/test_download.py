"""Item 7: a server that trickles bytes cannot keep a download going forever. A real HTTP
server thread on 127.0.0.1 sends one byte at a time, each well inside the read timeout."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from upscaler import FetchError, settings
from upscaler.fetch.npm import download_npm_tarball

PACKAGE, VERSION = "@test/trickle", "1.0.0"
INTEGRITY = "sha512-" + base64.b64encode(hashlib.sha512(b"never sent").digest()).decode()


class _Trickle(BaseHTTPRequestHandler):
    """Promises 10 MB, then sends one byte every 20 ms until the client goes away."""

    def do_GET(self) -> None:
        self.server.requests.append(self.path)  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Length", str(10_000_000))
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError, OSError):
            while not self.server.stopping.is_set():  # type: ignore[attr-defined]
                self.wfile.write(b"x")
                self.wfile.flush()
                time.sleep(0.02)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def trickle(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The trickling server set as the npm registry; yields the paths it was asked for."""

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        block_on_close = False
        stopping = threading.Event()
        requests: ClassVar[list[str]] = []  # a new class per fixture: not shared

    httpd = Server(("127.0.0.1", 0), _Trickle)
    threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    ).start()
    for var in ("UPSCALER_OFFLINE", "UPSCALER_NPM_MIRRORS", "UPSCALER_NPM_FILE_MIRRORS"):
        monkeypatch.delenv(var, raising=False)
    for var in ("NO_PROXY", "no_proxy"):
        monkeypatch.setenv(var, "127.0.0.1,localhost")
    for var in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(settings, "_npm_config_registry", lambda: None)
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    monkeypatch.setenv("NPM_CONFIG_REGISTRY", base)
    monkeypatch.setenv("UPSCALER_TIMEOUT", "5")
    yield httpd.requests
    httpd.stopping.set()
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.timeout(60)
def test_trickling_server_hits_the_deadline(
    trickle: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The deadline, not the read timeout, ends it (the error says so), and the source is
    tried once: a trickling source is not retried. The timeout marker bounds a hang; the
    test times nothing itself, so a loaded machine cannot fail it."""
    monkeypatch.setenv("UPSCALER_DOWNLOAD_DEADLINE", "1.5")
    monkeypatch.setenv("UPSCALER_RETRIES", "3")
    with pytest.raises(FetchError, match="deadline") as err:
        download_npm_tarball(
            PACKAGE, VERSION, integrity=INTEGRITY, cache_dir=tmp_path, progress=False
        )
    assert len(trickle) == 1, trickle
    assert err.value.hint is not None and "UPSCALER_DOWNLOAD_DEADLINE" in err.value.hint
    leftovers = [p for p in (tmp_path / "tmp").rglob("*") if p.is_file()]
    assert leftovers == []
    assert not (tmp_path / "tarballs").exists() or not any((tmp_path / "tarballs").rglob("*.tgz"))


@pytest.mark.parametrize(
    ("value", "expected"),
    [("", 1800.0), ("30", 30.0), ("abc", 1800.0), ("-1", 1800.0), ("nan", 1800.0), ("inf", 1800.0)],
)
def test_deadline_setting_is_read_at_call_time(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, value: str, expected: float
) -> None:
    monkeypatch.setenv("UPSCALER_DOWNLOAD_DEADLINE", value)
    assert settings.download_deadline_seconds() == expected
    if value not in ("", "30"):
        assert "UPSCALER_DOWNLOAD_DEADLINE" in caplog.text
