"""The serving-contract check and LoadedModel.predict's error translation."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from upscaler.errors import ImageError, ModelLoadError
from upscaler.runtime import LoadedModel, load_savedmodel


def test_good_model_loads_and_predicts(upsample2: Path) -> None:
    model = load_savedmodel(upsample2)
    assert isinstance(model, LoadedModel)
    assert (model.input_name, model.output_name) == ("input", "output")
    assert model.input_shape == (None, None, None, 3)
    assert (model.input_dtype, model.output_dtype) == ("float32", "float32")
    assert model.metadata == {}
    described = model.describe()
    assert described["input"] == {
        "name": "input",
        "shape": [None, None, None, 3],
        "dtype": "float32",
    }
    x = np.random.default_rng(0).random((2, 3, 4, 3)).astype(np.float32)
    out = model.predict(x)
    assert out.dtype == np.float32 and out.shape == (2, 6, 8, 3)
    np.testing.assert_array_equal(out[:, ::2, ::2], x)
    # Integer arrays are accepted and treated as float32 values.
    assert model.predict(np.ones((1, 2, 2, 3), np.uint8)).shape == (1, 4, 4, 3)


@pytest.mark.parametrize(
    ("specs", "message"),
    [
        ([([None, None, None, 3], "int32", "input")], "dtype int32"),
        ([([None, None, None, 5], "float32", "input")], "5 channels"),
        ([([None, None, None, 2], "float32", "input")], "2 channels"),
        ([([None, None, 3], "float32", "input")], "rank 3"),
        (
            [([None, None, None, 3], "float32", "a"), ([None, None, None, 3], "float32", "b")],
            "has 2 inputs",
        ),
    ],
)
def test_wrong_inputs_are_refused(
    save_fn: Callable[..., Path], tf: Any, specs: list[Any], message: str
) -> None:
    def fn(*args: Any) -> dict[str, Any]:
        return {"output": tf.cast(args[0], tf.float32)}

    folder = save_fn("bad", fn, specs)
    with pytest.raises(ModelLoadError, match=message) as info:
        load_savedmodel(folder)
    assert "expected a 'serving_default' signature with one float32 input" in str(info.value)


@pytest.mark.parametrize("channels", [1, 3, 4])
def test_luma_rgb_and_rgba_models_load(
    save_fn: Callable[..., Path], tf: Any, channels: int
) -> None:
    def fn(x: Any) -> dict[str, Any]:
        return {"output": tf.repeat(tf.repeat(x, 2, axis=1), 2, axis=2)}

    folder = save_fn(f"c{channels}", fn, [([None, None, None, channels], "float32", "input")])
    model = load_savedmodel(folder)
    assert model.channels == channels and model.input_shape[-1] == channels
    x = np.random.default_rng(0).random((1, 3, 4, channels)).astype(np.float32)
    np.testing.assert_array_equal(model.predict(x)[:, ::2, ::2], x)


def test_output_channels_must_match_the_input(save_fn: Callable[..., Path], tf: Any) -> None:
    """An RGBA model that returns RGB would lose the alpha the pipeline splits off."""
    folder = save_fn(
        "rgba-to-rgb", lambda x: {"output": x[..., :3]}, [([None, None, None, 4], "float32", "x")]
    )
    with pytest.raises(ModelLoadError, match="input has 4 channels but output 'output' has 3"):
        load_savedmodel(folder)


def test_wrong_outputs_are_refused(save_fn: Callable[..., Path], tf: Any) -> None:
    two = save_fn("two", lambda x: {"a": x, "b": x})
    with pytest.raises(ModelLoadError, match="has 2 outputs"):
        load_savedmodel(two)
    ints = save_fn("ints", lambda x: {"output": tf.cast(x, tf.int32)})
    with pytest.raises(ModelLoadError, match="output 'output' is int32"):
        load_savedmodel(ints)
    flat = save_fn("flat", lambda x: {"output": tf.reduce_mean(x, axis=[1, 2])})
    with pytest.raises(ModelLoadError, match=r"float32 \[None, 3\]"):
        load_savedmodel(flat)


def test_missing_signature(save_fn: Callable[..., Path]) -> None:
    folder = save_fn("other", lambda x: {"output": x}, key="predict")
    with pytest.raises(ModelLoadError, match=r"no 'serving_default' signature.*'predict'"):
        load_savedmodel(folder)


def test_not_a_savedmodel(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="does not exist"):
        load_savedmodel(tmp_path / "absent")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ModelLoadError, match="not a SavedModel"):
        load_savedmodel(empty)
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    (corrupt / "saved_model.pb").write_bytes(b"\x00garbage\xff" * 10)
    with pytest.raises(ModelLoadError, match="could not load"):
        load_savedmodel(corrupt)


def test_bad_metadata_file(upsample2: Path) -> None:
    (upsample2 / "upscaler.json").write_text("[1, 2]")
    with pytest.raises(ModelLoadError, match="JSON object"):
        load_savedmodel(upsample2)


@pytest.mark.parametrize(
    ("batch", "message"),
    [
        ([[1.0]], "numpy array"),
        (np.zeros((4, 4, 3), np.float32), "shape"),
        (np.zeros((1, 4, 4, 4), np.float32), r"\[\?, \?, \?, 3\]"),
        (np.zeros((1, 0, 4, 3), np.float32), "empty"),
        (np.zeros((1, 4, 4, 3), np.complex64), "dtype complex64"),
    ],
)
def test_bad_batches_are_image_errors(upsample2: Path, batch: Any, message: str) -> None:
    model = load_savedmodel(upsample2)
    with pytest.raises(ImageError, match=message):
        model.predict(batch)


def test_runtime_failures_are_translated(save_fn: Callable[..., Path], tf: Any) -> None:
    def fn(x: Any) -> dict[str, Any]:
        check = tf.debugging.assert_less(tf.shape(x)[1], 8, message="image too tall")
        with tf.control_dependencies([check]):
            return {"output": tf.identity(x)}

    model = load_savedmodel(save_fn("picky", fn))
    assert model.predict(np.zeros((1, 4, 4, 3), np.float32)).shape == (1, 4, 4, 3)
    with pytest.raises(ImageError, match="image too tall") as info:
        model.predict(np.zeros((1, 9, 4, 3), np.float32))
    assert not isinstance(info.value, tf.errors.OpError)
