"""1-channel (Y) models: gray images natively, colour through the luma adapter.

The model is a real converted TF.js nearest-x2 upsampler on one channel, so what it does
to Y is known exactly; the chroma path is checked against PIL's own YCbCr conversion and
bicubic resize, an independent implementation of both.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from tiny_models import nearest_x2

from upscaler import Upscaler
from upscaler.catalog import load_catalog


@pytest.fixture
def luma(tiny_by_channels: Callable[[int], Upscaler]) -> Upscaler:
    return tiny_by_channels(1)


def photo(height: int = 24, width: int = 20, seed: int = 3) -> np.ndarray:
    """Smooth colour gradients plus noise: every channel and every chroma value varies."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 9 + 20, y * 7 + 30, (x + y) * 4 + 10], axis=-1).astype(np.float64)
    return np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)


def test_channels_1_resolves_exactly_to_the_luma_model(luma: Upscaler) -> None:
    assert luma.model.channels == 1
    described = luma.describe().to_dict()
    assert described["exact"] is True, described
    assert "channels=1" in str(luma.describe())


def test_gray_image_runs_natively(luma: Upscaler) -> None:
    gray = photo()[:, :, 0]
    out = luma.upscale(gray)
    assert out.shape == (48, 40)
    np.testing.assert_array_equal(out, nearest_x2(gray))
    adapters = luma.describe().to_dict()["runtime"]["last_run"]["adapters"]
    assert adapters == ["gray: native 1-channel model (Y in, Y out)"]


def test_colour_image_goes_through_the_luma_adapter(luma: Upscaler) -> None:
    rgb = photo()
    out = luma.upscale(rgb)
    assert out.shape == (48, 40, 3) and out.dtype == np.uint8
    adapters = luma.describe().to_dict()["runtime"]["last_run"]["adapters"]
    assert any(a.startswith("luma: model on Y") for a in adapters)
    # Y of the result is the model's output on the input's Y (PIL's full-range YCbCr
    # rounds Y, so 1 grey level of slack)...
    y_in, cb_in, cr_in = (
        np.asarray(p, dtype=np.float64)
        for p in Image.fromarray(rgb, "RGB").convert("YCbCr").split()
    )
    y_out, cb_out, cr_out = (
        np.asarray(p, dtype=np.float64)
        for p in Image.fromarray(out, "RGB").convert("YCbCr").split()
    )
    # Where model Y and resized chroma together leave the RGB gamut, clipping moves Y a
    # little: a few pixels of this noisy image, never many.
    y_error = np.abs(y_out - nearest_x2(y_in))
    assert np.mean(y_error <= 1) > 0.97 and y_error.mean() < 0.3
    # ...and the chroma is the input's, resized bicubically (not nearest: the model never
    # saw it).
    for c_in, c_out in ((cb_in, cb_out), (cr_in, cr_out)):
        expected = np.asarray(
            Image.fromarray(c_in.astype(np.float32), "F").resize((40, 48), Image.Resampling.BICUBIC)
        )
        assert np.abs(c_out - expected).mean() < 1.0
        assert np.abs(c_out - nearest_x2(c_in)).mean() > np.abs(c_out - expected).mean()


def test_float_and_16_bit_colour_keep_their_precision(luma: Upscaler) -> None:
    rgb16 = photo().astype(np.uint16) * 257
    out16 = luma.upscale(rgb16)
    assert out16.dtype == np.uint16
    out8 = luma.upscale(photo())
    assert np.abs(out16.astype(np.float64) / 257 - out8).max() <= 1.0
    unit = photo().astype(np.float32) / 255
    out_f = luma.upscale(unit)
    assert out_f.dtype == np.float32
    assert np.abs(out_f * 255 - out8).max() <= 1.0


def test_alpha_runs_through_the_luma_model_natively(luma: Upscaler) -> None:
    rgba = np.dstack([photo(), np.tile(np.arange(0, 240, 12, dtype=np.uint8), (24, 1))])
    out = luma.upscale(rgba)
    assert out.shape == (48, 40, 4)
    np.testing.assert_array_equal(out[:, :, 3], nearest_x2(rgba[:, :, 3]))


def test_rgb_model_still_takes_gray_through_rgb(tiny_catalog: Path, tmp_path: Path) -> None:
    up = Upscaler(model="tiny.x2", catalog=load_catalog(tiny_catalog), cache_dir=tmp_path / "c")
    gray = photo()[:, :, 1]
    np.testing.assert_array_equal(up.upscale(gray), nearest_x2(gray))
    adapters = up.describe().to_dict()["runtime"]["last_run"]["adapters"]
    assert adapters == ["gray: replicated to RGB, model, back to gray (BT.601 luma)"]
