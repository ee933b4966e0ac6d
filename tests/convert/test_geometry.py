"""Where a network's strides put its grid: the shift period tiles keep, and where the
positions of each pooled feature map lie (pure ops, no TensorFlow)."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from upscaler.convert import ops
from upscaler.convert.geometry import pool_grids, shift_period


def conv(k: int, stride: int = 1, padding: ops.Padding = "valid") -> ops.Conv2D:
    return ops.Conv2D(np.zeros((k, k, 4, 4), np.float32), strides=(stride, stride), padding=padding)


def deconv(k: int, stride: int, crop: int = 0) -> ops.Conv2DTranspose:
    return ops.Conv2DTranspose(
        np.zeros((k, k, 4, 4), np.float32), strides=(stride, stride), crop=(crop,) * 4
    )


def chain(*items: ops.Op) -> ops.Graph:
    """Ops one after the other from ``x``; the last one's output is the graph's."""
    nodes = []
    source = "x"
    for index, op in enumerate(items):
        out = f"t{index}"
        nodes.append(ops.Node(f"n{index}", type(op).__name__, op, (source,), out))
        source = out
    return ops.Graph("x", tuple(nodes), source)


@pytest.mark.parametrize(
    ("items", "period"),
    [
        ((conv(3), conv(3)), 1),
        ((conv(2, 2), deconv(2, 2)), 2),
        # Real-CUGAN x2 shape: stride 2, back up, x2 up, then stride 2 twice (1/2 -> 1 -> 2)
        ((conv(2, 2), deconv(2, 2), deconv(4, 2, 1), conv(2, 2), conv(2, 2)), 2),
        # Real-CUGAN x3 shape: x3 up, then stride 2 twice: steps 2/3 and 4/3 -> 4
        ((ops.ResizeNearest(3, 3), conv(2, 2), conv(2, 2)), 4),
        ((conv(3, 2), conv(3, 3)), 6),
        ((ops.DepthToSpace(2), conv(3)), 1),
    ],
)
def test_shift_period(items: tuple[ops.Op, ...], period: int) -> None:
    assert shift_period(chain(*items)) == period


def test_pool_grids_place_each_pooled_map_in_the_input() -> None:
    graph = chain(
        ops.EdgePad(pads=(4, 4, 4, 4)),
        conv(3),  # centred 1 pixel in, reach 1
        conv(2, 2),  # stride 2: step 2, centred half a pixel in
        ops.GlobalAvgPool(),
    )
    [(rows, cols)] = pool_grids(graph) or []
    assert rows == cols
    assert (rows.step, rows.offset, rows.reach) == (2, Fraction(-5, 2), Fraction(3, 2))


def test_pool_grids_follow_upsampling_and_crops() -> None:
    graph = chain(
        deconv(4, 2, 1),  # x2 up: output i centred on (i + 1/2) / 2 - 1/2
        ops.Slice(h=ops.AxisSlice(start=3), w=ops.AxisSlice(start=3)),
        ops.GlobalAvgPool(),
    )
    [(rows, _)] = pool_grids(graph) or []
    assert rows.step == Fraction(1, 2)
    assert rows.offset == Fraction(-1, 4) + 3 * Fraction(1, 2)


def test_every_pool_of_a_graph_gets_a_grid_in_order() -> None:
    nodes = (
        ops.Node("c", "c", conv(3), ("x",), "a"),
        ops.Node("p1", "p", ops.GlobalAvgPool(), ("a",), "g1"),
        ops.Node("s", "s", ops.ChannelScale(), ("a", "g1"), "b"),
        ops.Node("d", "d", conv(2, 2), ("b",), "c"),
        ops.Node("p2", "p", ops.GlobalAvgPool(), ("c",), "g2"),
        ops.Node("s2", "s", ops.ChannelScale(), ("c", "g2"), "out"),
    )
    grids = pool_grids(ops.Graph("x", nodes, "out"))
    assert grids is not None
    assert [g[0].step for g in grids] == [1, 2]


@pytest.mark.parametrize(
    "graph",
    [
        # A strided SAME convolution pads by an amount that depends on the size.
        chain(conv(3, 2, "same"), ops.GlobalAvgPool()),
        # A crop counted from the end moves with the size.
        chain(ops.Slice(h=ops.AxisSlice(start=-4)), ops.GlobalAvgPool()),
        # Two unaligned inputs of an add: a skip connection cropped by the wrong amount.
        ops.Graph(
            "x",
            (
                ops.Node("a", "c", conv(3), ("x",), "a"),
                ops.Node("b", "c", conv(5), ("x",), "b"),
                ops.Node("s", "add", ops.Binary("add"), ("a", "b"), "s"),
                ops.Node("p", "p", ops.GlobalAvgPool(), ("s",), "out"),
            ),
            "out",
        ),
    ],
    ids=["strided-same", "crop-from-end", "unaligned-add"],
)
def test_pool_grids_refuse_what_moves_with_the_size(graph: ops.Graph) -> None:
    assert pool_grids(graph) is None


def test_a_graph_without_pools_has_no_grids_to_give() -> None:
    assert pool_grids(chain(conv(3))) == []
