"""npm packages as a source: where a tarball or a single file of a package can be downloaded.

No registry address is written here: the bases come from ``settings.npm_registries()``
(``$NPM_CONFIG_REGISTRY`` or ``npm config get registry``, then ``$UPSCALER_NPM_MIRRORS``) and
per-file CDN templates from ``settings.npm_file_mirrors()``.
"""

from __future__ import annotations

import logging
import os
import re
import urllib.parse
from pathlib import Path

from upscaler import settings
from upscaler.errors import CatalogError, FetchError, OfflineError
from upscaler.fetch.cache import cache_paths, cached_digest_ok, commit_file
from upscaler.fetch.download import Expected, download_first, failure
from upscaler.fetch.hashing import hex_from_sri

log = logging.getLogger("upscaler.fetch")

_NAME = re.compile(r"^(@[a-z0-9-~][a-z0-9-._~]*/)?[a-z0-9-~][a-z0-9-._~]*\Z")
_VERSION = re.compile(r"^[0-9A-Za-z][0-9A-Za-z.+_-]{0,99}\Z")  # \Z, not $: no "1.0.0\n"

REGISTRY_HINT = (
    "set NPM_CONFIG_REGISTRY to the base URL of your npm registry (or run `npm config set "
    "registry <url>`), add mirrors in UPSCALER_NPM_MIRRORS, or per-file CDN templates in "
    "UPSCALER_NPM_FILE_MIRRORS"
)


def check_package(name: str, version: str) -> None:
    """Refuse names and versions that could bend the URLs or cache names built from them."""
    hint = "fix the catalog entry; `upscaler catalog validate` checks names and versions"
    if not _NAME.match(name):
        raise CatalogError([f"{name!r} is not a valid npm package name"], hint=hint)
    if not _VERSION.match(version) or "/" in version:
        raise CatalogError([f"{version!r} is not a valid npm package version"], hint=hint)


def tarball_urls(name: str, version: str) -> list[str]:
    """The tarball's URL at every configured registry, in the order they are tried.

    npm's layout is ``{registry}/{name}/-/{basename}-{version}.tgz`` where the basename
    drops the ``@scope/`` of a scoped package.
    """
    basename = name.rsplit("/", 1)[-1]
    return [f"{base}/{name}/-/{basename}-{version}.tgz" for base in settings.npm_registries()]


def file_urls(name: str, version: str, path: str) -> list[str]:
    """One file of a package at every configured CDN template ({name}, {version}, {path})."""
    quoted = urllib.parse.quote(path, safe="/")
    return [
        template.replace("{name}", name).replace("{version}", version).replace("{path}", quoted)
        for template in settings.npm_file_mirrors()
    ]


def no_source_error(what: str) -> FetchError:
    """The error for an installation that has no registry and no file mirror configured."""
    return FetchError(
        f"no npm registry or file mirror is configured, so {what} cannot be downloaded",
        hint=REGISTRY_HINT,
    )


def download_npm_tarball(
    name: str,
    version: str,
    *,
    integrity: str | None,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: bool = True,
) -> Path:
    """A package tarball in the cache, downloaded if needed and verified.

    With ``integrity`` the bytes must match it (a cached copy is re-hashed first). Without
    it (the maintainers' `catalog hash`, pinning a new package) the tarball is downloaded,
    its integrity computed, and it is stored under that hash: pass the result to
    :func:`integrity_of` to get the string to pin.
    """
    check_package(name, version)
    what = f"npm package {name}@{version}"
    paths = cache_paths(cache_dir)
    if integrity is not None:
        hexdigest = hex_from_sri(integrity)
        lock_name = f"tarball-{hexdigest}"
        expected = Expected("sha512", hexdigest)
        with paths.lock(lock_name):
            final = paths.tarball(hexdigest)
            if cached_digest_ok(final, "sha512", hexdigest):
                return final
            _must_be_online(what)
            urls = tarball_urls(name, version)
            if not urls:
                raise no_source_error(what)
            got, attempts = download_first(
                urls,
                paths=paths,
                lock_name=lock_name,
                expected=expected,
                progress=progress,
                label=f"{name}@{version}",
            )
            if got is None:
                raise failure(what, attempts, expected)
            try:
                return commit_file(got.path, final)
            finally:
                got.path.unlink(missing_ok=True)

    _must_be_online(what)
    urls = tarball_urls(name, version)
    if not urls:
        raise no_source_error(what)
    lock_name = f"npm-{name.replace('/', '+').lstrip('@')}-{version}"
    with paths.lock(lock_name):
        got, attempts = download_first(
            urls,
            paths=paths,
            lock_name=lock_name,
            expected=Expected("sha512"),
            progress=progress,
            label=f"{name}@{version}",
        )
        if got is None:
            raise failure(what, attempts, None)
        try:
            with paths.lock(f"tarball-{got.digest}"):
                final = paths.tarball(got.digest)
                if not cached_digest_ok(final, "sha512", got.digest):
                    commit_file(got.path, final)
        finally:
            got.path.unlink(missing_ok=True)
    log.info("%s has integrity %s", what, Expected("sha512").show(got.digest))
    return final


def _must_be_online(what: str) -> None:
    if settings.offline():
        raise OfflineError(
            f"{what} is not cached and UPSCALER_OFFLINE is set, so it cannot be downloaded "
            "(offline mode)",
            hint="unset UPSCALER_OFFLINE (or set it to 0) and run the command again",
        )
