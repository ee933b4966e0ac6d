"""TiledRunner: seams, dtypes, fixed shapes, memmap, progress, cancel, OOM retries, errors."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from upscaler.errors import Cancelled, ImageError, ModelLoadError, UpscalerError
from upscaler.runtime import load_savedmodel, upscale_rgb
from upscaler.runtime.savedmodel import LoadedModel
from upscaler.runtime.tiled import ENV_MEMMAP_THRESHOLD, TiledRunner

FIELD = 3  # the conv_sr fixture's receptive field with convs=3


@pytest.fixture(scope="module")
def model(conv_sr: Callable[..., Path]) -> LoadedModel:
    return load_savedmodel(conv_sr(convs=FIELD, scale=2))


def image(
    dtype: Any, height: int = 157, width: int = 93, seed: int = 1, channels: int = 3
) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if dtype == np.float32:
        return rng.uniform(0, 1, (height, width, channels)).astype(np.float32)
    white = np.iinfo(dtype).max
    return rng.integers(0, white + 1, (height, width, channels)).astype(dtype)


def runner(model: LoadedModel, **kwargs: Any) -> TiledRunner:
    options: dict[str, Any] = {
        "scale": 2,
        "value_range": (0, 1),
        "tile": 24,
        "context": FIELD + 1,
        "batch": 3,
        "device": "cpu",
        "border": "zero",  # UpscalerJS's exact behaviour, which these tests compare with
    }
    options.update(kwargs)
    return TiledRunner(model, **options)


def whole(model: LoadedModel, pixels: np.ndarray, value_range: Any = (0, 1)) -> np.ndarray:
    """A one-window run: the whole image in one model call."""
    return runner(model, tile=4096, value_range=value_range).run(pixels, progress=False)


@pytest.mark.parametrize("value_range", [(0, 1), (0, 255), (-1, 1)])
def test_one_tile_is_bit_identical_to_whole_image(model: LoadedModel, value_range: Any) -> None:
    pixels = image(np.uint8, 61, 47)
    tiled = runner(model, tile=64, value_range=value_range)
    out = tiled.run(pixels, progress=False)
    assert tiled.describe()["tiles"] == 1
    np.testing.assert_array_equal(out, upscale_rgb(model, pixels, value_range))


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_many_tiles_match_whole_image_within_one_lsb(model: LoadedModel, dtype: Any) -> None:
    pixels = image(dtype)
    tiled = runner(model)
    out = tiled.run(pixels, progress=False)
    assert tiled.describe()["tiles"] > 20  # 157x93 in 24-pixel cores: many seams
    assert out.dtype == dtype and out.shape == (314, 186, 3)
    reference = whole(model, pixels)
    if dtype == np.float32:
        np.testing.assert_allclose(out, reference, atol=1e-5)
        assert out.min() >= 0.0 and out.max() <= 1.0
    else:
        assert np.abs(out.astype(np.int64) - reference.astype(np.int64)).max() <= 1
    if dtype == np.uint8:
        diff = np.abs(out.astype(int) - upscale_rgb(model, pixels, (0, 1)).astype(int))
        assert diff.max() <= 1


def test_too_little_context_makes_seams(model: LoadedModel) -> None:
    """The seam test above can fail: without context the tile borders show."""
    pixels = image(np.uint8)
    out = runner(model, context=0).run(pixels, progress=False)
    assert np.abs(out.astype(int) - whole(model, pixels).astype(int)).max() > 1


def test_uint16_and_float_use_their_own_white(model: LoadedModel) -> None:
    base = image(np.uint8, 40, 30)
    as16 = base.astype(np.uint16) * 257  # same picture, white = 65535
    asfloat = base.astype(np.float32) / 255
    out8 = runner(model).run(base, progress=False).astype(np.float64) / 255
    out16 = runner(model).run(as16, progress=False).astype(np.float64) / 65535
    outf = runner(model).run(asfloat, progress=False).astype(np.float64)
    np.testing.assert_allclose(out16, outf, atol=1 / 65535)
    np.testing.assert_allclose(out8, outf, atol=1 / 255)


def test_tiles_have_one_shape_and_nothing_retraces(model: LoadedModel) -> None:
    traced: list[tuple[Any, ...]] = []
    windows: list[tuple[int, ...]] = []
    serving = model._function

    def spy(**kwargs: Any) -> Any:
        (batch,) = kwargs.values()
        traced.append(tuple(batch.shape.as_list()))  # runs only while tracing
        return serving(**kwargs)

    tiled = runner(dataclasses.replace(model, _function=spy), batch=4)
    function = tiled._function()

    def recording(batch: Any) -> Any:
        windows.append(tuple(batch.shape))
        return function(batch)

    tiled._call = recording
    tiled.run(image(np.uint8, 157, 93), progress=False)  # 28 tiles: the last batch is short
    assert {w[1:] for w in windows} == {(32, 32, 3)}
    assert [w[0] for w in windows] == [4] * 7
    tiled.run(image(np.uint8, 120, 200, seed=2), progress=False)  # another size
    tiled.run(image(np.uint8, 30, 20), progress=False)  # one window of its own size
    assert windows[-1] == (1, 30, 20, 3)
    assert tiled.trace_count == 1
    assert traced == [(None, None, None, 3)]


def test_large_outputs_go_to_a_memmap(model: LoadedModel, monkeypatch: pytest.MonkeyPatch) -> None:
    pixels = image(np.uint8, 70, 50)
    in_memory = runner(model).run(pixels, progress=False)
    assert not isinstance(in_memory, np.memmap)
    mapped_runner = runner(model, memmap_threshold=1000)
    assert mapped_runner.uses_memmap(70, 50) and mapped_runner.describe((70, 50))["memmap"]
    mapped = mapped_runner.run(pixels, progress=False)
    assert isinstance(mapped, np.memmap)
    np.testing.assert_array_equal(mapped, in_memory)
    monkeypatch.setenv(ENV_MEMMAP_THRESHOLD, "0")
    assert isinstance(runner(model).run(pixels, progress=False), np.memmap)
    monkeypatch.setenv(ENV_MEMMAP_THRESHOLD, str(10**9))
    assert not isinstance(runner(model).run(pixels, progress=False), np.memmap)


def test_progress_callback_counts_tiles(model: LoadedModel) -> None:
    calls: list[tuple[int, int]] = []
    tiled = runner(model, batch=3)
    tiled.run(image(np.uint8, 100, 60), progress=False, callback=lambda d, t: calls.append((d, t)))
    total = tiled.describe()["tiles"]
    assert calls[-1] == (total, total)
    assert [d for d, _ in calls] == [min(3 * i, total) for i in range(1, len(calls) + 1)]


def test_progress_bar_goes_to_stderr(
    model: LoadedModel, capsys: pytest.CaptureFixture[str]
) -> None:
    runner(model).run(image(np.uint8, 60, 60), progress=True)
    captured = capsys.readouterr()
    assert captured.out == ""


def test_cancel_between_batches(model: LoadedModel) -> None:
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled, match="after 0 of"):
        runner(model).run(image(np.uint8), progress=False, cancel=cancel)

    cancel = threading.Event()
    calls: list[int] = []

    def stop_after_two(done: int, total: int) -> None:
        calls.append(done)
        if len(calls) == 2:
            cancel.set()

    with pytest.raises(Cancelled, match="after 6 of") as info:
        runner(model, batch=3).run(
            image(np.uint8), progress=False, callback=stop_after_two, cancel=cancel
        )
    assert calls == [3, 6]
    assert isinstance(info.value, UpscalerError)


def _oom(tf: Any) -> Exception:
    return tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor")


def small_device(tiled: TiledRunner, tf: Any, fits: Callable[[Any], bool]) -> list[Any]:
    """Replace the runner's compiled function with a fake device that runs out of memory
    for batches ``fits`` refuses; returns the list of batch shapes it was given."""
    function = tiled._function()
    shapes: list[Any] = []

    def device(batch: Any) -> Any:
        shapes.append(tuple(batch.shape))
        if not fits(batch.shape):
            raise _oom(tf)
        return function(batch)

    tiled._call = device
    return shapes


def test_out_of_memory_halves_the_tile(model: LoadedModel, tf: Any) -> None:
    pixels = image(np.uint8, 150, 150)
    tiled = runner(model, tile=128, batch=1)
    shapes = small_device(tiled, tf, lambda shape: shape[1] <= 40)
    out = tiled.run(pixels, progress=False)
    assert tiled.tile == 32  # 128 -> 64 -> 32: balanced windows of 80, 56, then 40 pixels
    assert [s[1] for s in shapes][:3] == [80, 56, 40]
    np.testing.assert_array_equal(out, runner(model, tile=32, batch=1).run(pixels, progress=False))


def test_out_of_memory_halves_the_batch_first(model: LoadedModel, tf: Any) -> None:
    pixels = image(np.uint8, 80, 80)
    tiled = runner(model, batch=4)
    small_device(tiled, tf, lambda shape: shape[0] == 1)
    out = tiled.run(pixels, progress=False)
    assert tiled.batch == 1 and tiled.tile == 24
    np.testing.assert_array_equal(out, runner(model).run(pixels, progress=False))


def test_out_of_memory_shrinks_the_memory_budget(model: LoadedModel, tf: Any) -> None:
    pixels = image(np.uint8, 150, 150)
    tiled = runner(model, tile=None, memory_budget=1 << 30)
    assert tiled.bytes_per_pixel and tiled.plan(150, 150).single
    small_device(tiled, tf, lambda shape: shape[1] * shape[2] <= 5000)
    out = tiled.run(pixels, progress=False)
    window = tiled.describe()["window"]
    assert window[0] * window[1] <= 5000 and tiled.memory_budget < 1 << 30
    assert np.abs(out.astype(int) - whole(model, pixels).astype(int)).max() <= 1


def test_out_of_memory_at_the_floor_is_a_clear_error(model: LoadedModel, tf: Any) -> None:
    tiled = runner(model, tile=64, batch=2)
    small_device(tiled, tf, lambda shape: False)
    with pytest.raises(ModelLoadError, match="ran out of memory") as info:
        tiled.run(image(np.uint8, 100, 100), progress=False)
    assert not isinstance(info.value, tf.errors.OpError)
    assert info.value.__cause__ is None


def test_windows_follow_the_memory_budget(model: LoadedModel) -> None:
    """tile=None: windows sized by the measured bytes per pixel and the budget."""
    tiled = runner(model, tile=None, memory_budget=1 << 30)
    per_pixel = tiled.bytes_per_pixel
    assert per_pixel is not None and per_pixel > 0
    assert tiled.plan(157, 93).single
    budget = int(per_pixel * 40 * 40)
    small = runner(model, tile=None, memory_budget=budget)
    plan = small.plan(157, 93)
    assert plan.count > 4 and plan.window[0] * plan.window[1] <= 40 * 40
    pixels = image(np.uint8)
    out = small.run(pixels, progress=False)
    assert np.abs(out.astype(int) - whole(model, pixels).astype(int)).max() <= 1
    facts = small.describe()
    assert facts["tile"] == "auto (memory budget)" and facts["bytes_per_pixel"] > 0


def test_tensorflow_failures_become_our_errors(model: LoadedModel, tf: Any) -> None:
    def broken(**kwargs: Any) -> Any:
        raise tf.errors.InternalError(None, None, "kernel exploded")

    with pytest.raises(ModelLoadError, match="kernel exploded"):
        runner(dataclasses.replace(model, _function=broken)).run(
            image(np.uint8, 30, 30), progress=False
        )


@pytest.mark.parametrize(
    "pixels",
    [
        np.zeros((10, 10, 3), np.float64),
        np.zeros((10, 10, 3), np.int32),
        np.zeros((10, 10), np.uint8),
        np.zeros((10, 10, 4), np.uint8),
        np.zeros((0, 10, 3), np.uint8),
        np.full((10, 10, 3), np.nan, np.float32),
        [[[0, 0, 0]]],
    ],
    ids=["float64", "int32", "2d", "rgba", "empty", "nan", "list"],
)
def test_bad_images_are_image_errors(model: LoadedModel, pixels: Any) -> None:
    with pytest.raises(ImageError):
        runner(model).run(pixels, progress=False)


def test_wrong_scale_is_named(model: LoadedModel) -> None:
    with pytest.raises(ModelLoadError, match="scale=3"):
        runner(model, scale=3).run(image(np.uint8, 30, 30), progress=False)


def test_nan_output_is_an_image_error(save_fn: Callable[..., Path], tf: Any) -> None:
    def fn(x: Any) -> dict[str, Any]:
        up = tf.repeat(tf.repeat(x, 2, axis=1), 2, axis=2)
        return {"output": up * np.float32(np.nan)}

    nan_model = load_savedmodel(save_fn("nan", fn))
    with pytest.raises(ImageError, match="NaN"):
        runner(nan_model).run(image(np.uint8, 30, 30), progress=False)


def test_describe_reports_the_plan(model: LoadedModel) -> None:
    tiled = runner(model, tile=24, context=4, batch=3)
    before = tiled.describe()
    assert before["tiles"] is None and before["precision"] == "float32"
    assert before["device"] == "/device:CPU:0"
    assert {"intra_op", "inter_op"} <= set(before["threads"])
    facts = tiled.describe((157, 93))
    assert facts["tiles"] == len(list(tiled.plan(157, 93).tiles()))
    assert facts["window"] == [32, 32] and facts["memmap"] is False
    tiled.run(image(np.uint8, 40, 40), progress=False)
    assert tiled.describe()["tiles"] == 4


def test_defaults_come_from_the_device_kind(model: LoadedModel) -> None:
    from upscaler.runtime.tiled import DEFAULT_CONTEXT, DEFAULTS

    tiled = TiledRunner(model, scale=2, value_range=(0, 1), device="cpu")
    assert tiled.tile is None and tiled.batch == DEFAULTS["cpu"].batch
    assert tiled.memory_budget == DEFAULTS["cpu"].memory_budget
    assert tiled.context == DEFAULT_CONTEXT
    facts = tiled.describe()
    assert facts["context_source"] == "default" and facts["tile"] == "auto (memory budget)"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"tile": 0},
        {"batch": -1},
        {"context": -2},
        {"scale": 0},
        {"value_range": (1, 0)},
        {"memory_budget": 0},
    ],
)
def test_bad_settings(model: LoadedModel, kwargs: dict[str, Any]) -> None:
    with pytest.raises((ValueError, ModelLoadError)):
        runner(model, **kwargs)


@pytest.mark.real_model
def test_real_model_tiles_match_whole_image() -> None:
    from upscaler.catalog import default_catalog
    from upscaler.prepare.materialize import prepare_savedmodel

    entry = default_catalog().get("esrgan-slim.x2")
    assert entry.tiling is not None
    folder, _ = prepare_savedmodel(entry, progress=False)
    real = load_savedmodel(folder)
    pixels = image(np.uint8, 131, 97)
    tiled = TiledRunner(
        real,
        scale=entry.scale,
        value_range=entry.value_range,
        tile=40,
        context=entry.tiling.context,
        device="cpu",
        border="zero",
    )
    out = tiled.run(pixels, progress=False)
    assert tiled.describe()["tiles"] > 4
    reference = upscale_rgb(real, pixels, entry.value_range)
    diff = np.abs(out.astype(int) - reference.astype(int))
    assert diff.max() <= 1
    assert (diff > 0).mean() < 0.001


def test_window_outputs_reach_the_output_without_float_copies(model: LoadedModel) -> None:
    """Host memory of a run is the output, the float input window and one bounded strip.

    The model's float32 output window lives in TensorFlow's allocator (counted by the
    memory budget); copying it into numpy and then clipping a float copy of it tripled
    that outside the budget (issue 14, item 13). tracemalloc sees numpy's allocations
    but not TensorFlow's, so its peak is exactly what the runner adds on the host.
    """
    import tracemalloc

    from upscaler.runtime.tiled import STRIP_BYTES

    pixels = image(np.uint8, 256, 256)
    tiled = runner(model, tile=4096, batch=1)
    tiled.run(pixels, progress=False)  # trace and warm up outside the measurement
    tracemalloc.start()
    try:
        out = tiled.run(pixels, progress=False)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    height, width = tiled.describe()["window"]
    float_window = height * width * 3 * 4  # the model's output window is 4x this
    assert peak <= out.nbytes + float_window + STRIP_BYTES + (256 << 10), peak


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_replicated_border_tiles_match_one_window(model: LoadedModel, dtype: Any) -> None:
    """The default border: many tiles over the extended image equal one window of it."""
    pixels = image(dtype)
    tiled = runner(model, border="replicate")
    out = tiled.run(pixels, progress=False)
    facts = tiled.describe()
    assert facts["tiles"] > 20 and facts["border_pad"] == FIELD + 1
    reference = runner(model, border="replicate", tile=4096).run(pixels, progress=False)
    assert out.shape == reference.shape == (314, 186, 3)
    if dtype == np.float32:
        np.testing.assert_allclose(out, reference, atol=1e-5)
    else:
        assert np.abs(out.astype(int) - reference.astype(int)).max() <= 1
    zero = runner(model, tile=4096).run(pixels, progress=False)
    interior = (slice(2 * (FIELD + 1), -2 * (FIELD + 1)),) * 2
    np.testing.assert_allclose(out[interior], zero[interior], atol=1e-5 if dtype != np.uint8 else 1)
    assert not np.allclose(out[:2], zero[:2], atol=1e-3 if dtype != np.uint8 else 1)


@pytest.fixture(scope="module")
def rgba_model(conv_sr: Callable[..., Path]) -> LoadedModel:
    return load_savedmodel(conv_sr(convs=FIELD, scale=2, channels=4))


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
@pytest.mark.parametrize("border", ["zero", "replicate"])
def test_rgba_tiles_match_whole_image(rgba_model: LoadedModel, dtype: Any, border: str) -> None:
    """A 4-channel model tiles exactly like an RGB one: every plane, every seam."""
    pixels = image(dtype, channels=4)
    tiled = runner(rgba_model, border=border)
    out = tiled.run(pixels, progress=False)
    assert tiled.channels == 4 and tiled.describe()["tiles"] > 20
    assert out.dtype == dtype and out.shape == (314, 186, 4)
    reference = runner(rgba_model, border=border, tile=4096).run(pixels, progress=False)
    if dtype == np.float32:
        np.testing.assert_allclose(out, reference, atol=1e-5)
    else:
        assert np.abs(out.astype(np.int64) - reference.astype(np.int64)).max() <= 1


def test_rgba_output_is_the_models_own(rgba_model: LoadedModel) -> None:
    """All four planes of the result are the model's four outputs (the alpha plane too),
    not a copy of the input's alpha."""
    pixels = image(np.uint8, 40, 30, channels=4)
    out = runner(rgba_model).run(pixels, progress=False)
    direct = rgba_model.predict(pixels[np.newaxis].astype(np.float32) / 255)[0]
    expected = np.clip(np.rint(np.clip(direct, 0, 1) * 255), 0, 255)
    assert np.abs(out.astype(int) - expected).max() <= 1
    nearest_alpha = np.repeat(np.repeat(pixels[:, :, 3], 2, axis=0), 2, axis=1)
    assert np.abs(out[:, :, 3].astype(int) - nearest_alpha).mean() > 1


def test_rgba_runner_traces_four_channel_tiles(rgba_model: LoadedModel) -> None:
    tiled = runner(rgba_model)
    assert tiled._function().input_signature[0].shape.as_list() == [None, None, None, 4]
    with pytest.raises(ImageError, match=r"expected an HxWx4 RGBA image, got shape \[30, 30, 3\]"):
        tiled.run(image(np.uint8, 30, 30), progress=False)


def test_a_model_that_drops_channels_at_run_time_is_named(
    save_fn: Callable[..., Path], tf: Any
) -> None:
    """Output channels the signature leaves free are checked on the first batch."""

    def fn(x: Any) -> dict[str, Any]:
        up = tf.repeat(tf.repeat(x, 2, axis=1), 2, axis=2)
        kept = 3 + tf.cast(tf.reduce_min(x) > 2.0, tf.int32)  # 3, but only known at run time
        return {"output": up[..., :kept]}

    dropping = load_savedmodel(save_fn("drop", fn, [([None, None, None, 4], "float32", "input")]))
    assert dropping.output_shape[-1] is None
    with pytest.raises(ModelLoadError, match="turned 4-channel tiles into 3-channel ones"):
        runner(dropping).run(image(np.uint8, 20, 20, channels=4), progress=False)
