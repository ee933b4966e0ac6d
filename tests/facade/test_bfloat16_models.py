"""A stored bfloat16 variant through the whole product: declared in YAML, resolved, built
from its parent's verified weights, cached, run on every image kind, described.

A tiny catalog holds a small RDN (``tinyq.x2``); the test appends ``tinyq.bf16-x2`` to
the family file as a contributor would (four lines: `derived_from` and `quantization`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tiny_models import write_small_rdn_catalog

from upscaler.catalog import load_catalog
from upscaler.catalog.loader import Catalog
from upscaler.errors import ConversionError

VARIANT = """  bf16-x2:
    scale: 2
    derived_from: tinyq.x2
    quantization: bfloat16
"""


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    root = write_small_rdn_catalog(tmp_path_factory.mktemp("bf16cat"))
    family = root / "models" / "tinyq.yaml"
    family.write_text(family.read_text() + VARIANT)
    return load_catalog(root)


@pytest.fixture
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.getbasetemp() / "bf16-cache"


def test_the_variant_is_declared_by_its_parent_alone(catalog: Catalog) -> None:
    from upscaler.resolve.resolver import build_query, resolve

    entry = catalog.get("tinyq.bf16-x2")
    assert entry.weights is None and entry.built_from_parent
    assert entry.quantization == "bfloat16"
    exact = resolve(build_query("quantization=bf16", catalog), catalog)  # an alias
    assert exact.exact and exact.matches == ["tinyq.bf16-x2"]
    unasked = resolve(build_query("scale=2", catalog), catalog)
    assert unasked.matches == ["tinyq.x2", "tinyq.bf16-x2"]  # the float parent first


@pytest.mark.parametrize(
    ("shape", "dtype"),
    [((21, 17, 3), np.uint8), ((21, 17), np.uint8), ((21, 17, 4), np.uint16)],
)
def test_every_image_kind_runs_through_the_variant(
    catalog: Catalog, cache: Path, shape: tuple[int, ...], dtype: Any
) -> None:
    from upscaler import Upscaler

    top = 65535 if dtype == np.uint16 else 255
    image = np.random.default_rng(2).integers(0, top + 1, shape).astype(dtype)
    b = Upscaler(model="tinyq.bf16-x2", catalog=catalog, cache_dir=cache)
    f = Upscaler(model="tinyq.x2", catalog=catalog, cache_dir=cache)
    ours, parents = (np.asarray(u.upscale(image, progress=False)) for u in (b, f))
    assert ours.shape == parents.shape == (42, 34, *shape[2:]) and ours.dtype == dtype
    difference = np.abs(ours.astype(np.float64) - parents.astype(np.float64)) / top
    assert 0 < difference.mean() < 0.01, difference.mean()
    described = b.describe()
    assert described.runtime.precision == "bfloat16"
    assert described.derivation is not None and described.derivation["parent"] == "tinyq.x2"
    assert "derived      from tinyq.x2 (bfloat16)" in str(described)


def test_the_build_is_cached_and_rebuilt_when_damaged(catalog: Catalog, cache: Path) -> None:
    from upscaler.prepare.materialize import prepare_savedmodel

    entry, parent = catalog.get("tinyq.bf16-x2"), catalog.get("tinyq.x2")
    folder, _ = prepare_savedmodel(entry, cache_dir=cache, progress=False, parent=parent)
    assert folder.name.startswith("bf16-")
    again, report = prepare_savedmodel(entry, cache_dir=cache, progress=False, parent=parent)
    assert again == folder and report is None
    data = next((folder / "variables").glob("variables.data-*"))
    data.write_bytes(b"damaged")
    rebuilt, report = prepare_savedmodel(entry, cache_dir=cache, progress=False, parent=parent)
    assert rebuilt == folder and report is not None
    assert data.read_bytes() != b"damaged"
    with pytest.raises(ConversionError, match=r"built from tinyq\.x2, which was not given"):
        prepare_savedmodel(entry, cache_dir=cache, progress=False)


def test_a_cpu_without_native_bfloat16_is_warned_and_not_ranked_fast(
    catalog: Catalog,
    cache: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The variant's catalog speed comes from a CPU with native bfloat16; where the CPU
    lacks it, the arithmetic is emulated and slower than the parent's."""
    from upscaler import Upscaler
    from upscaler.catalog.schema import Metrics, Speed
    from upscaler.resolve import resolver
    from upscaler.runtime import precision

    provenance = {"command": "measured", "version": "test", "date": "2026-12-02"}
    metrics = Metrics.model_validate(
        {"provenance": provenance, "sets": {"set5": {"psnr_y": 30.0, "ssim_y": 0.9}}}
    )

    def speed(ms: float) -> Speed:
        return Speed.model_validate({"ms_per_output_megapixel": ms, "provenance": provenance})

    # The same quality as the parent, twice its speed where bfloat16 is native.
    timed = {"tinyq.x2": speed(100.0), "tinyq.bf16-x2": speed(50.0)}
    entries = tuple(
        e.model_copy(update={"speed": timed[e.id], "metrics": metrics}) if e.id in timed else e
        for e in catalog.entries
    )
    measured = Catalog(catalog.root, catalog.vocab, entries, catalog.families)
    query = resolver.build_query("scale=2", measured)

    def fast_first(flags: frozenset[str]) -> str:
        monkeypatch.setattr(precision, "cpu_flags", lambda *a: flags)
        return resolver.resolve(query, measured, prefer="fast").matches[0]

    assert fast_first(frozenset({"avx2", "avx512f", "avx512_bf16"})) == "tinyq.bf16-x2"
    assert fast_first(frozenset({"avx2", "fma"})) == "tinyq.x2"

    with caplog.at_level(logging.WARNING, logger="upscaler"):
        Upscaler(model="tinyq.bf16-x2", catalog=catalog, cache_dir=cache).load(progress=False)
    assert "this CPU emulates" in caplog.text
