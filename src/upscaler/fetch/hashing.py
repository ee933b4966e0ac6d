"""Content hashes: sha256 for single files (what the catalog pins), sha512 SRI for npm tarballs.

Two notations meet here: the catalog pins each file by sha256 hex, while npm pins a whole
package tarball by a Subresource-Integrity string (``sha512-`` + base64 of the digest). The
cache names content by hex digests, so both are converted to hex at the edges.

Archive members (tarball and wheel files alike) are hashed by one routine,
:func:`copy_member`, so both kinds of package stop a member at the size it declares: two
copies of it had drifted, and only the wheel's was bounded.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from pathlib import Path
from typing import Protocol

from upscaler.errors import UnsafeArchiveError

CHUNK = 1 << 20
"""Read size for hashing and streaming: large enough to be fast, small enough to stay flat."""

_HEX = {"sha256": re.compile(r"^[0-9a-f]{64}\Z"), "sha512": re.compile(r"^[0-9a-f]{128}\Z")}


def file_digest(path: Path, algorithm: str) -> tuple[str, int]:
    """Hex digest and byte count of a file, read in chunks so large weights never sit in memory."""
    h = hashlib.new(algorithm)
    size = 0
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


class Readable(Protocol):
    """A byte stream: a decompressing archive member, or the archive itself."""

    def read(self, size: int = -1, /) -> bytes: ...


def copy_member(
    src: Readable, dest: Path | None, *, declared: int, where: str, says: str = "declares"
) -> tuple[str, int]:
    """Hex sha256 and size of one archive member, copied to ``dest`` (None: hash only).

    Reading stops one chunk past ``declared`` (the size the archive's header or central
    directory gives, which the limits were checked against): a member that inflates
    further is a decompression bomb, refused before it can fill the disk. ``where`` names
    the member in messages (``ARCHIVE: member 'NAME'``); ``says`` is how a short member's
    message introduces the declared size, in the archive format's own words.
    """
    h = hashlib.sha256()
    size = 0
    with dest.open("wb") if dest is not None else _NullSink() as out:
        while chunk := src.read(CHUNK):
            size += len(chunk)
            if size > declared:
                raise UnsafeArchiveError(
                    f"{where} inflates past the {declared} bytes it declares; nothing was extracted"
                )
            h.update(chunk)
            out.write(chunk)
    if size != declared:
        raise UnsafeArchiveError(
            f"{where} holds {size} bytes but {says} {declared}; nothing was extracted"
        )
    return h.hexdigest(), size


class _NullSink:
    """Where the bytes of members nobody asked for go while they are hashed."""

    def __enter__(self) -> _NullSink:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def write(self, data: bytes) -> int:
        return len(data)


def integrity_of(path: Path) -> str:
    """The npm-style ``sha512-<base64>`` integrity of a file (what ``dist.integrity`` holds)."""
    hexdigest, _ = file_digest(Path(path), "sha512")
    return sri_from_hex(hexdigest)


def sri_from_hex(hexdigest: str) -> str:
    """Write a sha512 hex digest the way npm does, so messages compare like with like."""
    return "sha512-" + base64.b64encode(bytes.fromhex(hexdigest)).decode("ascii")


def hex_from_sri(integrity: str) -> str:
    """The sha512 hex digest inside an SRI string; the cache names tarballs by it.

    npm may list several hashes separated by spaces (``sha512-... sha1-...``); only sha512 is
    trusted, because sha1 no longer resists deliberate collisions.
    """
    for token in integrity.split():
        algo, _, b64 = token.partition("-")
        if algo != "sha512":
            continue
        try:
            raw = base64.b64decode(b64.split("?")[0], validate=True)
        except (binascii.Error, ValueError):
            break
        if len(raw) == 64:
            return raw.hex()
        break
    raise ValueError(
        f"integrity {integrity!r} holds no valid sha512 entry; expected 'sha512-' followed by "
        "the base64 of a 64-byte digest, as npm's dist.integrity"
    )


def is_hex_digest(value: str, algorithm: str) -> bool:
    """True when ``value`` could be a cache key for ``algorithm`` (lower-case hex, right length)."""
    return bool(_HEX[algorithm].match(value))
