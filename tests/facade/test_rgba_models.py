"""Native 4-channel (RGBA) models: every image kind through the facade, and resolution.

The catalog model is a real converted TF.js nearest-x2 upsampler on four channels, so
what it does to each plane is known exactly; a local SavedModel that rotates the planes
shows that colour and alpha go in and come out in their places.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tiny_models import nearest_x2, write_tiny_catalog, write_tiny_family

from upscaler import ModelLoadError, Upscaler
from upscaler.catalog import load_catalog
from upscaler.runtime.pipeline import bleed_colour, resize

RNG = np.random.default_rng(11)
RGB = RNG.integers(0, 256, (6, 7, 3), dtype=np.uint8)
VISIBLE = RNG.integers(1, 256, (6, 7, 1), dtype=np.uint8)  # no fully transparent pixel
RGBA = np.dstack([RGB, VISIBLE])
NATIVE = "alpha: native 4-channel model (RGBA in, RGBA out)"
ADDED = "alpha: opaque plane added for the native 4-channel model, its alpha dropped"
GRAY = "gray: replicated to RGB, model, back to gray (BT.601 luma)"
BLED = "alpha: colour under transparent pixels bled from visible neighbours"
OPAQUE = "alpha: fully opaque; run through the native 4-channel model, recreated"


@pytest.fixture
def rgba(tiny_by_channels: Callable[[int], Upscaler]) -> Upscaler:
    return tiny_by_channels(4)


def applied(up: Upscaler) -> list[str]:
    adapters: list[str] = up.describe().to_dict()["runtime"]["last_run"]["adapters"]
    return adapters


def test_channels_4_resolves_strictly_to_the_native_model(rgba: Upscaler) -> None:
    assert rgba.model.channels == 4
    described = rgba.describe()
    assert described.exact and described.adapters == []
    assert "channels=4" in str(described)


def test_rgba_runs_natively(rgba: Upscaler) -> None:
    out = rgba.upscale(RGBA, progress=False)
    np.testing.assert_array_equal(out, nearest_x2(RGBA))
    assert applied(rgba) == [NATIVE]
    signature = rgba.describe().to_dict()["runtime"]["signature"]
    assert signature["input"]["shape"] == [None, None, None, 4]


@pytest.mark.parametrize(
    ("pixels", "notes"),
    [
        (RGB, [ADDED]),
        (RGB[:, :, 0], [GRAY, ADDED]),
        (np.dstack([RGB[:, :, :1], VISIBLE]), [GRAY, NATIVE]),
        (RGBA.astype(np.uint16) * 257, [NATIVE]),
        (RGBA.astype(np.float32) / 255, [NATIVE]),
    ],
    ids=["rgb", "gray", "gray+alpha", "rgba16", "rgba-float"],
)
@pytest.mark.slow
def test_every_kind_keeps_its_layout(rgba: Upscaler, pixels: np.ndarray, notes: list[str]) -> None:
    out = rgba.upscale(pixels, progress=False)
    assert out.dtype == pixels.dtype
    if pixels.dtype == np.float32:
        np.testing.assert_allclose(out, nearest_x2(pixels), atol=1e-6)
    else:
        np.testing.assert_array_equal(out, nearest_x2(pixels))
    assert applied(rgba) == notes


def test_opaque_alpha_runs_as_is_and_stays_opaque(rgba: Upscaler) -> None:
    opaque = np.dstack([RGB, np.full((6, 7, 1), 255, np.uint8)])
    out = rgba.upscale(opaque, progress=False)
    np.testing.assert_array_equal(out, nearest_x2(opaque))
    assert applied(rgba) == [
        "alpha: fully opaque; run through the native 4-channel model, recreated"
    ]


def test_colour_under_transparent_pixels_is_bled_first(rgba: Upscaler) -> None:
    """Transparent pixels holding black: the model sees their bled colour (what its
    synthetic-matte training data had there), the alpha stays the input's."""
    alpha = np.full((6, 7, 1), 255, np.uint8)
    alpha[:, :3] = 0
    colour = RGB.copy()
    colour[:, :3] = 0
    out = rgba.upscale(np.dstack([colour, alpha]), progress=False)
    expected = nearest_x2(np.dstack([bleed_colour(colour, alpha), alpha]))
    np.testing.assert_array_equal(out, expected)
    assert not np.array_equal(out[:, :, :3], nearest_x2(colour))
    assert applied(rgba) == [BLED, NATIVE]


def test_bicubic_alpha_replaces_the_models(rgba: Upscaler) -> None:
    out = rgba.upscale(RGBA, alpha="bicubic", progress=False)
    np.testing.assert_array_equal(out[:, :, :3], nearest_x2(RGB))
    np.testing.assert_array_equal(out[:, :, 3:], resize(VISIBLE, (14, 12), sharp=False))
    assert not np.array_equal(out[:, :, 3:], nearest_x2(VISIBLE))
    assert applied(rgba) == [
        "alpha: colour by the native 4-channel model, alpha upscaled bicubically"
    ]


def test_outscale_resizes_all_four_planes(rgba: Upscaler) -> None:
    out = rgba.upscale(RGBA, outscale=3, progress=False)
    assert out.shape == (18, 21, 4)
    assert applied(rgba)[-1] == "resize: x2 model output resized to x3 (Lanczos)"


def test_native_and_adapter_models_side_by_side(tmp_path: Path, tf: object) -> None:
    """channels=4 takes the RGBA model exactly; channels=3 the RGB one; each is the
    other's alternative through the alpha adapter."""
    root = write_tiny_catalog(tmp_path / "both")
    write_tiny_family(root, tmp_path / "both" / "rgba-weights", "tiny-rgba", 4)
    catalog = load_catalog(root)
    four = Upscaler(channels=4, scale=2, strict=True, catalog=catalog, cache_dir=tmp_path / "c")
    assert four.model.id == "tiny-rgba.x2" and four.describe().exact
    (alternative,) = four.resolution.alternatives
    assert alternative.id == "tiny.x2" and alternative.adaptable
    assert alternative.describe_differences() == ["channels: 3 ≠ 4 → alpha adapter"]
    three = Upscaler(channels=3, scale=2, strict=True, catalog=catalog, cache_dir=tmp_path / "c")
    assert three.model.id == "tiny.x2"
    (alternative,) = three.resolution.alternatives
    assert alternative.id == "tiny-rgba.x2" and alternative.adaptable
    assert alternative.adapters[0].detail == "opaque alpha added for the model, dropped after"
    # Both deliver the same RGBA image, by different roads.
    np.testing.assert_array_equal(four.upscale(RGBA, progress=False), nearest_x2(RGBA))
    adapted = Upscaler(model="tiny.x2", catalog=catalog, cache_dir=tmp_path / "c")
    np.testing.assert_array_equal(adapted.upscale(RGBA, progress=False), nearest_x2(RGBA))
    assert applied(adapted) == ["alpha: upscaled by the model on replicated alpha"]


def test_a_catalog_entry_must_say_the_models_channels(tmp_path: Path, tf: object) -> None:
    root = write_tiny_catalog(tmp_path / "wrong")  # an RGB model...
    family = root / "models" / "tiny.yaml"
    family.write_text(family.read_text().replace("channels: 3", "channels: 4"))  # ...said RGBA
    up = Upscaler(model="tiny.x2", catalog=load_catalog(root), cache_dir=tmp_path / "c")
    with pytest.raises(ModelLoadError, match="the catalog says 4 channels, but its SavedModel"):
        up.upscale(RGBA, progress=False)


@pytest.fixture
def rotating(tmp_path: Path, tf: Any) -> Path:
    """A SavedModel made with TensorFlow (no upscaler.json): nearest x2 of the planes in
    the order G, B, A, R, so every output plane comes from another input plane."""

    class Rotate(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, None, None, 4], tf.float32, "input")])
        def serve(self, x: Any) -> dict[str, Any]:
            up = tf.repeat(tf.repeat(x, 2, axis=1), 2, axis=2)
            return {"output": tf.gather(up, [1, 2, 3, 0], axis=3)}

    module = Rotate()
    folder = tmp_path / "rotate"
    tf.saved_model.save(module, str(folder), signatures={"serving_default": module.serve})
    return folder


def test_a_local_rgba_savedmodel_runs_by_path(rotating: Path, tmp_path: Path) -> None:
    up = Upscaler(model=rotating, scale=2, cache_dir=tmp_path / "c")
    assert up.model.channels == 3  # nothing on disk says otherwise before loading...
    out = up.upscale(RGBA, progress=False)
    assert up.model.channels == 4 and up.describe().model.channels == 4  # ...the model does
    np.testing.assert_array_equal(out, nearest_x2(RGBA[:, :, [1, 2, 3, 0]]))
    assert applied(up) == [NATIVE]
    # RGB in: the opaque plane added for the model comes out as the colour's blue
    np.testing.assert_array_equal(up.upscale(RGB, progress=False)[:, :, 2], 255)


@pytest.mark.parametrize(
    ("channels", "message"),
    [
        (5, r"5 channels\).*4 for RGBA models"),  # the serving contract
        (1, r"must take RGB \(3 channels\) or RGBA \(4\)"),  # luma: catalog entries only
    ],
)
def test_other_channel_counts_by_path_are_refused(
    tmp_path: Path, tf: Any, channels: int, message: str
) -> None:
    class Up(tf.Module):
        @tf.function(
            input_signature=[tf.TensorSpec([None, None, None, channels], tf.float32, "input")]
        )
        def serve(self, x: Any) -> dict[str, Any]:
            return {"output": tf.repeat(tf.repeat(x, 2, axis=1), 2, axis=2)}

    module = Up()
    folder = tmp_path / "model"
    tf.saved_model.save(module, str(folder), signatures={"serving_default": module.serve})
    up = Upscaler(model=folder, scale=2, cache_dir=tmp_path / "c")
    with pytest.raises(ModelLoadError, match=message):
        up.upscale(RGBA, progress=False)


def test_our_shipped_rgba_model_upscales_colour_and_alpha(tmp_path: Path, tf: object) -> None:
    """Upscaler(channels=4, scale=2, strict=True) on the shipped catalog: our own native
    RGBA model, its weights in the package (nothing downloaded), colour and alpha out of
    one network. A soft matte over a smooth image comes back close to its bicubic upscale
    in both colour and alpha (a broken alpha head would be far off)."""
    up = Upscaler(channels=4, scale=2, strict=True, cache_dir=tmp_path / "c")
    assert up.model.id == "upscaler-compact.rgba-x2" and up.describe().exact
    yy, xx = np.mgrid[0:24, 0:32]
    colour = np.stack([xx * 7, yy * 9, (xx + yy) * 4], -1).clip(0, 255)
    matte = (xx * 8 + 1).clip(0, 255)[:, :, None]  # no pixel fully clear or opaque
    image = np.dstack([colour, matte]).astype(np.uint8)
    out = up.upscale(image, progress=False)
    assert out.shape == (48, 64, 4)
    assert applied(up) == [NATIVE]
    smooth = resize(image, (64, 48), sharp=False).astype(np.int16)
    inner = (slice(4, -4), slice(4, -4))
    assert np.abs(out[inner][..., 3].astype(np.int16) - smooth[inner][..., 3]).mean() < 4
    assert np.abs(out[inner][..., :3].astype(np.int16) - smooth[inner][..., :3]).mean() < 4
