"""ONNX export (:mod:`upscaler.convert.onnx_export`) against onnxruntime.

The oracle is our TensorFlow builder on the same ops (or the format's own runtime, or a
numpy reference): each op is run through both builders on the same input and the
onnxruntime output must match within 1e-4 on [0, 1] floats. The file-level cases export
real parsed files (TF.js, ncnn, npz) and the real catalog models (``real_model``) and
compare with the library's own upscale within 1 grey level.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, get_args

import numpy as np
import pytest
from tiny_models import nearest_x2, write_small_rdn_catalog, write_tfjs_upsampler

from upscaler.convert import ops
from upscaler.convert.parsed import ParsedModel, Wrapper
from upscaler.errors import ConversionError, DependencyError, NoMatchingModel, QueryError

ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")

from upscaler.convert.onnx_export import (  # noqa: E402 - after the importorskip
    INPUT_NAME,
    OPSET,
    _wrapped,
    onnx_model,
    write_onnx,
)
from upscaler.convert.onnx_ops import TRANSLATORS  # noqa: E402
from upscaler.export import export_onnx  # noqa: E402

ATOL = 1e-4
WIDE = (-8.0, 8.0)
"""A value range the op tests use: the network sees [-8, 8] and its outputs are rarely
clipped, so the comparison sees the ops' own values."""

rng = np.random.default_rng(7)


def weights(*shape: int, scale: float = 0.3) -> np.ndarray:
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def run_onnx(model: Any, x: np.ndarray) -> np.ndarray:
    """onnxruntime on an NHWC batch; the output back in NHWC."""
    data = model if isinstance(model, (str, Path)) else model.SerializeToString()
    session = ort.InferenceSession(
        str(data) if isinstance(data, Path) else data, providers=["CPUExecutionProvider"]
    )
    out = session.run(None, {INPUT_NAME: np.ascontiguousarray(x.transpose(0, 3, 1, 2))})[0]
    return np.asarray(out).transpose(0, 2, 3, 1)


def run_tf(tf: Any, graph: ops.Graph, x: np.ndarray, value_range: tuple[float, float]) -> Any:
    """The TensorFlow builder on the same wrapped graph, with the runtime's mapping."""
    from upscaler.convert.builder import build_module

    lo, hi = value_range
    module = build_module(tf, graph)
    out = module.serve.get_concrete_function()(tf.constant(x * (hi - lo) + lo))["output"]
    return (np.clip(out.numpy(), lo, hi) - lo) / (hi - lo)


def parsed_of(graph: ops.Graph) -> ParsedModel:
    return ParsedModel(graph=graph, layer_counts={}, source={}, where="test graph")


def check(
    tf: Any,
    graph: ops.Graph,
    *,
    scale: int = 1,
    wrapper: Wrapper | None = None,
    value_range: tuple[float, float] = WIDE,
    size: tuple[int, int] = (13, 11),
) -> float:
    """Export ``graph`` and compare onnxruntime with the TensorFlow builder; returns the
    max abs difference on [0, 1]."""
    model, _ = onnx_model(parsed_of(graph), scale=scale, value_range=value_range, wrapper=wrapper)
    x = np.random.default_rng(3).random((1, *size, graph.input_channels), dtype=np.float32)
    got = run_onnx(model, x)
    want = run_tf(tf, _wrapped(graph, wrapper, scale), x, value_range)
    assert got.shape == want.shape
    inside = np.mean((want > 0) & (want < 1))
    assert inside > 0.5, f"only {inside:.0%} of the output is unclipped: the test says little"
    diff = float(np.abs(got - want).max())
    assert diff <= ATOL, diff
    return diff


def chain(*steps: tuple[ops.Op, tuple[str, ...]], channels: int = 3) -> ops.Graph:
    """A graph of ``steps``: each reads the named tensors ("x" is the input, "sN" step N's
    output, "prev" the previous step's); the last step is the output."""
    nodes = []
    for index, (op, refs) in enumerate(steps):
        names = tuple(f"s{index - 1}" if r == "prev" else r for r in refs)
        nodes.append(ops.Node(f"n{index}", type(op).__name__, op, names, f"s{index}"))
    return ops.Graph("x", tuple(nodes), f"s{len(steps) - 1}", channels)


def conv(cin: int, cout: int, k: int = 3, **kw: Any) -> ops.Conv2D:
    kw.setdefault("padding", "same")
    return ops.Conv2D(weights(k, k, cin, cout), weights(cout, scale=0.1), **kw)


# --------------------------------------------------------------------------- ops


@pytest.mark.parametrize(
    "op",
    [
        conv(3, 5, act=ops.Act("relu")),
        conv(3, 4, 3, strides=(2, 2)),
        conv(3, 4, 4, strides=(2, 2)),
        conv(3, 4, 3, dilation=(2, 2)),
        conv(3, 4, 3, padding=(1, 2, 0, 1)),
        conv(3, 4, 3, padding="valid"),
        conv(3, 4, 1, padding="valid"),
    ],
    ids=["same", "stride2", "stride2-even", "dilated", "explicit", "valid", "pointwise"],
)
def test_convolutions(tf: Any, op: ops.Conv2D) -> None:
    check(tf, chain((op, ("x",))))


def test_grouped_convolution_and_concat_pointwise(tf: Any) -> None:
    grouped = ops.Conv2D(weights(3, 3, 2, 6), weights(6), padding="same")  # 3 groups of 2
    graph = chain(
        (conv(3, 6), ("x",)),
        (grouped, ("prev",)),
        (ops.ConcatPointwise(conv(9, 3, 1, padding="valid")), ("s1", "x")),
    )
    check(tf, graph)


@pytest.mark.parametrize("kind", get_args(ops.ActKind))
def test_every_activation(tf: Any, kind: str) -> None:
    params = {"leaky_relu": (0.2,), "clip": (-0.5, 0.7), "hardswish": (0.3, 0.4)}
    act = ops.Act(kind, params.get(kind, ()))  # type: ignore[arg-type]
    check(tf, chain((conv(3, 3), ("x",)), (ops.Activation(act), ("prev",))))


@pytest.mark.parametrize(
    "slopes", [np.array([0.1, -0.2, 1.7, 0.5], np.float32), np.array([0.25], np.float32)]
)
def test_prelu(tf: Any, slopes: np.ndarray) -> None:
    width = slopes.size if slopes.size > 1 else 3
    graph = chain(
        (conv(3, width), ("x",)), (ops.PReLU(slopes), ("prev",)), (conv(width, 3), ("prev",))
    )
    check(tf, graph)


@pytest.mark.parametrize("kind", get_args(ops.BinaryKind))
def test_binary_ops_tensor_scalar_and_reversed(tf: Any, kind: str) -> None:
    safe = kind != "div"
    # For mul and div a near-constant second operand (about 0.5 or 2), so products and
    # quotients stay in range.
    near = np.full(3, 2.0 if kind == "div" else 0.5, np.float32)
    other = (
        ops.Conv2D(weights(1, 1, 3, 3, scale=0.01), near) if kind in ("mul", "div") else conv(3, 3)
    )
    graph = chain(
        (other, ("x",)),
        (ops.Binary(kind), ("x", "s0")),  # type: ignore[arg-type]
        (ops.Binary(kind, scalar=1.5), ("prev",)),  # type: ignore[arg-type]
        (ops.Binary(kind, scalar=0.5 if safe else 3.0, reverse=True), ("prev",)),  # type: ignore[arg-type]
    )
    check(tf, graph)


def test_squeeze_excitation_weighted_sum_constant_and_concat(tf: Any) -> None:
    """GlobalAvgPool → Dense → Dense → ChannelScale (a per-channel vector broadcast),
    a constant vector, a weighted sum and a concatenation."""
    graph = chain(
        (conv(3, 4), ("x",)),
        (ops.GlobalAvgPool(), ("prev",)),
        (ops.Dense(weights(4, 2), weights(2), act=ops.Act("relu")), ("prev",)),
        (ops.Dense(weights(2, 4), weights(4), act=ops.Act("sigmoid")), ("prev",)),
        (ops.ChannelScale(), ("s0", "prev")),
        (ops.Constant(weights(1, 1, 1, 4)), ()),
        (ops.Binary("add"), ("s4", "s5")),
        (ops.WeightedSum((0.5, -1.25)), ("prev", "s0")),
        (ops.WeightedSum(), ("prev", "s4")),
        (ops.Concat(), ("prev", "x")),
        (conv(7, 3), ("prev",)),
    )
    check(tf, graph)


@pytest.mark.parametrize(
    ("h", "w", "c"),
    [
        (ops.AxisSlice(1, -1), ops.AxisSlice(2), ops.AxisSlice()),
        (ops.AxisSlice(-9), ops.AxisSlice(0, 7), ops.AxisSlice(1, 3)),
        (ops.AxisSlice(2, None, 6), ops.AxisSlice(-8, -1, 5), ops.AxisSlice(0, 0, 3)),
        (ops.AxisSlice(1, 0), ops.AxisSlice(3, 100, 4), ops.AxisSlice(-3)),
    ],
)
def test_slices_follow_ncnn_crop_rules(
    tf: Any, h: ops.AxisSlice, w: ops.AxisSlice, c: ops.AxisSlice
) -> None:
    graph = chain((conv(3, 5), ("x",)), (ops.Slice(h, w, c), ("prev",)))
    x = np.zeros((1, 13, 11, 3), np.float32)
    model, _ = onnx_model(parsed_of(graph), scale=1, value_range=WIDE)
    want = run_tf(tf, graph, x, WIDE)
    assert run_onnx(model, x).shape == want.shape
    check(tf, graph)


@pytest.mark.parametrize("channels", [False, True])
def test_crop_to_reference(tf: Any, channels: bool) -> None:
    graph = chain(
        (conv(3, 12), ("x",)),
        (ops.DepthToSpace(2), ("prev",)),
        (ops.EdgePad((1, 2, 3, 0), mode="edge"), ("prev",)),
        (ops.CropToReference(1, 2, 0, factor=2, channels=channels), ("prev", "x")),
    )
    check(tf, graph, scale=2)


@pytest.mark.parametrize("order", ["tf", "torch"])
def test_depth_to_space_orders(tf: Any, order: str) -> None:
    graph = chain((conv(3, 27), ("x",)), (ops.DepthToSpace(3, order), ("prev",)))  # type: ignore[arg-type]
    check(tf, graph, scale=3)


@pytest.mark.parametrize(
    "op",
    [
        ops.ResizeNearest(2, 3),
        ops.ResizeBilinear(2, 2),
        ops.ResizeBilinear(3, 1),
        ops.ResizeCubic(scale_h=0.5, scale_w=0.5),
        ops.ResizeCubic(scale_h=0.75, scale_w=0.75),
        ops.ResizeCubic(scale_h=2.0, scale_w=2.0),
        ops.ResizeCubic(out_h=9, out_w=20),
    ],
    ids=[
        "nearest",
        "bilinear",
        "bilinear-rows",
        "cubic-half",
        "cubic-3/4",
        "cubic-x2",
        "cubic-fixed",
    ],
)
def test_resizes(tf: Any, op: ops.Op) -> None:
    check(tf, chain((conv(3, 3), ("x",)), (op, ("prev",))), size=(16, 12))


@pytest.mark.parametrize("mode", ["edge", "reflect"])
@pytest.mark.parametrize(
    ("pads", "multiple"), [((1, 2, 3, 0), 1), ((7, 1, 0, 9), 4), ((0, 0, 0, 0), 3)]
)
def test_edge_pad_folds_like_numpy(
    tf: Any, mode: str, pads: tuple[int, int, int, int], multiple: int
) -> None:
    op = ops.EdgePad(pads, multiple, mode)  # type: ignore[arg-type]
    graph = chain((op, ("x",)), (conv(3, 3), ("prev",)))
    # A 5x4 image: the reflect pads are wider than the image and fold back and forth.
    diff = check(tf, graph, size=(5, 4))
    assert diff <= ATOL


def test_transposed_convolution(tf: Any) -> None:
    deconv = ops.Conv2DTranspose(weights(4, 4, 3, 5), weights(3), strides=(2, 2), crop=(1, 1, 1, 1))
    graph = chain((conv(3, 5), ("x",)), (deconv, ("prev",)))
    check(tf, graph, scale=2)


@pytest.mark.parametrize(
    "wrapper",
    [
        Wrapper(prepad=3, multiple=4, residual="nearest", pad_mode="reflect"),
        Wrapper(preupscale=2, prepad=2),
        Wrapper(multiple=8, pad_mode="edge"),
    ],
    ids=["cugan-like", "preupscale", "multiple"],
)
def test_the_wrapper_is_inside_the_file(tf: Any, wrapper: Wrapper) -> None:
    if wrapper.preupscale > 1:  # enlarged, padded by 2, a valid 5x5 convolution: x2
        graph = chain((ops.Conv2D(weights(5, 5, 3, 3, scale=0.1)), ("x",)))
    else:  # padded by prepad, consumed by a valid convolution, then x2 by depth-to-space
        k = 2 * wrapper.prepad + 1
        graph = chain(
            (ops.Conv2D(weights(k, k, 3, 12, scale=0.1), padding="valid"), ("x",)),
            (ops.DepthToSpace(2), ("prev",)),
        )
    check(tf, graph, scale=2, wrapper=wrapper, size=(11, 9))


def attention(kind: str, channels: int = 6, heads: int = 2) -> ops.Op:
    qkv = (weights(channels, 3 * channels), weights(3 * channels, scale=0.1))
    proj = (weights(channels, channels), weights(channels, scale=0.1))
    if kind == "overlap":
        table = weights((4 + 6 - 1) ** 2, heads)
        return ops.OverlapAttention(*qkv, *proj, table, window=4, overlap=6, heads=heads)
    table = weights((2 * 4 - 1) ** 2, heads)
    return ops.WindowAttention(*qkv, *proj, table, window=4, heads=heads, shift=int(kind))


@pytest.mark.parametrize("kind", ["0", "2", "overlap"], ids=["window", "shifted", "overlap"])
def test_layer_norm_and_window_attentions(tf: Any, kind: str) -> None:
    """SwinIR's and HAT's blocks: LayerNorm, (shifted) window attention with its mask,
    HAT's overlapping cross-attention; on two images of a batch, 8x12 pixels."""
    graph = chain(
        (conv(3, 6), ("x",)),
        (ops.LayerNorm(weights(6, scale=1.0), weights(6, scale=0.1)), ("prev",)),
        (attention(kind), ("prev",)),
        (ops.Binary("add"), ("prev", "s0")),
        (ops.Conv2D(weights(3, 3, 6, 3, scale=0.05), padding="same"), ("prev",)),
    )
    check(tf, graph, size=(8, 12))
    model, _ = onnx_model(parsed_of(graph), scale=1, value_range=WIDE)
    x = np.random.default_rng(5).random((2, 12, 8, 3), dtype=np.float32)
    want = run_tf(tf, graph, x, WIDE)
    assert np.abs(run_onnx(model, x) - want).max() <= ATOL


def test_value_range_mapping_and_clipping(tf: Any) -> None:
    """[0, 1] in, the network sees [0, 255]; the output is clipped and mapped back."""
    graph = chain(
        (ops.Binary("mul", scalar=1.5), ("x",)), (ops.Binary("sub", scalar=40.0), ("prev",))
    )
    model, facts = onnx_model(parsed_of(graph), scale=1, value_range=(0.0, 255.0))
    x = np.linspace(0, 1, 3 * 4 * 5, dtype=np.float32).reshape(1, 4, 5, 3)
    got = run_onnx(model, x)
    want = np.clip(x * 255 * 1.5 - 40, 0, 255) / 255
    np.testing.assert_allclose(got, want, atol=1e-6)
    assert json.loads(facts["upscaler.model_value_range"]) == [0.0, 255.0]


def test_metadata_dynamic_sizes_and_opset(tmp_path: Path) -> None:
    graph = chain((conv(3, 12), ("x",)), (ops.DepthToSpace(2), ("prev",)))
    report = write_onnx(
        parsed_of(graph),
        tmp_path / "m.onnx",
        scale=2,
        value_range=(0.0, 1.0),
        metadata={"upscaler.model": "t.x2"},
    )
    model = onnx.load(str(report.path))
    assert model.opset_import[0].version == OPSET == report.opset
    props = {p.key: p.value for p in model.metadata_props}
    assert props["upscaler.layout"] == "NCHW"
    assert props["upscaler.scale"] == "2"
    assert props["upscaler.model"] == "t.x2"
    assert props["upscaler.input"] == "float32 [N, 3, H, W] in [0, 1]"
    assert report.output_channels == 3 and report.input_channels == 3
    for h, w in [(5, 7), (16, 9)]:
        out = run_onnx(report.path, np.zeros((2, h, w, 3), np.float32))
        assert out.shape == (2, 2 * h, 2 * w, 3)
    assert not [p for p in tmp_path.iterdir() if p.name != "m.onnx"], "no temp file is left"


def test_every_op_has_a_translation() -> None:
    op_types = {
        cls
        for cls in vars(ops).values()
        if isinstance(cls, type) and issubclass(cls, ops.Op) and cls is not ops.Op
    }
    missing = sorted(t.__name__ for t in op_types - set(TRANSLATORS))
    assert not missing, f"ops without an ONNX translation: {missing}"


def test_an_op_without_a_translation_is_named() -> None:
    @dataclass(frozen=True, eq=False)
    class Warp(ops.Op):
        arity: ClassVar[tuple[int, int | None]] = (1, 1)

    graph = chain((Warp(), ("x",)))
    with pytest.raises(ConversionError, match=r"'n0' \(Warp\): op Warp has no ONNX") as err:
        onnx_model(parsed_of(graph), scale=1, value_range=(0.0, 1.0))
    assert err.value.hint and "Conv2D" in err.value.hint


def test_missing_onnx_package_is_a_dependency_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "onnx", None)
    graph = chain((conv(3, 3), ("x",)))
    with pytest.raises(DependencyError, match="onnx") as err:
        onnx_model(parsed_of(graph), scale=1, value_range=(0.0, 1.0))
    assert "upscaler[onnx]" in (err.value.hint or "")


# --------------------------------------------------------------------------- files


def test_local_tfjs_model_by_path(tmp_path: Path) -> None:
    path = write_tfjs_upsampler(tmp_path / "up")
    report = export_onnx(path, tmp_path / "up.onnx", scale=2)
    x = np.random.default_rng(0).random((1, 6, 5, 3), dtype=np.float32)
    np.testing.assert_allclose(run_onnx(report.path, x)[0], nearest_x2(x[0]), atol=1e-6)
    assert report.metadata["upscaler.source_format"] == "tfjs-layers"


@pytest.mark.slow
def test_catalog_tfjs_rdn_matches_the_library_within_one_grey_level(tmp_path: Path) -> None:
    from upscaler import Upscaler
    from upscaler.catalog.loader import load_catalog

    catalog = load_catalog(write_small_rdn_catalog(tmp_path / "base"))
    cache = tmp_path / "cache"
    report = export_onnx("tinyq.x2", tmp_path / "rdn.onnx", catalog=catalog, cache_dir=cache)
    rgb = np.random.default_rng(1).integers(0, 256, (21, 17, 3), dtype=np.uint8)
    got = run_onnx(report.path, (rgb.astype(np.float32) / 255)[None])[0]
    want = Upscaler(model="tinyq.x2", catalog=catalog, cache_dir=cache, border="zero").upscale(
        rgb, progress=False
    )
    grey = np.abs(np.rint(got * 255) - want.astype(np.float64)).max()
    assert grey <= 1


def test_ncnn_model_against_ncnn(tmp_path: Path, kit: Any) -> None:
    pytest.importorskip("ncnn")
    from ncnn_kit import NcnnModel, run_ncnn

    from upscaler.convert.formats import weights_format

    m = NcnnModel(seed=4)
    m.input()
    m.conv("c1", "in0", "a", 3, 8, act=2, act_params=[0.1])  # leaky relu
    m.conv("c2", "a", "b", 8, 12)
    m.add("PixelShuffle", "ps", ["b"], ["out0"], {0: 2})
    param = m.write(tmp_path / "n")
    parsed = weights_format("ncnn").read(param)
    report = write_onnx(parsed, tmp_path / "n.onnx", scale=2, value_range=(-4.0, 4.0))
    x = np.random.default_rng(2).random((9, 7, 3), dtype=np.float32)
    want = (np.clip(run_ncnn(param, x * 8 - 4), -4, 4) + 4) / 8
    got = run_onnx(report.path, x[None])[0]
    assert np.abs(got - want).max() <= 1e-3  # ncnn stores these weights in fp16 both ways


@pytest.mark.parametrize(("arch", "channels", "preupscale"), [("upconv7", 3, 1), ("vgg7", 1, 2)])
def test_waifu2x_npz_against_the_numpy_reference(
    tmp_path: Path, arch: str, channels: int, preupscale: int
) -> None:
    import waifu2x_reference as ref

    from upscaler.convert.formats import Expected, weights_format

    params = ref.tiny_params(arch, channels, seed=3)
    path = tmp_path / f"{arch}.npz"
    with path.open("wb") as f:
        np.savez(f, **params)
    wrapper = Wrapper(prepad=ref.OFFSET[arch], preupscale=preupscale)
    parsed = weights_format("npz").read(path, None, Expected(architecture=arch, wrapper=wrapper))
    report = write_onnx(
        parsed, tmp_path / "w.onnx", scale=2, value_range=(0.0, 1.0), wrapper=wrapper
    )
    x = np.random.default_rng(4).random((10, 8, channels), dtype=np.float32)
    want = np.clip(ref.upscale(arch, params, x, preupscale=preupscale), 0, 1)
    got = run_onnx(report.path, x[None])[0]
    assert got.shape == want.shape
    assert np.abs(got - want).max() <= ATOL
    assert report.input_channels == channels


# --------------------------------------------------------------------------- checkpoints

ORACLE = Path(__file__).with_name("spandrel_oracle.py")
CNN_SPECS = [
    # id, spandrel architecture, constructor arguments
    (
        "esrgan-x2-unshuffle",
        "ESRGAN",
        {
            "in_nc": 12,
            "out_nc": 3,
            "num_filters": 16,
            "num_blocks": 1,
            "scale": 4,
            "shuffle_factor": 2,
        },
    ),
    (
        "compact-x4",
        "Compact",
        {"num_in_ch": 3, "num_out_ch": 3, "num_feat": 16, "num_conv": 4, "upscale": 4},
    ),
    ("span-x2", "SPAN", {"num_in_ch": 3, "num_out_ch": 3, "feature_channels": 16, "upscale": 2}),
]


def _in_range(x: np.ndarray, want: np.ndarray, report_path: Path) -> None:
    """onnxruntime on ``x`` (NCHW, [0, 1]) against spandrel's ``want`` clipped to [0, 1].
    (Compact adds the upsampled input to an output centred on 0.5, so about half of its
    values are past white: the other half still checks every op.)"""
    inside = np.mean((want > 0) & (want < 1))
    assert inside > 0.4, f"only {inside:.0%} of spandrel's output is in [0, 1]"
    got = run_onnx(report_path, x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    assert got.shape == want.shape
    diff = float(np.abs(got - np.clip(want, 0, 1)).max())
    print(f"{report_path.name}: max abs {diff:.2e} against spandrel")
    assert diff <= ATOL


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_pytorch_checkpoints_match_spandrel(tmp_path: Path) -> None:
    """ESRGAN (with Real-ESRGAN's pixel unshuffle), Compact and SPAN ``.pth`` files made
    by spandrel (in its own interpreter, see spandrel_oracle.py) exported by path."""
    import importlib.util
    import subprocess

    if importlib.util.find_spec("spandrel") is None or importlib.util.find_spec("torch") is None:
        pytest.skip("spandrel and torch (the test-only oracle) are not installed")
    specs = [
        {
            "id": i,
            "arch": a,
            "kwargs": k,
            "keys": "esrgan",
            "container": None,
            "seed": n,
            "h": 13,
            "w": 11,
        }
        for n, (i, a, k) in enumerate(CNN_SPECS)
    ]
    (tmp_path / "specs.json").write_text(json.dumps(specs))
    done = subprocess.run(
        [sys.executable, str(ORACLE), str(tmp_path / "specs.json"), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=500,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    for spec in specs:
        for suffix in (".pth", ".safetensors"):
            path = tmp_path / f"{spec['id']}{suffix}"
            report = export_onnx(path, tmp_path / f"{spec['id']}{suffix}.onnx")
            assert report.metadata["upscaler.source_format"] in ("pytorch", "safetensors")
            data = np.load(tmp_path / f"{spec['id']}.npz")
            _in_range(data["input"][:, :3], data["output"], report.path)


TRANSFORMERS = {
    # SwinIR classical x2 (window 8, shifted windows) and HAT x2 (overlapping attention)
    "swinir": (
        "SwinIR",
        {
            "upscale": 2,
            "upsampler": "pixelshuffle",
            "embed_dim": 24,
            "depths": [2, 2],
            "num_heads": [2, 2],
        },
    ),
    "hat": (
        "HAT",
        {
            "upscale": 2,
            "embed_dim": 24,
            "depths": [2, 2],
            "num_heads": [2, 2],
            "compress_ratio": 3,
            "squeeze_factor": 6,
        },
    ),
}


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.filterwarnings("ignore:torch.meshgrid")  # inside spandrel's HAT
@pytest.mark.parametrize("name", sorted(TRANSFORMERS))
def test_transformer_checkpoints_match_spandrel(tmp_path: Path, name: str) -> None:
    """SwinIR and HAT safetensors exported by path; inputs of a window multiple and not
    (the wrapper's reflection padding to the window is in the file)."""
    sys.modules.setdefault("triton", None)  # type: ignore[arg-type]  # see the transformer tests
    torch = pytest.importorskip("torch")
    arch_module = pytest.importorskip(f"spandrel.architectures.{TRANSFORMERS[name][0]}")
    from safetensors.torch import save_file

    arch, kwargs = TRANSFORMERS[name]
    torch.manual_seed(3)
    model = getattr(arch_module, arch)(img_size=64, window_size=8, mlp_ratio=2.0, **kwargs).eval()
    x = np.random.default_rng(2).random((1, 3, 16, 24), dtype=np.float32)
    with torch.no_grad():
        for param in model.parameters():
            param.add_(torch.randn_like(param) * 0.05)
        # Outputs around 0.5 ± 0.15, so that [0, 1] (where a grey level means something)
        # holds them, as the CNN oracle does; the networks add back the RGB mean
        # (about 0.44) after conv_last, hence its bias of 0.05.
        last = dict(model.named_parameters())
        last["conv_last.bias"].zero_()
        spread = float(model(torch.from_numpy(x)).std())
        last["conv_last.weight"].mul_(0.15 / max(spread, 1e-6))
        last["conv_last.bias"].fill_(0.05)
    path = tmp_path / f"{name}.safetensors"
    save_file(
        {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}, str(path)
    )
    report = export_onnx(path, tmp_path / f"{name}.onnx")
    for h, w in ((16, 24), (13, 21)):
        sample = np.random.default_rng(h).random((1, 3, h, w), dtype=np.float32)
        with torch.no_grad():
            want = model(torch.from_numpy(sample)).numpy()
        _in_range(sample, want, report.path)


# --------------------------------------------------------------------------- refusals


def test_a_savedmodel_folder_has_no_reader(tmp_path: Path) -> None:
    folder = tmp_path / "sm"
    folder.mkdir()
    (folder / "saved_model.pb").write_bytes(b"")
    with pytest.raises(ConversionError, match="cannot be exported") as err:
        export_onnx(folder, tmp_path / "x.onnx", scale=2)
    assert "tfjs-layers" in (err.value.hint or "") and "ncnn" in (err.value.hint or "")


def test_a_local_model_needs_its_scale(tmp_path: Path) -> None:
    path = write_tfjs_upsampler(tmp_path / "up")
    with pytest.raises(QueryError, match="scale"):
        export_onnx(path, tmp_path / "x.onnx")


def test_the_output_may_not_be_an_input_or_in_a_missing_folder(tmp_path: Path) -> None:
    path = write_tfjs_upsampler(tmp_path / "up")
    before = path.read_bytes()
    with pytest.raises(ConversionError, match="model's own files"):
        export_onnx(path, path, scale=2)
    with pytest.raises(ConversionError, match="model's own files"):
        export_onnx(path, tmp_path / "up" / "up.bin", scale=2)
    assert path.read_bytes() == before
    with pytest.raises(ConversionError, match="does not exist"):
        export_onnx(path, tmp_path / "nowhere" / "x.onnx", scale=2)


def test_catalog_refusals(tmp_path: Path) -> None:
    from upscaler.catalog.loader import load_catalog

    root = write_small_rdn_catalog(tmp_path / "base")
    catalog = load_catalog(root)
    with pytest.raises(ConversionError, match="inside the catalog"):
        export_onnx("tinyq.x2", root / "models" / "x.onnx", catalog=catalog, cache_dir=tmp_path)
    with pytest.raises(NoMatchingModel):
        export_onnx("tinyq.x9", tmp_path / "x.onnx", catalog=catalog, cache_dir=tmp_path)


def test_a_variant_without_weights_names_its_parent(tmp_path: Path) -> None:
    from upscaler.catalog.loader import default_catalog

    variant = next(e for e in default_catalog().entries if e.built_from_parent)
    with pytest.raises(ConversionError, match="no weights of its own") as err:
        export_onnx(variant.id, tmp_path / "x.onnx")
    assert f"upscaler export {variant.derived_from}" in (err.value.hint or "")


# --------------------------------------------------------------------------- real models


def photo_like(height: int, width: int, seed: int) -> np.ndarray:
    """Smooth structure plus texture (noise alone drives some networks, SPAN's
    attention among them, into ranges where float rounding is amplified)."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    planes = [
        128 + 90 * np.sin(x / 5.0) * np.cos(y / 7.0),
        128 + 80 * np.cos((x + y) / 9.0),
        128 + 70 * np.sin(np.hypot(x - width / 2, y - height / 2) / 4.0),
    ]
    noise = np.random.default_rng(seed).normal(0, 12, (height, width, 3))
    return np.clip(np.rint(np.stack(planes, axis=-1) + noise), 0, 255).astype(np.uint8)


REAL = [
    "span.ch48-x2",
    "realesrgan.animevideov3-x2",
    "esrgan-slim.x2",
    "realcugan.se-x2",
    "waifu2x-chainer.upconv7-x2",
    "waifu2x-chainer.vgg7-y-noise1-x1",
]


@pytest.mark.real_model
@pytest.mark.slow
@pytest.mark.parametrize("model_id", REAL)
def test_real_catalog_models(tf: Any, tmp_path: Path, model_id: str) -> None:
    """Each exported catalog model against its SavedModel (≤ 1e-4 on [0, 1]) and against
    the library's upscale (≤ 1 grey level, RGB models)."""
    from upscaler import Upscaler

    report = export_onnx(model_id, tmp_path / "m.onnx", progress=False)
    up = Upscaler(model=model_id, border="zero")
    (folder,) = up.prepare(progress=False)
    lo, hi = up.model.value_range
    rgb = photo_like(40, 36, seed=1)
    x = (rgb.astype(np.float32) / 255)[None][..., : report.input_channels]
    saved = tf.saved_model.load(str(folder)).signatures["serving_default"]
    want = saved(input=tf.constant(x * (hi - lo) + lo))["output"].numpy()
    want = (np.clip(want, lo, hi) - lo) / (hi - lo)
    got = run_onnx(report.path, x)
    diff = float(np.abs(got - want).max())
    print(f"{model_id}: max abs {diff:.2e} on [0, 1]")
    assert diff <= ATOL
    if report.input_channels == 3:
        image = up.upscale(rgb, progress=False)
        assert np.abs(np.rint(got[0] * 255) - image.astype(np.float64)).max() <= 1
