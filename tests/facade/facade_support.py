"""Helpers shared by the facade tests (a plain module, importable by name)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def nearest_x2(pixels: np.ndarray) -> np.ndarray:
    return np.repeat(np.repeat(pixels, 2, axis=0), 2, axis=1)


def write_tfjs_upsampler(folder: Path) -> Path:
    """A TF.js layers model: Sequential([UpSampling2D(2)]), empty weights shard."""
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
                        "batch_input_shape": [None, None, None, 3],
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
