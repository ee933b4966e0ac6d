"""Test helpers for upscaler.fetch: a scriptable local npm-style server and package builders.

Kept in a plain module (not conftest) so that processes started with the 'spawn' method can
import the worker function by name.
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import hashlib
import io
import json
import os
import tarfile
import threading
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from upscaler.catalog.schema import NpmSource, Weights, WeightsFile

PACKAGE = "@test/esrgan-tiny"
VERSION = "1.0.0"
TARBALL_PATH = "/@test/esrgan-tiny/-/esrgan-tiny-1.0.0.tgz"


# -- building packages -----------------------------------------------------------------------


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def integrity(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def member(name: str, data: bytes = b"", **attrs: Any) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    info.mtime = 1_700_000_000
    for key, value in attrs.items():
        setattr(info, key, value)
    return info, data


def make_tgz(members: Iterable[tuple[tarfile.TarInfo, bytes]], raw_tail: bytes = b"") -> bytes:
    """A gzip tarball holding exactly these members (``raw_tail``: bytes after them, unchecked)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    raw = buf.getvalue()
    if raw_tail:
        raw = raw_tail_insert(raw, raw_tail)
    gz = io.BytesIO()
    with gzip.GzipFile(fileobj=gz, mode="wb", mtime=0) as out:
        out.write(raw)
    return gz.getvalue()


def raw_tail_insert(raw: bytes, tail: bytes) -> bytes:
    """Put ``tail`` where the end-of-archive marker was (used to craft lying headers)."""
    body = raw.rstrip(b"\0")
    pad = (-len(body)) % 512
    return body + b"\0" * pad + tail


@dataclass
class Package:
    """A small npm-style package with one two-file model, and its catalog entry."""

    files: dict[str, bytes]
    tgz: bytes

    @property
    def integrity(self) -> str:
        return integrity(self.tgz)

    def weights(self, *paths: str, integrity_override: str | None = None) -> Weights:
        paths = paths or ("models/x2/model.json", "models/x2/group1-shard1of1.bin")
        return Weights(
            format="tfjs-layers",
            source=NpmSource(
                npm=PACKAGE, version=VERSION, integrity=integrity_override or self.integrity
            ),
            files=[
                WeightsFile(path=p, sha256=sha256(self.files[p]), size=len(self.files[p]))
                for p in paths
            ],
        )


def standard_files() -> dict[str, bytes]:
    shard = bytes(range(256)) * 40 + os.urandom(64)
    topology = {
        "format": "layers-model",
        "weightsManifest": [{"paths": ["group1-shard1of1.bin"], "weights": []}],
    }
    return {
        "package.json": json.dumps({"name": PACKAGE, "version": VERSION}).encode(),
        "models/x2/model.json": json.dumps(topology).encode(),
        "models/x2/group1-shard1of1.bin": shard,
        "models/x3/model.json": json.dumps({**topology, "scale": 3}).encode(),
        "models/x3/group1-shard1of1.bin": shard[::-1] + b"x3",
        "assets/fixture.png": b"\x89PNG fake",
    }


def build_package(files: dict[str, bytes] | None = None) -> Package:
    files = files or standard_files()
    tgz = make_tgz(member(f"package/{path}", data) for path, data in files.items())
    return Package(files=files, tgz=tgz)


def files_under(folder: Path) -> list[Path]:
    """Every file or link below a folder (empty when it does not exist)."""
    if not folder.exists():
        return []
    return sorted(p for p in folder.rglob("*") if p.is_file() or p.is_symlink())


# -- the server ------------------------------------------------------------------------------


@dataclass
class Server:
    """A threaded HTTP server on 127.0.0.1 whose answers a test scripts per path.

    ``routes`` maps a path to the body served; ``script(path, *actions)`` queues what the
    next requests to that path get: "ok", an int status, "truncate" (headers promise the
    whole body, half is sent, the connection closes), or ("sleep", seconds) before "ok".
    """

    routes: dict[str, bytes] = field(default_factory=dict)
    actions: dict[str, list[Any]] = field(default_factory=lambda: defaultdict(list))
    requests: list[tuple[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    httpd: ThreadingHTTPServer | None = None

    @property
    def base(self) -> str:
        assert self.httpd is not None
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def script(self, path: str, *actions: Any) -> None:
        with self.lock:
            self.actions[path].extend(actions)

    def gets(self, path: str | None = None) -> int:
        with self.lock:
            return sum(1 for _m, p in self.requests if path is None or p == path)

    def _next_action(self, path: str) -> Any:
        with self.lock:
            self.requests.append(("GET", path))
            queue = self.actions.get(path)
            if queue:
                return queue.pop(0)
        return "ok" if path in self.routes else 404

    def start(self) -> None:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                action = server._next_action(self.path)
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self._answer(action)

            def _answer(self, action: Any) -> None:
                if isinstance(action, tuple) and action[0] == "sleep":
                    time.sleep(action[1])
                    action = "ok"
                if isinstance(action, int):
                    self.send_response(action)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = server.routes.get(self.path, b"")
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if action == "truncate":
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    return  # HTTP/1.0: the connection closes with the body unfinished
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        class Quiet(ThreadingHTTPServer):
            daemon_threads = True
            block_on_close = False

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass

        self.httpd = Quiet(("127.0.0.1", 0), Handler)
        threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def stop(self) -> None:
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()


# -- multiprocessing worker ------------------------------------------------------------------


def fetch_worker(model_id: str, weights_json: str, cache_dir: str, barrier: Any, out: Any) -> None:
    """Run in a spawned process: wait for the sibling, then fetch the same model."""
    from upscaler.fetch import fetch_model_files

    weights = Weights.model_validate_json(weights_json)
    barrier.wait(timeout=30)
    try:
        paths = fetch_model_files(model_id, weights, cache_dir=cache_dir, progress=False)
        out.put(("ok", {k: Path(v).read_bytes().hex() for k, v in paths.items()}))
    except Exception as exc:
        out.put(("error", repr(exc)))
