"""SwinIR and HAT from PyTorch checkpoints: spandrel is the oracle (issue 26, items 3-4).

Each case builds the network in spandrel with seeded random weights (perturbed away from
their initialisation, so LayerNorms, bias tables and the channel attention all matter),
saves its state dict as ``.pth`` and ``.safetensors``, reads both back without torch
(:mod:`upscaler.convert.architectures.checkpoint`), builds the shared ops in TensorFlow
and compares with spandrel's output on the same input, of a size that is and one that is
not a multiple of the window: max abs difference ≤ 1e-4 on [0, 1] floats.

spandrel imports triton (through torchvision and torch._dynamo), and triton's extension
crashes a process that has TensorFlow loaded; torch runs fine without it, so the fixture
hides it before importing spandrel.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from upscaler.convert import ops
from upscaler.convert.architectures import checkpoint, detect_architecture
from upscaler.convert.attention import overlap_position_index, relative_position_index
from upscaler.convert.builder import build_module
from upscaler.convert.geometry import shift_period
from upscaler.errors import ConversionError
from upscaler.runtime import load_savedmodel
from upscaler.runtime.tf_setup import require_tensorflow

TOLERANCE = 1e-4

SWINIR_CONFIGS = {
    # classical SR (pixelshuffle), x2, window 8
    "classical-x2-w8": {
        "upscale": 2,
        "upsampler": "pixelshuffle",
        "embed_dim": 24,
        "depths": [2, 2],
        "num_heads": [2, 2],
    },
    # classical SR, x3 (one ×3 shuffle), window 16, 1 RSTB of 2 layers
    "classical-x3-w16": {
        "upscale": 3,
        "upsampler": "pixelshuffle",
        "embed_dim": 24,
        "depths": [2],
        "num_heads": [3],
        "window_size": 16,
    },
    # lightweight SR (pixelshuffledirect), x4, 6 heads, 3conv residuals
    "lightweight-x4": {
        "upscale": 4,
        "upsampler": "pixelshuffledirect",
        "embed_dim": 36,
        "depths": [2, 2],
        "num_heads": [6, 6],
        "resi_connection": "3conv",
    },
    # real-world SR (nearest+conv), x4
    "realworld-x4": {
        "upscale": 4,
        "upsampler": "nearest+conv",
        "embed_dim": 24,
        "depths": [2, 2],
        "num_heads": [2, 2],
    },
    # JPEG / denoising (no upsampler, ×1), window 7, img_range 255 (spandrel's rule)
    "jpeg-x1-w7": {
        "upscale": 1,
        "upsampler": "",
        "embed_dim": 24,
        "depths": [2],
        "num_heads": [2],
        "window_size": 7,
        "img_size": 56,
        "img_range": 255.0,
    },
}

HAT_CONFIGS = {
    "x2-w8": {"upscale": 2, "embed_dim": 24, "depths": [2, 2], "num_heads": [2, 2]},
    "x3-w16-overlap0.25": {
        "upscale": 3,
        "embed_dim": 24,
        "depths": [2],
        "num_heads": [3],
        "window_size": 16,
        "overlap_ratio": 0.25,
    },
    "x4-identity-3groups": {
        "upscale": 4,
        "embed_dim": 30,
        "depths": [1, 2, 1],
        "num_heads": [3, 3, 3],
        "resi_connection": "identity",
        "compress_ratio": 5,
        "squeeze_factor": 10,
    },
}

SIZES = ((16, 24), (13, 21))
"""One input of window multiples (8) and one that is not (padded by reflection)."""


# ------------------------------------------------------------------ the oracle


@pytest.fixture(scope="module")
def torch() -> ModuleType:
    sys.modules.setdefault("triton", None)  # type: ignore[arg-type]
    module = pytest.importorskip("torch")
    pytest.importorskip("spandrel")
    pytest.importorskip("safetensors")
    module.set_num_threads(2)
    return module


def _network(torch: ModuleType, arch: str, kwargs: dict[str, Any], seed: int) -> Any:
    """spandrel's network with its initial weights moved by seeded noise."""
    from spandrel.architectures import HAT, SwinIR

    network = SwinIR.SwinIR if arch == "SwinIR" else HAT.HAT
    settings = {"img_size": 64, "window_size": 8, "mlp_ratio": 2.0, **kwargs}
    if arch == "HAT":
        settings.setdefault("compress_ratio", 3)
        settings.setdefault("squeeze_factor", 6)
    torch.manual_seed(seed)
    model = network(**settings).eval()
    with torch.no_grad():
        for param in model.parameters():
            param.add_(torch.randn_like(param) * 0.05)
    return model


def _reference(torch: ModuleType, model: Any, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        out = model(torch.from_numpy(x).permute(0, 3, 1, 2).contiguous())
    return np.ascontiguousarray(out.permute(0, 2, 3, 1).numpy())


def _save(torch: ModuleType, model: Any, folder: Path, name: str) -> tuple[Path, Path]:
    from safetensors.torch import save_file

    state = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    pth, st = folder / f"{name}.pth", folder / f"{name}.safetensors"
    torch.save({"params_ema": state}, pth)
    save_file(state, str(st))
    return pth, st


def _run(graph: ops.Graph, x: np.ndarray) -> np.ndarray:
    tf = require_tensorflow()
    module = build_module(tf, graph)
    return np.asarray(next(iter(module.serve(tf.constant(x)).values())))


def _inputs(seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.random((1, h, w, 3), dtype=np.float32) for h, w in SIZES]


def _parity(torch: ModuleType, arch: str, kwargs: dict[str, Any], folder: Path) -> None:
    model = _network(torch, arch, kwargs, seed=0)
    pth, st = _save(torch, model, folder, arch)
    graphs = []
    for path in (pth, st):
        parsed = checkpoint.read_checkpoint(path)
        assert parsed.source["architecture"] == arch
        assert parsed.source["scale"] == kwargs["upscale"]
        graphs.append(parsed.graph)
    # Both files give the very same ops and weights; one of them is then run.
    for a, b in zip(graphs[0].nodes, graphs[1].nodes, strict=True):
        assert (a.name, type(a.op), a.inputs) == (b.name, type(b.op), b.inputs)
        for (key, left), right in zip(a.op.arrays().items(), b.op.arrays().values(), strict=True):
            np.testing.assert_array_equal(left, right, err_msg=f"{a.name}.{key}")
    tf = require_tensorflow()
    serve = build_module(tf, graphs[1]).serve
    for x in _inputs(seed=7):
        expected = _reference(torch, model, x)
        got = np.asarray(next(iter(serve(tf.constant(x)).values())))
        assert got.shape == expected.shape
        assert float(np.abs(got - expected).max()) <= TOLERANCE


def _cases(configs: dict[str, Any], fast: str) -> list[Any]:
    """Every configuration, all but ``fast`` marked slow (each builds a network in both
    frameworks: 5-20 s on a busy 2-core machine)."""
    return [
        name if name == fast else pytest.param(name, marks=pytest.mark.slow) for name in configs
    ]


@pytest.mark.timeout(300)
@pytest.mark.parametrize("name", _cases(SWINIR_CONFIGS, fast="classical-x2-w8"))
def test_swinir_matches_spandrel(torch: ModuleType, name: str, tmp_path: Path) -> None:
    _parity(torch, "SwinIR", SWINIR_CONFIGS[name], tmp_path)


@pytest.mark.timeout(300)
@pytest.mark.parametrize("name", _cases(HAT_CONFIGS, fast="x2-w8"))
def test_hat_matches_spandrel(torch: ModuleType, name: str, tmp_path: Path) -> None:
    _parity(torch, "HAT", HAT_CONFIGS[name], tmp_path)


@pytest.mark.timeout(300)
@pytest.mark.parametrize(
    ("arch", "kwargs"),
    [
        ("SwinIR", SWINIR_CONFIGS["lightweight-x4"]),
        ("SwinIR", SWINIR_CONFIGS["jpeg-x1-w7"]),
        ("HAT", HAT_CONFIGS["x4-identity-3groups"]),
    ],
)
def test_detection_agrees_with_spandrel(
    torch: ModuleType, arch: str, kwargs: dict[str, Any]
) -> None:
    from spandrel import ModelLoader

    model = _network(torch, arch, kwargs, seed=1)
    state = {k: v.detach().numpy() for k, v in model.state_dict().items()}
    ours = detect_architecture(state)
    theirs = ModelLoader().load_from_state_dict(model.state_dict())
    assert ours.name == theirs.architecture.id == arch
    assert ours.scale == theirs.scale
    assert ours.in_channels == theirs.input_channels
    assert ours.out_channels == theirs.output_channels
    hyper = theirs.model.hyperparameters
    assert ours.hyper["depths"] == list(hyper["depths"])
    assert ours.hyper["num_heads"] == list(hyper["num_heads"])
    assert ours.hyper["window_size"] == hyper["window_size"]
    assert ours.hyper["img_range"] == hyper["img_range"]


def test_a_near_miss_and_an_unsupported_variant_are_explained(torch: ModuleType) -> None:
    model = _network(torch, "SwinIR", SWINIR_CONFIGS["classical-x2-w8"], seed=1)
    state = {k: v.detach().numpy() for k, v in model.state_dict().items()}
    index = "layers.0.residual_group.blocks.0.attn.relative_position_index"
    near = {k: v for k, v in state.items() if k != index}
    with pytest.raises(ConversionError, match=f"nearest is SwinIR with 75% .*missing {index}"):
        detect_architecture(near, "swin.pth")
    fixed_size = {**state, "absolute_pos_embed": np.zeros((1, 4096, 24), np.float32)}
    with pytest.raises(ConversionError, match="absolute position embedding"):
        detect_architecture(fixed_size, "swin.pth")


def test_position_indices_match_the_checkpoints_buffers(torch: ModuleType) -> None:
    swin = _network(torch, "SwinIR", SWINIR_CONFIGS["classical-x3-w16"], seed=2)
    buffer = swin.state_dict()["layers.0.residual_group.blocks.0.attn.relative_position_index"]
    np.testing.assert_array_equal(relative_position_index(16), buffer.numpy())
    hat = _network(torch, "HAT", HAT_CONFIGS["x2-w8"], seed=2)
    oca = hat.state_dict()["relative_position_index_OCA"].numpy()
    table = (8 + 12 - 1) ** 2
    assert oca.min() < 0  # HAT's index runs below zero; PyTorch wraps it
    np.testing.assert_array_equal(overlap_position_index(8, 12), np.mod(oca, table))


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_upscaler_runs_a_hat_safetensors_file_like_spandrel(
    torch: ModuleType, tmp_path: Path
) -> None:
    """``Upscaler(model="x.safetensors")``: detected, converted, described and run; the
    uint8 result is spandrel's output rounded, within one grey level."""
    from upscaler import Upscaler

    model = _network(torch, "HAT", HAT_CONFIGS["x2-w8"], seed=4)
    _, st = _save(torch, model, tmp_path, "hat")
    rng = np.random.default_rng(9)
    pixels = rng.integers(0, 256, (21, 18, 3), dtype=np.uint8)
    up = Upscaler(model=st, border="zero", cache_dir=tmp_path / "cache")
    got = up.upscale(pixels, progress=False)
    expected = _reference(torch, model, pixels[np.newaxis].astype(np.float32) / 255)[0]
    expected = np.clip(np.rint(expected * 255), 0, 255)
    assert got.shape == (42, 36, 3)
    assert int(np.abs(got.astype(np.int16) - expected.astype(np.int16)).max()) <= 1
    assert "HAT from a safetensors file" in str(up.describe())
    # Tiles on the window grid, sharing the whole image's channel-attention averages,
    # with the detected receptive field as context: the whole image's pixels.
    context = int(checkpoint.checkpoint_facts(st)["receptive_field"])
    big = rng.integers(0, 256, (2 * context + 56, 2 * context + 41, 3), dtype=np.uint8)
    whole = up.upscale(big, progress=False, patch_size=4096)
    tiled = up.upscale(big, progress=False, patch_size=32, padding=context)
    tiles = re.search(r"\btiles=(\d+)", str(up.describe()))
    assert tiles is not None and int(tiles.group(1)) >= 4
    assert int(np.abs(whole.astype(np.int16) - tiled.astype(np.int16)).max()) <= 1


# ------------------------------------------------------------------ tiles


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_swinir_tiles_match_the_whole_image(torch: ModuleType, tmp_path: Path) -> None:
    """Windows start on multiples of the window, so with the receptive field as context
    every tile computes its core exactly as the whole image does."""
    from upscaler.convert.writer import convert_weights
    from upscaler.runtime.tiled import TiledRunner

    model = _network(torch, "SwinIR", SWINIR_CONFIGS["realworld-x4"], seed=3)
    pth, _ = _save(torch, model, tmp_path, "swinir")
    facts = checkpoint.checkpoint_facts(pth)
    context = int(facts["receptive_field"])
    report = convert_weights("pytorch", pth, tmp_path / "saved")
    assert report.metadata["tile_alignment"] == 8
    loaded = load_savedmodel(tmp_path / "saved")
    rng = np.random.default_rng(5)
    pixels = rng.integers(0, 256, (120, 101, 3), dtype=np.uint8)

    def run(tile: int, alignment: int | None = None) -> tuple[np.ndarray, int]:
        runner = TiledRunner(
            loaded,
            scale=4,
            value_range=(0, 1),
            tile=tile,
            context=context,
            device="cpu",
            border="zero",
            alignment=alignment,
        )
        return runner.run(pixels, progress=False), runner.describe(pixels.shape)["tiles"]

    whole, one = run(4096)
    tiled, many = run(24)
    assert one == 1 and many >= 4
    assert int(np.abs(whole.astype(np.int16) - tiled.astype(np.int16)).max()) <= 1
    # Off the window grid the windows are other windows: the tiles no longer agree.
    shifted, _ = run(21, alignment=1)
    assert int(np.abs(whole.astype(np.int16) - shifted.astype(np.int16)).max()) > 1


def test_tile_alignment_is_the_window() -> None:
    rng = np.random.default_rng(0)
    c = 8

    def attention(window: int) -> ops.WindowAttention:
        return ops.WindowAttention(
            qkv_kernel=rng.random((c, 3 * c), dtype=np.float32),
            qkv_bias=None,
            proj_kernel=rng.random((c, c), dtype=np.float32),
            proj_bias=None,
            bias_table=rng.random(((2 * window - 1) ** 2, 2), dtype=np.float32),
            window=window,
            heads=2,
        )

    nodes = (
        ops.Node("a", "WindowAttention", attention(8), ("x",), "a"),
        ops.Node("up", "up", ops.ResizeNearest(2, 2), ("a",), "up"),
        ops.Node("b", "WindowAttention", attention(6), ("up",), "b"),
    )
    # 8 at the input's resolution; 6 after a ×2 upsampling is 3 input pixels.
    assert shift_period(ops.Graph("x", nodes, "b", input_channels=3)) == 24


# ------------------------------------------------------------------ the ops


def _weights(c: int = 8, heads: int = 2, table: int = 225) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    return {
        "qkv_kernel": rng.random((c, 3 * c), dtype=np.float32),
        "qkv_bias": rng.random(3 * c, dtype=np.float32),
        "proj_kernel": rng.random((c, c), dtype=np.float32),
        "proj_bias": rng.random(c, dtype=np.float32),
        "bias_table": rng.random((table, heads), dtype=np.float32),
    }


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"shift": 8}, "shift must be in"),
        ({"heads": 3}, "do not split into 3 heads"),
        ({"window": 7}, "expected [169, 2]"),
    ],
)
def test_window_attention_refuses_weights_that_do_not_fit(
    change: dict[str, Any], message: str
) -> None:
    settings: dict[str, Any] = {**_weights(), "window": 8, "heads": 2, **change}
    with pytest.raises(ConversionError, match=message.replace("[", r"\[")):
        ops.WindowAttention(**settings)


def test_overlap_attention_needs_an_even_margin() -> None:
    with pytest.raises(ConversionError, match="even number of pixels"):
        ops.OverlapAttention(**_weights(table=324), window=8, overlap=11, heads=2)


def test_layer_norm_matches_its_definition() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(3.0, 2.0, (1, 5, 4, 3)).astype(np.float32)
    weight, bias = rng.random(3, dtype=np.float32), rng.random(3, dtype=np.float32)
    node = ops.Node("n", "LayerNorm", ops.LayerNorm(weight, bias), ("x",), "n")
    got = _run(ops.Graph("x", (node,), "n", input_channels=3), x)
    y = x.astype(np.float64)
    mean, var = y.mean(-1, keepdims=True), y.var(-1, keepdims=True)
    expected = (y - mean) / np.sqrt(var + 1e-5) * weight + bias
    np.testing.assert_allclose(got, expected, atol=1e-5)
    with pytest.raises(ConversionError, match="two vectors"):
        ops.LayerNorm(weight, bias[:2])
