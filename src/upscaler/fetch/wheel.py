"""Safe reading of wheels (zip archives), under the same rules as npm tarballs.

A wheel is untrusted input even when its sha256 is pinned: the pin only proves it is the
file the catalog author saw. Every member's header is checked before any byte is used, and
nothing is extracted by ``ZipFile.extractall``; listed members are streamed into temp files
chosen by the caller, who renames them only after the whole wheel passed.

Refused (UnsafeArchiveError naming the member): absolute names, ``..`` or empty/``.`` path
parts, backslashes and NULs (the same names :func:`~upscaler.fetch.archive.member_parts`
refuses in tarballs), symlinks and any other non-regular member (the Unix mode in a zip
entry's ``external_attr``), encrypted members, the same name twice, and wheels past the
bounds of :class:`~upscaler.fetch.archive.Limits` (members, bytes per member, bytes in
all). The sizes are the declared ones from the central directory, and the bytes actually
decompressed are counted too, so a member that inflates past what it declares (a zip bomb)
is stopped after at most its declared size plus one chunk.

Unlike a tarball, a zip can be read at random, so a fetch decompresses only the members it
needs; the other members' headers are still checked.
"""

from __future__ import annotations

import stat
import tempfile
import zipfile
import zlib
from collections.abc import Mapping
from pathlib import Path

from upscaler.errors import FetchError, UnsafeArchiveError
from upscaler.fetch.archive import DEFAULT_LIMITS, Limits, count_member, member_parts
from upscaler.fetch.hashing import copy_member

_UNIX = 3
"""``ZipInfo.create_system`` of archives made on Unix, whose ``external_attr`` high 16 bits
hold an ``st_mode``."""


def _kind(info: zipfile.ZipInfo) -> str | None:
    """Why a member type is refused, or None for a regular file or directory."""
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        return "is a symlink"
    if info.flag_bits & 0x1:
        return "is encrypted"
    kind = stat.S_IFMT(mode)
    if kind and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        return f"has unsupported file type {kind:#o}"
    return None


def read_wheel(
    whl: Path,
    *,
    extract: Mapping[str, Path] | None = None,
    limits: Limits = DEFAULT_LIMITS,
    label: str | None = None,
    hash_all: bool = True,
) -> dict[str, tuple[str, int]]:
    """Check every member; hash the files; stream the ``extract`` ones to their temp paths.

    Returns in-wheel path -> (sha256 hex, size) for every regular file (with
    ``hash_all=False`` only for the ``extract`` ones that exist; the others are checked but
    not decompressed). If any member is refused the temp files may hold partial data: the
    caller deletes them, which is why they must be temp files and not final names.
    ``label`` names the wheel in messages.
    """
    archive = label or str(whl)
    wanted = dict(extract or {})
    found: dict[str, tuple[str, int]] = {}
    try:
        with zipfile.ZipFile(whl) as zf:
            infos = zf.infolist()
            if len(infos) > limits.members:
                raise UnsafeArchiveError(
                    f"{archive} has more than {limits.members} members, the limit for one "
                    "package; nothing was extracted"
                )
            files: dict[str, zipfile.ZipInfo] = {}
            seen: set[str] = set()
            total = 0
            for info in infos:
                rel = "/".join(member_parts(info.filename, archive))
                why = _kind(info)
                if why is not None:
                    raise UnsafeArchiveError(
                        f"{archive}: member {info.filename!r} {why}; only regular files are "
                        "allowed, nothing was extracted"
                    )
                if rel in seen:
                    raise UnsafeArchiveError(
                        f"{archive}: member {info.filename!r} appears twice, so which copy "
                        "counts is ambiguous; nothing was extracted"
                    )
                seen.add(rel)
                if info.is_dir():
                    continue
                total = count_member(archive, info.filename, info.file_size, total, limits)
                files[rel] = info
            for rel, info in files.items():
                if hash_all or rel in wanted:
                    found[rel] = _hash_member(zf, info, wanted.get(rel), archive)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as exc:
        raise UnsafeArchiveError(
            f"{archive} is not a readable wheel (zip archive) ({exc}); nothing was extracted"
        ) from exc
    return found


def _hash_member(
    zf: zipfile.ZipFile, info: zipfile.ZipInfo, dest: Path | None, archive: str
) -> tuple[str, int]:
    with zf.open(info) as src:
        where = f"{archive}: member {info.filename!r}"
        return copy_member(src, dest, declared=info.file_size, where=where)


def wheel_files(whl: Path) -> dict[str, tuple[str, int]]:
    """In-wheel path -> (sha256 hex, size) of every file in a wheel.

    Uses the same checks as fetching, so a wheel this accepts is one a fetch accepts.
    """
    return read_wheel(Path(whl))


def read_wheel_member(whl: Path, path: str) -> bytes:
    """The bytes of one file of a wheel (in-wheel path), read through the same checks.

    Meant for small files such as an ncnn ``.param`` graph: the bytes are held in memory.
    Every header is still checked, so an unsafe wheel is refused even if this file is fine.
    """
    with tempfile.TemporaryDirectory(prefix="upscaler-member-") as tmp:
        dest = Path(tmp) / "member"
        found = read_wheel(Path(whl), extract={path: dest}, hash_all=False)
        if path not in found:
            raise FetchError(
                f"{whl} has no file {path!r}",
                hint="`wheel_files` lists the files the wheel holds",
            )
        return dest.read_bytes()
