"""An int8 variant through the whole product: measured, written, resolved, built, run.

A tiny catalog holds a small RDN; ``calibrate`` measures its ranges on a generated
training folder and ``write_variant`` writes ``tinyq.int8-x2`` into the family file,
exactly as ``upscaler catalog quantize --write`` does. The variant is then used like any
catalog model: by id, by ``quantization=int8``, on every image kind.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tiny_models import write_small_rdn_catalog, write_training_folder

from upscaler.catalog import load_catalog
from upscaler.catalog.loader import Catalog
from upscaler.errors import ConversionError


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory, tf: Any) -> Catalog:
    from upscaler.train.quantize import calibrate, write_variant

    base = tmp_path_factory.mktemp("int8cat")
    root = write_small_rdn_catalog(base)
    data = write_training_folder(base / "T91x")
    parent_catalog = load_catalog(root)
    result = calibrate(
        parent_catalog.get("tinyq.x2"),
        [data],
        patches=16,
        patch_size=16,
        seed=1,
        command="upscaler catalog quantize tinyq.x2 --data T91x --write",
        version="test",
        date="2026-12-01",
        cache_dir=base / "cache",
        progress=False,
        evaluation={},
    )
    write_variant(result, parent_catalog)
    return load_catalog(root)


@pytest.fixture
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.getbasetemp() / "int8-cache"


def test_the_written_variant_is_a_recipe_with_provenance(catalog: Catalog) -> None:
    entry = catalog.get("tinyq.int8-x2")
    assert entry.weights is None and entry.derived_from == "tinyq.x2"
    assert entry.quantization == "int8" and entry.scale == 2
    assert entry.quantize is not None
    calibration = entry.quantize.calibration
    assert list(calibration.data) == ["T91x"] and calibration.patches == 16
    # the input and every tensor of the int8 network (B's ReLU folded into it, the
    # concatenation read by the 1x1 F as F's two parts)
    assert list(entry.quantize.ranges) == [
        "LR:0:0",
        "A:0:0",
        "B_relu:0:0",
        "F:0:0#part0",
        "F:0:0#part1",
        "F:0:0",
        "add:0:0",
        "U:0:0",
        "up:0:0#copies",
        "up:0:0",
        "SR:0:0",
    ]
    text = Path(entry.source_file).read_text()
    assert "LR:0:0: [0.0, 255.0]" in text  # one line per range, flow style
    assert "/" not in calibration.command


def test_quantization_int8_resolves_exactly_and_float_comes_first_unasked(
    catalog: Catalog,
) -> None:
    from upscaler.resolve.resolver import build_query, resolve

    exact = resolve(build_query("quantization=int8", catalog), catalog)
    assert exact.exact and exact.matches == ["tinyq.int8-x2"]
    assert resolve(build_query("quantization=i8", catalog), catalog).model.id == "tinyq.int8-x2"
    unasked = resolve(build_query("scale=2", catalog), catalog)
    assert unasked.matches == ["tinyq.x2", "tinyq.int8-x2"]
    floats = resolve(build_query("quantization=none scale=2", catalog), catalog)
    assert floats.matches == ["tinyq.x2"]


@pytest.mark.parametrize(
    ("kind", "shape", "dtype"),
    [
        ("rgb", (21, 17, 3), np.uint8),
        ("gray", (21, 17), np.uint8),
        ("rgba", (21, 17, 4), np.uint8),
        ("rgb16", (21, 17, 3), np.uint16),
    ],
)
def test_every_image_kind_runs_through_the_int8_variant(
    catalog: Catalog, cache: Path, kind: str, shape: tuple[int, ...], dtype: Any
) -> None:
    from upscaler import Upscaler

    rng = np.random.default_rng(2)
    top = 65535 if dtype == np.uint16 else 255
    image = rng.integers(0, top + 1, shape).astype(dtype)
    if kind == "rgba":
        image[..., 3] = 255  # opaque: the colour result is comparable with the parent's
    q = Upscaler(model="tinyq.int8-x2", catalog=catalog, cache_dir=cache)
    f = Upscaler(model="tinyq.x2", catalog=catalog, cache_dir=cache)
    a, b = (
        np.asarray(q.upscale(image, progress=False)),
        np.asarray(f.upscale(image, progress=False)),
    )
    assert a.shape == b.shape == (42, 34, *shape[2:])
    assert a.dtype == b.dtype == dtype
    difference = np.abs(a.astype(np.float64) - b.astype(np.float64)) / top
    assert 0 < difference.mean() < 0.02, difference.mean()
    if kind == "rgba":
        assert np.all(a[..., 3] == top)
    described = q.describe()
    assert described.runtime.tiling is not None
    assert described.runtime.tiling["runtime"] == "tflite-xnnpack"
    assert described.derivation is not None
    assert described.derivation["parent"] == "tinyq.x2"
    assert described.derivation["quantization"] == "int8"
    assert "derived      from tinyq.x2 (int8, tflite-xnnpack)" in str(described)


def test_the_build_is_cached_and_rebuilt_when_damaged(catalog: Catalog, cache: Path) -> None:
    from upscaler.prepare.materialize import prepare_savedmodel

    entry, parent = catalog.get("tinyq.int8-x2"), catalog.get("tinyq.x2")
    folder, _ = prepare_savedmodel(entry, cache_dir=cache, progress=False, parent=parent)
    again, report = prepare_savedmodel(entry, cache_dir=cache, progress=False, parent=parent)
    assert again == folder and report is None
    (folder / "model.tflite").write_bytes(b"not a model")
    rebuilt, report = prepare_savedmodel(entry, cache_dir=cache, progress=False, parent=parent)
    assert rebuilt == folder and report is not None and report["xnnpack_partitions"] == 1
    with pytest.raises(ConversionError, match=r"built from tinyq\.x2, which was not given"):
        prepare_savedmodel(entry, cache_dir=cache, progress=False)


def test_calibrating_on_an_evaluation_set_is_refused(catalog: Catalog, tmp_path: Path) -> None:
    from upscaler.errors import TrainingError
    from upscaler.train.quantize import calibrate

    entry = catalog.get("tinyq.int8-x2")
    assert entry.quantize is not None
    fingerprint = entry.quantize.calibration.data["T91x"]
    same_pixels = write_training_folder(tmp_path / "Set5")  # the same images, renamed
    with pytest.raises(TrainingError, match=r"Set5 is the evaluation set 'set5'"):
        calibrate(
            catalog.get("tinyq.x2"),
            [same_pixels],
            patches=8,
            patch_size=16,
            command="c",
            version="v",
            date="d",
            progress=False,
            evaluation={fingerprint: "set5"},
        )
