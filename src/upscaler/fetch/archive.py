"""Safe reading of npm package tarballs.

A tarball is untrusted input even when its hash is pinned: the pin only proves it is the
file the catalog author saw. So every member is checked before any byte of it is used, and
nothing is ever extracted by ``tarfile.extractall``; listed members are streamed into temp
files chosen by the caller, who renames them only after the whole archive passed.

Refused (UnsafeArchiveError naming the member): absolute names, ``..`` or empty/``.`` path
parts, backslashes, anything outside ``package/``, symlinks, hard links, devices, FIFOs and
any other non-regular member, the same file twice, and archives past the bounds below
(``MAX_MEMBERS`` members, ``MAX_MEMBER_BYTES`` per file, ``MAX_TOTAL_BYTES`` in all).
Members are hashed by :func:`upscaler.fetch.hashing.copy_member`, the routine wheels use,
so a member that yields more bytes than its header declares is refused as in a wheel.
"""

from __future__ import annotations

import gzip
import re
import tarfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from upscaler.errors import FetchError, UnsafeArchiveError
from upscaler.fetch.hashing import Readable, copy_member

MAX_MEMBERS = 20_000
"""Members per archive; npm packages hold at most a few thousand files."""

MAX_MEMBER_BYTES = 1 << 30
"""Bytes per member (1 GiB); model weight shards are a few MB each."""

MAX_TOTAL_BYTES = 2 << 30
"""Uncompressed bytes per archive (2 GiB), headers included: stops decompression bombs."""

_DRIVE = re.compile(r"^[A-Za-z]:")


@dataclass(frozen=True)
class Limits:
    """The bounds a tarball must stay within (the module constants by default)."""

    members: int = MAX_MEMBERS
    member_bytes: int = MAX_MEMBER_BYTES
    total_bytes: int = MAX_TOTAL_BYTES


DEFAULT_LIMITS = Limits()


class _Bounded:
    """A read-only stream that refuses to yield more than ``limit`` decompressed bytes.

    Member sizes are checked from their headers, but tar's own metadata (long names, pax
    records) is read by tarfile before we see it; this bounds that too.
    """

    def __init__(self, raw: Readable, limit: int, archive: str) -> None:
        self._raw = raw
        self._left = limit
        self._limit = limit
        self._archive = archive

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        self._left -= len(data)
        if self._left < 0:
            raise UnsafeArchiveError(
                f"{self._archive} expands to more than {self._limit} bytes, the limit for one "
                "package"
            )
        return data


def member_parts(name: str, archive: str) -> list[str]:
    """The path parts of an archive member name, or an error saying why it may not be used.

    Shared by tarballs and wheels, so both refuse the same names: NUL, backslash, absolute
    or drive paths, '..', and empty or '.' parts. A directory's trailing '/' is dropped.
    """

    def unsafe(why: str) -> UnsafeArchiveError:
        return UnsafeArchiveError(f"{archive}: member {name!r} {why}; nothing was extracted")

    if "\x00" in name or "\\" in name:
        raise unsafe("has a NUL or backslash in its name")
    if name.startswith("/") or _DRIVE.match(name):
        raise unsafe("has an absolute path")
    parts = name.split("/")
    if parts and parts[-1] == "":
        parts = parts[:-1]  # directories may end in '/'
    if ".." in parts:
        raise unsafe("climbs out of the package with '..'")
    if not parts or any(p in ("", ".") for p in parts):
        raise unsafe("has an empty or '.' path part")
    return parts


def count_member(archive: str, name: str, size: int, total: int, limits: Limits) -> int:
    """The running total of declared member sizes with ``size`` added; an
    UnsafeArchiveError when one member or the whole archive is over ``limits``. Shared by
    tarballs and wheels so both refuse oversize archives alike, before extracting any."""
    if size > limits.member_bytes:
        raise UnsafeArchiveError(
            f"{archive}: member {name!r} is {size} bytes, over the "
            f"limit of {limits.member_bytes} per file; nothing was extracted"
        )
    total += size
    if total > limits.total_bytes:
        raise UnsafeArchiveError(
            f"{archive}: files add up to more than {limits.total_bytes} bytes "
            f"(at member {name!r}); nothing was extracted"
        )
    return total


def _package_path(name: str, archive: str, root: str = "package") -> str:
    """The in-package path of a tarball member name (npm puts every file under package/;
    a Python sdist under ``<name>-<version>/``, which the caller passes as ``root``)."""
    parts = member_parts(name, archive)
    if parts[0] != root:
        raise UnsafeArchiveError(
            f"{archive}: member {name!r} is outside the {root}/ folder; nothing was extracted"
        )
    return "/".join(parts[1:])


def _kind(member: tarfile.TarInfo) -> str | None:
    """Why a member type is refused, or None for a regular file or directory."""
    if member.isreg() or member.isdir():
        return None
    if member.issym():
        return f"is a symlink (to {member.linkname!r})"
    if member.islnk():
        return f"is a hard link (to {member.linkname!r})"
    if member.ischr() or member.isblk():
        return "is a device file"
    if member.isfifo():
        return "is a FIFO"
    return f"has unsupported tar type {member.type!r}"


def read_tarball(
    tgz: Path,
    *,
    extract: Mapping[str, Path] | None = None,
    limits: Limits = DEFAULT_LIMITS,
    label: str | None = None,
    root: str = "package",
) -> dict[str, tuple[str, int]]:
    """Check every member; hash every file; stream the ``extract`` ones to their temp paths.

    Returns in-package path -> (sha256 hex, size) for every regular file. One streaming pass,
    so memory stays flat and a gzip stream is decompressed once. If any member is refused,
    the temp files may hold partial data: the caller deletes them, which is why they must be
    temp files and not final names. ``label`` names the archive in messages (a URL, say);
    ``root`` is the one top folder every member must be in (npm's ``package``).
    """
    archive = label or str(tgz)
    wanted = dict(extract or {})
    found: dict[str, tuple[str, int]] = {}
    total = 0
    count = 0
    try:
        with gzip.open(tgz, "rb") as gz:
            stream = _Bounded(gz, limits.total_bytes + 1024 * limits.members, archive)
            with tarfile.open(fileobj=stream, mode="r|") as tar:  # type: ignore[call-overload]
                for member in tar:
                    count += 1
                    if count > limits.members:
                        raise UnsafeArchiveError(
                            f"{archive} has more than {limits.members} members, the limit for "
                            "one package; nothing was extracted"
                        )
                    rel = _package_path(member.name, archive, root)
                    why = _kind(member)
                    if why is not None:
                        raise UnsafeArchiveError(
                            f"{archive}: member {member.name!r} {why}; only regular files are "
                            "allowed, nothing was extracted"
                        )
                    if member.isdir():
                        continue
                    total = count_member(archive, member.name, member.size, total, limits)
                    if rel in found:
                        raise UnsafeArchiveError(
                            f"{archive}: member {member.name!r} appears twice, so which copy "
                            "counts is ambiguous; nothing was extracted"
                        )
                    found[rel] = _hash_member(tar, member, wanted.get(rel), archive)
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise UnsafeArchiveError(
            f"{archive} is not a readable gzip tar archive ({exc}); nothing was extracted"
        ) from exc
    return found


def _hash_member(
    tar: tarfile.TarFile, member: tarfile.TarInfo, dest: Path | None, archive: str
) -> tuple[str, int]:
    src = tar.extractfile(member)
    if src is None:  # pragma: no cover - regular files always have data
        raise UnsafeArchiveError(f"{archive}: member {member.name!r} has no data")
    with src:
        where = f"{archive}: member {member.name!r}"
        return copy_member(src, dest, declared=member.size, where=where, says="its header says")


def read_tarball_member(tgz: Path, path: str) -> bytes:
    """The bytes of one file of a tarball (in-package path), read through the same checks.

    Meant for small files such as a topology JSON: the bytes are held in memory. The whole
    archive is still checked, so an unsafe tarball is refused even if this file is fine.
    """
    import tempfile

    with tempfile.TemporaryDirectory(prefix="upscaler-member-") as tmp:
        dest = Path(tmp) / "member"
        found = read_tarball(Path(tgz), extract={path: dest})
        if path not in found:
            raise FetchError(
                f"{tgz} has no file {path!r}",
                hint=f"the package holds {len(found)} files; `tarball_files` lists them",
            )
        return dest.read_bytes()


def tarball_files(tgz: Path) -> dict[str, tuple[str, int]]:
    """In-package path (``package/`` removed) -> (sha256 hex, size) of every file in a tarball.

    Uses the same checks as fetching, so a tarball this accepts is one a fetch accepts.
    """
    return read_tarball(Path(tgz))
