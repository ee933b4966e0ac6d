"""The TF.js layers converter against tiny generated models and a numpy reference."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from upscaler.convert import CONVERTER_VERSION, ConversionReport, convert_tfjs_layers
from upscaler.errors import ConversionError, DependencyError, UpscalerError
from upscaler.runtime import load_savedmodel

SRC = Path(__file__).resolve().parents[2] / "src"


def leftovers(parent: Path) -> list[str]:
    """Temp folders the atomic writer might have left next to the output."""
    return sorted(p.name for p in parent.iterdir() if p.name.startswith("."))


def run_converted(out: Path, x: np.ndarray) -> np.ndarray:
    return load_savedmodel(out).predict(x.astype(np.float32))


@pytest.fixture
def x() -> np.ndarray:
    return np.random.default_rng(1).random((2, 9, 11, 3)).astype(np.float32)


# ------------------------------------------------------------------ numerics


def test_every_layer_matches_numpy(tiny: Any, tmp_path: Path, x: np.ndarray, tf: Any) -> None:
    out = tmp_path / "out"
    report = convert_tfjs_layers(tiny.path, out, value_range=(0.0, 1.0))
    got = run_converted(out, x)
    want = tiny.reference(x)
    assert got.shape == (2, 18, 22, 3)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    assert isinstance(report, ConversionReport)
    assert report.scale == tiny.scale == 2
    assert report.channels == 3
    assert report.parameters == tiny.parameters
    assert report.layer_counts == {
        "Activation": 1,
        "Add": 1,
        "Concatenate": 1,
        "Conv2D": 5,
        "InputLayer": 1,
        "MultiplyBeta": 1,
        "PixelShuffle2x": 1,
        "UpSampling2D": 1,
    }
    assert report.output == out
    assert report.seconds > 0
    assert report.size_bytes == sum(p.stat().st_size for p in out.rglob("*") if p.is_file())


@pytest.mark.parametrize("quantize", ["uint8", "uint16", "float16"])
def test_quantized_weights_are_dequantized(
    make_tiny: Callable[..., Any], quantize: str, tmp_path: Path, x: np.ndarray, tf: Any
) -> None:
    model = make_tiny(f"q-{quantize}", quantize=quantize, shard_bytes=100)
    out = tmp_path / "out"
    convert_tfjs_layers(model.path, out)
    np.testing.assert_allclose(run_converted(out, x), model.reference(x), rtol=1e-4, atol=1e-4)


def test_metadata_file(tiny: Any, tmp_path: Path, tf: Any) -> None:
    out = tmp_path / "out"
    convert_tfjs_layers(tiny.path, out, value_range=(0, 255), scale=2)
    meta = json.loads((out / "upscaler.json").read_text())
    assert meta["converter_version"] == CONVERTER_VERSION
    assert meta["value_range"] == [0.0, 255.0]
    assert meta["scale"] == 2
    assert meta["channels"] == 3
    assert meta["parameters"] == tiny.parameters
    assert meta["layer_counts"]["Conv2D"] == 5
    assert meta["fused_concat_pointwise"] == 1  # "cat" feeds only the 1x1 conv "C"
    assert meta["source"]["model_json_sha256"]
    loaded = load_savedmodel(out)
    assert loaded.metadata == meta
    assert loaded.input_name == "input"
    assert loaded.output_name == "output"
    assert loaded.input_shape == (None, None, None, 3)
    assert loaded.describe()["metadata"]["scale"] == 2


def test_dense_block_concats_fuse_into_the_pointwise_conv_only(
    tmp_path: Path, kit: SimpleNamespace, x: np.ndarray, tf: Any
) -> None:
    # An RDN dense block: cat1 is read by a 3x3 conv *and* by cat2, so it must stay a
    # real concatenation; cat2 is read only by the 1x1 fusion conv, so it is computed as a
    # sum of per-part 1x1 convolutions. The output must not change either way.
    layers = [
        kit.input_layer("LR"),
        kit.conv("A", "LR", 4, 3, activation="relu"),
        kit.conv("B", "A", 4, 3, activation="relu"),
        kit.keras2_layer("Concatenate", "cat1", ["A", "B"], axis=3),
        kit.conv("C", "cat1", 4, 3, activation="relu"),
        kit.keras2_layer("Concatenate", "cat2", ["cat1", "C"], axis=-1),
        kit.conv("F", "cat2", 3, 1),
    ]
    rng = np.random.default_rng(3)
    shapes = {"A": (3, 3, 3, 4), "B": (3, 3, 4, 4), "C": (3, 3, 8, 4), "F": (1, 1, 12, 3)}
    weights = []
    for name, shape in shapes.items():
        weights += [
            (f"{name}/kernel", (rng.standard_normal(shape) * 0.3).astype(np.float32)),
            (f"{name}/bias", (rng.standard_normal(shape[-1]) * 0.1).astype(np.float32)),
        ]
    path, w = kit.write_tfjs(
        tmp_path / "dense", kit.functional_topology(layers, "LR", "F"), weights
    )
    out = tmp_path / "out"
    report = convert_tfjs_layers(path, out)

    def relu(v: np.ndarray) -> np.ndarray:
        return np.maximum(v, 0)

    a = relu(kit.np_conv2d(x, w["A/kernel"], w["A/bias"]))
    b = relu(kit.np_conv2d(a, w["B/kernel"], w["B/bias"]))
    cat1 = np.concatenate([a, b], axis=-1)
    c = relu(kit.np_conv2d(cat1, w["C/kernel"], w["C/bias"]))
    want = kit.np_conv2d(np.concatenate([cat1, c], axis=-1), w["F/kernel"], w["F/bias"])
    np.testing.assert_allclose(run_converted(out, x), want, rtol=1e-4, atol=1e-4)
    assert report.metadata["fused_concat_pointwise"] == 1
    assert report.layer_counts["Concatenate"] == 2  # the topology's counts, not the rewrite


def test_sequential_upsampler_with_empty_shard(
    tmp_path: Path, kit: SimpleNamespace, tf: Any
) -> None:
    # Shaped like @upscalerjs/pixel-upsampler: Sequential, "./x3.bin" path, 0-byte shard.
    folder = tmp_path / "models" / "x3"
    folder.mkdir(parents=True)
    (folder / "x3.bin").write_bytes(b"")
    doc = {
        "modelTopology": {
            "class_name": "Sequential",
            "config": {
                "name": "s",
                "layers": [
                    {
                        "class_name": "UpSampling2D",
                        "config": {
                            "size": [3, 3],
                            "data_format": "channels_last",
                            "name": "up",
                            "batch_input_shape": [None, None, None, 3],
                            "dtype": "float32",
                        },
                    }
                ],
            },
            "keras_version": "tfjs-layers 3.13.0",
            "backend": "tensor_flow.js",
        },
        "format": "layers-model",
        "weightsManifest": [{"paths": ["./x3.bin"], "weights": []}],
    }
    (folder / "x3.json").write_text(json.dumps(doc))
    out = tmp_path / "out"
    report = convert_tfjs_layers(folder / "x3.json", out)
    assert report.scale == 3 and report.parameters == 0
    x = np.arange(2 * 3 * 3, dtype=np.float32).reshape(1, 2, 3, 3)
    np.testing.assert_array_equal(run_converted(out, x), kit.np_upsample(x, 3))


def test_keras3_node_format(tmp_path: Path, kit: SimpleNamespace, tf: Any) -> None:
    def tensor(name: str) -> dict[str, Any]:
        return {
            "class_name": "__keras_tensor__",
            "config": {
                "shape": [None, None, None, 3],
                "dtype": "float32",
                "keras_history": [name, 0, 0],
            },
        }

    layers = [
        {
            "class_name": "InputLayer",
            "name": "img",
            "config": {"batch_shape": [None, None, None, 3], "dtype": "float32", "name": "img"},
            "inbound_nodes": [],
        },
        {
            "class_name": "Activation",
            "name": "act",
            "config": {"activation": "relu", "name": "act"},
            "inbound_nodes": [{"args": [tensor("img")], "kwargs": {}}],
        },
        {
            "class_name": "Concatenate",
            "name": "cat",
            "config": {"axis": -1, "name": "cat"},
            "inbound_nodes": [{"args": [[tensor("img"), tensor("act")]], "kwargs": {}}],
        },
        {
            "class_name": "PixelShuffle2x",
            "name": "ps",
            "config": {"name": "ps"},
            "inbound_nodes": [{"args": [tensor("cat")], "kwargs": {}}],
        },
    ]
    topo = kit.functional_topology(layers, "img", "ps")
    topo["model_config"]["config"]["input_layers"] = [["img", 0, 0]]
    path, _ = kit.write_tfjs(tmp_path / "k3", topo, [])
    # 6 channels into a 2x pixel shuffle would not give whole pixels: the probe says so.
    with pytest.raises(ConversionError, match="'ps'"):
        convert_tfjs_layers(path, tmp_path / "out")
    layers[3]["class_name"] = "Add"
    layers[3]["inbound_nodes"] = [{"args": [[tensor("img"), tensor("act")]], "kwargs": {}}]
    layers[2]["inbound_nodes"] = [{"args": [[tensor("img")]], "kwargs": {}}]
    layers.append(
        {
            "class_name": "UpSampling2D",
            "name": "up",
            "config": {"size": [2, 2], "name": "up"},
            "inbound_nodes": [{"args": [tensor("ps")], "kwargs": {}}],
        }
    )
    topo = kit.functional_topology(layers, "img", "up")
    path, _ = kit.write_tfjs(tmp_path / "k3b", topo, [])
    out = tmp_path / "out2"
    convert_tfjs_layers(path, out)
    x = np.random.default_rng(3).standard_normal((1, 4, 5, 3)).astype(np.float32)
    np.testing.assert_allclose(
        run_converted(out, x), kit.np_upsample(x + np.maximum(x, 0), 2), rtol=1e-6
    )


# ------------------------------------------------------------------ where files are


def test_files_mapping_resolves_in_package_paths(
    tiny: Any, tmp_path: Path, x: np.ndarray, tf: Any
) -> None:
    # Scatter the files under content-addressed names, as a fetch cache would.
    store = tmp_path / "store"
    store.mkdir()
    files = {}
    for index, real in enumerate(sorted(tiny.path.parent.iterdir())):
        target = store / f"blob{index}"
        target.write_bytes(real.read_bytes())
        files[f"models/x2/{real.name}"] = target
    out = tmp_path / "by-key"
    convert_tfjs_layers("models/x2/model.json", out, files=files)
    np.testing.assert_allclose(run_converted(out, x), tiny.reference(x), rtol=1e-4, atol=1e-4)
    # The real path of the model.json works too.
    real_json = files["models/x2/model.json"]
    convert_tfjs_layers(real_json, tmp_path / "by-path", files=files)
    # A shard that is not in the mapping is reported by its in-package path.
    shard = sorted(k for k in files if k.endswith(".bin"))[1]
    del files[shard]
    with pytest.raises(ConversionError, match=shard):
        convert_tfjs_layers("models/x2/model.json", tmp_path / "missing", files=files)
    with pytest.raises(ConversionError, match="neither a key"):
        convert_tfjs_layers("models/x4/model.json", tmp_path / "nokey", files=files)


@pytest.mark.parametrize("bad", ["../outside.bin", "/abs/shard.bin", "https://host.invalid/w.bin"])
def test_shard_paths_may_not_escape(tiny: Any, tmp_path: Path, bad: str) -> None:
    doc = json.loads(tiny.path.read_text())
    doc["weightsManifest"][0]["paths"][0] = bad
    tiny.path.write_text(json.dumps(doc))
    with pytest.raises(ConversionError, match="weights path"):
        convert_tfjs_layers(tiny.path, tmp_path / "out")


# ------------------------------------------------------------------ errors


def test_unsupported_layer_names_class_and_layer(tiny: Any, tmp_path: Path) -> None:
    doc = json.loads(tiny.path.read_text())
    layers = doc["modelTopology"]["model_config"]["config"]["layers"]
    layers[3]["class_name"] = "BatchNormalization"
    tiny.path.write_text(json.dumps(doc))
    out = tmp_path / "out"
    with pytest.raises(ConversionError, match=r"'B_relu'.*'BatchNormalization'") as info:
        convert_tfjs_layers(tiny.path, out)
    assert "Conv2D" in str(info.value.hint)
    assert isinstance(info.value, UpscalerError) and isinstance(info.value, ValueError)
    assert not out.exists() and leftovers(tmp_path) == []


def test_unsupported_activation(tiny: Any, tmp_path: Path) -> None:
    doc = json.loads(tiny.path.read_text())
    doc["modelTopology"]["model_config"]["config"]["layers"][1]["config"]["activation"] = "mish"
    tiny.path.write_text(json.dumps(doc))
    with pytest.raises(ConversionError, match=r"'A'.*'mish'"):
        convert_tfjs_layers(tiny.path, tmp_path / "out")


def test_truncated_shard(tiny: Any, tmp_path: Path) -> None:
    last = sorted(tiny.path.parent.glob("*.bin"))[-1]
    last.write_bytes(last.read_bytes()[:-5])
    out = tmp_path / "out"
    with pytest.raises(ConversionError, match="truncated"):
        convert_tfjs_layers(tiny.path, out)
    assert not out.exists()


def test_missing_shard(tiny: Any, tmp_path: Path) -> None:
    next(tiny.path.parent.glob("*shard3of*.bin")).unlink()
    with pytest.raises(ConversionError, match="missing"):
        convert_tfjs_layers(tiny.path, tmp_path / "out")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("dtype", "int32", "only float32"),
        ("dtype", "string", "only float32"),
        ("quantization", {"dtype": "int4", "min": 0, "scale": 1}, "quantization 'int4'"),
        ("shape", [3, "x"], "invalid shape"),
    ],
)
def test_bad_weight_entries(
    tiny: Any, tmp_path: Path, field: str, value: Any, message: str
) -> None:
    doc = json.loads(tiny.path.read_text())
    doc["weightsManifest"][0]["weights"][0][field] = value
    tiny.path.write_text(json.dumps(doc))
    with pytest.raises(ConversionError, match=message):
        convert_tfjs_layers(tiny.path, tmp_path / "out")


def test_missing_and_misshapen_weights(tiny: Any, tmp_path: Path) -> None:
    doc = json.loads(tiny.path.read_text())
    doc["weightsManifest"][0]["weights"][0]["name"] = "Z/kernel"
    tiny.path.write_text(json.dumps(doc))
    with pytest.raises(ConversionError, match=r"'E/kernel'.*missing"):
        convert_tfjs_layers(tiny.path, tmp_path / "out")
    doc["weightsManifest"][0]["weights"][0]["name"] = "E/kernel"
    doc["modelTopology"]["model_config"]["config"]["layers"][-1]["config"]["filters"] = 5
    tiny.path.write_text(json.dumps(doc))
    with pytest.raises(ConversionError, match=r"'E'.*kernel has shape"):
        convert_tfjs_layers(tiny.path, tmp_path / "out")


def test_graph_models_and_bad_json_are_refused(tiny: Any, tmp_path: Path) -> None:
    doc = json.loads(tiny.path.read_text())
    doc["format"] = "graph-model"
    tiny.path.write_text(json.dumps(doc))
    with pytest.raises(ConversionError, match="graph-model"):
        convert_tfjs_layers(tiny.path, tmp_path / "out")
    tiny.path.write_text("{not json")
    with pytest.raises(ConversionError, match="not valid JSON"):
        convert_tfjs_layers(tiny.path, tmp_path / "out")
    with pytest.raises(ConversionError, match="cannot read"):
        convert_tfjs_layers(tmp_path / "nope.json", tmp_path / "out")


def test_five_channel_input_is_refused(tmp_path: Path, kit: SimpleNamespace) -> None:
    """1, 3 and 4 channels convert (RGBA: tests/facade/test_rgba_models.py); 5 never can."""
    topo = kit.functional_topology(
        [
            kit.input_layer("LR", channels=5),
            kit.keras2_layer("Activation", "a", ["LR"], activation="relu"),
        ],
        "LR",
        "a",
    )
    path, _ = kit.write_tfjs(tmp_path / "m", topo, [])
    with pytest.raises(ConversionError, match=r"5 input channels.*RGBA"):
        convert_tfjs_layers(path, tmp_path / "out")


def test_scale_mismatch(tiny: Any, tmp_path: Path, tf: Any) -> None:
    out = tmp_path / "out"
    with pytest.raises(ConversionError, match="upscales by 2, but scale=4"):
        convert_tfjs_layers(tiny.path, out, scale=4)
    assert not out.exists() and leftovers(tmp_path) == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"scale": 0}, "positive integer"),
        ({"value_range": (1, 0)}, "min < max"),
        ({"value_range": "ab"}, "pair of numbers"),
    ],
)
def test_bad_arguments(tiny: Any, tmp_path: Path, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConversionError, match=message):
        convert_tfjs_layers(tiny.path, tmp_path / "out", **kwargs)


# ------------------------------------------------------------------ atomic output


def test_existing_output_needs_overwrite(tiny: Any, tmp_path: Path, x: np.ndarray, tf: Any) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "stale.txt").write_text("old")
    with pytest.raises(ConversionError, match="already exists"):
        convert_tfjs_layers(tiny.path, out)
    assert (out / "stale.txt").exists()
    convert_tfjs_layers(tiny.path, out, overwrite=True)
    assert not (out / "stale.txt").exists()
    assert (out / "saved_model.pb").exists()
    assert leftovers(tmp_path) == []


def test_failure_while_saving_leaves_nothing(
    tiny: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tf: Any
) -> None:
    def broken_save(obj: Any, export_dir: str, **kwargs: Any) -> None:
        Path(export_dir, "saved_model.pb").write_bytes(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(tf.saved_model, "save", broken_save)
    out = tmp_path / "out"
    with pytest.raises(ConversionError, match="disk full"):
        convert_tfjs_layers(tiny.path, out)
    assert not out.exists() and leftovers(tmp_path) == []
    # With overwrite, a failed conversion keeps the previous result untouched.
    out.mkdir()
    (out / "keep.txt").write_text("previous")
    with pytest.raises(ConversionError):
        convert_tfjs_layers(tiny.path, out, overwrite=True)
    assert (out / "keep.txt").read_text() == "previous"
    assert leftovers(tmp_path) == []


# ------------------------------------------------------------------ TensorFlow is optional


def test_import_does_not_load_tensorflow() -> None:
    code = (
        "import sys\n"
        "import upscaler.convert, upscaler.convert.tfjs, upscaler.convert.keras_file\n"
        "import upscaler.runtime, upscaler.runtime.savedmodel, upscaler.runtime.whole_image\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras'))\n"
        "assert not bad, bad\n"
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
    }
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=120)


def test_missing_tensorflow_is_a_dependency_error(
    tiny: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "tensorflow", None)
    with pytest.raises(DependencyError) as info:
        convert_tfjs_layers(tiny.path, tmp_path / "out")
    assert info.value.hint == "pip install 'upscaler[cpu]'"
    assert isinstance(info.value, ImportError)
    assert not (tmp_path / "out").exists()
