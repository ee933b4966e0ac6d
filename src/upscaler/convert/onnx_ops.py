"""Each shared op as ONNX nodes: the translations :mod:`upscaler.convert.onnx_export`
assembles into a model.

The counterpart of :mod:`upscaler.convert.builder`'s table: one function per op type of
:mod:`upscaler.convert.ops`, writing NCHW tensors (ONNX's Conv layout) where the
TensorFlow builder writes NHWC. Kernels are transposed HWIO → OIHW here, channel axes
become axis 1, per-channel vectors ``[N, 1, 1, C]`` become ``[N, C, 1, 1]``, so
broadcasting means the same. Each translation also returns its output's channel count
when it is known, because ONNX needs a grouped convolution's ``group`` spelled out where
TensorFlow infers it from the kernel. The transformer ops (LayerNorm, window attention)
work in NHWC between two transposes, mirroring :mod:`upscaler.convert.attention`
reshape for reshape, so that both builders compute the same thing in the same order.

Nothing here imports ``onnx``: the emitter is handed the module.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from upscaler.convert import ops
from upscaler.convert.attention import overlap_position_index, relative_position_index
from upscaler.errors import ConversionError

INT64_MAX = int(np.iinfo(np.int64).max)


# --------------------------------------------------------------------------- emitter


class Emitter:
    """Collects ONNX nodes and initializers with fresh, unique tensor names."""

    def __init__(self, onnx: Any) -> None:
        self.onnx = onnx
        self.helper = onnx.helper
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self.count = 0
        self.weight_bytes = 0

    def fresh(self, hint: str) -> str:
        self.count += 1
        return f"t{self.count}_{hint}"

    def const(self, value: Any, hint: str, dtype: Any = np.float32) -> str:
        array = np.ascontiguousarray(np.asarray(value, dtype=dtype))
        name = self.fresh(hint)
        self.initializers.append(self.onnx.numpy_helper.from_array(array, name))
        self.weight_bytes += array.nbytes
        return name

    def ints(self, values: list[int], hint: str = "i") -> str:
        return self.const(np.asarray(values, np.int64), hint, np.int64)

    def node(self, op_type: str, inputs: list[str], hint: str, **attrs: Any) -> str:
        out = self.fresh(hint)
        self.nodes.append(self.helper.make_node(op_type, inputs, [out], **attrs))
        return out

    def dim(self, x: str, axis: int) -> str:
        """The size of axis ``axis`` of ``x`` as an int64 ``[1]`` tensor."""
        return self.node("Shape", [x], "dim", start=axis, end=axis + 1)


# --------------------------------------------------------------------------- activations


def _activate(e: Emitter, act: ops.Act, x: str) -> str:
    kind, p = act.kind, act.params
    if kind == "linear":
        return x
    simple = {
        "relu": "Relu",
        "sigmoid": "Sigmoid",
        "tanh": "Tanh",
        "softplus": "Softplus",
        "softsign": "Softsign",
        "exponential": "Exp",
    }
    if kind in simple:
        return e.node(simple[kind], [x], kind)
    if kind == "relu6":
        return e.node("Clip", [x, e.const(0.0, "lo"), e.const(6.0, "hi")], kind)
    if kind == "clip":
        return e.node("Clip", [x, e.const(p[0], "lo"), e.const(p[1], "hi")], kind)
    if kind == "leaky_relu":
        return e.node("LeakyRelu", [x], kind, alpha=float(p[0]))
    if kind == "elu":
        return e.node("Elu", [x], kind, alpha=1.0)
    if kind == "selu":
        # TensorFlow's constants (Klambauer et al. 2017), which are ONNX's defaults too.
        return e.node("Selu", [x], kind, alpha=1.6732632423543772, gamma=1.0507009873554805)
    if kind == "swish":
        return e.node("Mul", [x, e.node("Sigmoid", [x], "sig")], kind)
    if kind == "gelu":
        # The exact GELU, 0.5·x·(1 + erf(x/√2)) (Hendrycks & Gimpel 2016); Gelu is opset 20.
        scaled = e.node("Div", [x, e.const(math.sqrt(2.0), "sqrt2")], "gelu_in")
        erf = e.node("Add", [e.node("Erf", [scaled], "erf"), e.const(1.0, "one")], "gelu_1p")
        return e.node("Mul", [e.node("Mul", [x, erf], "gelu_x"), e.const(0.5, "half")], kind)
    if kind == "mish":
        soft = e.node("Tanh", [e.node("Softplus", [x], "softplus")], "tanh")
        return e.node("Mul", [x, soft], kind)
    if kind == "hardswish":
        # HardSigmoid is max(0, min(1, alpha·x + beta)): exactly our gate.
        gate = e.node("HardSigmoid", [x], "gate", alpha=float(p[0]), beta=float(p[1]))
        return e.node("Mul", [x, gate], kind)
    raise ConversionError(f"activation {kind!r} has no ONNX translation")


# --------------------------------------------------------------------------- ops

Channels = int | None
Translator = Callable[[Emitter, Any, list[str], list[Channels]], tuple[str, Channels]]


def _conv_core(
    e: Emitter, op: ops.Conv2D, x: str, cin: Channels, hint: str
) -> tuple[str, Channels]:
    kh, kw, k_in, k_out = (int(d) for d in op.kernel.shape)
    group = 1
    if cin is not None and cin != k_in:
        if cin % k_in or k_out % (cin // k_in):
            raise ConversionError(
                f"a convolution with a {k_in}-channel kernel cannot read {cin} channels"
            )
        group = cin // k_in
    weight = e.const(op.kernel.transpose(3, 2, 0, 1), "W")
    inputs = [x, weight] + ([e.const(op.bias, "B")] if op.bias is not None else [])
    attrs: dict[str, Any] = {
        "kernel_shape": [kh, kw],
        "strides": list(op.strides),
        "dilations": list(op.dilation),
        "group": group,
    }
    if op.padding == "same" and op.strides == (1, 1):
        # At stride 1 SAME pads (extent - 1) in all, the odd pixel at the bottom/right.
        eh, ew = (kh - 1) * op.dilation[0], (kw - 1) * op.dilation[1]
        attrs["pads"] = [eh // 2, ew // 2, eh - eh // 2, ew - ew // 2]
    elif op.padding == "same":
        # Strided SAME depends on the input size: ONNX's SAME_UPPER is TensorFlow's rule
        # (TensorFlow itself refuses strides with dilation, so none is needed here).
        attrs["auto_pad"] = "SAME_UPPER"
    elif op.padding == "valid":
        attrs["pads"] = [0, 0, 0, 0]
    else:
        top, bottom, left, right = op.padding
        attrs["pads"] = [top, left, bottom, right]
    y = e.node("Conv", inputs, hint, **attrs)
    return _activate(e, op.act, y), k_out


def _conv2d(e: Emitter, op: Any, xs: list[str], cs: list[Channels]) -> tuple[str, Channels]:
    return _conv_core(e, op, xs[0], cs[0], "conv")


def _concat_pointwise(
    e: Emitter, op: Any, xs: list[str], cs: list[Channels]
) -> tuple[str, Channels]:
    joined = e.node("Concat", xs, "concat", axis=1) if len(xs) > 1 else xs[0]
    total = None if None in cs else sum(c for c in cs if c is not None)
    return _conv_core(e, op.conv, joined, total, "conv")


def _conv2d_transpose(
    e: Emitter, op: Any, xs: list[str], cs: list[Channels]
) -> tuple[str, Channels]:
    kh, kw, out_c, _ = (int(d) for d in op.kernel.shape)
    top, bottom, left, right = op.crop
    # ConvTranspose's pads remove rows/columns of the full (H-1)·s + k output: our crop.
    inputs = [xs[0], e.const(op.kernel.transpose(3, 2, 0, 1), "W")]
    if op.bias is not None:
        inputs.append(e.const(op.bias, "B"))
    y = e.node(
        "ConvTranspose",
        inputs,
        "deconv",
        kernel_shape=[kh, kw],
        strides=list(op.strides),
        pads=[top, left, bottom, right],
    )
    return _activate(e, op.act, y), out_c


def _activation(e: Emitter, op: Any, xs: list[str], cs: list[Channels]) -> tuple[str, Channels]:
    return _activate(e, op.act, xs[0]), cs[0]


def _prelu(e: Emitter, op: Any, xs: list[str], cs: list[Channels]) -> tuple[str, Channels]:
    shape = [1] if op.slopes.size == 1 else [op.slopes.size, 1, 1]
    slopes = e.const(op.slopes.reshape(shape), "slope")
    return e.node("PRelu", [xs[0], slopes], "prelu"), cs[0]


_BINARY = {"add": "Add", "sub": "Sub", "mul": "Mul", "div": "Div", "max": "Max", "min": "Min"}


def _broadcast_channels(cs: list[Channels]) -> Channels:
    known = [c for c in cs if c is not None]
    return max(known) if len(known) == len(cs) else None


def _binary(e: Emitter, op: Any, xs: list[str], cs: list[Channels]) -> tuple[str, Channels]:
    if op.scalar is None:
        if len(xs) != 2:
            raise ConversionError("a binary op without a scalar needs two inputs")
        a, b = xs
        channels = _broadcast_channels(cs)
    else:
        a, b = xs[0], e.const(np.float32(op.scalar), "scalar")
        channels = cs[0]
    if op.reverse:
        a, b = b, a
    return e.node(_BINARY[op.kind], [a, b], op.kind), channels


def _weighted_sum(e: Emitter, op: Any, xs: list[str], cs: list[Channels]) -> tuple[str, Channels]:
    terms = xs
    if op.coeffs is not None:
        if len(op.coeffs) != len(xs):
            raise ConversionError(f"{len(op.coeffs)} coefficients for {len(xs)} inputs")
        terms = [
            x if c == 1.0 else e.node("Mul", [x, e.const(np.float32(c), "coeff")], "term")
            for x, c in zip(xs, op.coeffs, strict=True)
        ]
    out = e.node("Sum", terms, "sum") if len(terms) > 1 else terms[0]
    return out, _broadcast_channels(cs)


def _concat(e: Emitter, op: Any, xs: list[str], cs: list[Channels]) -> tuple[str, Channels]:
    total = None if None in cs else sum(c for c in cs if c is not None)
    return (e.node("Concat", xs, "concat", axis=1) if len(xs) > 1 else xs[0]), total


def _constant(e: Emitter, op: Any, xs: list[str], cs: list[Channels]) -> tuple[str, Channels]:
    return e.const(op.value.transpose(0, 3, 1, 2), "const"), int(op.value.shape[3])


def _static_length(n: int, axis: ops.AxisSlice) -> int:
    """The length ncnn Crop's rules give an axis of known size ``n``."""
    begin = axis.start if axis.start >= 0 else n + axis.start
    if axis.stop is None:
        end = n
    elif axis.stop > 0:
        end = min(n, axis.stop)
    else:
        end = n + axis.stop
    if axis.size is not None:
        end = min(end, begin + axis.size)
    return max(end - begin, 0)


def _axis_bounds(e: Emitter, x: str, dim: int, axis: ops.AxisSlice) -> tuple[str, str]:
    """(begin, end) int64 ``[1]`` tensors for ONNX Slice under ncnn Crop's rules.

    ONNX Slice already counts negative starts and ends from the end and clamps ends to
    the size; only a ``stop`` of 0 (meaning "to the end" for ncnn) and a ``size`` cap
    after a negative start or stop need the axis size at run time.
    """
    stop = INT64_MAX if axis.stop is None or axis.stop == 0 else axis.stop
    if axis.size is None:
        return e.ints([axis.start], "begin"), e.ints([stop], "end")
    if axis.start >= 0 and stop > 0:
        return e.ints([axis.start], "begin"), e.ints([min(stop, axis.start + axis.size)], "end")
    n = e.dim(x, dim)
    begin = e.ints([axis.start], "begin")
    if axis.start < 0:
        begin = e.node("Add", [n, begin], "begin")
    end = e.ints([stop], "end")
    if stop < 0:
        end = e.node("Add", [n, end], "end")
    end = e.node("Min", [end, e.node("Add", [begin, e.ints([axis.size], "size")], "cap")], "end")
    return begin, end


def _slice(e: Emitter, op: Any, xs: list[str], cs: list[Channels]) -> tuple[str, Channels]:
    x = xs[0]
    begins: list[str] = []
    ends: list[str] = []
    axes: list[int] = []
    for dim, axis in ((2, op.h), (3, op.w), (1, op.c)):
        if axis.whole:
            continue
        begin, end = _axis_bounds(e, x, dim, axis)
        begins.append(begin)
        ends.append(end)
        axes.append(dim)
    channels = cs[0]
    if not op.c.whole:
        channels = None if channels is None else _static_length(channels, op.c)
    if not axes:
        return x, channels
    starts = e.node("Concat", begins, "starts", axis=0) if len(begins) > 1 else begins[0]
    stops = e.node("Concat", ends, "ends", axis=0) if len(ends) > 1 else ends[0]
    out = e.node("Slice", [x, starts, stops, e.ints(axes, "axes")], "slice")
    return out, channels


def _crop_to_reference(
    e: Emitter, op: Any, xs: list[str], cs: list[Channels]
) -> tuple[str, Channels]:
    x, ref = xs
    factor = e.ints([op.factor], "factor")
    ends = [
        e.node("Add", [e.node("Mul", [e.dim(ref, d), factor], "size"), e.ints([off])], "end")
        for d, off in ((2, op.offset_h), (3, op.offset_w))
    ]
    if op.channels:
        ends.append(e.node("Add", [e.dim(ref, 1), e.ints([op.offset_c])], "end"))
        channels = cs[1]
    else:
        ends.append(e.ints([INT64_MAX], "end"))
        channels = None if cs[0] is None else cs[0] - op.offset_c
    starts = e.ints([op.offset_h, op.offset_w, op.offset_c], "starts")
    stops = e.node("Concat", ends, "ends", axis=0)
    return e.node("Slice", [x, starts, stops, e.ints([2, 3, 1], "axes")], "crop"), channels


def _global_avg_pool(
    e: Emitter, op: Any, xs: list[str], cs: list[Channels]
) -> tuple[str, Channels]:
    return e.node("GlobalAveragePool", [xs[0]], "pool"), cs[0]


def _dense(e: Emitter, op: Any, xs: list[str], cs: list[Channels]) -> tuple[str, Channels]:
    # On a [N, in, 1, 1] vector a fully connected layer is a 1x1 convolution.
    n_in, n_out = (int(d) for d in op.kernel.shape)
    conv = ops.Conv2D(
        kernel=op.kernel.reshape(1, 1, n_in, n_out), bias=op.bias, padding="valid", act=op.act
    )
    return _conv_core(e, conv, xs[0], n_in, "dense")


def _channel_scale(e: Emitter, op: Any, xs: list[str], cs: list[Channels]) -> tuple[str, Channels]:
    return e.node("Mul", xs, "scale"), cs[0]


def _depth_to_space(e: Emitter, op: Any, xs: list[str], cs: list[Channels]) -> tuple[str, Channels]:
    r = op.block
    channels = None if cs[0] is None else cs[0] // (r * r)
    if r == 1:
        return xs[0], cs[0]
    # tf.nn.depth_to_space reads channel (i·r + j)·C + c: ONNX's DCR mode. PyTorch's
    # PixelShuffle reads c·r² + i·r + j: CRD.
    mode = "DCR" if op.order == "tf" else "CRD"
    return e.node("DepthToSpace", [xs[0]], "d2s", blocksize=r, mode=mode), channels


def _resize(e: Emitter, x: str, scales: list[float], hint: str, **attrs: Any) -> str:
    roi = e.const(np.zeros(0, np.float32), "roi")
    return e.node(
        "Resize", [x, roi, e.const(np.asarray(scales, np.float32), "scales")], hint, **attrs
    )


def _resize_nearest(e: Emitter, op: Any, xs: list[str], cs: list[Channels]) -> tuple[str, Channels]:
    if op.factor_h == 1 and op.factor_w == 1:
        return xs[0], cs[0]
    # asymmetric + floor: output pixel i reads input floor(i / f), each pixel repeated.
    out = _resize(
        e,
        xs[0],
        [1.0, 1.0, float(op.factor_h), float(op.factor_w)],
        "nearest",
        mode="nearest",
        coordinate_transformation_mode="asymmetric",
        nearest_mode="floor",
    )
    return out, cs[0]


def _resize_bilinear(
    e: Emitter, op: Any, xs: list[str], cs: list[Channels]
) -> tuple[str, Channels]:
    # tf.image.resize(bilinear) samples at (i + 0.5)/f - 0.5, clamped: half_pixel.
    out = _resize(
        e,
        xs[0],
        [1.0, 1.0, float(op.factor_h), float(op.factor_w)],
        "bilinear",
        mode="linear",
        coordinate_transformation_mode="half_pixel",
    )
    return out, cs[0]


def _resize_cubic(e: Emitter, op: Any, xs: list[str], cs: list[Channels]) -> tuple[str, Channels]:
    # ncnn's bicubic: Keys' cubic with a = -0.75, half-pixel centres, taps clamped to the
    # edge (exclude_outside=0).
    attrs = {
        "mode": "cubic",
        "cubic_coeff_a": -0.75,
        "coordinate_transformation_mode": "half_pixel",
        "exclude_outside": 0,
    }
    x = xs[0]
    if op.out_h > 0 and op.out_w > 0:
        head = e.node("Shape", [x], "nc", start=0, end=2)
        sizes = e.node("Concat", [head, e.ints([op.out_h, op.out_w], "hw")], "sizes", axis=0)
        roi = e.const(np.zeros(0, np.float32), "roi")
        empty = e.const(np.zeros(0, np.float32), "scales")
        return e.node("Resize", [x, roi, empty, sizes], "cubic", **attrs), cs[0]
    out = _resize(e, x, [1.0, 1.0, float(op.scale_h), float(op.scale_w)], "cubic", **attrs)
    return out, cs[0]


def _reflect_gather(e: Emitter, x: str, dim: int, before: int, after: str) -> str:
    """``x`` mirrored about its first and last pixel along ``dim`` (numpy ``reflect``):
    indices on a triangle wave of period 2(n-1), so pads wider than the image fold back
    as numpy's and the TensorFlow builder's do (ONNX Pad's reflect does not)."""
    n = e.node("Squeeze", [e.dim(x, dim)], "n")
    start = e.const(np.int64(-before), "start", np.int64)
    stop = e.node("Add", [n, e.node("Squeeze", [after], "after")], "stop")
    index = e.node("Range", [start, stop, e.const(np.int64(1), "one", np.int64)], "range")
    two = e.const(np.int64(2), "two", np.int64)
    one = e.const(np.int64(1), "one", np.int64)
    period = e.node("Max", [e.node("Mul", [two, e.node("Sub", [n, one], "n1")], "p"), one], "p")
    wave = e.node("Mod", [index, period], "mod", fmod=0)
    index = e.node("Min", [wave, e.node("Sub", [period, wave], "back")], "index")
    return e.node("Gather", [x, index], "reflect", axis=dim)


def _edge_pad(e: Emitter, op: Any, xs: list[str], cs: list[Channels]) -> tuple[str, Channels]:
    x = xs[0]
    top, bottom, left, right = op.pads
    m = op.multiple
    if m == 1 and not any(op.pads):
        return x, cs[0]
    extra: list[str] = []
    for dim, after in ((2, bottom), (3, right)):
        if m == 1:
            extra.append(e.ints([after], "after"))
            continue
        # (m - n % m) % m more pixels bring n to a multiple of m.
        mm = e.ints([m], "m")
        rest = e.node(
            "Mod", [e.node("Sub", [mm, e.node("Mod", [e.dim(x, dim), mm], "r")], "d"), mm], "x"
        )
        extra.append(e.node("Add", [rest, e.ints([after], "after")], "after"))
    if op.mode == "reflect":
        y = _reflect_gather(e, x, 2, top, extra[0])
        return _reflect_gather(e, y, 3, left, extra[1]), cs[0]
    begin = e.ints([0, 0, top, left], "pads")
    end = e.node("Concat", [e.ints([0, 0], "zeros"), *extra], "pads", axis=0)
    pads = e.node("Concat", [begin, end], "pads", axis=0)
    return e.node("Pad", [x, pads], "edge_pad", mode="edge"), cs[0]


# --------------------------------------------------------------------------- transformers


def _layer_norm(e: Emitter, op: Any, xs: list[str], cs: list[Channels]) -> tuple[str, Channels]:
    # Over the channel axis (1 in NCHW), biased variance, as PyTorch's nn.LayerNorm.
    x = xs[0]
    mean = e.node("ReduceMean", [x], "mean", axes=[1], keepdims=1)
    centred = e.node("Sub", [x, mean], "centred")
    variance = e.node(
        "ReduceMean", [e.node("Mul", [centred, centred], "sq")], "var", axes=[1], keepdims=1
    )
    std = e.node(
        "Sqrt", [e.node("Add", [variance, e.const(np.float32(op.eps), "eps")], "v")], "std"
    )
    normal = e.node("Div", [centred, std], "normal")
    shape = (op.weight.size, 1, 1)
    scaled = e.node("Mul", [normal, e.const(op.weight.reshape(shape), "gamma")], "scaled")
    return e.node("Add", [scaled, e.const(op.bias.reshape(shape), "beta")], "ln"), cs[0]


def _linear(e: Emitter, x: str, kernel: Any, bias: Any) -> str:
    """Per-pixel ``x @ kernel + bias`` on the last axis."""
    y = e.node("MatMul", [x, e.const(kernel, "W")], "matmul")
    return y if bias is None else e.node("Add", [y, e.const(bias, "b")], "linear")


def _shape_of(e: Emitter, x: str, window: int) -> tuple[str, str, str, str, str]:
    """(B, H, W, H/window, W/window) of an NHWC tensor, each an int64 ``[1]``."""
    b, h, w = (e.dim(x, axis) for axis in (0, 1, 2))
    win = e.ints([window], "win")
    return b, h, w, e.node("Div", [h, win], "nh"), e.node("Div", [w, win], "nw")


def _partition(e: Emitter, x: str, dims: tuple[str, ...], window: int, channels: int) -> str:
    """``[B, H, W, C]`` → ``[B·(H/w)·(W/w), w², C]``, windows in row-major order."""
    b, _, _, nh, nw = dims
    win, c = e.ints([window], "win"), e.ints([channels], "c")
    shape = e.node("Concat", [b, nh, win, nw, win, c], "shape", axis=0)
    y = e.node("Reshape", [x, shape], "split")
    y = e.node("Transpose", [y], "windows", perm=[0, 1, 3, 2, 4, 5])
    return e.node("Reshape", [y, e.ints([-1, window * window, channels])], "tokens")


def _reverse(e: Emitter, tokens: str, dims: tuple[str, ...], window: int, channels: int) -> str:
    """Inverse of :func:`_partition`."""
    b, h, w, nh, nw = dims
    win, c = e.ints([window], "win"), e.ints([channels], "c")
    shape = e.node("Concat", [b, nh, nw, win, win, c], "shape", axis=0)
    y = e.node(
        "Transpose", [e.node("Reshape", [tokens, shape], "split")], "rows", perm=[0, 1, 3, 2, 4, 5]
    )
    return e.node("Reshape", [y, e.node("Concat", [b, h, w, c], "shape", axis=0)], "image")


def _heads(e: Emitter, tokens: str, heads: int, channels: int) -> str:
    """``[B', N, C]`` → ``[B', heads, N, C/heads]``."""
    y = e.node("Reshape", [tokens, e.ints([0, 0, heads, channels // heads])], "split")
    return e.node("Transpose", [y], "heads", perm=[0, 2, 1, 3])


def _merge_heads(e: Emitter, y: str, channels: int) -> str:
    """``[B', heads, N, d]`` → ``[B', N, heads·d]``."""
    y = e.node("Transpose", [y], "merge", perm=[0, 2, 1, 3])
    return e.node("Reshape", [y, e.ints([0, 0, channels])], "merged")


def _last(e: Emitter, x: str, begin: int, end: int) -> str:
    """Channels ``[begin, end)`` of the last axis."""
    return e.node("Slice", [x, e.ints([begin]), e.ints([end]), e.ints([-1])], "part")


def _attend(e: Emitter, q: str, k: str, v: str, *, scale: float, bias: str) -> str:
    """softmax(q·scale @ kᵀ + bias) @ v, in the TensorFlow builder's order."""
    scaled = e.node("Mul", [q, e.const(np.float32(scale), "scale")], "q")
    logits = e.node("MatMul", [scaled, e.node("Transpose", [k], "kt", perm=[0, 1, 3, 2])], "qk")
    logits = e.node("Add", [logits, bias], "logits")
    return e.node("MatMul", [e.node("Softmax", [logits], "attn", axis=-1), v], "attended")


def _position_bias(e: Emitter, table: Any, index: Any) -> str:
    """``[1, heads, N, M]``: the learned table read at the constant index, once, at
    export time (both are weights: nothing about it depends on the image)."""
    n, m = index.shape
    bias = np.asarray(table)[index.reshape(-1)].reshape(n, m, -1).transpose(2, 0, 1)
    return e.const(bias[np.newaxis], "pos_bias")


def _roll(e: Emitter, x: str, by: int) -> str:
    """``x`` rolled by ``by`` pixels on axes 1 and 2 (NHWC), as ``tf.roll``."""
    for axis in (1, 2):
        head = e.node("Slice", [x, e.ints([-by]), e.ints([INT64_MAX]), e.ints([axis])], "head")
        tail = e.node("Slice", [x, e.ints([0]), e.ints([-by]), e.ints([axis])], "tail")
        x = e.node("Concat", [head, tail], "rolled", axis=axis)
    return x


def _regions(e: Emitter, n: str, window: int, shift: int) -> str:
    """Per position of an axis of size ``n``: 0, 1 or 2, the Swin original's three slices
    ``[0, n-w)``, ``[n-w, n-shift)``, ``[n-shift, n)``."""
    size = e.node("Squeeze", [n], "n")
    i = e.node(
        "Range",
        [e.const(np.int64(0), "zero", np.int64), size, e.const(np.int64(1), "one", np.int64)],
        "i",
    )
    first = e.node(
        "Less", [i, e.node("Sub", [size, e.const(np.int64(window), "w", np.int64)], "a")], "first"
    )
    second = e.node(
        "Less", [i, e.node("Sub", [size, e.const(np.int64(shift), "s", np.int64)], "b")], "second"
    )
    one, two = e.const(np.int64(1), "one", np.int64), e.const(np.int64(2), "two", np.int64)
    later = e.node("Where", [second, one, two], "later")
    return e.node("Where", [first, e.const(np.int64(0), "zero", np.int64), later], "region")


def _shift_mask(e: Emitter, dims: tuple[str, ...], window: int, shift: int) -> str:
    """``[nW, w², w²]`` float: 0 where two pixels of a shifted window come from the same
    region of the rolled map, -100 where the roll brought them from opposite edges."""
    _, h, w, nh, nw = dims
    rows = e.node("Unsqueeze", [_regions(e, h, window, shift), e.ints([1])], "rows")
    cols = e.node("Unsqueeze", [_regions(e, w, window, shift), e.ints([0])], "cols")
    ids = e.node(
        "Add", [e.node("Mul", [rows, e.const(np.int64(3), "three", np.int64)], "r3"), cols], "ids"
    )
    win = e.ints([window], "win")
    ids = e.node("Reshape", [ids, e.node("Concat", [nh, win, nw, win], "shape", axis=0)], "ids")
    ids = e.node("Transpose", [ids], "ids", perm=[0, 2, 1, 3])
    ids = e.node("Reshape", [ids, e.ints([-1, window * window])], "ids")
    a = e.node("Unsqueeze", [ids, e.ints([2])], "a")
    b = e.node("Unsqueeze", [ids, e.ints([1])], "b")
    same = e.node("Equal", [a, b], "same")
    return e.node(
        "Where",
        [same, e.const(np.float32(0.0), "zero"), e.const(np.float32(-100.0), "masked")],
        "mask",
    )


def _window_attention(
    e: Emitter, op: Any, xs: list[str], cs: list[Channels]
) -> tuple[str, Channels]:
    c, win, heads, shift = op.channels, op.window, op.heads, op.shift
    scale = op.scale if op.scale is not None else (c // heads) ** -0.5
    x = e.node("Transpose", [xs[0]], "nhwc", perm=[0, 2, 3, 1])
    dims = _shape_of(e, x, win)
    if shift:
        x = _roll(e, x, -shift)
    qkv = _linear(e, _partition(e, x, dims, win, c), op.qkv_kernel, op.qkv_bias)
    q, k, v = (_heads(e, _last(e, qkv, i * c, (i + 1) * c), heads, c) for i in range(3))
    bias = _position_bias(e, op.bias_table, relative_position_index(win))
    if shift:
        n = win * win
        mask = e.node("Unsqueeze", [_shift_mask(e, dims, win, shift), e.ints([0, 2])], "mask")
        per_image = e.node("Add", [e.node("Unsqueeze", [bias, e.ints([0])], "b5"), mask], "bias")
        # [1, nW, heads, n, n] repeated for each image of the batch, as B·nW windows.
        repeat = e.node("Concat", [dims[0], e.ints([1, 1, 1, 1])], "repeat", axis=0)
        expanded = e.node("Expand", [per_image, repeat], "bias")
        bias = e.node("Reshape", [expanded, e.ints([-1, heads, n, n])], "bias")
    out = _merge_heads(e, _attend(e, q, k, v, scale=scale, bias=bias), c)
    out = _linear(e, out, op.proj_kernel, op.proj_bias)
    y = _reverse(e, out, dims, win, c)
    if shift:
        y = _roll(e, y, shift)
    return e.node("Transpose", [y], "nchw", perm=[0, 3, 1, 2]), c


def _overlap_attention(
    e: Emitter, op: Any, xs: list[str], cs: list[Channels]
) -> tuple[str, Channels]:
    c, win, big, heads = op.channels, op.window, op.overlap, op.heads
    scale = op.scale if op.scale is not None else (c // heads) ** -0.5
    x = e.node("Transpose", [xs[0]], "nhwc", perm=[0, 2, 3, 1])
    dims = _shape_of(e, x, win)
    qkv = _linear(e, x, op.qkv_kernel, op.qkv_bias)
    q = _heads(e, _partition(e, _last(e, qkv, 0, c), dims, win, c), heads, c)
    pad = (big - win) // 2
    kv = e.node("Pad", [_last(e, qkv, c, 3 * c), e.ints([0, pad, pad, 0, 0, pad, pad, 0])], "kv")
    # tf.image.extract_patches(big x big, stride win, VALID) as two gathers: the rows
    # i·win + a of window row i, then the columns likewise.
    offsets = e.node("Unsqueeze", [e.ints(list(range(big)), "offsets"), e.ints([0])], "a")
    patches = kv
    for axis, count in ((1, dims[3]), (3, dims[4])):
        starts = e.node(
            "Mul",
            [
                e.node(
                    "Range",
                    [
                        e.const(np.int64(0), "zero", np.int64),
                        e.node("Squeeze", [count], "n"),
                        e.const(np.int64(1), "one", np.int64),
                    ],
                    "i",
                ),
                e.const(np.int64(win), "win", np.int64),
            ],
            "starts",
        )
        index = e.node("Add", [e.node("Unsqueeze", [starts, e.ints([1])], "s"), offsets], "index")
        patches = e.node("Gather", [patches, index], "rows", axis=axis)
    # [B, nH, big, nW, big, 2C] → [B·nH·nW, big², 2C]
    patches = e.node("Transpose", [patches], "patches", perm=[0, 1, 3, 2, 4, 5])
    patches = e.node("Reshape", [patches, e.ints([-1, big * big, 2 * c])], "patches")
    k = _heads(e, _last(e, patches, 0, c), heads, c)
    v = _heads(e, _last(e, patches, c, 2 * c), heads, c)
    bias = _position_bias(e, op.bias_table, overlap_position_index(win, big))
    out = _merge_heads(e, _attend(e, q, k, v, scale=scale, bias=bias), c)
    y = _linear(e, _reverse(e, out, dims, win, c), op.proj_kernel, op.proj_bias)
    return e.node("Transpose", [y], "nchw", perm=[0, 3, 1, 2]), c


TRANSLATORS: dict[type[ops.Op], Translator] = {
    ops.Conv2D: _conv2d,
    ops.ConcatPointwise: _concat_pointwise,
    ops.Conv2DTranspose: _conv2d_transpose,
    ops.Activation: _activation,
    ops.PReLU: _prelu,
    ops.Binary: _binary,
    ops.WeightedSum: _weighted_sum,
    ops.Concat: _concat,
    ops.Constant: _constant,
    ops.Slice: _slice,
    ops.CropToReference: _crop_to_reference,
    ops.GlobalAvgPool: _global_avg_pool,
    ops.Dense: _dense,
    ops.ChannelScale: _channel_scale,
    ops.DepthToSpace: _depth_to_space,
    ops.ResizeNearest: _resize_nearest,
    ops.ResizeBilinear: _resize_bilinear,
    ops.ResizeCubic: _resize_cubic,
    ops.EdgePad: _edge_pad,
    ops.LayerNorm: _layer_norm,
    ops.WindowAttention: _window_attention,
    ops.OverlapAttention: _overlap_attention,
}
"""One ONNX translation per shared op (the counterpart of the builder's table)."""
