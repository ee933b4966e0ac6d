"""Models that pool globally, end to end: a tiny squeeze-and-excitation U-Net as ncnn
files, converted (its extra signatures checked against the ncnn runtime), then tiled by
the real runner and compared with a whole-image run.

The network is waifu2x cunet / Real-CUGAN in miniature: valid convolutions eaten by an
edge pre-padding wrapper, a stride-2 downsampling and a transposed-convolution upsampling
with a cropped skip connection, and two sequential SE blocks (global average pool, two
dense layers, sigmoid, channel scale), the second reading what the first scaled. Its
image has a dark and a bright half, so a tile's own average is far from the image's.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from ncnn_kit import NcnnModel, run_ncnn

from upscaler import Upscaler
from upscaler.convert import Wrapper, convert_ncnn
from upscaler.errors import Cancelled, ModelLoadError
from upscaler.runtime import load_savedmodel
from upscaler.runtime.savedmodel import (
    POOL_STATS_KEY,
    POOLED_SERVE_KEY,
    LoadedModel,
    pool_partial_key,
)
from upscaler.runtime.tiled import TiledRunner

PREPAD = 4
"""What the network's valid convolutions and crops eat per side (see :func:`se_unet`)."""

WRAPPER = Wrapper(prepad=PREPAD, multiple=2)
CONTEXT = 12
"""At least the network's receptive field (8 input pixels) and its pooled maps' reach."""


def se_unet(seed: int = 0) -> NcnnModel:
    """The tiny SE U-Net: x2, needs ``PREPAD`` edge pixels per side and even sizes."""
    m = NcnnModel(seed)
    m.input()
    m.conv("c1", "in0", "a", 3, 8, 3, pad=0, act=2, act_params=(0.1,))
    m.add("Split", "sp1", ["a"], ["a1", "a2"])
    m.conv("down", "a1", "d", 8, 8, 2, pad=0, stride=2, act=2, act_params=(0.1,))
    m.conv("c2", "d", "e", 8, 8, 3, pad=0, act=2, act_params=(0.1,))
    se_block(m, "se1", "e", "f", 8)
    m.conv("up", "f", "u", 8, 8, 2, kind="Deconvolution", stride=2, act=2, act_params=(0.1,))
    m.add("Split", "sp2", ["u"], ["u1", "u2"])  # ncnn reads a blob once
    m.add("Crop", "skip", ["a2", "u1"], ["a2c"], {0: 2, 1: 2})
    m.add("Eltwise", "sum", ["a2c", "u2"], ["g"], {0: 1})
    m.conv("c3", "g", "n", 8, 8, 3, pad=0, act=2, act_params=(0.1,))
    se_block(m, "se2", "n", "o", 8)
    m.conv("out", "o", "out0", 8, 3, 4, kind="Deconvolution", stride=2, pad=1)
    return m


def se_block(m: NcnnModel, name: str, src: str, dst: str, channels: int) -> None:
    """Global average pool → dense (ReLU) → dense (sigmoid) → channel scale; the pooled
    blob is ``<name>_gap``. Large dense weights make the scale sensitive to the mean."""
    m.add("Split", f"{name}_split", [src], [f"{name}_x1", f"{name}_x2"])
    m.add("Pooling", f"{name}_pool", [f"{name}_x1"], [f"{name}_gap"], {0: 1, 4: 1})
    hidden = channels // 2
    for layer, source, out, cin, cout, act in (
        ("fc1", f"{name}_gap", f"{name}_h", channels, hidden, 1),
        ("fc2", f"{name}_h", f"{name}_s", hidden, channels, 4),
    ):
        m.add(
            "InnerProduct",
            f"{name}_{layer}",
            [source],
            [out],
            {0: cout, 1: 1, 2: cin * cout, 9: act},
        )
        m.fp16(m.rng.standard_normal((cout, cin)) * 3.0)
        m.raw(m.rng.standard_normal(cout) * 0.1)
    m.add("Scale", f"{name}_scale", [f"{name}_x2", f"{name}_s"], [dst], {0: -233})


def halves(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A uint8 image with a dark left and a bright, textured right half."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.where(x < width / 2, 40.0, 200.0)[..., None]
    texture = 30 * np.sin(x / 3.0 + y / 5.0)[..., None] * np.array([1.0, 0.6, -0.8])
    image = base + texture + rng.normal(0, 10, (height, width, 3))
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def param(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return se_unet().write(tmp_path_factory.mktemp("se-unet"))


@pytest.fixture(scope="module")
def model(param: Path, tmp_path_factory: pytest.TempPathFactory) -> LoadedModel:
    out = tmp_path_factory.mktemp("se-unet-sm") / "model"
    convert_ncnn(param, out, value_range=(0.0, 1.0), scale=2, wrapper=WRAPPER)
    return load_savedmodel(out)


def runner(model: LoadedModel, **options: Any) -> TiledRunner:
    settings: dict[str, Any] = {
        "scale": 2,
        "value_range": (0, 1),
        "context": CONTEXT,
        "device": "cpu",
        "tile": 16,
    }
    settings.update(options)
    return TiledRunner(model, **settings)


def whole(model: LoadedModel, pixels: np.ndarray, border: str = "replicate") -> np.ndarray:
    one = runner(model, tile=4096, border=border)
    out = one.run(pixels, progress=False)
    assert one.describe(pixels.shape)["tiles"] == 1
    return out


def grey_levels(a: np.ndarray, b: np.ndarray) -> int:
    assert a.shape == b.shape
    return int(np.abs(a.astype(np.int16) - b.astype(np.int16)).max())


# ------------------------------------------------------------------ the converter


def test_converted_network_and_its_pooled_vectors_match_ncnn(
    param: Path, model: LoadedModel, tf: Any
) -> None:
    pytest.importorskip("ncnn", reason="the ncnn runtime is the oracle")
    x = np.random.default_rng(3).random((20, 18, 3)).astype(np.float32)
    padded = np.pad(x, ((PREPAD, PREPAD), (PREPAD, PREPAD), (0, 0)), mode="edge")
    got = model.predict(x[None])[0]
    np.testing.assert_allclose(got, run_ncnn(param, padded), rtol=0, atol=1e-4)

    stats = model._pool_stats(input=tf.constant(x[None]))
    for index, blob in enumerate(("se1_gap", "se2_gap")):
        want = run_ncnn(param, padded, out=blob).ravel()
        np.testing.assert_allclose(stats[f"pool_{index}"].numpy().ravel(), want, atol=1e-4)

    # Run with other vectors, the network changes: the given vectors really replace the pools.
    vectors = [np.zeros((1, 1, 1, 8), np.float32)] * 2
    given = model._pooled(input=tf.constant(x[None]), pool_0=vectors[0], pool_1=vectors[1])
    assert np.abs(given["output"].numpy()[0] - got).max() > 1e-2


def test_metadata_records_alignment_signatures_and_grids(model: LoadedModel) -> None:
    meta = model.metadata
    assert meta["shift_period"] == 2  # one stride-2 convolution
    assert meta["tile_alignment"] == 2
    assert model.tile_alignment == 2
    pool = meta["global_pool"]
    assert pool["layers"] == ["se1_pool", "se2_pool"]
    assert pool["channels"] == [8, 8]
    assert pool["stats_signature"] == POOL_STATS_KEY
    assert pool["pooled_signature"] == POOLED_SERVE_KEY
    assert pool["partial_signatures"] == [pool_partial_key(0), pool_partial_key(1)]
    # se1 pools the stride-2 map, se2 a full-resolution one; both shifted by the prepad.
    assert [grid[0]["step"] for grid in pool["grids"]] == ["2", "1"]
    assert model.global_pool and model.pool_count == 2 and model.pool_grids is not None


def test_missing_global_pool_signatures_are_a_load_error(
    model: LoadedModel, tmp_path: Path
) -> None:
    folder = tmp_path / "plain"
    m = NcnnModel()
    m.input()
    m.conv("c", "in0", "a", 3, 12, 3)
    m.add("PixelShuffle", "ps", ["a"], ["out0"], {0: 2})
    convert_ncnn(m.write(tmp_path / "src"), folder)
    assert not load_savedmodel(folder).global_pool
    meta = json.loads((folder / "upscaler.json").read_text("utf-8"))
    meta["global_pool"] = model.metadata["global_pool"]
    (folder / "upscaler.json").write_text(json.dumps(meta), "utf-8")
    with pytest.raises(ModelLoadError, match="pools globally but lacks"):
        load_savedmodel(folder)


# ------------------------------------------------------------------ the runner


@pytest.mark.parametrize(
    ("pool_stats", "border", "source"),
    [
        ("auto", "replicate", "statistics from the whole image"),
        ("auto", "zero", "statistics from the whole image"),
        ("tiles", "replicate", "statistics from the whole image, summed over its tiles (2 passes)"),
        ("tiles", "zero", "statistics from the whole image, summed over its tiles (2 passes)"),
    ],
)
def test_tiles_with_whole_image_statistics_equal_a_whole_image_run(
    model: LoadedModel, pool_stats: str, border: str, source: str
) -> None:
    pixels = halves(58, 86)
    expected = whole(model, pixels, border)
    tiled = runner(model, pool_stats=pool_stats, border=border, batch=2)
    calls: list[tuple[int, int]] = []
    got = tiled.run(
        pixels, progress=False, callback=lambda done, total: calls.append((done, total))
    )
    info = tiled.describe(pixels.shape)
    assert info["tiles"] >= 9
    assert info["global_pool"] == source
    assert grey_levels(got, expected) <= 1
    # Summing over the tiles is a (partial) pass per pooling layer, and progress says so.
    passes = 3 if pool_stats == "tiles" else 1
    assert calls[-1] == (info["tiles"] * passes, info["tiles"] * passes)


def test_statistics_too_large_for_one_call_are_summed_over_tiles(model: LoadedModel) -> None:
    pixels = halves(58, 86)
    tiled = runner(model, stats_budget=1)  # no whole-image call fits
    got = tiled.run(pixels, progress=False)
    assert tiled.describe(pixels.shape)["global_pool"].endswith("summed over its tiles (2 passes)")
    assert grey_levels(got, whole(model, pixels)) <= 1


def test_naive_tiles_pool_over_themselves_and_differ(model: LoadedModel) -> None:
    # What the statistics are for: each tile averaging over itself gives other pixels.
    pixels = halves(58, 86)
    naive = runner(model, global_pool=False)
    got = naive.run(pixels, progress=False)
    assert naive.describe(pixels.shape)["global_pool"].startswith("per tile")
    assert grey_levels(got, whole(model, pixels)) > 3


def test_misaligned_windows_differ_even_with_exact_statistics(model: LoadedModel) -> None:
    # A stride-2 network is not shift-invariant: windows must start on even pixels.
    pixels = halves(59, 87)  # odd sizes: unaligned windows would start on odd pixels
    expected = whole(model, pixels)
    aligned = runner(model)
    plan = aligned.plan(*pixels.shape[:2])
    assert all(start % 2 == 0 for start in plan.rows.starts + plan.cols.starts)
    assert grey_levels(aligned.run(pixels, progress=False), expected) <= 1

    shifted = runner(model, alignment=1)
    plan = shifted.plan(*pixels.shape[:2])
    assert any(start % 2 for start in plan.rows.starts + plan.cols.starts)
    assert grey_levels(shifted.run(pixels, progress=False), expected) > 3


def test_downscaled_statistics_are_reported(model: LoadedModel) -> None:
    pixels = halves(58, 86)
    budget = int(model_bytes(model) * 40 * 50)  # room for a 40x50-pixel statistics call
    tiled = runner(model, pool_stats="downscale", stats_budget=budget)
    got = tiled.run(pixels, progress=False)
    source = tiled.describe(pixels.shape)["global_pool"]
    assert source.startswith("statistics from a 0.") and "downscale" in source
    assert got.shape == (116, 172, 3)


def model_bytes(model: LoadedModel) -> float:
    per_pixel = runner(model).bytes_per_pixel
    assert per_pixel
    return per_pixel


def test_cancelling_while_summing_statistics_stops_the_run(model: LoadedModel) -> None:
    cancel = threading.Event()
    tiled = runner(model, pool_stats="tiles")
    with pytest.raises(Cancelled, match="after 1 of"):
        tiled.run(halves(58, 86), progress=False, callback=lambda *_: cancel.set(), cancel=cancel)


def test_one_window_pools_by_itself(model: LoadedModel) -> None:
    pixels = halves(30, 34)
    one = runner(model, tile=4096)
    np.testing.assert_array_equal(one.run(pixels, progress=False), whole(model, pixels))
    assert one.describe(pixels.shape)["global_pool"] == "pooled over the whole image (one window)"


def test_facade_describe_says_where_the_statistics_came_from(model: LoadedModel) -> None:
    up = Upscaler(model=str(model.path), device="cpu")
    pixels = halves(58, 86)
    got = up.upscale(pixels, progress=False, patch_size=16, padding=CONTEXT)
    runtime = up.describe().runtime
    assert runtime.global_pool == "statistics from the whole image"
    assert "global pool  statistics from the whole image" in str(up.describe())
    assert runtime.tiling is not None and runtime.tiling["alignment"] == 2
    assert grey_levels(got, whole(model, pixels)) <= 1
