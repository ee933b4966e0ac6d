"""The small op vocabulary every parser emits and the one TensorFlow builder consumes.

Why a shared vocabulary: each source format (TF.js layers, ncnn, ...) has its own layer
names, weight layouts and quirks, but the networks they describe use the same two dozen
operations. A parser's whole job is to translate its format into these ops, with the
weights already decoded into numpy arrays in TensorFlow's layout (HWIO kernels, NHWC
tensors); the graph rewrites (:mod:`upscaler.convert.rewrites`), the builder
(:mod:`upscaler.convert.builder`) and the SavedModel writer
(:mod:`upscaler.convert.writer`) are then written once. Adding a format means adding a
parser, not another builder.

Tensors are NHWC. A "vector" (ncnn's 1-D blob, e.g. after global pooling) is an
``[N, 1, 1, C]`` tensor, so per-channel broadcasting against an image is ordinary
broadcasting. Every op here is built by the builder; an op the builder cannot build must
not exist. This module is pure: numpy only, no TensorFlow.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields
from typing import ClassVar, Literal

import numpy as np
import numpy.typing as npt

from upscaler.errors import ConversionError

Array = npt.NDArray[np.float32]

ActKind = Literal[
    "linear",
    "relu",
    "relu6",
    "leaky_relu",
    "clip",
    "sigmoid",
    "tanh",
    "elu",
    "selu",
    "softplus",
    "softsign",
    "swish",
    "gelu",
    "exponential",
    "mish",
    "hardswish",
]
"""Elementwise activations the builder knows."""

_ACT_PARAMS: dict[str, int] = {"leaky_relu": 1, "clip": 2, "hardswish": 2}
"""How many parameters an activation takes: slope; (min, max); (alpha, beta)."""

Padding = Literal["same", "valid"] | tuple[int, int, int, int]
"""TensorFlow's SAME / VALID, or explicit zero padding (top, bottom, left, right)."""

PadMode = Literal["edge", "reflect"]
"""How :class:`EdgePad` fills the pixels it adds (numpy's names)."""

PAD_MODES: tuple[PadMode, ...] = ("edge", "reflect")


def as_array(value: npt.ArrayLike, what: str) -> Array:
    """A float32, C-contiguous, finite copy (weights must never alias a parser's buffer)."""
    array = np.ascontiguousarray(np.asarray(value, dtype=np.float32)).copy()
    if not np.all(np.isfinite(array)):
        raise ConversionError(f"{what} holds NaN or infinite values")
    return array


@dataclass(frozen=True)
class Act:
    """An activation and its parameters: leaky_relu (slope,), clip (min, max),
    hardswish (alpha, beta) computing ``x * clip(alpha*x + beta, 0, 1)``."""

    kind: ActKind = "linear"
    params: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        wanted = _ACT_PARAMS.get(self.kind, 0)
        if len(self.params) != wanted:
            raise ConversionError(
                f"activation {self.kind!r} takes {wanted} parameters, got {list(self.params)}"
            )
        if self.kind == "clip" and not self.params[0] <= self.params[1]:
            raise ConversionError(f"clip range {list(self.params)} has min > max")
        if self.kind == "hardswish" and self.params[0] == 0:
            raise ConversionError("hardswish alpha must not be 0")


LINEAR = Act()


# --------------------------------------------------------------------------- ops


@dataclass(frozen=True, eq=False)
class Op:
    """Base of every op. ``arity`` is (fewest, most) inputs; ``None`` means any number."""

    arity: ClassVar[tuple[int, int | None]] = (1, 1)

    def arrays(self) -> dict[str, Array]:
        """The op's weights by parameter name (what becomes a variable in the SavedModel)."""
        return {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if isinstance(getattr(self, f.name), np.ndarray)
        }


@dataclass(frozen=True, eq=False)
class Conv2D(Op):
    """2-D convolution with an HWIO kernel, optional bias and a fused activation."""

    kernel: Array
    bias: Array | None = None
    strides: tuple[int, int] = (1, 1)
    dilation: tuple[int, int] = (1, 1)
    padding: Padding = "valid"
    act: Act = LINEAR

    def __post_init__(self) -> None:
        if self.kernel.ndim != 4:
            raise ConversionError(f"Conv2D kernel has shape {list(self.kernel.shape)}, not HWIO")
        if self.bias is not None and self.bias.shape != (self.kernel.shape[3],):
            raise ConversionError(
                f"Conv2D bias has shape {list(self.bias.shape)}, expected [{self.kernel.shape[3]}]"
            )
        if isinstance(self.padding, tuple) and (len(self.padding) != 4 or min(self.padding) < 0):
            raise ConversionError(f"Conv2D padding {self.padding!r} is invalid")

    @property
    def out_channels(self) -> int:
        return int(self.kernel.shape[3])

    @property
    def pointwise(self) -> bool:
        """A 1×1, stride-1 convolution without padding: a per-pixel matrix product."""
        zero_pad = self.padding in ("same", "valid") or self.padding == (0, 0, 0, 0)
        return (
            self.kernel.shape[:2] == (1, 1)
            and self.strides == (1, 1)
            and self.dilation == (1, 1)
            and zero_pad
        )


@dataclass(frozen=True, eq=False)
class Conv2DTranspose(Op):
    """ncnn Deconvolution: scatter each input pixel through the kernel (no flip), giving
    the full ``(H-1)·s + k`` output, then crop ``crop`` = (top, bottom, left, right).
    ``kernel`` is TensorFlow's transposed-conv filter ``[kh, kw, out, in]``."""

    kernel: Array
    bias: Array | None = None
    strides: tuple[int, int] = (1, 1)
    crop: tuple[int, int, int, int] = (0, 0, 0, 0)
    act: Act = LINEAR

    def __post_init__(self) -> None:
        if self.kernel.ndim != 4:
            raise ConversionError(
                f"Conv2DTranspose kernel has shape {list(self.kernel.shape)}, not [kh,kw,out,in]"
            )
        if self.bias is not None and self.bias.shape != (self.kernel.shape[2],):
            raise ConversionError(
                f"Conv2DTranspose bias has shape {list(self.bias.shape)}, "
                f"expected [{self.kernel.shape[2]}]"
            )
        if min(self.crop) < 0:
            raise ConversionError(f"Conv2DTranspose crop {self.crop!r} is negative")


@dataclass(frozen=True, eq=False)
class ConcatPointwise(Op):
    """A channel concatenation read only by a 1×1 convolution, computed without the copy.

    RDN fuses features by concatenating every dense block's output (640 channels for D10
    G64) and reducing them with a 1×1 convolution. The concatenated tensor is a second copy
    of all its inputs, and it is the model's memory peak: the planner sizes tiles by that
    peak, so it decides how many tiles (and how much recomputed overlap) an image costs. A
    1×1 convolution of a concatenation is the sum of 1×1 convolutions of the parts with the
    matching slices of the kernel: the same linear map and the same multiplications, but
    each part can be freed as soon as its term is added. Only the summation order changes
    (float32 rounding, far below one grey level). Made by
    :func:`upscaler.convert.rewrites.fuse_pointwise_concats`.
    """

    arity: ClassVar[tuple[int, int | None]] = (1, None)
    conv: Conv2D

    def arrays(self) -> dict[str, Array]:
        return self.conv.arrays()


@dataclass(frozen=True, eq=False)
class Activation(Op):
    """An elementwise activation on its own."""

    act: Act


@dataclass(frozen=True, eq=False)
class PReLU(Op):
    """``max(x, 0) + slope·min(x, 0)`` with one slope per channel (or one for all)."""

    slopes: Array

    def __post_init__(self) -> None:
        if self.slopes.ndim != 1 or self.slopes.size < 1:
            raise ConversionError(f"PReLU slopes have shape {list(self.slopes.shape)}")


BinaryKind = Literal["add", "sub", "mul", "div", "max", "min"]


@dataclass(frozen=True, eq=False)
class Binary(Op):
    """``a op b`` for two inputs that broadcast (same shape, per-channel ``[N,1,1,C]`` or
    ``[1,1,1,C]``, or a single value), or ``x op scalar`` (``scalar op x`` when
    ``reverse``) for one input."""

    arity: ClassVar[tuple[int, int | None]] = (1, 2)
    kind: BinaryKind
    scalar: float | None = None
    reverse: bool = False


@dataclass(frozen=True, eq=False)
class WeightedSum(Op):
    """``Σ coeff_i · x_i`` (ncnn Eltwise sum with coefficients); plain sum without them."""

    arity: ClassVar[tuple[int, int | None]] = (1, None)
    coeffs: tuple[float, ...] | None = None


@dataclass(frozen=True, eq=False)
class Concat(Op):
    """Concatenation on the channel (last) axis."""

    arity: ClassVar[tuple[int, int | None]] = (1, None)


@dataclass(frozen=True, eq=False)
class Constant(Op):
    """A constant tensor ``[1, h, w, c]`` (ncnn MemoryData); it takes no input."""

    arity: ClassVar[tuple[int, int | None]] = (0, 0)
    value: Array

    def __post_init__(self) -> None:
        if self.value.ndim != 4 or self.value.shape[0] != 1:
            raise ConversionError(f"Constant has shape {list(self.value.shape)}, not [1,h,w,c]")


@dataclass(frozen=True)
class AxisSlice:
    """One axis of a :class:`Slice`, with ncnn Crop's rules for an axis of size ``n``:
    begin = ``start`` (``n + start`` when negative); end = ``n`` when ``stop`` is None,
    ``min(stop, n)`` when positive, ``n + stop`` otherwise; then at most ``size`` long."""

    start: int = 0
    stop: int | None = None
    size: int | None = None

    @property
    def whole(self) -> bool:
        return self.start == 0 and self.stop is None and self.size is None


@dataclass(frozen=True, eq=False)
class Slice(Op):
    """Crop H, W and C by fixed offsets (ncnn Crop's offset and starts/ends/axes forms)."""

    h: AxisSlice = AxisSlice()
    w: AxisSlice = AxisSlice()
    c: AxisSlice = AxisSlice()

    def __post_init__(self) -> None:
        for axis in (self.h, self.w, self.c):
            if axis.size is not None and axis.size < 1:
                raise ConversionError(f"Slice size {axis.size} would leave nothing")


@dataclass(frozen=True, eq=False)
class CropToReference(Op):
    """Crop the first input at (offset_h, offset_w) to ``factor ×`` the second input's
    height and width; with ``channels``, also take the reference's channel count from
    ``offset_c`` (ncnn's two-input Crop). The wrapper uses factor = scale to cut a padded
    network output back to exactly scale·H × scale·W."""

    arity: ClassVar[tuple[int, int | None]] = (2, 2)
    offset_h: int = 0
    offset_w: int = 0
    offset_c: int = 0
    factor: int = 1
    channels: bool = False

    def __post_init__(self) -> None:
        if min(self.offset_h, self.offset_w, self.offset_c) < 0 or self.factor < 1:
            raise ConversionError(f"CropToReference {self!r} has a negative offset or factor")


@dataclass(frozen=True, eq=False)
class GlobalAvgPool(Op):
    """Mean over H and W, keeping them as size 1: ``[N, 1, 1, C]``."""


@dataclass(frozen=True, eq=False)
class Dense(Op):
    """Fully connected layer on a vector ``[N, 1, 1, in]`` (ncnn InnerProduct), with a
    ``[in, out]`` kernel, optional bias and a fused activation."""

    kernel: Array
    bias: Array | None = None
    act: Act = LINEAR

    def __post_init__(self) -> None:
        if self.kernel.ndim != 2:
            raise ConversionError(f"Dense kernel has shape {list(self.kernel.shape)}")
        if self.bias is not None and self.bias.shape != (self.kernel.shape[1],):
            raise ConversionError(f"Dense bias has shape {list(self.bias.shape)}")


@dataclass(frozen=True, eq=False)
class ChannelScale(Op):
    """``x · s`` with ``s`` a per-channel vector from a second input (ncnn Scale, SE)."""

    arity: ClassVar[tuple[int, int | None]] = (2, 2)


@dataclass(frozen=True, eq=False)
class DepthToSpace(Op):
    """Move ``block²`` channel groups into ``block × block`` pixels. ``order="tf"`` is
    ``tf.nn.depth_to_space`` (channel ``(i·r + j)·C + c``); ``order="torch"`` is PyTorch's
    PixelShuffle (channel ``c·r² + i·r + j``), which ncnn uses."""

    block: int
    order: Literal["tf", "torch"] = "tf"

    def __post_init__(self) -> None:
        if self.block < 1:
            raise ConversionError(f"DepthToSpace block {self.block} is not positive")


@dataclass(frozen=True, eq=False)
class ResizeNearest(Op):
    """Nearest-neighbour upsampling by integer factors (each pixel repeated)."""

    factor_h: int
    factor_w: int

    def __post_init__(self) -> None:
        if min(self.factor_h, self.factor_w) < 1:
            raise ConversionError("ResizeNearest factors must be positive integers")


@dataclass(frozen=True, eq=False)
class ResizeBilinear(Op):
    """Bilinear upsampling by integer factors with TensorFlow's (Keras') half-pixel rule."""

    factor_h: int
    factor_w: int

    def __post_init__(self) -> None:
        if min(self.factor_h, self.factor_w) < 1:
            raise ConversionError("ResizeBilinear factors must be positive integers")


@dataclass(frozen=True, eq=False)
class ResizeCubic(Op):
    """ncnn's bicubic Interp: cubic a = −0.75, half-pixel centres, edge clamp, no
    antialiasing. TensorFlow's bicubic resize uses a = −0.5 and differs, so the builder
    computes ncnn's taps itself. The output is ``out_h × out_w`` when both are given
    (taps step by in/out), else ``floor(H·scale_h) × floor(W·scale_w)`` in float32
    arithmetic with taps stepping by ``1/scale`` (PyTorch's scale-factor rule, which
    ncnn follows; the two differ only when H·scale is not a whole number)."""

    scale_h: float = 1.0
    scale_w: float = 1.0
    out_h: int = 0
    out_w: int = 0

    def __post_init__(self) -> None:
        fixed = self.out_h > 0 and self.out_w > 0
        if not fixed and (self.scale_h <= 0 or self.scale_w <= 0):
            raise ConversionError("ResizeCubic needs positive scales or an output size")


@dataclass(frozen=True, eq=False)
class EdgePad(Op):
    """Extend the image past its edges: ``pads`` = (top, bottom, left, right), plus at the
    bottom and right whatever brings the input's H and W up to a multiple of ``multiple``.

    ``mode="edge"`` repeats the edge pixel (waifu2x's wrapper); ``mode="reflect"`` mirrors
    the image about its edge pixel without repeating it (numpy's ``reflect``, ncnn's
    ``BORDER_REFLECT``: Real-CUGAN's wrappers, PyTorch and ncnn alike). Reflection wider
    than the image folds back and forth, as numpy's does."""

    pads: tuple[int, int, int, int] = (0, 0, 0, 0)
    multiple: int = 1
    mode: PadMode = "edge"

    def __post_init__(self) -> None:
        if min(self.pads) < 0 or self.multiple < 1:
            raise ConversionError(f"EdgePad {self.pads!r} / multiple {self.multiple} invalid")
        if self.mode not in PAD_MODES:
            raise ConversionError(
                f"EdgePad mode {self.mode!r} is not supported", hint=", ".join(PAD_MODES)
            )


@dataclass(frozen=True, eq=False)
class LayerNorm(Op):
    """Normalise each pixel's channel vector to zero mean and unit variance, then scale
    and shift it per channel (Ba et al. 2016, "Layer Normalization").

    The transformers (SwinIR, HAT) apply PyTorch's ``nn.LayerNorm`` to ``(B, H·W, C)``
    tokens; on our NHWC tensors that is the channel axis, so the token layout never needs
    to exist. The variance is the biased one, as PyTorch's."""

    weight: Array
    bias: Array
    eps: float = 1e-5

    def __post_init__(self) -> None:
        if self.weight.ndim != 1 or self.bias.shape != self.weight.shape:
            raise ConversionError(
                f"LayerNorm weight {list(self.weight.shape)} and bias "
                f"{list(self.bias.shape)} must be two vectors of the channel count"
            )
        if not self.eps > 0:
            raise ConversionError(f"LayerNorm eps {self.eps} must be positive")


def _check_attention(
    what: str,
    *,
    qkv_kernel: Array,
    qkv_bias: Array | None,
    proj_kernel: Array,
    proj_bias: Array | None,
    heads: int,
) -> int:
    """The channel count of an attention op's weights, after checking they agree."""
    if qkv_kernel.ndim != 2 or qkv_kernel.shape[1] != 3 * qkv_kernel.shape[0]:
        raise ConversionError(f"{what} qkv kernel has shape {list(qkv_kernel.shape)}, not [C, 3C]")
    channels = int(qkv_kernel.shape[0])
    if qkv_bias is not None and qkv_bias.shape != (3 * channels,):
        raise ConversionError(f"{what} qkv bias has shape {list(qkv_bias.shape)}")
    if proj_kernel.shape != (channels, channels):
        raise ConversionError(f"{what} projection has shape {list(proj_kernel.shape)}")
    if proj_bias is not None and proj_bias.shape != (channels,):
        raise ConversionError(f"{what} projection bias has shape {list(proj_bias.shape)}")
    if heads < 1 or channels % heads:
        raise ConversionError(f"{what}: {channels} channels do not split into {heads} heads")
    return channels


@dataclass(frozen=True, eq=False)
class WindowAttention(Op):
    """Multi-head self-attention inside non-overlapping ``window × window`` windows, with a
    learned relative position bias; with ``shift`` > 0 the windows are displaced by
    ``shift`` pixels (Liu et al. 2021, "Swin Transformer", W-MSA / SW-MSA; used by SwinIR
    and HAT).

    Input and output are NHWC with H and W multiples of ``window`` (the wrapper pads the
    image to them). The shifted variant rolls the map by ``-shift``, attends inside the
    windows with the Swin mask that keeps pixels which the roll brought together from
    opposite edges apart (-100 added to their logits, as the original), and rolls back;
    the mask depends only on H and W, so it is computed for each call's own size.
    ``qkv_kernel`` ``[C, 3C]`` (PyTorch's ``qkv.weight`` transposed, output channels
    q, k, v), ``proj_kernel`` ``[C, C]``; ``bias_table`` ``[(2·window-1)², heads]`` is
    indexed by the relative offset of the two pixels. ``scale`` defaults to
    ``(C / heads) ** -0.5``.
    """

    qkv_kernel: Array
    qkv_bias: Array | None
    proj_kernel: Array
    proj_bias: Array | None
    bias_table: Array
    window: int
    heads: int
    shift: int = 0
    scale: float | None = None

    def __post_init__(self) -> None:
        _check_attention(
            "WindowAttention",
            qkv_kernel=self.qkv_kernel,
            qkv_bias=self.qkv_bias,
            proj_kernel=self.proj_kernel,
            proj_bias=self.proj_bias,
            heads=self.heads,
        )
        if self.window < 1 or not 0 <= self.shift < self.window:
            raise ConversionError(
                f"WindowAttention window {self.window} / shift {self.shift} invalid: "
                "the shift must be in [0, window)"
            )
        table = ((2 * self.window - 1) ** 2, self.heads)
        if self.bias_table.shape != table:
            raise ConversionError(
                f"WindowAttention bias table has shape {list(self.bias_table.shape)}, "
                f"expected {list(table)} for window {self.window} and {self.heads} heads"
            )

    @property
    def channels(self) -> int:
        return int(self.qkv_kernel.shape[0])


@dataclass(frozen=True, eq=False)
class OverlapAttention(Op):
    """HAT's overlapping cross-attention (OCA, Chen et al. 2023, "Activating More Pixels
    in Image Super-Resolution Transformer"): queries from non-overlapping
    ``window × window`` windows attend to keys and values from the ``overlap × overlap``
    window centred on them, cut from the key/value maps zero-padded by
    ``(overlap - window) / 2`` (PyTorch's ``nn.Unfold`` with that padding, applied after
    the qkv projection, so padded keys and values are zeros, not projected zeros).

    Weights as :class:`WindowAttention`; ``bias_table`` is
    ``[(window + overlap - 1)², heads]``. No shift, no mask.
    """

    qkv_kernel: Array
    qkv_bias: Array | None
    proj_kernel: Array
    proj_bias: Array | None
    bias_table: Array
    window: int
    overlap: int
    heads: int
    scale: float | None = None

    def __post_init__(self) -> None:
        _check_attention(
            "OverlapAttention",
            qkv_kernel=self.qkv_kernel,
            qkv_bias=self.qkv_bias,
            proj_kernel=self.proj_kernel,
            proj_bias=self.proj_bias,
            heads=self.heads,
        )
        if self.window < 1 or self.overlap < self.window or (self.overlap - self.window) % 2:
            raise ConversionError(
                f"OverlapAttention window {self.window} / overlap {self.overlap} invalid: "
                "the overlapping window must be the window plus an even number of pixels"
            )
        table = ((self.window + self.overlap - 1) ** 2, self.heads)
        if self.bias_table.shape != table:
            raise ConversionError(
                f"OverlapAttention bias table has shape {list(self.bias_table.shape)}, "
                f"expected {list(table)}"
            )

    @property
    def channels(self) -> int:
        return int(self.qkv_kernel.shape[0])


# --------------------------------------------------------------------------- graph


@dataclass(frozen=True, eq=False)
class Node:
    """One op applied to named tensors. ``name`` and ``kind`` are the source layer's name
    and type, so that every error can point at the layer a user can find in the file."""

    name: str
    kind: str
    op: Op
    inputs: tuple[str, ...]
    output: str


@dataclass(frozen=True, eq=False)
class Graph:
    """A single-input, single-output network: nodes in an order where every input is
    computed before it is read. ``input_channels``: 3 (RGB) or 1 (luma models); 4 for the
    RGBA networks ``upscaler train`` makes (the runtime's contract does not run them yet)."""

    input: str
    nodes: tuple[Node, ...]
    output: str
    input_channels: int = 3

    def __post_init__(self) -> None:
        if self.input_channels not in (1, 3, 4):
            raise ConversionError(
                f"the model takes {self.input_channels} input channels; only RGB (3), "
                "luma (1) and RGBA (4) networks can be built"
            )
        defined = {self.input}
        for node in self.nodes:
            low, high = node.op.arity
            count = len(node.inputs)
            if count < low or (high is not None and count > high):
                raise ConversionError(
                    f"layer {node.name!r} ({node.kind}) has {count} inputs; "
                    f"{type(node.op).__name__} takes {low}..{high if high is not None else 'n'}"
                )
            for ref in node.inputs:
                if ref not in defined:
                    raise ConversionError(
                        f"layer {node.name!r} ({node.kind}) reads {ref!r}, which no earlier "
                        "layer produces"
                    )
            if node.output in defined:
                raise ConversionError(
                    f"layer {node.name!r} ({node.kind}) writes {node.output!r}, which is "
                    "already defined"
                )
            defined.add(node.output)
        if self.output not in defined:
            raise ConversionError(f"the graph output {self.output!r} is never produced")

    def __iter__(self) -> Iterator[Node]:
        return iter(self.nodes)

    def readers(self) -> Counter[str]:
        """How many times each tensor is read (the graph output counts as one read)."""
        counts: Counter[str] = Counter(ref for node in self.nodes for ref in node.inputs)
        counts[self.output] += 1
        return counts

    def producers(self) -> Mapping[str, Node]:
        return {node.output: node for node in self.nodes}

    def parameters(self) -> int:
        """Number of weight values (what a report calls parameters)."""
        return sum(int(a.size) for node in self.nodes for a in node.op.arrays().values())
