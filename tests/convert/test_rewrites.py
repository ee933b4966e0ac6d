"""The shared op vocabulary and its graph rewrites, in pure numpy (no TensorFlow)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from upscaler.convert import ops
from upscaler.convert.rewrites import (
    fold_nearest_upsampling,
    fold_torch_depth_to_space,
    fuse_pointwise_concats,
    prune,
    torch_to_tf_channels,
)
from upscaler.errors import ConversionError


def conv(cin: int, cout: int, k: int = 1, seed: int = 0) -> ops.Conv2D:
    rng = np.random.default_rng(seed)
    kernel = rng.standard_normal((k, k, cin, cout)).astype(np.float32)
    return ops.Conv2D(kernel=kernel, bias=rng.standard_normal(cout).astype(np.float32))


def node(name: str, op: ops.Op, inputs: tuple[str, ...], output: str | None = None) -> ops.Node:
    return ops.Node(name, type(op).__name__, op, inputs, output or name)


def torch_pixel_shuffle(x: np.ndarray, r: int) -> np.ndarray:
    n, h, w, c = x.shape
    out = c // (r * r)
    return x.reshape(n, h, w, out, r, r).transpose(0, 1, 4, 2, 5, 3).reshape(n, h * r, w * r, out)


def tf_depth_to_space(x: np.ndarray, r: int) -> np.ndarray:
    n, h, w, c = x.shape
    out = c // (r * r)
    return x.reshape(n, h, w, r, r, out).transpose(0, 1, 3, 2, 4, 5).reshape(n, h * r, w * r, out)


@pytest.mark.parametrize(("channels", "block"), [(12, 2), (48, 4), (27, 3), (5, 1)])
def test_torch_to_tf_permutation(channels: int, block: int) -> None:
    x = np.random.default_rng(0).standard_normal((1, 3, 2, channels))
    perm = torch_to_tf_channels(channels, block)
    np.testing.assert_array_equal(
        tf_depth_to_space(x[..., perm], block), torch_pixel_shuffle(x, block)
    )


def test_fold_permutes_a_single_consumer_conv_only() -> None:
    c = conv(3, 12, 3)
    graph = ops.Graph(
        "x",
        (node("c", c, ("x",)), node("ps", ops.DepthToSpace(2, "torch"), ("c",))),
        "ps",
    )
    folded, count = fold_torch_depth_to_space(graph)
    assert count == 1
    new_conv, shuffle = (n.op for n in folded.nodes)
    assert isinstance(shuffle, ops.DepthToSpace) and shuffle.order == "tf"
    assert isinstance(new_conv, ops.Conv2D) and new_conv.bias is not None
    perm = torch_to_tf_channels(12, 2)
    np.testing.assert_array_equal(new_conv.kernel, c.kernel[..., perm])
    assert c.bias is not None
    np.testing.assert_array_equal(new_conv.bias, c.bias[perm])
    # The conv's output also feeds something else: nothing may change.
    shared = ops.Graph(
        "x",
        (
            node("c", c, ("x",)),
            node("ps", ops.DepthToSpace(2, "torch"), ("c",)),
            node("cat", ops.Concat(), ("c", "c")),
            node("mix", conv(24, 12), ("cat",)),
            node("ps2", ops.DepthToSpace(2, "torch"), ("mix",)),
            node("sum", ops.WeightedSum(), ("ps", "ps2")),
        ),
        "sum",
    )
    result, count = fold_torch_depth_to_space(shared)
    assert count == 1  # only ps2's producer ("mix") is private
    orders = {n.name: n.op.order for n in result.nodes if isinstance(n.op, ops.DepthToSpace)}
    assert orders == {"ps": "torch", "ps2": "tf"}


def test_fuse_and_prune() -> None:
    graph = ops.Graph(
        "x",
        (
            node("a", conv(3, 4, 3), ("x",)),
            node("dead", conv(4, 4), ("a",)),
            node("cat", ops.Concat(), ("x", "a")),
            node("p", conv(7, 3), ("cat",)),
        ),
        "p",
    )
    pruned, dropped = prune(graph)
    assert dropped == 1 and [n.name for n in pruned.nodes] == ["a", "cat", "p"]
    fused, count = fuse_pointwise_concats(pruned)
    assert count == 1
    assert [n.name for n in fused.nodes] == ["a", "p"]
    assert isinstance(fused.nodes[1].op, ops.ConcatPointwise)
    assert fused.nodes[1].inputs == ("x", "a")
    assert fused.parameters() == pruned.parameters()


def test_graph_and_op_validation() -> None:
    with pytest.raises(ConversionError, match="no earlier layer"):
        ops.Graph("x", (node("a", ops.Activation(ops.Act("relu")), ("y",)),), "a")
    with pytest.raises(ConversionError, match=r"takes 2\.\.2"):
        ops.Graph("x", (node("a", ops.ChannelScale(), ("x",)),), "a")
    with pytest.raises(ConversionError, match="never produced"):
        ops.Graph("x", (), "y")
    with pytest.raises(ConversionError, match="takes 1 parameters"):
        ops.Act("leaky_relu")
    with pytest.raises(ConversionError, match="min > max"):
        ops.Act("clip", (1.0, 0.0))
    with pytest.raises(ConversionError, match="bias"):
        ops.Conv2D(kernel=np.zeros((3, 3, 3, 4), np.float32), bias=np.zeros(3, np.float32))
    with pytest.raises(ConversionError, match="NaN"):
        ops.as_array([1.0, float("nan")], "weights")


def same_conv(x: np.ndarray, op: ops.Conv2D) -> np.ndarray:
    """A stride-1 'same' convolution in numpy (zero padding), HWIO kernel, with bias."""
    k = op.kernel.shape[0]
    pad = (k - 1) // 2
    n, h, w, _ = x.shape
    padded = np.pad(x.astype(np.float64), ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    out = np.zeros((n, h, w, op.kernel.shape[3]))
    for dy in range(k):
        for dx in range(k):
            out += padded[:, dy : dy + h, dx : dx + w] @ op.kernel[dy, dx].astype(np.float64)
    return out + (0 if op.bias is None else op.bias)


@pytest.mark.parametrize(("factor", "k"), [(2, 3), (3, 3), (4, 3), (8, 3), (2, 5), (4, 5)])
def test_a_conv_of_a_nearest_upsampling_runs_at_low_resolution(factor: int, k: int) -> None:
    c = dataclasses.replace(conv(4, 3, k, seed=factor), padding="same")
    graph = ops.Graph(
        "x",
        (node("up", ops.ResizeNearest(factor, factor), ("x",)), node("c", c, ("up",))),
        "c",
    )
    folded, count = fold_nearest_upsampling(graph)
    assert count == 1
    low, shuffle = (n.op for n in folded.nodes)  # the upsampling is gone
    assert isinstance(low, ops.Conv2D) and low.out_channels == 3 * factor * factor
    assert isinstance(shuffle, ops.DepthToSpace) and shuffle.block == factor
    assert folded.nodes[-1].output == "c" and folded.nodes[0].inputs == ("x",)
    x = np.random.default_rng(1).standard_normal((1, 5, 7, 4))
    upsampled = x.repeat(factor, axis=1).repeat(factor, axis=2)
    expected = same_conv(upsampled, c)
    np.testing.assert_allclose(tf_depth_to_space(same_conv(x, low), factor), expected, atol=1e-4)


def test_only_a_lone_reader_of_an_upsampling_is_folded() -> None:
    up = node("up", ops.ResizeNearest(2, 2), ("x",))
    same = dataclasses.replace(conv(4, 3, 3), padding="same")  # narrowing: foldable alone
    shared = ops.Graph(
        "x",
        (up, node("c", same, ("up",)), node("s", ops.Binary("add"), ("c", "up"))),
        "s",
    )
    assert fold_nearest_upsampling(shared)[1] == 0
    alone = ops.Graph("x", (up, node("c", same, ("up",))), "c")
    assert fold_nearest_upsampling(alone)[1] == 1  # the same convolution, read alone
    strided = ops.Conv2D(kernel=conv(4, 3, 3).kernel, padding="same", strides=(2, 2))
    uneven = ops.Graph(
        "x", (node("up", ops.ResizeNearest(2, 3), ("x",)), node("c", same, ("up",))), "c"
    )
    assert fold_nearest_upsampling(uneven)[1] == 0
    graph = ops.Graph("x", (up, node("c", strided, ("up",))), "c")
    assert fold_nearest_upsampling(graph)[1] == 0
    wide = dataclasses.replace(conv(3, 4, 3), padding="same")  # as many outputs as inputs
    graph = ops.Graph("x", (up, node("c", wide, ("up",))), "c")
    assert fold_nearest_upsampling(graph)[1] == 0
