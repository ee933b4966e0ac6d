"""A catalog of tiny, local TF.js models, so explorer tests need no network.

Each model is nearest-neighbour upsampling followed by a 1x1 convolution that swaps the
red and blue channels: cheap to convert and run, and its output differs visibly (and
predictably) from the input, so a test can check the picture the page shows.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from upscaler.catalog import shipped_catalog_dir

FAMILY = "tiny-swap"
SCALES = (2, 4)
# Measured numbers the x4 variant carries, so pages can show metrics and speed.
X4_PSNR, X4_SSIM, X4_MS = 31.25, 0.8765, 123.0
SWAP = np.array([[0, 0, 1], [0, 1, 0], [1, 0, 0]], dtype=np.float32)  # RGB → BGR


def reference(rgb: np.ndarray, scale: int) -> np.ndarray:
    """What a tiny-swap model computes for HxWx3 uint8."""
    return np.repeat(np.repeat(rgb[:, :, ::-1], scale, axis=0), scale, axis=1)


def _layer(class_name: str, name: str, inputs: list[str], **config: Any) -> dict[str, Any]:
    return {
        "class_name": class_name,
        "name": name,
        "config": {"name": name, "trainable": True, "dtype": "float32", **config},
        "inbound_nodes": [[[src, 0, 0, {}] for src in inputs]] if inputs else [],
    }


def write_model(folder: Path, scale: int) -> list[dict[str, Any]]:
    """Write model.json + one shard; return the catalog's ``files`` list for them."""
    folder.mkdir(parents=True, exist_ok=True)
    layers = [
        {
            "class_name": "InputLayer",
            "name": "LR",
            "config": {
                "batch_input_shape": [None, None, None, 3],
                "dtype": "float32",
                "name": "LR",
            },
            "inbound_nodes": [],
        },
        _layer(
            "UpSampling2D",
            "up",
            ["LR"],
            size=[scale, scale],
            interpolation="nearest",
            data_format="channels_last",
        ),
        _layer(
            "Conv2D",
            "swap",
            ["up"],
            filters=3,
            kernel_size=[1, 1],
            strides=[1, 1],
            padding="same",
            data_format="channels_last",
            dilation_rate=[1, 1],
            groups=1,
            activation="linear",
            use_bias=True,
        ),
    ]
    kernel = SWAP.reshape(1, 1, 3, 3)
    bias = np.zeros(3, dtype=np.float32)
    shard = "group1-shard1of1.bin"
    (folder / shard).write_bytes(kernel.astype("<f4").tobytes() + bias.astype("<f4").tobytes())
    doc = {
        "format": "layers-model",
        "generatedBy": "keras v2.10.0",
        "convertedBy": "upscaler tests",
        "modelTopology": {
            "keras_version": "2.10.0",
            "backend": "tensorflow",
            "model_config": {
                "class_name": "Functional",
                "config": {
                    "name": "tiny",
                    "layers": layers,
                    "input_layers": [["LR", 0, 0]],
                    "output_layers": [["swap", 0, 0]],
                },
            },
        },
        "weightsManifest": [
            {
                "paths": [shard],
                "weights": [
                    {"name": "swap/kernel", "shape": [1, 1, 3, 3], "dtype": "float32"},
                    {"name": "swap/bias", "shape": [3], "dtype": "float32"},
                ],
            }
        ],
    }
    (folder / "model.json").write_text(json.dumps(doc), encoding="utf-8")
    files = []
    for name in ("model.json", shard):
        data = (folder / name).read_bytes()
        files.append(
            {
                "path": f"x{scale}/{name}",
                "sha256": hashlib.sha256(data).hexdigest(),
                "size": len(data),
            }
        )
    return files


def write_catalog(root: Path) -> Path:
    """A complete catalog folder (shipped vocabulary + the tiny-swap family) under ``root``."""
    weights_dir = root / "weights"
    (root / "catalog" / "models").mkdir(parents=True)
    shutil.copy(shipped_catalog_dir() / "vocab.yaml", root / "catalog" / "vocab.yaml")
    variants: dict[str, Any] = {}
    for scale in SCALES:
        files = write_model(weights_dir / f"x{scale}", scale)
        variant: dict[str, Any] = {
            "scale": scale,
            "weights": {
                "format": "tfjs-layers",
                "source": {"path": str(weights_dir)},
                "files": files,
            },
        }
        if scale == SCALES[0]:
            variant["default"] = True
        if scale == 4:
            provenance = {
                "command": "upscaler eval tiny-swap.x4",
                "version": "0.1.0",
                "date": "2026-01-01",
                "machine": "test machine",
            }
            variant["metrics"] = {
                "provenance": provenance,
                "sets": {"set5": {"psnr_y": X4_PSNR, "ssim_y": X4_SSIM}},
            }
            variant["speed"] = {"provenance": provenance, "ms_per_output_megapixel": X4_MS}
        variants[f"x{scale}"] = variant
    family = {
        "schema_version": 1,
        "family": FAMILY,
        "title": "Tiny Swap",
        "architecture": "rdn",
        "implementation": "upscalerjs",
        "license": "MIT",
        "description": "Nearest upsampling then a red/blue swap: a test model.",
        "global_default": "x2",
        "global_default_reason": "the only family of this test catalog",
        "defaults": {
            "dataset": "div2k",
            "channels": 3,
            "objective": "fidelity",
            "degradation": "bicubic",
            "pruning": "none",
            "quantization": "none",
            "value_range": [0, 255],
        },
        "variants": variants,
    }
    # JSON is YAML: no need for a YAML writer here.
    (root / "catalog" / "models" / f"{FAMILY}.yaml").write_text(
        json.dumps(family, indent=2), encoding="utf-8"
    )
    return root / "catalog"
