"""Keras .keras / .h5 files exported to contract-honouring SavedModels."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from upscaler.convert import convert_keras_file
from upscaler.errors import ConversionError
from upscaler.runtime import load_savedmodel

# Keras' own model.save trips numpy 2's copy-keyword deprecation; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


@pytest.fixture(scope="module")
def keras(tf: Any) -> Any:
    return pytest.importorskip("keras")


def small_model(keras: Any, channels: int = 3) -> Any:
    inputs = keras.Input(shape=(None, None, channels))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inputs)
    x = keras.layers.UpSampling2D(2)(x)
    outputs = keras.layers.Conv2D(3, 3, padding="same")(x)
    return keras.Model(inputs, outputs)


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_round_trip(keras: Any, tmp_path: Path, suffix: str) -> None:
    model = small_model(keras)
    src = tmp_path / f"model{suffix}"
    model.save(src)
    out = tmp_path / "out"
    report = convert_keras_file(src, out, value_range=(0, 1))
    assert report.scale == 2 and report.channels == 3
    assert report.parameters == model.count_params()
    loaded = load_savedmodel(out)
    x = np.random.default_rng(0).random((1, 7, 5, 3)).astype(np.float32)
    got = loaded.predict(x)
    want = np.asarray(model(x, training=False))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    meta = json.loads((out / "upscaler.json").read_text())
    assert meta["source_format"] == ("keras" if suffix == ".keras" else "h5")
    assert meta["value_range"] == [0.0, 1.0]


def test_wrong_files(keras: Any, tmp_path: Path) -> None:
    with pytest.raises(ConversionError, match="does not exist"):
        convert_keras_file(tmp_path / "missing.keras", tmp_path / "out")
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(ConversionError, match="unknown model file type"):
        convert_keras_file(text, tmp_path / "out")
    fake = tmp_path / "fake.keras"
    fake.write_text("not a zip")
    with pytest.raises(ConversionError, match=r"not a Keras .keras file"):
        convert_keras_file(fake, tmp_path / "out")
    fake_h5 = tmp_path / "fake.h5"
    fake_h5.write_bytes(b"PK\x03\x04 zip, not hdf5")
    with pytest.raises(ConversionError, match=r"not a Keras .h5 file"):
        convert_keras_file(fake_h5, tmp_path / "out")
    broken = tmp_path / "broken.keras"
    broken.write_bytes(b"PK\x03\x04" + b"\0" * 64)
    with pytest.raises(ConversionError, match="cannot load"):
        convert_keras_file(broken, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_models_that_break_the_contract(keras: Any, tmp_path: Path) -> None:
    gray = tmp_path / "gray.keras"
    small_model(keras, channels=1).save(gray)
    with pytest.raises(ConversionError, match=r"\[None, None, None, 1\]"):
        convert_keras_file(gray, tmp_path / "out")
    a, b = keras.Input(shape=(None, None, 3)), keras.Input(shape=(None, None, 3))
    two = tmp_path / "two.keras"
    keras.Model([a, b], keras.layers.Add()([a, b])).save(two)
    with pytest.raises(ConversionError, match="2 inputs"):
        convert_keras_file(two, tmp_path / "out")
    same = tmp_path / "same.keras"
    small_model(keras).save(same)
    with pytest.raises(ConversionError, match="upscales by 2, but scale=3"):
        convert_keras_file(same, tmp_path / "out", scale=3)
    assert not (tmp_path / "out").exists()
