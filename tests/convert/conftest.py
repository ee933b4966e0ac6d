"""Tiny TF.js layers models written on the fly, with a numpy reference to check them against.

The models are small enough to convert in well under a second yet use every supported
layer type (dilated and strided convolutions, both activations forms, concatenation,
residual add, MultiplyBeta, nearest upsampling, pixel shuffle) so that a numeric
comparison covers the whole converter.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from tiny_models import conv, keras2_layer

# ----------------------------------------------------------------- numpy reference


def np_conv2d(
    x: np.ndarray,
    kernel: np.ndarray,
    bias: np.ndarray | None,
    *,
    stride: int = 1,
    dilation: int = 1,
    padding: str = "same",
) -> np.ndarray:
    """NHWC convolution with TensorFlow's padding rule, in float64."""
    n, h, w, _ = x.shape
    kh, kw, _, cout = kernel.shape
    ekh, ekw = (kh - 1) * dilation + 1, (kw - 1) * dilation + 1
    if padding == "same":
        oh, ow = math.ceil(h / stride), math.ceil(w / stride)
        ph = max((oh - 1) * stride + ekh - h, 0)
        pw = max((ow - 1) * stride + ekw - w, 0)
        x = np.pad(x, ((0, 0), (ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)))
    else:
        oh, ow = (h - ekh) // stride + 1, (w - ekw) // stride + 1
    out = np.zeros((n, oh, ow, cout))
    for i in range(kh):
        for j in range(kw):
            patch = x[
                :,
                i * dilation : i * dilation + (oh - 1) * stride + 1 : stride,
                j * dilation : j * dilation + (ow - 1) * stride + 1 : stride,
                :,
            ]
            out += np.einsum("nhwc,cd->nhwd", patch, kernel[i, j].astype(np.float64))
    if bias is not None:
        out += bias
    return out


def np_depth_to_space(x: np.ndarray, block: int) -> np.ndarray:
    n, h, w, c = x.shape
    cout = c // (block * block)
    y = x.reshape(n, h, w, block, block, cout).transpose(0, 1, 3, 2, 4, 5)
    return y.reshape(n, h * block, w * block, cout)


def np_upsample(x: np.ndarray, size: int) -> np.ndarray:
    return np.repeat(np.repeat(x, size, axis=1), size, axis=2)


# ----------------------------------------------------------------- TF.js writers


def functional_topology(
    layers: list[dict[str, Any]], input_name: str, output_name: str
) -> dict[str, Any]:
    return {
        "keras_version": "2.10.0",
        "backend": "tensorflow",
        "model_config": {
            "class_name": "Functional",
            "config": {
                "name": "generator",
                "layers": layers,
                "input_layers": [[input_name, 0, 0]],
                "output_layers": [[output_name, 0, 0]],
            },
        },
    }


def input_layer(name: str = "LR", channels: int | None = 3) -> dict[str, Any]:
    return {
        "class_name": "InputLayer",
        "name": name,
        "config": {
            "batch_input_shape": [None, None, None, channels],
            "dtype": "float32",
            "sparse": False,
            "name": name,
        },
        "inbound_nodes": [],
    }


def write_tfjs(
    folder: Path,
    topology: dict[str, Any],
    weights: Sequence[tuple[str, np.ndarray]],
    *,
    quantize: str | None = None,
    shard_bytes: int = 256,
    json_name: str = "model.json",
    shard_prefix: str = "group1-shard",
) -> tuple[Path, dict[str, np.ndarray]]:
    """Write model.json plus shards; returns its path and the weights TF.js would decode.

    Shards are cut every ``shard_bytes`` so weights straddle shard boundaries, which is
    what real multi-shard packages do.
    """
    folder.mkdir(parents=True, exist_ok=True)
    specs: list[dict[str, Any]] = []
    blobs: list[bytes] = []
    decoded: dict[str, np.ndarray] = {}
    for name, given in weights:
        array = np.asarray(given, dtype=np.float32)
        spec: dict[str, Any] = {"name": name, "shape": list(array.shape), "dtype": "float32"}
        if quantize in ("uint8", "uint16"):
            levels = 255 if quantize == "uint8" else 65535
            lo, hi = float(array.min()), float(array.max())
            scale = (hi - lo) / levels if hi > lo else 1.0
            q = np.round((array.astype(np.float64) - lo) / scale).astype(
                np.uint8 if quantize == "uint8" else "<u2"
            )
            spec["quantization"] = {
                "dtype": quantize,
                "min": lo,
                "scale": scale,
                "original_dtype": "float32",
            }
            blobs.append(q.tobytes())
            decoded[name] = (q.astype(np.float64) * scale + lo).astype(np.float32)
        elif quantize == "float16":
            half = array.astype("<f2")
            spec["quantization"] = {"dtype": "float16", "original_dtype": "float32"}
            blobs.append(half.tobytes())
            decoded[name] = half.astype(np.float32)
        else:
            blobs.append(array.astype("<f4").tobytes())
            decoded[name] = array
        specs.append(spec)
    data = b"".join(blobs)
    count = max(1, math.ceil(len(data) / shard_bytes))
    paths = []
    for index in range(count):
        shard = f"{shard_prefix}{index + 1}of{count}.bin"
        (folder / shard).write_bytes(data[index * shard_bytes : (index + 1) * shard_bytes])
        paths.append(shard)
    doc = {
        "format": "layers-model",
        "generatedBy": "keras v2.10.0",
        "convertedBy": "test",
        "modelTopology": topology,
        "weightsManifest": [{"paths": paths, "weights": specs}],
    }
    path = folder / json_name
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path, decoded


# ----------------------------------------------------------------- the "every layer" model


@dataclass
class TinyModel:
    """A written TF.js model and the numpy function it must compute."""

    path: Path
    weights: dict[str, np.ndarray]
    reference: Callable[[np.ndarray], np.ndarray]
    scale: int
    parameters: int


def every_layer_topology() -> dict[str, Any]:
    layers = [
        input_layer("LR"),
        conv("A", "LR", 4, 3, activation="relu"),
        conv("B", "A", 4, 3, dilation_rate=[2, 2], use_bias=False),
        keras2_layer("Activation", "B_relu", ["B"], activation="relu"),
        keras2_layer("Concatenate", "cat", ["A", "B_relu"], axis=3),
        conv("C", "cat", 4, 1, padding="valid"),
        keras2_layer("MultiplyBeta", "beta", ["C"], beta=0.2),
        keras2_layer("Add", "add", ["A", "beta"]),
        keras2_layer(
            "UpSampling2D",
            "up",
            ["add"],
            size=[2, 2],
            interpolation="nearest",
            data_format="channels_last",
        ),
        conv("D", "up", 12, 3),
        keras2_layer("PixelShuffle2x", "ps", ["D"], scale=2),
        conv("E", "ps", 3, 3, strides=[2, 2]),
    ]
    return functional_topology(layers, "LR", "E")


def every_layer_weights(seed: int = 0) -> list[tuple[str, np.ndarray]]:
    rng = np.random.default_rng(seed)

    def rand(*shape: int) -> np.ndarray:
        return (rng.standard_normal(shape) * 0.3).astype(np.float32)

    # Manifest order deliberately differs from layer order (TF.js sorts by name).
    return [
        ("E/kernel", rand(3, 3, 3, 3)),
        ("E/bias", rand(3)),
        ("A/kernel", rand(3, 3, 3, 4)),
        ("A/bias", rand(4)),
        ("B/kernel", rand(3, 3, 4, 4)),
        ("C/kernel", rand(1, 1, 8, 4)),
        ("C/bias", rand(4)),
        ("D/kernel", rand(3, 3, 4, 12)),
        ("D/bias", rand(12)),
    ]


def every_layer_reference(w: dict[str, np.ndarray]) -> Callable[[np.ndarray], np.ndarray]:
    def forward(x: np.ndarray) -> np.ndarray:
        x = x.astype(np.float64)
        a = np.maximum(np_conv2d(x, w["A/kernel"], w["A/bias"]), 0)
        b = np.maximum(np_conv2d(a, w["B/kernel"], None, dilation=2), 0)
        cat = np.concatenate([a, b], axis=3)
        c = np_conv2d(cat, w["C/kernel"], w["C/bias"], padding="valid")
        added = a + c * 0.2
        up = np_upsample(added, 2)
        d = np_conv2d(up, w["D/kernel"], w["D/bias"])
        ps = np_depth_to_space(d, 2)
        return np_conv2d(ps, w["E/kernel"], w["E/bias"], stride=2)

    return forward


@pytest.fixture
def make_tiny(tmp_path: Path) -> Callable[..., TinyModel]:
    """Build the every-layer model, optionally quantized, under tmp_path/<name>."""

    def build(
        name: str = "tiny", *, quantize: str | None = None, shard_bytes: int = 256
    ) -> TinyModel:
        weights = every_layer_weights()
        path, decoded = write_tfjs(
            tmp_path / name,
            every_layer_topology(),
            weights,
            quantize=quantize,
            shard_bytes=shard_bytes,
        )
        parameters = sum(int(a.size) for _, a in weights)
        return TinyModel(path, decoded, every_layer_reference(decoded), 2, parameters)

    return build


@pytest.fixture
def tiny(make_tiny: Callable[..., TinyModel]) -> TinyModel:
    return make_tiny()


@pytest.fixture(scope="session")
def tf() -> Any:
    """TensorFlow, imported once and only by the tests that need it."""
    return pytest.importorskip("tensorflow")


@pytest.fixture
def kit() -> SimpleNamespace:
    """The writers and numpy helpers above, for tests that build their own topologies."""
    return SimpleNamespace(
        write_tfjs=write_tfjs,
        keras2_layer=keras2_layer,
        conv=conv,
        input_layer=input_layer,
        functional_topology=functional_topology,
        every_layer_topology=every_layer_topology,
        every_layer_weights=every_layer_weights,
        np_conv2d=np_conv2d,
        np_upsample=np_upsample,
    )
