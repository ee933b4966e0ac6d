"""A tiny real model and a one-family catalog for it, shared by several test folders.

The model is a TF.js layers nearest-neighbour x2 upsampler (one UpSampling2D layer, no
weights): cheap to convert and run, and every expected output is known exactly
(``nearest_x2``). A plain module, importable by name because pytest puts ``tests/`` on
``sys.path`` (``pythonpath`` in pyproject.toml).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def nearest_x2(pixels: np.ndarray) -> np.ndarray:
    """What the tiny model computes for an HxWxC image: each pixel becomes a 2x2 block."""
    return np.repeat(np.repeat(pixels, 2, axis=0), 2, axis=1)


def write_tfjs_upsampler(folder: Path, channels: int = 3) -> Path:
    """A TF.js layers model: Sequential([UpSampling2D(2)]) on ``channels`` channels, empty
    weights shard.

    Returns the path of its model.json.
    """
    folder.mkdir(parents=True, exist_ok=True)
    topology = {
        "class_name": "Sequential",
        "config": {
            "name": "seq",
            "layers": [
                {
                    "class_name": "UpSampling2D",
                    "config": {
                        "size": [2, 2],
                        "data_format": "channels_last",
                        "name": "up",
                        "trainable": True,
                        "batch_input_shape": [None, None, None, channels],
                        "dtype": "float32",
                    },
                }
            ],
        },
        "keras_version": "tfjs-layers 3.13.0",
        "backend": "tensor_flow.js",
    }
    doc = {
        "format": "layers-model",
        "generatedBy": "test",
        "convertedBy": None,
        "modelTopology": topology,
        "weightsManifest": [{"paths": ["./up.bin"], "weights": []}],
    }
    (folder / "model.json").write_text(json.dumps(doc), encoding="utf-8")
    (folder / "up.bin").write_bytes(b"")
    return folder / "model.json"


def _sha(path: Path) -> tuple[str, int]:
    """The sha256 and size a catalog entry records for a weights file."""
    data = path.read_bytes()
    return hashlib.sha256(data).hexdigest(), len(data)


def write_tiny_catalog(base: Path, channels: int = 3) -> Path:
    """Write a catalog whose only family, `tiny`, has local nearest-x2 weights.

    The weights go under ``base/"weights"`` (a local-path source, so no network is
    needed) and the catalog folder, with the shipped vocab.yaml, under
    ``base/"catalog"``. ``channels=1`` makes it a luma (Y) model, ``channels=4`` a native
    RGBA one. Returns the catalog folder.
    """
    root = base / "catalog"
    (root / "models").mkdir(parents=True)
    shutil.copy(REPO / "catalog" / "vocab.yaml", root / "vocab.yaml")
    write_tiny_family(root, base / "weights", "tiny", channels, global_default=True)
    return root


def write_tiny_family(
    root: Path, weights: Path, family: str, channels: int, *, global_default: bool = False
) -> None:
    """Add a family of one nearest-x2 variant on ``channels`` channels to the catalog at
    ``root``, its weights written under ``weights`` (so one catalog can hold an RGB and
    an RGBA model side by side)."""
    write_tfjs_upsampler(weights / "models" / "x2", channels)
    write_x2_family(
        root,
        weights,
        ["models/x2/model.json", "models/x2/up.bin"],
        family=family,
        architecture="nearest",
        defaults=f"dataset: none, channels: {channels}",
        global_default=global_default,
    )


def write_x2_family(
    root: Path,
    weights: Path,
    files: list[str],
    *,
    family: str,
    architecture: str,
    defaults: str,
    global_default: bool,
) -> None:
    """A family file with one TF.js x2 variant whose ``files`` (relative to ``weights``,
    a local source) are hashed here; ``defaults`` adds to the fidelity/bicubic/float
    defaults every tiny family shares."""
    listed = []
    for rel in files:
        sha, size = _sha(weights / rel)
        listed.append(f"        - {{path: {rel}, sha256: {sha}, size: {size}}}")
    (root / "models" / f"{family}.yaml").write_text(
        "\n".join(
            [
                "schema_version: 1",
                f"family: {family}",
                f"title: {family.capitalize()}",
                f"architecture: {architecture}",
                "implementation: upscalerjs",
                "license: MIT",
                *(["global_default: x2"] if global_default else []),
                f"defaults: {{{defaults}, objective: fidelity, degradation: bicubic,"
                " pruning: none, quantization: none, value_range: [0, 255]}",
                "variants:",
                "  x2:",
                "    default: true",
                "    scale: 2",
                "    weights:",
                "      format: tfjs-layers",
                f"      source: {{path: {weights}}}",
                "      files:",
                *listed,
                "",
            ]
        ),
        encoding="utf-8",
    )


# ----------------------------------------------------------------- a tiny RDN for int8


def keras2_layer(
    class_name: str, name: str, inputs: Sequence[str], **config: Any
) -> dict[str, Any]:
    """One layer in the Keras-2 functional JSON form TF.js files use."""
    nodes = [[[src, 0, 0, {}] for src in inputs]] if inputs else []
    return {
        "class_name": class_name,
        "name": name,
        "config": {"name": name, "trainable": True, "dtype": "float32", **config},
        "inbound_nodes": nodes,
    }


def conv(name: str, src: str, filters: int, kernel: int, **extra: Any) -> dict[str, Any]:
    """A same-padded, stride-1, biased Conv2D layer; ``extra`` overrides its config."""
    config = {
        "filters": filters,
        "kernel_size": [kernel, kernel],
        "strides": [1, 1],
        "padding": "same",
        "data_format": "channels_last",
        "dilation_rate": [1, 1],
        "groups": 1,
        "activation": "linear",
        "use_bias": True,
    }
    config.update(extra)
    return keras2_layer("Conv2D", name, [src], **config)


def write_tfjs_small_rdn(folder: Path, channels: int = 3, seed: int = 0) -> Path:
    """A TF.js layers model shaped like esrgan-slim in miniature, with random weights:
    conv, conv + ReLU layer, concatenation, 1x1 fusion, residual add, conv with a fused
    ReLU, nearest x2 upsampling, conv back to ``channels`` (value range [0, 255]). Every
    op the int8 path rewrites is in it. Returns the path of its model.json."""
    folder.mkdir(parents=True, exist_ok=True)
    c = channels
    layers = [
        {
            "class_name": "InputLayer",
            "name": "LR",
            "config": {
                "batch_input_shape": [None, None, None, c],
                "dtype": "float32",
                "sparse": False,
                "name": "LR",
            },
            "inbound_nodes": [],
        },
        conv("A", "LR", 8, 3),
        conv("B", "A", 8, 3),
        keras2_layer("Activation", "B_relu", ["B"], activation="relu"),
        keras2_layer("Concatenate", "cat", ["A", "B_relu"], axis=3),
        conv("F", "cat", 8, 1),
        keras2_layer("Add", "add", ["F", "A"]),
        conv("U", "add", 8, 3, activation="relu"),
        keras2_layer(
            "UpSampling2D",
            "up",
            ["U"],
            size=[2, 2],
            interpolation="nearest",
            data_format="channels_last",
        ),
        conv("SR", "up", c, 3),
    ]
    topology = {
        "keras_version": "2.10.0",
        "backend": "tensorflow",
        "model_config": {
            "class_name": "Functional",
            "config": {
                "name": "tiny_rdn",
                "layers": layers,
                "input_layers": [["LR", 0, 0]],
                "output_layers": [["SR", 0, 0]],
            },
        },
    }
    rng = np.random.default_rng(seed)
    shapes = {
        "A": (3, 3, c, 8),
        "B": (3, 3, 8, 8),
        "F": (1, 1, 16, 8),
        "U": (3, 3, 8, 8),
        "SR": (3, 3, 8, c),
    }
    specs, blobs = [], []
    for name, shape in shapes.items():
        fan_in = shape[0] * shape[1] * shape[2]
        kernel = rng.standard_normal(shape) / np.sqrt(fan_in)
        if name == "A":  # mostly pass the image on, so the output looks like it
            for k in range(c):
                kernel[1, 1, k, k] += 1.0
        bias = rng.standard_normal(shape[3]) * 2.0
        for suffix, array in (("kernel", kernel), ("bias", bias)):
            data = np.asarray(array, dtype="<f4")
            specs.append(
                {"name": f"{name}/{suffix}", "shape": list(data.shape), "dtype": "float32"}
            )
            blobs.append(data.tobytes())
    (folder / "w.bin").write_bytes(b"".join(blobs))
    doc = {
        "format": "layers-model",
        "generatedBy": "test",
        "convertedBy": None,
        "modelTopology": topology,
        "weightsManifest": [{"paths": ["./w.bin"], "weights": specs}],
    }
    (folder / "model.json").write_text(json.dumps(doc), encoding="utf-8")
    return folder / "model.json"


def write_small_rdn_catalog(base: Path, channels: int = 3) -> Path:
    """A catalog whose one family, ``tinyq``, holds the small RDN as ``tinyq.x2`` (the
    global default; local weights); the int8 variant is for the test to measure and
    write. Returns the catalog folder."""
    root = base / "catalog"
    (root / "models").mkdir(parents=True)
    shutil.copy(REPO / "catalog" / "vocab.yaml", root / "vocab.yaml")
    weights = base / "weights"
    write_tfjs_small_rdn(weights / "x2", channels)
    write_x2_family(
        root,
        weights,
        ["x2/model.json", "x2/w.bin"],
        family="tinyq",
        architecture="rdn",
        defaults=f"dataset: div2k, channels: {channels}, tiling: {{context: 8}}",
        global_default=True,
    )
    return root


def write_training_folder(folder: Path, count: int = 4, side: int = 96, seed: int = 0) -> Path:
    """A folder of smooth random RGB PNGs (a stand-in for T91 in tests)."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(count):
        coarse = rng.integers(0, 256, (side // 8, side // 8, 3)).astype(np.uint8)
        image = Image.fromarray(coarse).resize((side, side), Image.BICUBIC)
        image.save(folder / f"img{i}.png")
    return folder
