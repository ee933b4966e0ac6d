"""The ncnn converter against the real ncnn runtime, on tiny generated models.

Each model is written as a ``.param`` text plus a ``.bin`` packed with numpy (float16-
tagged convolution weights, raw float32 biases and slopes, as the real files are), then
run through ``ncnn`` and through our translation on the same random input.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from ncnn_kit import NcnnModel, run_graph, run_ncnn

from upscaler.convert import Wrapper, convert_ncnn, ops
from upscaler.convert.ncnn import parse_ncnn, parse_param
from upscaler.convert.rewrites import fold_torch_depth_to_space, normalize_prelu_slopes
from upscaler.errors import ConversionError
from upscaler.runtime import load_savedmodel

ATOL = 1e-4


@pytest.fixture(scope="module")
def oracle() -> Any:
    return pytest.importorskip(
        "ncnn", reason="the ncnn runtime (pip install ncnn, in the dev extra) is the test oracle"
    )


def image(h: int = 12, w: int = 10, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).random((h, w, 3)).astype(np.float32)


def compare(param: Path, x: np.ndarray, tf: Any) -> np.ndarray:
    """Our graph's output, asserted equal to ncnn's within ATOL."""
    want = run_ncnn(param, x)
    got = run_graph(param, x, tf)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=0, atol=ATOL)
    return got


# ------------------------------------------------------------------ layers vs ncnn


@pytest.mark.parametrize(
    ("act", "params"),
    [
        (0, ()),
        (1, ()),
        (2, (0.1,)),
        (2, (0.0,)),
        (3, (-0.3, 0.4)),
        (4, ()),
        (5, ()),
        (6, (0.2, 0.5)),
    ],
)
def test_convolution_fused_activations(
    oracle: Any, tf: Any, tmp_path: Path, act: int, params: tuple[float, ...]
) -> None:
    m = NcnnModel()
    m.input()
    m.conv("c1", "in0", "a", 3, 6, 3, act=act, act_params=params)
    m.conv("c2", "a", "out0", 6, 3, 1, act=act, act_params=params, storage="fp32")
    compare(m.write(tmp_path), image(), tf)


def test_convolution_geometry(oracle: Any, tf: Any, tmp_path: Path) -> None:
    # Stride, dilation, asymmetric pads, a non-square kernel, no bias, valid and SAME.
    m = NcnnModel()
    m.input()
    m.conv("strided", "in0", "a", 3, 5, 3, pad=1, stride=2)
    m.conv("dilated", "a", "b", 5, 5, 3, dilation=2, pad=2, bias=False)
    m.conv("asym", "b", "c", 5, 4, 3, pad=(0, 2, 1, 0))
    m.conv("tall", "c", "d", 4, 4, (3, 1), pad=(1, 1, 0, 0))
    m.conv("valid", "d", "e", 4, 4, 3, pad=0)
    m.conv("same", "e", "out0", 4, 3, 3, pad=-233)
    compare(m.write(tmp_path), image(15, 13), tf)


def test_deconvolution_no_flip_and_crop(oracle: Any, tf: Any, tmp_path: Path) -> None:
    m = NcnnModel()
    m.input()
    m.conv(
        "up", "in0", "a", 3, 4, 4, kind="Deconvolution", stride=2, pad=1, act=2, act_params=(0.1,)
    )
    m.conv("up2", "a", "b", 4, 4, 3, kind="Deconvolution", stride=1, pad=(0, 1, 1, 0))
    m.conv(
        "up3", "b", "out0", 4, 3, (2, 3), kind="Deconvolution", stride=3, bias=False, storage="fp32"
    )
    compare(m.write(tmp_path), image(6, 5), tf)


@pytest.mark.parametrize("mode", [0, 1])
def test_pixel_shuffle_orders(oracle: Any, tf: Any, tmp_path: Path, mode: int) -> None:
    # The convolution feeds only the shuffle, so the torch order is folded into its filters.
    m = NcnnModel()
    m.input()
    m.conv("c", "in0", "a", 3, 12, 3)
    m.add("PixelShuffle", "ps", ["a"], ["out0"], {0: 2, 1: mode})
    compare(m.write(tmp_path), image(), tf)


def test_pixel_shuffle_fallback_when_the_conv_output_is_shared(
    oracle: Any, tf: Any, tmp_path: Path
) -> None:
    # "a" is read by the shuffle and by a pooling branch: it cannot be permuted, so the
    # torch order is computed with reshape/transpose instead.
    m = NcnnModel()
    m.input()
    m.conv("c", "in0", "a", 3, 12, 3)
    m.add("Split", "sp", ["a"], ["a1", "a2"])
    m.add("PixelShuffle", "ps", ["a1"], ["b"], {0: 2})
    m.add("Pooling", "gap", ["a2"], ["g"], {0: 1, 4: 1})
    m.add("Crop", "pick", ["g"], ["g3"], {9: [0], 10: [3], 11: [0]})
    m.add("BinaryOp", "add", ["b", "g3"], ["out0"], {0: 0})
    param = m.write(tmp_path)
    compare(param, image(), tf)
    graph, _ = parse_ncnn(param.read_text(), param.with_suffix(".bin").read_bytes(), "m")
    assert fold_torch_depth_to_space(graph)[1] == 0


def test_prelu_slopes_above_one_are_normalized(oracle: Any, tf: Any, tmp_path: Path) -> None:
    # conv -> PReLU (slopes above 1, negative, in between) -> conv -> PReLU -> conv: the
    # rewrite moves the steep channels' sign and scale into the neighbouring convolutions.
    m = NcnnModel()
    m.input()
    m.conv("c1", "in0", "a", 3, 6, 3)
    m.add("PReLU", "p1", ["a"], ["b"], {0: 6})
    m.raw(np.array([1.7, -0.4, 0.3, 2.5, 1.0, -1.2]))
    m.conv("c2", "b", "c", 6, 6, 3)
    m.add("PReLU", "p2", ["c"], ["d"], {0: 6})
    m.raw(np.array([0.2, 1.3, 1.1, -0.5, 3.0, 0.9]))
    m.conv("c3", "d", "out0", 6, 3, 3)
    param = m.write(tmp_path)
    compare(param, image(), tf)
    graph, _ = parse_ncnn(param.read_text(), param.with_suffix(".bin").read_bytes(), "m")
    normalized, count = normalize_prelu_slopes(graph)
    assert count == 2
    slopes = [n.op.slopes for n in normalized.nodes if isinstance(n.op, ops.PReLU)]
    assert all(float(s.max()) <= 1.0 for s in slopes)


def test_activation_layers_and_prelu(oracle: Any, tf: Any, tmp_path: Path) -> None:
    m = NcnnModel()
    m.input()
    m.conv("c", "in0", "a", 3, 6, 3)
    m.add("PReLU", "p1", ["a"], ["b"], {0: 6})
    m.raw(np.array([0.1, -0.2, 0.5, 1.5, 0.0, 0.25]))
    m.add("PReLU", "p2", ["b"], ["c"], {0: 1})
    m.raw(np.array([0.3]))
    m.add("ReLU", "leaky", ["c"], ["d"], {0: 0.2})
    m.add("Swish", "sw", ["d"], ["e"])
    m.add("Sigmoid", "sg", ["e"], ["f"])
    m.add("ReLU", "relu", ["f"], ["g"])
    m.conv("out", "g", "out0", 6, 3, 1)
    compare(m.write(tmp_path), image(), tf)


def test_binary_ops_scalars_and_broadcasts(oracle: Any, tf: Any, tmp_path: Path) -> None:
    # ncnn releases a blob after its consumer runs: a blob read twice needs a Split.
    m = NcnnModel()
    m.input()
    m.add("Split", "sp", ["in0"], ["x1", "x2", "x3"])
    m.add("MemoryData", "mean", [], ["mean"], {0: 1, 1: 1, 2: 3})
    m.raw(np.array([0.4, 0.5, 0.6]))
    m.add("Split", "sp_mean", ["mean"], ["mean1", "mean2"])
    m.add("MemoryData", "vec", [], ["vec"], {0: 3})
    m.raw(np.array([1.5, 0.75, 2.0]))
    m.add("MemoryData", "full", [], ["full"], {0: 10, 1: 12, 2: 1})
    m.raw(np.random.default_rng(2).random(120) + 0.5)
    chain = "x1"
    for index, (op, scalar) in enumerate(
        [(0, 0.3), (1, 0.2), (2, 1.7), (3, 1.3), (4, 0.1), (5, 0.9), (7, 2.0), (8, 3.0)]
    ):
        m.add("BinaryOp", f"s{index}", [chain], [f"s{index}"], {0: op, 1: 1, 2: scalar})
        chain = f"s{index}"
    m.add("BinaryOp", "sub_mean", ["x2", "mean1"], ["t0"], {0: 1})  # per-channel constant
    m.add("BinaryOp", "rdiv_vec", ["vec", "t0"], ["t1"], {0: 8})  # t0 / vec, vector first
    m.add("BinaryOp", "mul_full", ["full", "t1"], ["t2"], {0: 2})  # 1-channel image
    m.add("Split", "sp_t2", ["t2"], ["t2a", "t2b"])
    m.add("BinaryOp", "max", ["t2a", chain], ["t3"], {0: 4})
    m.add("BinaryOp", "min", ["t3", "x3"], ["t4"], {0: 5})
    m.add("BinaryOp", "rsub", ["t4", "t2b"], ["t5"], {0: 7})  # t2 - t4
    m.add("BinaryOp", "div", ["t5", "mean2"], ["out0"], {0: 3})
    compare(m.write(tmp_path), image(), tf)


def test_eltwise_concat_split(oracle: Any, tf: Any, tmp_path: Path) -> None:
    m = NcnnModel()
    m.input()
    m.conv("c", "in0", "a", 3, 4, 3, act=1)
    m.add("Split", "sp", ["a"], ["a1", "a2", "a3", "a4"])
    m.conv("d", "a1", "b", 4, 4, 3)
    m.add("Split", "sp_b", ["b"], ["b1", "b2"])
    m.add("Eltwise", "sum", ["a2", "b1"], ["s"], {0: 1, 1: [0.2, 1.0]})
    m.add("Split", "sp_s", ["s"], ["s1", "s2", "s3"])
    m.add("Eltwise", "plain", ["s1", "a3"], ["p"], {0: 1})
    m.add("Split", "sp_p", ["p"], ["p1", "p2"])
    m.add("Eltwise", "prod", ["p1", "a4", "b2"], ["q"], {0: 0})
    m.add("Eltwise", "max", ["q", "s2"], ["r"], {0: 2})
    m.add("Concat", "cat", ["r", "p2", "s3"], ["cat"], {0: 0})
    m.conv("fuse", "cat", "out0", 12, 3, 1)  # a pointwise conv of a concat: fused
    compare(m.write(tmp_path), image(), tf)


def test_crop_forms(oracle: Any, tf: Any, tmp_path: Path) -> None:
    m = NcnnModel()
    m.input()
    m.conv("c", "in0", "a", 3, 6, 3)
    m.add("Split", "sp", ["a"], ["a1", "a2"])
    m.conv("v", "a1", "small", 6, 6, 5, pad=0)  # 4 px smaller
    # Two-input crop to the reference's size at offsets (w=1, h=2), channels from it too.
    m.add("Crop", "ref", ["a2", "small"], ["r"], {0: 1, 1: 2})
    # starts/ends/axes: h from 1 to -1, w from 0 to 0 (= to the end), channels 1..5.
    m.add("Crop", "np", ["r"], ["n"], {9: [1, 0, 1], 10: [-1, 0, 5], 11: [1, -1, 0]})
    # Offsets form: 1 off the top and left, 1 off the bottom (hoffset2), width capped at 3.
    m.add("Crop", "off", ["n"], ["o"], {0: 1, 1: 1, 3: 3, 4: -233, 5: -233, 7: 1})
    # Large ends are clamped, -233 means "to the end".
    m.add("Crop", "clamp", ["o"], ["q"], {9: [0, -233], 10: [1000, -233], 11: [1, 0]})
    m.conv("out", "q", "out0", 4, 3, 1)
    got = compare(m.write(tmp_path), image(14, 12), tf)
    assert got.shape == (6, 3, 3)


def test_global_pool_inner_product_scale(oracle: Any, tf: Any, tmp_path: Path) -> None:
    # A squeeze-and-excitation block as in waifu2x cunet / Real-CUGAN.
    m = NcnnModel()
    m.input()
    m.conv("c", "in0", "a", 3, 8, 3)
    m.add("Split", "sp", ["a"], ["a1", "a2", "a3"])
    m.add("Pooling", "gap", ["a1"], ["g"], {0: 1, 4: 1})
    for name, src, dst, cin, cout, act in (("fc1", "g", "h", 8, 4, 1), ("fc2", "h", "s", 4, 8, 4)):
        m.add("InnerProduct", name, [src], [dst], {0: cout, 1: 1, 2: cin * cout, 9: act})
        m.fp16(m.rng.standard_normal((cout, cin)) * 0.5)
        m.raw(m.rng.standard_normal(cout) * 0.1)
    m.add("Split", "sp_s", ["s"], ["s1", "s2"])
    m.add("Scale", "se", ["a2", "s1"], ["b"], {0: -233})
    m.add("BinaryOp", "mul", ["a3", "s2"], ["c"], {0: 2})  # the BinaryOp form of the same
    m.add("BinaryOp", "add", ["b", "c"], ["d"], {0: 0})
    m.conv("out", "d", "out0", 8, 3, 3)
    compare(m.write(tmp_path), image(), tf)


def test_interp_nearest_and_bicubic(oracle: Any, tf: Any, tmp_path: Path) -> None:
    m = NcnnModel()
    m.input()
    m.add("Split", "sp", ["in0"], ["x1", "x2", "x3"])
    m.add("Interp", "near", ["x1"], ["n"], {0: 1, 1: 3.0, 2: 3.0})
    m.add("Interp", "cub_up", ["x2"], ["u"], {0: 3, 1: 3.0, 2: 3.0})
    m.conv("c", "x3", "a", 3, 48, 3)
    m.add("PixelShuffle", "ps", ["a"], ["b"], {0: 4})
    m.add("Interp", "cub_down", ["b"], ["d"], {0: 3, 1: 0.75, 2: 0.75})  # x4 -> x3
    m.add("BinaryOp", "a1", ["n", "u"], ["e"], {0: 0})
    m.add("BinaryOp", "a2", ["e", "d"], ["out0"], {0: 0})
    got = compare(m.write(tmp_path), image(9, 7), tf)
    assert got.shape == (27, 21, 3)


def test_interp_bicubic_output_size_and_half(oracle: Any, tf: Any, tmp_path: Path) -> None:
    m = NcnnModel()
    m.input()
    m.add("Interp", "half", ["in0"], ["h"], {0: 3, 1: 0.5, 2: 0.5})
    m.add("Interp", "fixed", ["h"], ["out0"], {0: 3, 3: 11, 4: 7})
    got = compare(m.write(tmp_path), image(16, 13), tf)
    assert got.shape == (11, 7, 3)


# ------------------------------------------------------------------ whole conversions


def srvgg_like(seed: int = 0) -> NcnnModel:
    """A small SRVGGNetCompact (Real-ESRGAN animevideov3): convs + PReLU, torch pixel
    shuffle, nearest residual, bicubic x0.5 at the end (the x2 variant)."""
    m = NcnnModel(seed)
    m.input()
    m.add("Split", "sp", ["in0"], ["x1", "x2"])
    m.conv("c0", "x1", "a", 3, 8, 3)
    m.add("PReLU", "p0", ["a"], ["b"], {0: 8})
    m.raw(np.linspace(-0.5, 1.5, 8))  # slopes above 1 are normalized away
    m.conv("c1", "b", "c", 8, 48, 3)
    m.add("PixelShuffle", "ps", ["c"], ["d"], {0: 4})
    m.add("Interp", "near", ["x2"], ["n"], {0: 1, 1: 4.0, 2: 4.0})
    m.add("BinaryOp", "add", ["d", "n"], ["e"], {0: 0})
    m.add("Interp", "down", ["e"], ["out0"], {0: 3, 1: 0.5, 2: 0.5})
    return m


def test_convert_ncnn_end_to_end(oracle: Any, tf: Any, tmp_path: Path) -> None:
    param = srvgg_like().write(tmp_path / "m", "realesr-x2")
    out = tmp_path / "out"
    report = convert_ncnn(param, out, value_range=(0, 1), scale=2)
    assert report.scale == 2 and report.channels == 3
    assert report.parameters == 3 * 8 * 9 + 8 + 8 + 8 * 48 * 9 + 48
    assert report.layer_counts == {
        "Input": 1,
        "Split": 1,
        "Convolution": 2,
        "PReLU": 1,
        "PixelShuffle": 1,
        "Interp": 2,
        "BinaryOp": 1,
    }
    meta = json.loads((out / "upscaler.json").read_text())
    assert meta["source_format"] == "ncnn"
    assert meta["folded_depth_to_space"] == 1
    assert meta["normalized_prelu"] == 1
    assert meta["wrapper"] == {"prepad": 0, "multiple": 1, "residual": "none", "pad_mode": "edge"}
    assert meta["source"]["bin_size"] == param.with_suffix(".bin").stat().st_size
    assert meta["value_range"] == [0.0, 1.0]
    x = image(13, 9)
    got = load_savedmodel(out).predict(x[None])[0]
    np.testing.assert_allclose(got, run_ncnn(param, x), rtol=0, atol=ATOL)


def test_files_mapping(oracle: Any, tf: Any, tmp_path: Path) -> None:
    param = srvgg_like().write(tmp_path / "pkg", "x2")
    store = tmp_path / "store"
    store.mkdir()
    (store / "aaa").write_bytes(param.read_bytes())
    (store / "bbb").write_bytes(param.with_suffix(".bin").read_bytes())
    files = {"models/x2.param": store / "aaa", "models/x2.bin": store / "bbb"}
    report = convert_ncnn("models/x2.param", tmp_path / "a", files=files)
    assert report.metadata["source"]["param"] == "models/x2.param"
    convert_ncnn(store / "aaa", tmp_path / "b", files=files)  # the real path works too
    del files["models/x2.bin"]
    with pytest.raises(ConversionError, match=r"models/x2\.bin"):
        convert_ncnn("models/x2.param", tmp_path / "c", files=files)


# ------------------------------------------------------------------ the wrapper


def shrinking(seed: int = 0) -> NcnnModel:
    """Valid convolutions eat 3 px per side, then a x2 shuffle: needs prepad 3."""
    m = NcnnModel(seed)
    m.input()
    m.conv("v1", "in0", "a", 3, 8, 3, pad=0, act=2, act_params=(0.1,))
    m.conv("v2", "a", "b", 8, 12, 5, pad=0)
    m.add("PixelShuffle", "ps", ["b"], ["out0"], {0: 2})
    return m


def test_wrapper_prepad(oracle: Any, tf: Any, tmp_path: Path) -> None:
    param = shrinking().write(tmp_path / "m")
    # Without the wrapper the output is smaller than 2x the input: not an upscale.
    with pytest.raises(ConversionError, match="not an integer upscale"):
        convert_ncnn(param, tmp_path / "bad")
    out = tmp_path / "out"
    report = convert_ncnn(param, out, wrapper=Wrapper(prepad=3))
    assert report.scale == 2
    assert report.metadata["wrapper"]["prepad"] == 3
    x = image(11, 8)
    want = run_ncnn(param, np.pad(x, ((3, 3), (3, 3), (0, 0)), mode="edge"))
    got = load_savedmodel(out).predict(x[None])[0]
    assert got.shape == (22, 16, 3)
    np.testing.assert_allclose(got, want, rtol=0, atol=ATOL)


def strided(seed: int = 0) -> NcnnModel:
    """A stride-2 convolution then a x4 shuffle: x2 only for even sizes (multiple 2)."""
    m = NcnnModel(seed)
    m.input()
    m.conv("s", "in0", "a", 3, 48, 3, pad=1, stride=2)
    m.add("PixelShuffle", "ps", ["a"], ["out0"], {0: 4})
    return m


@pytest.mark.parametrize(("h", "w"), [(11, 7), (10, 9), (12, 6)])
def test_wrapper_multiple_with_odd_sizes(
    oracle: Any, tf: Any, tmp_path: Path, h: int, w: int
) -> None:
    param = strided().write(tmp_path / "m")
    out = tmp_path / "out"
    report = convert_ncnn(param, out, wrapper=Wrapper(multiple=2))  # scale measured
    assert report.scale == 2
    x = image(h, w)
    padded = np.pad(x, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
    want = run_ncnn(param, padded)[: 2 * h, : 2 * w]
    got = load_savedmodel(out).predict(x[None])[0]
    assert got.shape == (2 * h, 2 * w, 3)
    np.testing.assert_allclose(got, want, rtol=0, atol=ATOL)


def eats_one_then_strided(seed: int) -> NcnnModel:
    """A valid convolution (eats 1 px per side), then a stride-2 one and a x4 shuffle:
    x2 with prepad 1 and even sizes (multiple 2)."""
    m = NcnnModel(seed)
    m.input()
    m.conv("v", "in0", "a", 3, 8, 3, pad=0)
    m.conv("s", "a", "b", 8, 48, 3, pad=1, stride=2)
    m.add("PixelShuffle", "ps", ["b"], ["out0"], {0: 4})
    return m


def test_wrapper_residual_and_all_together(oracle: Any, tf: Any, tmp_path: Path) -> None:
    param = strided().write(tmp_path / "m")
    out = tmp_path / "res"
    convert_ncnn(param, out, scale=2, wrapper=Wrapper(residual="nearest"))
    x = image(10, 8)
    want = run_ncnn(param, x) + x.repeat(2, 0).repeat(2, 1)
    np.testing.assert_allclose(load_savedmodel(out).predict(x[None])[0], want, atol=ATOL)

    param = eats_one_then_strided(3).write(tmp_path / "all")
    out = tmp_path / "all-out"
    wrapper = Wrapper(prepad=1, multiple=2, residual="nearest")
    report = convert_ncnn(param, out, scale=2, wrapper=wrapper)
    assert report.metadata["wrapper"] == {
        "prepad": 1,
        "multiple": 2,
        "residual": "nearest",
        "pad_mode": "edge",
    }
    x = image(9, 7)
    padded = np.pad(x, ((1, 2), (1, 2), (0, 0)), mode="edge")
    want = run_ncnn(param, padded)[:18, :14] + x.repeat(2, 0).repeat(2, 1)
    got = load_savedmodel(out).predict(x[None])[0]
    np.testing.assert_allclose(got, want, rtol=0, atol=ATOL)


def reflected_by_ncnn(x: np.ndarray, top: int, bottom: int, left: int, right: int) -> np.ndarray:
    """``x`` (HWC) extended by ncnn's own BORDER_REFLECT (type 2), the call Real-CUGAN's
    CPU wrapper makes; the Python binding's enum names only types 0 and 1."""
    import ncnn

    chw = np.ascontiguousarray(x.transpose(2, 0, 1))
    padded = ncnn.copy_make_border(ncnn.Mat(chw).clone(), top, bottom, left, right, 2, 0.0)
    return np.array(padded).transpose(1, 2, 0).copy()


@pytest.mark.parametrize(("h", "w"), [(11, 8), (10, 9)])
def test_wrapper_reflect_prepad_and_multiple(
    oracle: Any, tf: Any, tmp_path: Path, h: int, w: int
) -> None:
    # Real-CUGAN's wrappers mirror the image (without repeating its edge pixel) for both
    # the prepad and the rows and columns that round the size up to the multiple.
    param = eats_one_then_strided(5).write(tmp_path / "m")
    out = tmp_path / "out"
    wrapper = Wrapper(prepad=1, multiple=2, pad_mode="reflect")
    report = convert_ncnn(param, out, scale=2, wrapper=wrapper)
    assert report.metadata["wrapper"]["pad_mode"] == "reflect"
    x = image(h, w)
    padded = reflected_by_ncnn(x, 1, 1 + h % 2, 1, 1 + w % 2)
    np.testing.assert_array_equal(
        padded, np.pad(x, ((1, 1 + h % 2), (1, 1 + w % 2), (0, 0)), mode="reflect")
    )
    want = run_ncnn(param, padded)[: 2 * h, : 2 * w]
    got = load_savedmodel(out).predict(x[None])[0]
    assert got.shape == (2 * h, 2 * w, 3)
    np.testing.assert_allclose(got, want, rtol=0, atol=ATOL)
    edge = tmp_path / "edge"
    convert_ncnn(param, edge, scale=2, wrapper=Wrapper(prepad=1, multiple=2))
    assert not np.allclose(load_savedmodel(edge).predict(x[None])[0], want, atol=ATOL)


@pytest.mark.parametrize(("h", "w"), [(9, 7), (2, 3), (1, 4)])
def test_reflect_padding_wider_than_the_image_folds_like_numpy(tf: Any, h: int, w: int) -> None:
    from upscaler.convert.builder import build_module

    pad = ops.EdgePad(pads=(5, 4, 6, 3), multiple=4, mode="reflect")
    graph = ops.Graph("x", (ops.Node("pad", "Wrapper", pad, ("x",), "y"),), "y")
    x = image(h, w)
    got = np.asarray(build_module(tf, graph).serve(tf.constant(x[None]))["output"])[0]
    extra_h, extra_w = (-h) % 4, (-w) % 4
    want = np.pad(x, ((5, 4 + extra_h), (6, 3 + extra_w), (0, 0)), mode="reflect")
    np.testing.assert_array_equal(got, want)


def test_wrapper_scale_mismatch_and_validation(tf: Any, tmp_path: Path) -> None:
    param = strided().write(tmp_path / "m")
    with pytest.raises(ConversionError, match="upscales by 2, but scale=3"):
        convert_ncnn(param, tmp_path / "out", scale=3)
    for bad in ({"prepad": -1}, {"multiple": 0}, {"residual": "bicubic"}, {"pad_mode": "wrap"}):
        with pytest.raises(ConversionError, match="wrapper"):
            Wrapper(**bad)  # type: ignore[arg-type]


def test_tfjs_accepts_a_wrapper(tiny: Any, tmp_path: Path, tf: Any) -> None:
    from upscaler.convert import convert_tfjs_layers

    out = tmp_path / "out"
    convert_tfjs_layers(tiny.path, out, wrapper=Wrapper(residual="nearest"))
    x = image(9, 11)[None]
    want = tiny.reference(x) + x.repeat(2, 1).repeat(2, 2)
    np.testing.assert_allclose(load_savedmodel(out).predict(x), want, rtol=1e-4, atol=1e-4)


# ------------------------------------------------------------------ errors


def write(tmp_path: Path, body: list[str], weights: bytes = b"") -> Path:
    param = tmp_path / "bad.param"
    outputs = sum(int(line.split()[3]) for line in body)
    param.write_text(f"7767517\n{len(body)} {outputs}\n" + "\n".join(body) + "\n")
    param.with_suffix(".bin").write_bytes(weights)
    return param


def test_unsupported_layer_names_it(tmp_path: Path) -> None:
    param = write(tmp_path, ["Input in 0 1 in0", "BatchNorm bn1 1 1 in0 out0 0=3"], b"\0" * 48)
    with pytest.raises(ConversionError, match=r"'bn1' \(BatchNorm\).*'BatchNorm'") as info:
        convert_ncnn(param, tmp_path / "out")
    assert "Convolution" in str(info.value.hint)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("Interp up 1 1 in0 out0 0=2 1=2.0 2=2.0", r"'up' \(Interp\).*parameter 0=2"),
        ("Interp up 1 1 in0 out0 0=1 1=1.5 2=1.5", r"'up' \(Interp\).*1.5"),
        ("Interp up 1 1 in0 out0 0=1 1=2 2=2", r"'up' \(Interp\).*parameter 1=2 must be .*float"),
        ("Pooling p 1 1 in0 out0 0=0 4=1", r"'p' \(Pooling\).*parameter 0=0"),
        ("Pooling p 1 1 in0 out0 0=1 1=2", r"'p' \(Pooling\).*parameter 4=0"),
        ("BinaryOp b 1 1 in0 out0 0=6 1=1 2=2.0", r"'b' \(BinaryOp\).*parameter 0=6"),
        ("Eltwise e 2 1 in0 in0 out0 0=3", r"'e' \(Eltwise\).*parameter 0=3"),
        ("Swish s 1 1 in0 out0 7=1", r"'s' \(Swish\).*parameter 7=1"),
        ("Concat c 2 1 in0 in0 out0 0=1", r"'c' \(Concat\).*parameter 0=1"),
        ("Scale s 1 1 in0 out0 0=3", r"'s' \(Scale\).*parameter 0=3"),
        ("Crop c 1 1 in0 out0 -23309=1,0 -23310=1,2 19=x", r"'c' \(Crop\).*expression"),
    ],
)
def test_unsupported_parameters_name_layer_and_parameter(
    tmp_path: Path, line: str, message: str
) -> None:
    param = write(tmp_path, ["Input in 0 1 in0", line])
    with pytest.raises(ConversionError, match=message):
        convert_ncnn(param, tmp_path / "out")


def test_unsupported_fused_activation(tmp_path: Path) -> None:
    m = NcnnModel()
    m.input()
    m.conv("c", "in0", "out0", 3, 3, 3, act=7)
    with pytest.raises(ConversionError, match=r"'c' \(Convolution\).*parameter 9=7"):
        convert_ncnn(m.write(tmp_path), tmp_path / "out")


def test_bin_must_be_read_to_exactly_its_end(tmp_path: Path) -> None:
    param = strided().write(tmp_path)
    data = param.with_suffix(".bin").read_bytes()
    parse_ncnn(param.read_text(), data, "m")  # the exact file parses
    with pytest.raises(ConversionError, match=r"truncated.*'s' \(Convolution\)"):
        parse_ncnn(param.read_text(), data[:-6], "m")
    with pytest.raises(ConversionError, match="4 bytes after the last layer"):
        parse_ncnn(param.read_text(), data + b"\0" * 4, "m")
    bad_tag = (0x000D4B38).to_bytes(4, "little") + data[4:]
    with pytest.raises(ConversionError, match=r"'s' \(Convolution\).*0x000D4B38"):
        parse_ncnn(param.read_text(), bad_tag, "m")
    param.with_suffix(".bin").unlink()
    with pytest.raises(ConversionError, match="does not exist"):
        convert_ncnn(param, tmp_path / "out")


def test_param_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ConversionError, match="7767517"):
        parse_param("7767516\n0 0\n", "m")
    with pytest.raises(ConversionError, match="declares 2 layers"):
        parse_param("7767517\n2 1\nInput in 0 1 in0\n", "m")
    with pytest.raises(ConversionError, match="declares 2 values"):
        parse_param("7767517\n1 1\nInput in 0 1 in0 -23310=2,0.5\n", "m")
    layers = parse_param("7767517\n1 1\nInput in 0 1 in0 -23310=2,0.5,1.5 3=1,2,3\n", "m")
    assert layers[0].params == {10: (0.5, 1.5), 3: (1, 2, 3)}
    two_inputs = "7767517\n2 2\nInput a 0 1 in0\nInput b 0 1 in1\n"
    with pytest.raises(ConversionError, match="single-input"):
        parse_ncnn(two_inputs, b"", "m")
    gray = "7767517\n1 1\nInput a 0 1 in0 0=0 1=0 2=1\n"
    with pytest.raises(ConversionError, match="1 input channels"):
        parse_ncnn(gray, b"", "m")
    fork = "7767517\n2 3\nInput a 0 1 in0\nSplit s 1 2 in0 p q\n"
    with pytest.raises(ConversionError, match="2 unread blobs"):
        parse_ncnn(fork, b"", "m")
