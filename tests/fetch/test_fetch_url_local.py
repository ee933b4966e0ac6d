"""Weights served as plain files over HTTP, or already in a local folder."""

from __future__ import annotations

from pathlib import Path

import pytest
from fetchtest_support import Server, files_under, sha256

from upscaler.catalog.schema import LocalSource, UrlSource, Weights, WeightsFile
from upscaler.errors import FetchError, IntegrityError, OfflineError
from upscaler.fetch import fetch_model_files

FILES = {
    "model.json": b'{"weightsManifest": [{"paths": ["shard 1.bin"]}]}',
    "shard 1.bin": b"\x00\x01" * 500,
}


def weights_with(source: UrlSource | LocalSource) -> Weights:
    return Weights(
        format="tfjs-layers",
        source=source,
        files=[
            WeightsFile(path=name, sha256=sha256(data), size=len(data))
            for name, data in FILES.items()
        ],
    )


def test_url_source_falls_back_to_a_mirror_and_reuses_the_cache(
    server: Server, tmp_path: Path
) -> None:
    for name, data in FILES.items():
        server.routes["/mirror/m/" + name.replace(" ", "%20")] = data
    weights = weights_with(
        UrlSource(url=server.base + "/main/m", mirrors=[server.base + "/mirror/m/"])
    )
    paths = fetch_model_files("u.x2", weights, cache_dir=tmp_path, progress=False)
    assert {k: p.read_bytes() for k, p in paths.items()} == FILES
    assert server.gets("/main/m/model.json") == 1
    assert server.gets("/mirror/m/shard%201.bin") == 1
    before = server.gets()
    fetch_model_files("u.x2", weights, cache_dir=tmp_path, progress=False)
    assert server.gets() == before


def test_url_source_with_wrong_bytes_names_source_expected_and_found(
    server: Server, tmp_path: Path
) -> None:
    server.routes["/m/model.json"] = FILES["model.json"]
    server.routes["/m/shard%201.bin"] = b"\xff\x01" * 500
    weights = weights_with(UrlSource(url=server.base + "/m"))
    with pytest.raises(IntegrityError) as info:
        fetch_model_files("u.x2", weights, cache_dir=tmp_path, progress=False)
    message = str(info.value)
    assert f"{server.base}/m/shard%201.bin" in message
    assert sha256(FILES["shard 1.bin"]) in message
    assert sha256(b"\xff\x01" * 500) in message
    assert files_under(tmp_path / "tmp") == []
    assert not any(p.name == sha256(b"\xff\x01" * 500) for p in files_under(tmp_path / "blobs"))


def test_url_source_offline_makes_no_request(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UPSCALER_OFFLINE", "1")
    weights = weights_with(UrlSource(url=server.base + "/m"))
    with pytest.raises(OfflineError, match=r"u\.x2.*offline"):
        fetch_model_files("u.x2", weights, cache_dir=tmp_path, progress=False)
    assert server.gets() == 0


def test_local_source_is_verified_in_place(tmp_path: Path) -> None:
    folder = tmp_path / "weights"
    folder.mkdir()
    for name, data in FILES.items():
        (folder / name).write_bytes(data)
    weights = weights_with(LocalSource(path=str(folder)))
    paths = fetch_model_files("l.x2", weights, cache_dir=tmp_path / "cache", progress=False)
    assert paths == {name: folder / name for name in FILES}
    assert not (tmp_path / "cache").exists()  # nothing copied

    (folder / "shard 1.bin").write_bytes(b"changed")
    with pytest.raises(IntegrityError, match=r"shard 1\.bin"):
        fetch_model_files("l.x2", weights, cache_dir=tmp_path / "cache", progress=False)
    (folder / "shard 1.bin").unlink()
    with pytest.raises(FetchError, match="missing"):
        fetch_model_files("l.x2", weights, cache_dir=tmp_path / "cache", progress=False)
