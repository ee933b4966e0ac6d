"""Fixtures for the fetch tests: an isolated environment, a local registry, a cache folder."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fetchtest_support import TARBALL_PATH, Package, Server, build_package

from upscaler import settings

_LOCAL_HOSTS = {"127.0.0.1", "localhost"}


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No user settings leak in, no proxy is used, and nothing but 127.0.0.1 can be reached."""
    for var in (
        "UPSCALER_OFFLINE",
        "UPSCALER_NPM_MIRRORS",
        "UPSCALER_NPM_FILE_MIRRORS",
        "NPM_CONFIG_REGISTRY",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("UPSCALER_HOME", str(tmp_path / "home-should-stay-unused"))
    monkeypatch.setenv("UPSCALER_RETRIES", "3")
    monkeypatch.setenv("UPSCALER_TIMEOUT", "10")
    # Never ask the machine's npm client: its answer would be a real registry.
    monkeypatch.setattr(settings, "_npm_config_registry", lambda: None)

    real_getaddrinfo = socket.getaddrinfo

    def local_only(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in _LOCAL_HOSTS:
            raise AssertionError(f"a fetch test tried to reach {host!r}")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", local_only)


@pytest.fixture
def server() -> Iterator[Server]:
    srv = Server()
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def package() -> Package:
    return build_package()


@pytest.fixture
def registry(server: Server, package: Package, monkeypatch: pytest.MonkeyPatch) -> Server:
    """The local server acting as the configured npm registry, serving ``package``."""
    server.routes[TARBALL_PATH] = package.tgz
    monkeypatch.setenv("NPM_CONFIG_REGISTRY", server.base)
    return server


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "cache"
