"""upscale_rgb: value-range mapping, clipping and half-to-even rounding."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from upscaler.errors import ImageError, ModelLoadError
from upscaler.runtime import load_savedmodel, upscale_rgb
from upscaler.runtime.whole_image import from_model_range, to_model_range


@pytest.fixture
def rgb() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)


@pytest.mark.parametrize("value_range", [(0.0, 1.0), (0.0, 255.0), (-1.0, 1.0)])
def test_identity_upscale_round_trips(upsample2: Path, rgb: np.ndarray, value_range: Any) -> None:
    out = upscale_rgb(load_savedmodel(upsample2), rgb, value_range)
    assert out.dtype == np.uint8 and out.shape == (10, 14, 3)
    np.testing.assert_array_equal(out, np.repeat(np.repeat(rgb, 2, axis=0), 2, axis=1))


def test_model_sees_its_value_range(save_fn: Callable[..., Path], tf: Any) -> None:
    seen: list[Any] = []
    model = load_savedmodel(save_fn("id", lambda x: {"output": x}))
    rgb = np.array([[[0, 51, 255]]], np.uint8)
    original = model.predict

    def spy(batch: np.ndarray) -> np.ndarray:
        seen.append(batch.copy())
        return original(batch)

    object.__setattr__(model, "predict", spy)
    upscale_rgb(model, rgb, (0, 1))
    upscale_rgb(model, rgb, (0, 255))
    upscale_rgb(model, rgb, (-1, 1))
    np.testing.assert_array_equal(
        seen[0], np.array([[[[0, 51, 255]]]], np.float32) / np.float32(255)
    )
    np.testing.assert_array_equal(seen[1], [[[[0, 51, 255]]]])
    np.testing.assert_allclose(seen[2], [[[[-1, -0.6, 1]]]], atol=1e-6)


def test_rounding_is_half_to_even_and_output_is_clipped(
    save_fn: Callable[..., Path], tf: Any
) -> None:
    half = load_savedmodel(save_fn("half", lambda x: {"output": x + 0.5}))
    rgb = np.array([[[0, 1, 2], [3, 254, 255]]], np.uint8)
    # 0.5 -> 0, 1.5 -> 2, 2.5 -> 2, 3.5 -> 4, 254.5 -> 254, 255.5 -> clipped to 255.
    np.testing.assert_array_equal(upscale_rgb(half, rgb, (0, 255)), [[[0, 2, 2], [4, 254, 255]]])
    loud = load_savedmodel(save_fn("loud", lambda x: {"output": x * 4.0 - 0.01}))
    np.testing.assert_array_equal(upscale_rgb(loud, rgb, (0, 1)), [[[0, 1, 5], [9, 255, 255]]])


def test_nan_output_is_an_image_error(save_fn: Callable[..., Path], tf: Any) -> None:
    nan = load_savedmodel(save_fn("nan", lambda x: {"output": x * float("nan")}))
    with pytest.raises(ImageError, match="NaN"):
        upscale_rgb(nan, np.zeros((2, 2, 3), np.uint8), (0, 1))


@pytest.mark.parametrize(
    ("image", "message"),
    [
        ("pixels", "numpy array"),
        (np.zeros((4, 4, 3), np.float32), "uint8"),
        (np.zeros((4, 4), np.uint8), "HxWx3"),
        (np.zeros((4, 4, 4), np.uint8), "HxWx3"),
        (np.zeros((0, 4, 3), np.uint8), "empty"),
    ],
)
def test_bad_images(upsample2: Path, image: Any, message: str) -> None:
    with pytest.raises(ImageError, match=message):
        upscale_rgb(load_savedmodel(upsample2), image, (0, 1))


@pytest.mark.parametrize("value_range", [(1, 1), (0, float("inf")), "ab"])
def test_bad_value_ranges(value_range: Any) -> None:
    with pytest.raises(ModelLoadError, match="value range"):
        to_model_range(np.zeros((1, 1, 3), np.uint8), value_range)
    with pytest.raises(ModelLoadError, match="value range"):
        from_model_range(np.zeros((1, 1, 3), np.float32), value_range)
