"""Where a network's strides put its sampling grid: the shift period tiles must keep.

A convolution of stride 1 is shift-invariant: shift the input by one pixel and every
feature map shifts by one position. A stride-2 layer is not: it keeps every other
position, so a one-pixel shift changes *which* positions it keeps, and the output is a
different function of the image, not a shifted copy. The waifu2x cunet and Real-CUGAN
U-Nets downsample by 2 (twice in places, sometimes after a ×2 or ×3 upsampling), so a
tile whose origin is off the network's grid gives other pixels than the same region of a
whole-image run, however much context it has.

The fix is a rule for the tile planner: window origins on multiples of the *shift period*
``P``, the smallest shift of the input that shifts every tensor of the network by a
whole number of its own positions. Each tensor has a *step* (input pixels per position,
a fraction: 2 after a stride-2 convolution, 1/2 after a ×2 upsampling, 4/3 for a stride-4
map of a ×3-upsampled image); a shift by ``P`` moves it by ``P / step`` positions, so
``P`` is the least common multiple of the steps' numerators.

The same bookkeeping, with offsets, says where each position of a feature map lies in
the input (:func:`pool_grids`), which lets a runner split a global average exactly among
tiles: each tile sums the positions centred in its own core. Pure: ops only, no
TensorFlow.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from fractions import Fraction

from upscaler.convert import ops
from upscaler.errors import ConversionError

log = logging.getLogger("upscaler.convert.geometry")

Step = tuple[Fraction, Fraction]
"""(rows, columns): input pixels per position of a tensor."""


def _ratio(value: float, what: str) -> Fraction:
    if value <= 0:
        raise ConversionError(f"{what} {value} is not positive")
    return Fraction(value).limit_denominator(1000)


def _step(op: ops.Op, inputs: list[Step | None]) -> Step | None:
    """The output step of ``op`` given its inputs' steps; None for a vector or constant
    (no spatial grid)."""
    spatial = [s for s in inputs if s is not None]
    if isinstance(op, (ops.GlobalAvgPool, ops.Dense, ops.Constant)) or not spatial:
        return None
    sh, sw = spatial[0]
    if isinstance(op, ops.Conv2D):
        return sh * op.strides[0], sw * op.strides[1]
    if isinstance(op, ops.Conv2DTranspose):
        return sh / op.strides[0], sw / op.strides[1]
    if isinstance(op, ops.DepthToSpace):
        return sh / op.block, sw / op.block
    if isinstance(op, (ops.ResizeNearest, ops.ResizeBilinear)):
        return sh / op.factor_h, sw / op.factor_w
    if isinstance(op, ops.ResizeCubic):
        if op.out_h > 0 and op.out_w > 0:
            raise ConversionError(
                "a resize to a fixed output size has no sampling grid; its model cannot be tiled"
            )
        return sh / _ratio(op.scale_h, "resize scale"), sw / _ratio(op.scale_w, "resize scale")
    # Everything else keeps its first spatial input's grid (elementwise ops, crops, pads,
    # 1x1 convolutions of concatenations, channel scales by a vector).
    return sh, sw


def shift_period(graph: ops.Graph) -> int:
    """The smallest input shift (pixels, same on both axes) under which every tensor of
    ``graph`` shifts by whole positions: 1 for a network without strides, 2 for the
    waifu2x cunet x2 and Real-CUGAN x2/x4 U-Nets, 4 for Real-CUGAN x3."""
    steps: dict[str, Step | None] = {graph.input: (Fraction(1), Fraction(1))}
    period = 1
    for node in graph.nodes:
        step = _step(node.op, [steps[ref] for ref in node.inputs])
        steps[node.output] = step
        if step is not None:
            for s in step:
                period = math.lcm(period, s.numerator)
        window = _window(node.op)
        if window and step is not None:
            # Attention windows tile the map from its origin: only a shift by whole
            # windows moves every window onto another one (Swin's partition).
            for s in step:
                period = math.lcm(period, (s * window).numerator)
    return period


def _window(op: ops.Op) -> int:
    """The window an attention op partitions its input into (0 for other ops)."""
    if isinstance(op, (ops.WindowAttention, ops.OverlapAttention)):
        return op.window
    return 0


@dataclass(frozen=True)
class Axis:
    """Where the positions of a tensor lie along one axis, in input pixels: position
    ``j`` is centred on input pixel ``offset + j * step`` and depends on input pixels at
    most ``reach`` away from that centre."""

    step: Fraction
    offset: Fraction
    reach: Fraction

    def to_dict(self) -> dict[str, str]:
        return {"step": str(self.step), "offset": str(self.offset), "reach": str(self.reach)}


Grid = tuple[Axis, Axis]
"""(rows, columns) of a feature map."""


class _NotLocal(Exception):
    """Internal: the position of some tensor depends on the input's size."""


def _same_pad(kernel: int, dilation: int, stride: int) -> int:
    if stride != 1:
        raise _NotLocal("a strided SAME convolution pads by an amount that depends on the size")
    return (kernel - 1) * dilation // 2


def _conv_axis(axis: Axis, kernel: int, dilation: int, stride: int, pad: int) -> Axis:
    half = Fraction((kernel - 1) * dilation, 2)
    return Axis(
        step=axis.step * stride,
        offset=axis.offset + axis.step * (half - pad),
        reach=axis.reach + axis.step * half,
    )


def _conv_grid(op: ops.Conv2D, grid: Grid) -> Grid:
    kh, kw = (int(d) for d in op.kernel.shape[:2])
    if op.padding == "valid":
        top = left = 0
    elif op.padding == "same":
        top = _same_pad(kh, op.dilation[0], op.strides[0])
        left = _same_pad(kw, op.dilation[1], op.strides[1])
    else:
        top, _, left, _ = op.padding
    return (
        _conv_axis(grid[0], kh, op.dilation[0], op.strides[0], top),
        _conv_axis(grid[1], kw, op.dilation[1], op.strides[1], left),
    )


def _deconv_axis(axis: Axis, kernel: int, stride: int, crop: int) -> Axis:
    # Full output index f gathers inputs j with j*stride <= f <= j*stride + kernel - 1.
    half = Fraction(kernel - 1, 2)
    return Axis(
        step=axis.step / stride,
        offset=axis.offset + axis.step * (crop - half) / stride,
        reach=axis.reach + axis.step * half / stride,
    )


def _upsample_axis(axis: Axis, factor: Fraction, taps: int) -> Axis:
    # Half-pixel centres: output i samples input (i + 1/2) / factor - 1/2.
    return Axis(
        step=axis.step / factor,
        offset=axis.offset + axis.step * (Fraction(1, 2) / factor - Fraction(1, 2)),
        reach=axis.reach + axis.step * taps,
    )


def _shift(axis: Axis, by: int) -> Axis:
    return Axis(step=axis.step, offset=axis.offset + axis.step * by, reach=axis.reach)


def _start(axis: ops.AxisSlice) -> int:
    if axis.start < 0:
        raise _NotLocal("a crop counted from the end moves with the size")
    return axis.start


def _grid(op: ops.Op, inputs: list[Grid | None]) -> Grid | None:
    """The output grid of ``op``; None for a vector."""
    if isinstance(op, ops.CropToReference):
        inputs = inputs[:1]  # the reference gives a size, not a place
    spatial = [g for g in inputs if g is not None]
    if isinstance(op, (ops.GlobalAvgPool, ops.Dense)) or not spatial:
        return None
    if isinstance(op, ops.Constant):
        if op.value.shape[1:3] != (1, 1):
            raise _NotLocal("a constant image has no place relative to the input")
        return None
    first = spatial[0]
    if any(_key(g) != _key(first) for g in spatial):
        raise _NotLocal(
            f"two inputs of a {type(op).__name__} are not aligned: "
            + ", ".join(f"{[str(v) for v in _key(g)]}" for g in spatial)
        )
    rows, cols = (
        Axis(a.step, a.offset, max(g[i].reach for g in spatial)) for i, a in enumerate(first)
    )
    if isinstance(op, ops.Conv2D):
        return _conv_grid(op, (rows, cols))
    if isinstance(op, ops.Conv2DTranspose):
        kh, kw = (int(d) for d in op.kernel.shape[:2])
        top, _, left, _ = op.crop
        return (
            _deconv_axis(rows, kh, op.strides[0], top),
            _deconv_axis(cols, kw, op.strides[1], left),
        )
    if isinstance(op, ops.DepthToSpace):
        block = Fraction(op.block)
        return _upsample_axis(rows, block, 0), _upsample_axis(cols, block, 0)
    if isinstance(op, ops.ResizeNearest):
        return (
            _upsample_axis(rows, Fraction(op.factor_h), 0),
            _upsample_axis(cols, Fraction(op.factor_w), 0),
        )
    if isinstance(op, ops.ResizeBilinear):
        return (
            _upsample_axis(rows, Fraction(op.factor_h), 1),
            _upsample_axis(cols, Fraction(op.factor_w), 1),
        )
    if isinstance(op, ops.ResizeCubic):
        if op.out_h > 0 and op.out_w > 0:
            raise _NotLocal("a resize to a fixed size has no place relative to the input")
        return (
            _upsample_axis(rows, _ratio(op.scale_h, "resize scale"), 2),
            _upsample_axis(cols, _ratio(op.scale_w, "resize scale"), 2),
        )
    if isinstance(op, ops.Slice):
        return _shift(rows, _start(op.h)), _shift(cols, _start(op.w))
    if isinstance(op, ops.CropToReference):
        return _shift(rows, op.offset_h), _shift(cols, op.offset_w)
    if isinstance(op, ops.EdgePad):
        top, _, left, _ = op.pads
        return _shift(rows, -top), _shift(cols, -left)
    if isinstance(op, (ops.WindowAttention, ops.OverlapAttention)):
        # A pixel reads its whole window (plus the overlap's margin): at most this far.
        extra = Fraction(op.window - 1)
        if isinstance(op, ops.OverlapAttention):
            extra += Fraction(op.overlap - op.window, 2)
        return (
            Axis(rows.step, rows.offset, rows.reach + rows.step * extra),
            Axis(cols.step, cols.offset, cols.reach + cols.step * extra),
        )
    return rows, cols


def _key(grid: Grid) -> tuple[Fraction, Fraction, Fraction, Fraction]:
    return grid[0].step, grid[0].offset, grid[1].step, grid[1].offset


def pool_grids(graph: ops.Graph) -> list[Grid] | None:
    """For every global-average-pooling node (graph order), where the positions of the
    feature map it averages lie in the input: what a runner needs to split that average
    exactly among tiles (each tile sums the positions centred in its core). None when
    some tensor's position depends on the input's size (a strided SAME convolution, a
    crop counted from the end, two unaligned inputs of an elementwise op): such a model
    can only take its statistics from one call."""
    grids: dict[str, Grid | None] = {
        graph.input: (Axis(Fraction(1), Fraction(0), Fraction(0)),) * 2
    }
    pooled: list[Grid] = []
    try:
        for node in graph.nodes:
            inputs = [grids[ref] for ref in node.inputs]
            if isinstance(node.op, ops.GlobalAvgPool):
                source = inputs[0]
                if source is None:
                    raise _NotLocal("a global pool of a vector")
                pooled.append(source)
            grids[node.output] = _grid(node.op, inputs)
    except _NotLocal as exc:
        log.info("the pooled statistics cannot be split among tiles: %s", exc)
        return None
    return pooled
