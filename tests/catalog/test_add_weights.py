"""`upscaler catalog add-weights`: a PyTorch or safetensors checkpoint becomes a catalog
entry with a `url` source, and that entry then works on a user's machine (issue 26,
item 5).

Real components throughout: checkpoints written by safetensors (a hand-built Compact
network, so most cases need no torch) and by spandrel on torch (SPAN and Compact; made
in a separate interpreter by ``tests/convert/spandrel_oracle.py``, since importing
spandrel into a process that has loaded TensorFlow crashes it, which is also why its
presence is checked with ``find_spec`` rather than imported), a real HTTP server on
127.0.0.1 serving a temp folder, the real catalog loader and the real ``Upscaler``.
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from catalog_helpers import TmpCatalog
from cli_helpers import Result

from upscaler.catalog import load_catalog
from upscaler.catalog_weights import add_weights
from upscaler.errors import (
    CatalogError,
    ConversionError,
    FetchError,
    IntegrityError,
    OfflineError,
)

ROOT = Path(__file__).resolve().parents[2]
ORACLE = ROOT / "tests" / "convert" / "spandrel_oracle.py"
HOOK = ROOT / "docs" / "hooks" / "models_pages.py"

needs_spandrel = pytest.mark.skipif(
    importlib.util.find_spec("spandrel") is None or importlib.util.find_spec("torch") is None,
    reason="spandrel and torch (the test-only oracle) are not installed",
)

pytestmark = pytest.mark.timeout(300)

Cli = Callable[..., Result]
MakeCatalog = Callable[..., TmpCatalog]


# ------------------------------------------------------------------ fixtures


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No user settings, no proxy, and a cache that is this test's own."""
    for var in ("UPSCALER_OFFLINE", "HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("UPSCALER_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("UPSCALER_RETRIES", "1")
    monkeypatch.setenv("UPSCALER_TIMEOUT", "10")


class Server:
    """A plain HTTP file server on 127.0.0.1 for one folder: the "release page"."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

        class Quiet(SimpleHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(Quiet, directory=str(folder)))
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/releases/v1"

    def publish(self, file: Path) -> str:
        """Put ``file`` at ``base/<name>``; its URL."""
        target = self.folder / "releases" / "v1" / file.name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(file.read_bytes())
        return f"{self.base}/{file.name}"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    srv = Server(tmp_path / "www")
    srv.thread.start()
    yield srv
    srv.httpd.shutdown()
    srv.httpd.server_close()


def compact_tensors(scale: int = 2, features: int = 4, seed: int = 0) -> dict[str, np.ndarray]:
    """An SRVGGNetCompact state dict (Real-ESRGAN's compact network: conv, PReLU, conv,
    PReLU, conv to 3·scale² channels) with random weights."""
    rng = np.random.default_rng(seed)

    def conv(out: int, inp: int) -> np.ndarray:
        return rng.normal(0, 0.1, (out, inp, 3, 3)).astype(np.float32)

    return {
        "body.0.weight": conv(features, 3),
        "body.0.bias": np.zeros(features, np.float32),
        "body.1.weight": np.full(features, 0.25, np.float32),
        "body.2.weight": conv(features, features),
        "body.2.bias": np.zeros(features, np.float32),
        "body.3.weight": np.full(features, 0.25, np.float32),
        "body.4.weight": conv(3 * scale * scale, features),
        "body.4.bias": np.zeros(3 * scale * scale, np.float32),
    }


def write_safetensors(path: Path, tensors: dict[str, np.ndarray]) -> Path:
    from safetensors.numpy import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path))
    return path


@pytest.fixture
def compact(tmp_path: Path) -> Path:
    return write_safetensors(tmp_path / "files" / "4x-tiny-compact.safetensors", compact_tensors())


@pytest.fixture
def catalog(make_catalog: MakeCatalog) -> TmpCatalog:
    return make_catalog()


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` with its bytes: what "nothing was written" compares."""
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def cached_files(cache: Path) -> list[str]:
    """Files the cache holds besides its lock files (what "nothing is cached" checks)."""
    if not cache.exists():
        return []
    return sorted(
        p.relative_to(cache).as_posix()
        for p in cache.rglob("*")
        if p.is_file() and "locks" not in p.relative_to(cache).parts
    )


def add_args(catalog: TmpCatalog, source: Path | str, *extra: str) -> list[str]:
    return [
        "catalog",
        "add-weights",
        str(source),
        "--family",
        "community",
        "--variant",
        "x2",
        "--catalog",
        str(catalog.root),
        *extra,
    ]


NEW_FAMILY = ("--dataset", "df2k", "--implementation", "real-esrgan", "--license", "MIT")


# ------------------------------------------------------------------ spandrel-made files

SPECS = [
    {
        "id": "span-x2",
        "arch": "SPAN",
        "kwargs": {"num_in_ch": 3, "num_out_ch": 3, "feature_channels": 12, "upscale": 2},
        "container": "params_ema",
        "seed": 3,
        "h": 12,
        "w": 10,
    },
    {
        "id": "compact-x4",
        "arch": "Compact",
        "kwargs": {"num_in_ch": 3, "num_out_ch": 3, "num_feat": 8, "num_conv": 2, "upscale": 4},
        "seed": 4,
        "h": 9,
        "w": 11,
    },
]


@pytest.fixture(scope="module")
def oracle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """spandrel's SPAN and Compact as ``.pth`` and ``.safetensors``, with their outputs."""
    out = tmp_path_factory.mktemp("spandrel")
    specs = out / "specs.json"
    specs.write_text(json.dumps(SPECS))
    done = subprocess.run(
        [sys.executable, str(ORACLE), str(specs), str(out)],
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return out


# ------------------------------------------------------------------ writing entries


def test_a_local_safetensors_file_becomes_an_entry_that_loads(
    catalog: TmpCatalog, compact: Path, cli: Cli
) -> None:
    result = cli(*add_args(catalog, compact, *NEW_FAMILY, "--url", "https://example.org/m/"))
    assert result.code == 0, result.err
    entry = load_catalog(catalog.root).get("community.x2")
    assert (entry.architecture, entry.implementation, entry.dataset) == (
        "srvgg",
        "real-esrgan",
        "df2k",
    )
    assert (entry.scale, entry.channels, entry.value_range) == (2, 3, (0.0, 1.0))
    assert entry.params == {"num_feat": 4, "num_conv": 1, "out_channels": 3}
    assert entry.license == "MIT" and entry.default
    assert (entry.objective, entry.degradation, entry.domain) == ("fidelity", "bicubic", "photo")
    assert entry.tiling is not None and entry.tiling.context == 3
    assert entry.weights is not None and entry.weights.format == "safetensors"
    source = entry.weights.source.model_dump()
    assert source == {"url": "https://example.org/m", "mirrors": []}
    import hashlib

    data = compact.read_bytes()
    [file] = entry.weights.files
    assert (file.path, file.sha256, file.size) == (
        compact.name,
        hashlib.sha256(data).hexdigest(),
        len(data),
    )
    assert "Compact (num_feat=4, num_conv=1) from a safetensors file" in (entry.description or "")


def test_the_command_prints_the_yaml_and_the_next_steps(
    catalog: TmpCatalog, compact: Path, cli: Cli
) -> None:
    result = cli(*add_args(catalog, compact, *NEW_FAMILY, "--url", "https://example.org/m"))
    assert result.code == 0, result.err
    written = catalog.family("community").read_text()
    assert written in result.out  # the whole new family file, as written
    assert "format: safetensors" in result.out
    assert "not verified: nothing was fetched from https://example.org/m/" in result.out
    assert "assumed: objective=fidelity, degradation=bicubic" in result.out
    assert "upscaler eval community.x2" in result.out
    assert f"upscaler catalog validate {catalog.family('community')}" in result.out
    assert cli("catalog", "validate", str(catalog.root)).code == 0


def test_the_file_url_given_as_url_is_cut_to_its_folder_and_mirrors_are_kept(
    catalog: TmpCatalog, compact: Path
) -> None:
    added = add_weights(
        compact,
        family="community",
        variant="x2",
        license="Apache-2.0 OR MIT",
        dataset="DIV2K",
        implementation="xinntao",
        url=f"https://example.org/rel/{compact.name}",
        mirrors=[f"https://mirror.example.net/a/{compact.name}", "https://m2.example.net/b/"],
        catalog_root=catalog.root,
        progress=False,
    )
    assert added.url == f"https://example.org/rel/{compact.name}" and not added.downloaded
    entry = load_catalog(catalog.root).get("community.x2")
    assert entry.dataset == "div2k" and entry.implementation == "real-esrgan"  # aliases
    assert entry.license == "Apache-2.0 OR MIT"
    assert entry.weights is not None
    assert entry.weights.source.model_dump() == {
        "url": "https://example.org/rel",
        "mirrors": ["https://mirror.example.net/a", "https://m2.example.net/b"],
    }


def test_a_second_checkpoint_joins_its_family_and_keeps_its_comments(
    catalog: TmpCatalog, compact: Path, tmp_path: Path
) -> None:
    common = {"url": "https://example.org/m", "catalog_root": catalog.root, "progress": False}
    add_weights(
        compact,
        family="community",
        variant="x2",
        license="MIT",
        dataset="df2k",
        implementation="real-esrgan",
        **common,
    )
    path = catalog.family("community")
    path.write_text(
        "# community Compact models, added by hand-checked commands\n" + path.read_text()
    )
    before = path.read_text()
    x4 = write_safetensors(tmp_path / "x4" / "4x-compact.safetensors", compact_tensors(scale=4))
    added = add_weights(x4, family="community", variant="x4", license="CC-BY-4.0", **common)
    assert not added.created_family
    assert path.read_text().startswith(before)  # the file grew by the variant, nothing else
    assert "x4:" in added.variant_yaml and "schema_version" not in added.variant_yaml
    loaded = load_catalog(catalog.root)
    entry = loaded.get("community.x4")
    # dataset and publisher come from the family; the licence differs, so it is set
    assert (entry.dataset, entry.implementation, entry.license) == (
        "df2k",
        "real-esrgan",
        "CC-BY-4.0",
    )
    assert entry.scale == 4 and not entry.default and loaded.get("community").variant == "x2"


def test_a_family_of_another_network_or_with_a_wrapper_is_refused(
    catalog: TmpCatalog, compact: Path
) -> None:
    common = {"license": "MIT", "url": "https://example.org/m", "catalog_root": catalog.root}
    before = snapshot(catalog.root)
    with pytest.raises(CatalogError, match="family of span models; this checkpoint is srvgg"):
        add_weights(compact, family="span", variant="community-x2", **common)
    assert snapshot(catalog.root) == before
    # a family of the same network whose publisher's runtime pads around it (ncnn style)
    add_weights(
        compact,
        family="community",
        variant="x2",
        dataset="df2k",
        implementation="xinntao",
        **common,
    )
    catalog.edit(
        "community", "  value_range: [0, 1]\n", "  value_range: [0, 1]\n  wrapper: {prepad: 4}\n"
    )
    before = snapshot(catalog.root)
    with pytest.raises(CatalogError, match="wraps its models"):
        add_weights(compact, family="community", variant="x2b", **common)
    assert snapshot(catalog.root) == before


@needs_spandrel
@pytest.mark.parametrize(
    ("case", "suffix", "fmt", "arch", "scale", "params"),
    [
        ("span-x2", ".pth", "pytorch", "span", 2, {"feature_channels": 12, "norm": 1}),
        ("compact-x4", ".safetensors", "safetensors", "srvgg", 4, {"num_feat": 8, "num_conv": 2}),
    ],
)
def test_spandrel_checkpoints_are_detected_into_the_entry(
    oracle: Path,
    catalog: TmpCatalog,
    case: str,
    suffix: str,
    fmt: str,
    arch: str,
    scale: int,
    params: dict[str, int],
) -> None:
    added = add_weights(
        oracle / f"{case}{suffix}",
        family="community",
        variant="x2",
        license="MIT",
        dataset="df2k",
        implementation="span-official",
        url="https://example.org/m",
        catalog_root=catalog.root,
        progress=False,
    )
    entry = load_catalog(catalog.root).get("community.x2")
    assert entry.weights is not None and entry.weights.format == fmt == added.facts.format
    assert (entry.architecture, entry.scale, entry.channels) == (arch, scale, 3)
    assert params.items() <= entry.params.items()
    if case == "span-x2":
        assert "from params_ema of a pytorch-zip file" in (entry.description or "")


# ------------------------------------------------------------------ refusals


def test_a_missing_licence_is_refused_and_nothing_is_written(
    catalog: TmpCatalog, compact: Path, cli: Cli
) -> None:
    before = snapshot(catalog.root)
    result = cli(
        *add_args(catalog, compact, "--dataset", "df2k", "--implementation", "real-esrgan"),
        "--url",
        "https://example.org/m",
    )
    assert result.code == CatalogError.exit_code
    assert "--license is required" in result.err
    assert "Traceback" not in result.err
    assert snapshot(catalog.root) == before


@pytest.mark.parametrize(
    "licence",
    [
        "unknown",
        "NOASSERTION",
        "MIT\nrm -rf",
        "MIT AND",
        "GPL v3 (c) me!",
        "(MIT OR Apache-2.0",
        "  ",
    ],
)
def test_a_licence_that_is_no_spdx_expression_is_refused(
    catalog: TmpCatalog, compact: Path, licence: str
) -> None:
    before = snapshot(catalog.root)
    with pytest.raises(CatalogError, match="--license"):
        add_weights(
            compact,
            family="community",
            variant="x2",
            license=licence,
            dataset="df2k",
            implementation="real-esrgan",
            url="https://example.org/m",
            catalog_root=catalog.root,
        )
    assert snapshot(catalog.root) == before


def test_a_local_file_without_url_is_refused_naming_the_option(
    catalog: TmpCatalog, compact: Path, cli: Cli
) -> None:
    before = snapshot(catalog.root)
    result = cli(*add_args(catalog, compact, *NEW_FAMILY))
    assert result.code == CatalogError.exit_code
    assert "--url is required with a local file (4x-tiny-compact.safetensors)" in result.err
    assert snapshot(catalog.root) == before


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("ftp://example.org/m", "not an http(s) address"),
        ("https://user:secret@example.org/m", "credentials"),
        ("https://example.org/m?token=1", "query or fragment"),
        ("example.org/m", "not an http(s) address"),
    ],
)
def test_a_url_that_cannot_be_published_is_refused(
    catalog: TmpCatalog, compact: Path, url: str, why: str
) -> None:
    with pytest.raises(CatalogError, match=re.escape(why)):
        add_weights(
            compact,
            family="community",
            variant="x2",
            license="MIT",
            dataset="df2k",
            implementation="real-esrgan",
            url=url,
            catalog_root=catalog.root,
        )
    assert not catalog.family("community").exists()


def test_an_unknown_architecture_names_the_nearest_and_writes_nothing(
    catalog: TmpCatalog, tmp_path: Path, cli: Cli
) -> None:
    tensors = compact_tensors()
    del tensors["body.1.weight"]  # no PReLU: not a Compact any more
    tensors["head.weight"] = np.zeros((2, 2), np.float32)
    odd = write_safetensors(tmp_path / "files" / "odd.safetensors", tensors)
    before = snapshot(catalog.root)
    result = cli(*add_args(catalog, odd, *NEW_FAMILY, "--url", "https://example.org/m"))
    assert result.code == ConversionError.exit_code
    assert "no supported architecture matches" in result.err
    assert "nearest is Compact with 50% of its required keys, missing body.1.weight" in result.err
    assert "nothing was written" in result.err
    assert snapshot(catalog.root) == before


def test_an_existing_variant_is_kept_unless_replace_is_given(
    catalog: TmpCatalog, compact: Path, tmp_path: Path, cli: Cli
) -> None:
    url = ("--url", "https://example.org/m")
    assert cli(*add_args(catalog, compact, *NEW_FAMILY, *url)).code == 0
    before = snapshot(catalog.root)
    other = write_safetensors(tmp_path / "other" / compact.name, compact_tensors(seed=9))
    refused = cli(*add_args(catalog, other, *NEW_FAMILY, *url))
    assert refused.code == CatalogError.exit_code
    assert "already has a variant 'x2'" in refused.err and "--replace" in refused.err
    assert snapshot(catalog.root) == before
    assert cli(*add_args(catalog, other, *NEW_FAMILY, *url, "--replace")).code == 0
    entry = load_catalog(catalog.root).get("community.x2")
    import hashlib

    assert entry.weights is not None
    assert entry.weights.files[0].sha256 == hashlib.sha256(other.read_bytes()).hexdigest()


@pytest.mark.parametrize(
    ("family", "variant"),
    [("../x", "x2"), ("Community", "x2"), ("a.b", "x2"), ("", "x2"), ("ok", "../../y")],
)
def test_hostile_ids_are_refused_before_any_path_is_built(
    catalog: TmpCatalog, compact: Path, tmp_path: Path, cli: Cli, family: str, variant: str
) -> None:
    before = snapshot(tmp_path)
    result = cli(
        "catalog",
        "add-weights",
        str(compact),
        "--family",
        family,
        "--variant",
        variant,
        "--catalog",
        str(catalog.root),
        *NEW_FAMILY,
        "--url",
        "https://example.org/m",
    )
    assert result.code == CatalogError.exit_code
    assert "is not a family id" in result.err or "is not a variant id" in result.err
    assert snapshot(tmp_path) == before


def test_a_new_family_needs_its_dataset_and_publisher(catalog: TmpCatalog, compact: Path) -> None:
    with pytest.raises(CatalogError, match="--dataset is required") as err:
        add_weights(
            compact,
            family="community",
            variant="x2",
            license="MIT",
            url="https://example.org/m",
            catalog_root=catalog.root,
        )
    assert err.value.hint is not None and "df2k" in err.value.hint
    with pytest.raises(CatalogError, match="did you mean div2k"):
        add_weights(
            compact,
            family="community",
            variant="x2",
            license="MIT",
            dataset="div2",
            implementation="real-esrgan",
            url="https://example.org/m",
            catalog_root=catalog.root,
        )


def test_a_write_the_loader_refuses_leaves_the_catalog_untouched(
    catalog: TmpCatalog, compact: Path, tmp_path: Path
) -> None:
    common = {
        "family": "community",
        "license": "MIT",
        "url": "https://example.org/m",
        "catalog_root": catalog.root,
    }
    add_weights(compact, variant="x2", dataset="df2k", implementation="real-esrgan", **common)
    # A legal file name on this system that no catalog path may hold (a backslash):
    # every option passes, only the real loader refuses the entry.
    odd = write_safetensors(tmp_path / "odd" / "a\\b.safetensors", compact_tensors())
    before = snapshot(catalog.root)
    with pytest.raises(CatalogError) as err:
        add_weights(odd, variant="x2b", **common)
    assert str(catalog.family("community")) in err.value.problems[0]
    assert "must be relative and normalised" in err.value.problems[0]
    assert "nothing was written" in (err.value.hint or "")
    assert snapshot(catalog.root) == before


# ------------------------------------------------------------------ by URL


def test_a_url_is_downloaded_and_becomes_the_source(
    catalog: TmpCatalog, compact: Path, server: Server, tmp_path: Path
) -> None:
    url = server.publish(compact)
    cache = tmp_path / "cache"
    added = add_weights(
        url,
        family="community",
        variant="x2",
        license="MIT",
        dataset="df2k",
        implementation="real-esrgan",
        mirrors=["https://mirror.example.net/x"],
        catalog_root=catalog.root,
        cache_dir=cache,
        progress=False,
    )
    assert added.downloaded and added.url == url
    entry = load_catalog(catalog.root).get("community.x2")
    assert entry.weights is not None
    assert entry.weights.source.model_dump() == {
        "url": server.base,
        "mirrors": ["https://mirror.example.net/x"],
    }
    [blob] = [p for p in cached_files(cache) if p.startswith("blobs/")]
    assert blob.endswith(entry.weights.files[0].sha256)  # in the cache, by content
    assert not [p for p in cached_files(cache) if p.startswith("tmp/")]


def test_the_command_says_a_downloaded_url_was_verified(
    catalog: TmpCatalog, compact: Path, server: Server, cli: Cli
) -> None:
    url = server.publish(compact)
    result = cli(*add_args(catalog, url, *NEW_FAMILY, "--objective", "perceptual"))
    assert result.code == 0, result.err
    assert f"verified: {url} serves this file" in result.out
    assert "assumed: degradation=bicubic" in result.out
    assert load_catalog(catalog.root).get("community.x2").objective == "perceptual"


def test_a_url_that_404s_is_a_fetch_error_and_nothing_is_written_or_cached(
    catalog: TmpCatalog, server: Server, tmp_path: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UPSCALER_HOME", str(tmp_path / "cache"))
    before = snapshot(catalog.root)
    result = cli(*add_args(catalog, f"{server.base}/missing.pth", *NEW_FAMILY))
    assert result.code == FetchError.exit_code
    assert "missing.pth" in result.err and "HTTP 404" in result.err
    assert snapshot(catalog.root) == before
    assert cached_files(tmp_path / "cache") == []


def test_a_file_over_the_size_limit_is_refused_and_not_cached(
    catalog: TmpCatalog, compact: Path, server: Server, tmp_path: Path
) -> None:
    url = server.publish(compact)
    size = compact.stat().st_size
    cache = tmp_path / "cache"
    with pytest.raises(FetchError, match=f"announces {size} bytes, more than the 1000 allowed"):
        add_weights(
            url,
            family="community",
            variant="x2",
            license="MIT",
            dataset="df2k",
            implementation="real-esrgan",
            catalog_root=catalog.root,
            cache_dir=cache,
            max_bytes=1000,
            progress=False,
        )
    assert not catalog.family("community").exists()
    assert cached_files(cache) == []


def test_offline_the_url_is_not_downloaded(
    catalog: TmpCatalog, compact: Path, server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = server.publish(compact)
    monkeypatch.setenv("UPSCALER_OFFLINE", "1")
    with pytest.raises(OfflineError):
        add_weights(
            url,
            family="community",
            variant="x2",
            license="MIT",
            dataset="df2k",
            implementation="real-esrgan",
            catalog_root=catalog.root,
            progress=False,
        )
    assert not catalog.family("community").exists()


def test_an_undetectable_download_is_not_cached(
    catalog: TmpCatalog, server: Server, tmp_path: Path
) -> None:
    odd = write_safetensors(tmp_path / "files" / "odd.safetensors", {"w": np.zeros(3, np.float32)})
    url = server.publish(odd)
    cache = tmp_path / "cache"
    with pytest.raises(ConversionError, match=r"127\.0\.0\.1.*odd\.safetensors"):
        add_weights(
            url,
            family="community",
            variant="x2",
            license="MIT",
            dataset="df2k",
            implementation="real-esrgan",
            catalog_root=catalog.root,
            cache_dir=cache,
            progress=False,
        )
    assert cached_files(cache) == []


# ------------------------------------------------------------------ on a user's machine


@pytest.fixture
def published(catalog: TmpCatalog, server: Server, tmp_path: Path) -> tuple[TmpCatalog, Path]:
    """community.x2 added from a URL of the local server: (the catalog, the served file)."""
    file = write_safetensors(tmp_path / "files" / "2x-compact.safetensors", compact_tensors())
    add_weights(
        server.publish(file),
        family="community",
        variant="x2",
        license="MIT",
        dataset="df2k",
        implementation="real-esrgan",
        catalog_root=catalog.root,
        cache_dir=tmp_path / "contributor-cache",
        progress=False,
    )
    return catalog, server.folder / "releases" / "v1" / file.name


def test_a_user_machine_fetches_verifies_converts_and_runs_the_entry(
    published: tuple[TmpCatalog, Path], tmp_path: Path
) -> None:
    from upscaler import Upscaler

    catalog, _served = published
    up = Upscaler(
        model="community.x2", catalog=load_catalog(catalog.root), cache_dir=tmp_path / "user"
    )
    out = up.upscale(np.full((6, 5, 3), 0.5, np.float32))
    assert np.asarray(out).shape[:2] == (12, 10)
    text = str(up.describe())
    assert "weights      safetensors from url=http://127.0.0.1:" in text
    assert "params       num_conv=1 num_feat=4 out_channels=3" in text


def test_a_tampered_file_on_the_server_is_an_integrity_error(
    published: tuple[TmpCatalog, Path], tmp_path: Path
) -> None:
    from upscaler import Upscaler

    catalog, served = published
    data = bytearray(served.read_bytes())
    data[-1] ^= 0xFF  # same size, one weight changed
    served.write_bytes(bytes(data))
    user = tmp_path / "user"
    up = Upscaler(model="community.x2", catalog=load_catalog(catalog.root), cache_dir=user)
    with pytest.raises(IntegrityError, match="content hash mismatch"):
        up.prepare(progress=False)
    assert not [p for p in cached_files(user) if p.startswith("blobs/")]


def test_offline_with_nothing_cached_is_an_offline_error(
    published: tuple[TmpCatalog, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from upscaler import Upscaler

    catalog, _served = published
    monkeypatch.setenv("UPSCALER_OFFLINE", "1")
    up = Upscaler(
        model="community.x2", catalog=load_catalog(catalog.root), cache_dir=tmp_path / "user"
    )
    with pytest.raises(OfflineError, match=r"community\.x2"):
        up.prepare(progress=False)


@needs_spandrel
def test_a_spandrel_pth_from_a_url_runs_as_spandrel_does(
    oracle: Path, catalog: TmpCatalog, server: Server, tmp_path: Path
) -> None:
    from upscaler import Upscaler
    from upscaler.runtime.tflite import load_model

    url = server.publish(oracle / "span-x2.pth")
    add_weights(
        url,
        family="community",
        variant="span-x2",
        license="Apache-2.0",
        dataset="df2k",
        implementation="span-official",
        catalog_root=catalog.root,
        cache_dir=tmp_path / "contributor",
        progress=False,
    )
    up = Upscaler(
        model="community.span-x2", catalog=load_catalog(catalog.root), cache_dir=tmp_path / "user"
    ).load(progress=False)
    assert "weights      pytorch from url=" in str(up.describe())
    reference = np.load(oracle / "span-x2.npz")
    x, expected = (reference[k].transpose(0, 2, 3, 1) for k in ("input", "output"))
    folder = up.describe().runtime.savedmodel
    assert folder is not None
    got = load_model(folder).predict(x)
    assert float(np.abs(got - expected).max()) <= 1e-4


# ------------------------------------------------------------------ vocabulary and docs


def test_every_detectable_architecture_is_a_vocabulary_term() -> None:
    from upscaler.catalog import default_catalog
    from upscaler.convert.architectures import architectures

    vocab = default_catalog().vocab
    terms = {a.name: vocab.canonical("architecture", a.vocabulary) for a in architectures()}
    assert None not in terms.values(), terms
    assert {"swinir", "hat", "span", "srvgg", "rrdn"} <= set(terms.values())
    assert vocab.canonical("architecture", "RRDBNet") == "rrdn"
    assert vocab.canonical("architecture", "compact") == "srvgg"


def test_the_models_page_says_which_format_the_weights_come_in(
    catalog: TmpCatalog, compact: Path
) -> None:
    add_weights(
        compact,
        family="community",
        variant="x2",
        license="MIT",
        dataset="df2k",
        implementation="real-esrgan",
        url="https://example.org/m",
        catalog_root=catalog.root,
    )
    spec = importlib.util.spec_from_file_location("models_pages_hook_add_weights", HOOK)
    assert spec is not None and spec.loader is not None
    hook = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hook)
    loaded = load_catalog(catalog.root)
    section = hook.variant_section(loaded, loaded.get("community.x2"))
    assert "| weights format | safetensors file (`safetensors`) |" in section
    assert "<https://example.org/m>" in section
    span = hook.variant_section(loaded, loaded.get("span.ch48-x2"))
    assert "| weights format | ncnn model (`ncnn`) |" in span


def test_the_cli_page_lists_the_command() -> None:
    page = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    assert "upscaler catalog add-weights FILE_OR_URL" in page
    guide = (ROOT / "docs" / "contributing-a-model.md").read_text(encoding="utf-8")
    assert "## From a PyTorch or safetensors checkpoint" in guide
