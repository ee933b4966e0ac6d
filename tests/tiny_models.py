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
from pathlib import Path

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
    files = []
    for rel in ("models/x2/model.json", "models/x2/up.bin"):
        sha, size = _sha(weights / rel)
        files.append(f"        - {{path: {rel}, sha256: {sha}, size: {size}}}")
    (root / "models" / f"{family}.yaml").write_text(
        "\n".join(
            [
                "schema_version: 1",
                f"family: {family}",
                f"title: {family.capitalize()}",
                "architecture: nearest",
                "implementation: upscalerjs",
                "license: MIT",
                *(["global_default: x2"] if global_default else []),
                f"defaults: {{dataset: none, channels: {channels}, objective: fidelity,"
                " degradation: bicubic,"
                " pruning: none, quantization: none,"
                " value_range: [0, 255]}",
                "variants:",
                "  x2:",
                "    default: true",
                "    scale: 2",
                "    weights:",
                "      format: tfjs-layers",
                f"      source: {{path: {weights}}}",
                "      files:",
                *files,
                "",
            ]
        ),
        encoding="utf-8",
    )
