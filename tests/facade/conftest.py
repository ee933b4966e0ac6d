"""Tiny real models on disk, in every format the facade accepts, plus a tiny catalog.

The models are nearest-neighbour x2 upsamplers (one UpSampling2D, or a conv whose
kernel copies its input), so the expected output is known exactly: np.repeat.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import Any

import pytest
from facade_support import write_tfjs_upsampler

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def tf() -> Any:
    return pytest.importorskip("tensorflow")


@pytest.fixture
def tfjs_model(tmp_path: Path) -> Path:
    return write_tfjs_upsampler(tmp_path / "tfjs")


@pytest.fixture
def savedmodel_dir(tmp_path: Path, tf: Any) -> Path:
    """A SavedModel made directly with TensorFlow that honours the serving contract."""

    class Up(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32, "input")])
        def serve(self, x: Any) -> dict[str, Any]:
            return {"output": tf.repeat(tf.repeat(x, 2, axis=1), 2, axis=2)}

    module = Up()
    folder = tmp_path / "saved"
    tf.saved_model.save(module, str(folder), signatures={"serving_default": module.serve})
    return folder


@pytest.fixture
def keras_file(tmp_path: Path, tf: Any) -> Path:
    keras = pytest.importorskip("keras")
    inputs = keras.Input(shape=(None, None, 3))
    model = keras.Model(inputs, keras.layers.UpSampling2D(2)(inputs))
    path = tmp_path / "up.keras"
    model.save(path)
    return path


def _sha(path: Path) -> tuple[str, int]:
    data = path.read_bytes()
    return hashlib.sha256(data).hexdigest(), len(data)


@pytest.fixture
def tiny_catalog(tmp_path: Path) -> Path:
    """A catalog folder with one family whose weights come from a local folder."""
    weights = tmp_path / "weights"
    write_tfjs_upsampler(weights / "models" / "x2")
    root = tmp_path / "catalog"
    (root / "models").mkdir(parents=True)
    shutil.copy(REPO / "catalog" / "vocab.yaml", root / "vocab.yaml")
    files = []
    for rel in ("models/x2/model.json", "models/x2/up.bin"):
        sha, size = _sha(weights / rel)
        files.append(f"        - {{path: {rel}, sha256: {sha}, size: {size}}}")
    (root / "models" / "tiny.yaml").write_text(
        "\n".join(
            [
                "schema_version: 1",
                "family: tiny",
                "title: Tiny",
                "architecture: nearest",
                "implementation: upscalerjs",
                "license: MIT",
                "global_default: x2",
                "defaults: {dataset: none, channels: 3, pruning: none, quantization: none,"
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
    return root
