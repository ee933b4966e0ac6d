"""The format table: each weights format listed once, and read by everything that asks.

What would break if a consumer kept its own list: the catalog's ``format:`` enum, its
file rules and entry points, which formats int8/bfloat16 variants derive from, and which
suffix a model given by path has. The trial format (``oneconv``, a test-only parser in
``oneconv.py``) is registered here and runs as a local model with no change to the
package. npz, which had no reader returning the parsed model, derives a bfloat16 variant.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, get_args

import numpy as np
import pytest
import waifu2x_reference as ref
from tiny_models import REPO, nearest_x2

from upscaler.catalog import load_catalog
from upscaler.catalog.loader import Catalog
from upscaler.catalog.schema import PARSEABLE, Weights
from upscaler.convert.formats import (
    BUILTIN,
    Expected,
    WeightsFormat,
    derivable_formats,
    format_names,
    register,
    unregister,
    weights_format,
    weights_formats,
)
from upscaler.convert.writer import Wrapper
from upscaler.errors import ConversionError, ModelLoadError, QueryError
from upscaler.prepare.local_models import local_entry, local_kind

SHIPPED = ("tfjs-layers", "ncnn", "npz", "savedmodel", "keras", "pytorch", "safetensors")


# ------------------------------------------------------------------ the table


def test_each_format_is_listed_once_and_the_catalog_reads_the_table() -> None:
    assert format_names(BUILTIN) == SHIPPED
    assert format_names()[: len(SHIPPED)] == SHIPPED
    # The catalog's enum is the table's names, in its order (schema.json lists them so).
    assert get_args(Weights.model_fields["format"].annotation) == SHIPPED
    parsed = ("tfjs-layers", "ncnn", "npz", "pytorch", "safetensors")
    assert PARSEABLE == derivable_formats() == parsed
    ready = {f.name: f.ready for f in BUILTIN}
    assert ready == {
        "tfjs-layers": "parse",
        "ncnn": "parse",
        "npz": "parse",
        "savedmodel": "copy",
        "keras": "load",
        "pytorch": "parse",
        "safetensors": "parse",
    }
    suffixes = [s for f in weights_formats() for s in f.suffixes]
    assert len(suffixes) == len(set(suffixes))  # a path's suffix names one format


def test_importing_the_table_imports_no_parser() -> None:
    heavy = (
        "numpy",
        "tensorflow",
        "upscaler.convert.ncnn",
        "upscaler.convert.npz",
        "upscaler.convert.tfjs",
        "upscaler.convert.writer",
    )
    code = (
        "import sys, upscaler.catalog.schema, upscaler.convert.formats; "
        f"print([m for m in {heavy!r} if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_entry_points_and_file_rules_come_from_the_rows() -> None:
    assert weights_format("ncnn").entry_point(["m/x2.bin", "m/x2.param"]) == "m/x2.param"
    assert weights_format("tfjs-layers").entry_point(["a/s1.bin", "a/model.json"]) == "a/model.json"
    assert (
        weights_format("savedmodel").entry_point(["s/saved_model.pb", "s/v"]) == "s/saved_model.pb"
    )
    with pytest.raises(ValueError, match=r"^ncnn weights: m/x2\.param needs its \.bin beside it$"):
        weights_format("ncnn").check_files(["m/x2.param", "m/x3.bin"])
    with pytest.raises(ValueError, match="npz weights need exactly one file"):
        weights_format("npz").check_files(["a.npz", "b.npz"])
    weights_format("savedmodel").check_files(["anything", "goes"])


def test_registering_refuses_what_would_make_a_name_or_suffix_ambiguous() -> None:
    with pytest.raises(ConversionError, match="'ncnn' is already registered"):
        register(WeightsFormat(name="ncnn", title="again", ready="copy"))
    with pytest.raises(ConversionError, match=r"suffix \.npz is npz's"):
        register(WeightsFormat(name="other", title="o", ready="copy", suffixes=(".npz",)))
    with pytest.raises(ConversionError, match="give its reader"):
        WeightsFormat(name="broken", title="b", ready="parse")
    with pytest.raises(ConversionError, match="did you mean ncnn"):
        weights_format("ncn")
    assert "other" not in format_names()


# ------------------------------------------------------------------ npz reads into shared ops


def write_npz(path: Path, arrays: dict[str, Any]) -> Path:
    with path.open("wb") as f:  # a file object: np.savez would add .npz to a bare path
        np.savez(f, **arrays)
    return path


def test_npz_reads_into_the_parsed_model_and_is_checked_against_the_catalog(
    tmp_path: Path,
) -> None:
    path = write_npz(tmp_path / "u.npz", ref.tiny_params("upconv7", 3))
    npz = weights_format("npz")
    assert npz.derivable
    right = Expected(architecture="upconv7", wrapper=Wrapper(prepad=7))
    parsed = npz.read(path, None, right)
    assert parsed.source["architecture"] == "upconv7"
    assert parsed.graph.input_channels == 3
    assert parsed.layer_counts == {"Convolution2D": 6, "Deconvolution2D": 1}
    with pytest.raises(ConversionError, match=r"catalog says architecture 'vgg7'.*upconv7"):
        npz.read(path, None, Expected(architecture="vgg7", wrapper=Wrapper(prepad=7)))
    with pytest.raises(ConversionError, match=r"needs prepad 7 \(got 0\)"):
        npz.read(path, None, Expected(architecture="upconv7"))


FAMILY = """schema_version: 1
family: tinyw
title: Tinyw
architecture: upconv7
implementation: waifu2x-chainer
license: MIT
global_default: x2
defaults: {{dataset: div2k, channels: 3, objective: fidelity, degradation: bicubic,
  pruning: none, quantization: none, value_range: [0, 1], wrapper: {{prepad: 7}}}}
variants:
  x2:
    default: true
    scale: 2
    weights:
      format: npz
      source: {{path: {weights}}}
      files:
        - {{path: upconv7.npz, sha256: {sha256}, size: {size}}}
  bf16-x2:
    scale: 2
    derived_from: tinyw.x2
    quantization: bfloat16
"""


@pytest.fixture(scope="module")
def npz_catalog(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    """A catalog whose one family is a tiny RGB upconv7 (npz) and its bfloat16 variant."""
    base = tmp_path_factory.mktemp("npzcat")
    weights = base / "weights"
    weights.mkdir()
    data = write_npz(weights / "upconv7.npz", ref.tiny_params("upconv7", 3, seed=4)).read_bytes()
    root = base / "catalog"
    (root / "models").mkdir(parents=True)
    (root / "vocab.yaml").write_bytes((REPO / "catalog" / "vocab.yaml").read_bytes())
    text = FAMILY.format(weights=weights, sha256=hashlib.sha256(data).hexdigest(), size=len(data))
    (root / "models" / "tinyw.yaml").write_text(text, encoding="utf-8")
    return load_catalog(root)


def test_a_bfloat16_variant_derives_from_an_npz_model(
    npz_catalog: Catalog, tmp_path: Path, tf: Any
) -> None:
    from upscaler import Upscaler

    image = np.random.default_rng(1).integers(0, 256, (19, 15, 3)).astype(np.uint8)
    cache = tmp_path / "cache"
    b = Upscaler(model="tinyw.bf16-x2", catalog=npz_catalog, cache_dir=cache)
    f = Upscaler(model="tinyw.x2", catalog=npz_catalog, cache_dir=cache)
    ours, parents = (np.asarray(u.upscale(image, progress=False)) for u in (b, f))
    assert ours.shape == parents.shape == (38, 30, 3)
    difference = np.abs(ours.astype(np.float64) - parents.astype(np.float64)) / 255
    assert difference.mean() < 0.01, difference.mean()
    described = b.describe()
    assert described.runtime.precision == "bfloat16"
    assert described.derivation is not None and described.derivation["parent"] == "tinyw.x2"


def test_an_int8_build_of_an_npz_model_reaches_the_int8_op_check(
    npz_catalog: Catalog, tmp_path: Path
) -> None:
    """The parent is read like any derivable one; what stops upconv7 is the int8 op set
    (leaky ReLU has no int8 form here), not its format."""
    from upscaler.prepare.materialize import int8_source

    parent = npz_catalog.get("tinyw.x2")
    with pytest.raises(ConversionError, match="has no int8 form here"):
        int8_source(parent, cache_dir=tmp_path / "cache", progress=False)


# ------------------------------------------------------------------ a local model's scale


@pytest.fixture
def saved_folder(tmp_path: Path) -> Path:
    """A folder that names itself a SavedModel (never loaded here)."""
    folder = tmp_path / "saved"
    folder.mkdir()
    (folder / "saved_model.pb").write_bytes(b"")
    return folder


@pytest.mark.parametrize("given", [2, "2", "x2", "2x", " X2 "])
def test_a_local_scale_is_read_like_a_query_scale(
    saved_folder: Path, npz_catalog: Catalog, given: Any
) -> None:
    from upscaler.resolve.resolver import build_query

    entry, kind = local_entry(saved_folder, scale=given, value_range=None)
    assert kind == "savedmodel"
    assert entry.scale == build_query({"scale": given}, npz_catalog)["scale"] == 2


@pytest.mark.parametrize("given", ["x0", "two", "17", 2.5])
def test_a_bad_local_scale_is_the_query_error(
    saved_folder: Path, npz_catalog: Catalog, given: Any
) -> None:
    from upscaler.resolve.resolver import build_query

    with pytest.raises(QueryError) as local:
        local_entry(saved_folder, scale=given, value_range=None)
    with pytest.raises(QueryError) as query:
        build_query({"scale": given}, npz_catalog)
    assert str(local.value) == str(query.value)


def test_formats_without_a_local_row_stay_refused_by_path(tmp_path: Path) -> None:
    for name in ("w.npz", "m.param"):
        (tmp_path / name).write_bytes(b"x")
        with pytest.raises(ModelLoadError, match="unknown model format") as err:
            local_kind(tmp_path / name)
        hint = (
            "accepted: a SavedModel folder, a TF.js model.json, a .keras/.h5 file, "
            "a PyTorch .pth/.pt/.ckpt checkpoint, or a .safetensors file"
        )
        assert err.value.hint == hint


# ------------------------------------------------------------------ a trial format


TRIAL = WeightsFormat(
    name="oneconv",
    title="one-conv JSON model",
    ready="parse",
    suffixes=(".oneconv",),
    reader="oneconv:read_oneconv",  # the parser module, imported on first use
    local="a .oneconv file",
)


@pytest.fixture
def trial() -> Iterator[WeightsFormat]:
    register(TRIAL)
    try:
        yield TRIAL
    finally:
        unregister(TRIAL.name)


def write_nearest_x2(path: Path) -> Path:
    """A 1×1 convolution copying RGB into the four sub-pixels of a depth-to-space x2:
    nearest-neighbour upscaling, so the output is known exactly."""
    kernel = np.zeros((1, 1, 3, 12), np.float32)
    for sub in range(4):
        for c in range(3):
            kernel[0, 0, c, sub * 3 + c] = 1.0
    doc = {"kernel": kernel.tolist(), "bias": [0.0] * 12, "block": 2}
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def test_a_new_format_is_a_parser_and_a_row(trial: WeightsFormat, tmp_path: Path, tf: Any) -> None:
    from upscaler import Upscaler
    from upscaler.convert import convert_weights

    path = write_nearest_x2(tmp_path / "up.oneconv")
    assert trial.derivable and "oneconv" in format_names()
    with pytest.raises(ModelLoadError) as err:
        local_kind(tmp_path / "nothing.txt")
    assert err.value.hint is not None and "a .oneconv file" in err.value.hint

    rgb = np.arange(5 * 7 * 3, dtype=np.uint8).reshape(5, 7, 3)
    up = Upscaler(model=path, scale="x2", cache_dir=tmp_path / "cache")
    np.testing.assert_array_equal(up.upscale(rgb, progress=False), nearest_x2(rgb))
    assert up.describe().runtime.loaded_from == f"oneconv: {path}"

    report = convert_weights("oneconv", path, tmp_path / "direct", value_range=(0, 255))
    assert report.scale == 2 and report.metadata["source_format"] == "oneconv"
    assert report.layer_counts == {"OneConv": 1}
