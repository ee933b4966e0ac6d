"""Tiny real models on disk, in every format the facade accepts, plus a tiny catalog.

The models are nearest-neighbour x2 upsamplers (one UpSampling2D, or a conv whose
kernel copies its input), so the expected output is known exactly: np.repeat.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tiny_models import write_tfjs_upsampler, write_tiny_catalog


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


@pytest.fixture
def tiny_by_channels(tmp_path: Path, tf: Any) -> Callable[[int], Any]:
    """``make(channels)``: a strict ``Upscaler(channels=channels, scale=2)`` over a tiny
    catalog whose one model is a nearest-x2 on that many channels."""
    from upscaler import Upscaler
    from upscaler.catalog import load_catalog

    def make(channels: int) -> Any:
        root = write_tiny_catalog(tmp_path / f"c{channels}", channels=channels)
        return Upscaler(
            channels=channels,
            scale=2,
            strict=True,
            catalog=load_catalog(root),
            cache_dir=tmp_path / "cache",
        )

    return make


@pytest.fixture
def tiny_catalog(tmp_path: Path) -> Path:
    """A catalog folder with one family whose weights come from a local folder."""
    return write_tiny_catalog(tmp_path)
