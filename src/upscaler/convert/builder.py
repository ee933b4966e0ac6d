"""Shared ops → a ``tf.Module`` whose ``serve`` function honours the serving contract.

One builder for every source format: each op of :mod:`upscaler.convert.ops` has exactly
one TensorFlow rendering here, chosen for CPU speed (bias and activation right after the
convolution so Grappler fuses them; symmetric padding expressed as SAME so no separate
pad op is needed; native ``depth_to_space``; nearest upsampling as one broadcast). The
weights become non-trainable variables, so the SavedModel stores them once in its
``variables/`` folder and loads with TensorFlow alone.

A failure while building an op (a shape that cannot work, say) becomes a
:class:`~upscaler.errors.ConversionError` naming the source layer.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from upscaler.convert import attention, ops
from upscaler.errors import ConversionError
from upscaler.runtime.savedmodel import (
    INPUT_NAME,
    OUTPUT_NAME,
    POOL_COLS,
    POOL_COUNT,
    POOL_ROWS,
    POOL_SUM,
    pool_name,
)

log = logging.getLogger("upscaler.convert.builder")

Weights = dict[str, Any]
Builder = Callable[[Any, Any, list[Any], Weights], Any]


def activate(tf: Any, act: ops.Act, x: Any) -> Any:
    """Apply an activation; ``linear`` adds no op at all."""
    kind = act.kind
    if kind == "linear":
        return x
    if kind == "relu":
        return tf.nn.relu(x)
    if kind == "relu6":
        return tf.nn.relu6(x)
    if kind == "leaky_relu":
        return tf.nn.leaky_relu(x, alpha=act.params[0])
    if kind == "clip":
        return tf.clip_by_value(x, act.params[0], act.params[1])
    if kind == "sigmoid":
        return tf.math.sigmoid(x)
    if kind == "tanh":
        return tf.math.tanh(x)
    if kind == "elu":
        return tf.nn.elu(x)
    if kind == "selu":
        return tf.nn.selu(x)
    if kind == "softplus":
        return tf.math.softplus(x)
    if kind == "softsign":
        return tf.nn.softsign(x)
    if kind == "swish":
        return tf.nn.silu(x)
    if kind == "gelu":
        return tf.nn.gelu(x, approximate=False)
    if kind == "exponential":
        return tf.math.exp(x)
    if kind == "mish":
        return x * tf.math.tanh(tf.math.softplus(x))
    if kind == "hardswish":
        alpha, beta = act.params
        return x * tf.clip_by_value(x * alpha + beta, 0.0, 1.0)
    raise ValueError(f"activation {kind!r} has no TensorFlow rendering")


def _conv_padding(op: ops.Conv2D) -> Any:
    """SAME / VALID where they mean the same as the explicit pads, else explicit pads."""
    if isinstance(op.padding, str):
        return op.padding.upper()
    top, bottom, left, right = op.padding
    if op.padding == (0, 0, 0, 0):
        return "VALID"
    if op.strides == (1, 1):
        # At stride 1 SAME pads (extent - 1) in total, the smaller half on top/left.
        kh = (op.kernel.shape[0] - 1) * op.dilation[0]
        kw = (op.kernel.shape[1] - 1) * op.dilation[1]
        if (top, bottom, left, right) == (kh // 2, kh - kh // 2, kw // 2, kw - kw // 2):
            return "SAME"
    return [[0, 0], [top, bottom], [left, right], [0, 0]]


def _conv(tf: Any, op: ops.Conv2D, x: Any, kernel: Any, bias: Any) -> Any:
    y = tf.nn.conv2d(
        x,
        kernel,
        strides=[1, *op.strides, 1],
        padding=_conv_padding(op),
        dilations=[1, *op.dilation, 1],
    )
    if bias is not None:
        y = tf.nn.bias_add(y, bias)
    return activate(tf, op.act, y)


def _build_conv2d(tf: Any, op: Any, inputs: list[Any], w: Weights) -> Any:
    return _conv(tf, op, inputs[0], w["kernel"], w.get("bias"))


def _build_concat_pointwise(tf: Any, op: Any, inputs: list[Any], w: Weights) -> Any:
    conv: ops.Conv2D = op.conv
    kernel = w["kernel"]
    total: Any = None
    start = 0
    for part in inputs:
        width = int(part.shape[-1])
        term = tf.nn.conv2d(
            part, kernel[:, :, start : start + width, :], strides=1, padding="VALID"
        )
        total = term if total is None else total + term
        start += width
    if start != int(kernel.shape[2]):
        raise ValueError(
            f"its concatenated input has {start} channels, the kernel expects "
            f"{int(kernel.shape[2])}"
        )
    if conv.bias is not None:
        total = tf.nn.bias_add(total, w["bias"])
    return activate(tf, conv.act, total)


def _build_conv2d_transpose(tf: Any, op: Any, inputs: list[Any], w: Weights) -> Any:
    x = inputs[0]
    kh, kw, out_c, _ = (int(d) for d in op.kernel.shape)
    sh, sw = op.strides
    shape = tf.shape(x)
    full = tf.stack([shape[0], (shape[1] - 1) * sh + kh, (shape[2] - 1) * sw + kw, out_c])
    y = tf.nn.conv2d_transpose(x, w["kernel"], full, strides=[1, sh, sw, 1], padding="VALID")
    top, bottom, left, right = op.crop
    if any(op.crop):
        y = y[:, top : tf.shape(y)[1] - bottom, left : tf.shape(y)[2] - right, :]
    if op.bias is not None:
        y = tf.nn.bias_add(y, w["bias"])
    return activate(tf, op.act, y)


def _build_activation(tf: Any, op: Any, inputs: list[Any], w: Weights) -> Any:
    return activate(tf, op.act, inputs[0])


def _build_prelu(tf: Any, op: Any, inputs: list[Any], w: Weights) -> Any:
    x, slopes = inputs[0], w["slopes"]
    if op.slopes.size == 1:
        slopes = tf.reshape(slopes, [])
    if float(op.slopes.max()) <= 1.0:
        # For a <= 1 (negative a too), max(x, a·x) is PReLU in two elementwise ops
        # instead of four; normalize_prelu_slopes brings most models here.
        return tf.maximum(x, x * slopes)
    return tf.nn.relu(x) - slopes * tf.nn.relu(-x)


_BINARY: dict[str, Callable[[Any, Any, Any], Any]] = {
    "add": lambda tf, a, b: a + b,
    "sub": lambda tf, a, b: a - b,
    "mul": lambda tf, a, b: a * b,
    "div": lambda tf, a, b: a / b,
    "max": lambda tf, a, b: tf.maximum(a, b),
    "min": lambda tf, a, b: tf.minimum(a, b),
}


def _build_binary(tf: Any, op: Any, inputs: list[Any], w: Weights) -> Any:
    if op.scalar is None:
        if len(inputs) != 2:
            raise ValueError("a binary op without a scalar needs two inputs")
        a, b = inputs
    else:
        if len(inputs) != 1:
            raise ValueError("a binary op with a scalar takes one input")
        a, b = inputs[0], tf.constant(op.scalar, inputs[0].dtype)
    if op.reverse:
        a, b = b, a
    return _BINARY[op.kind](tf, a, b)


def _build_weighted_sum(tf: Any, op: Any, inputs: list[Any], w: Weights) -> Any:
    if op.coeffs is None:
        return tf.add_n(inputs) if len(inputs) > 1 else inputs[0]
    if len(op.coeffs) != len(inputs):
        raise ValueError(f"{len(op.coeffs)} coefficients for {len(inputs)} inputs")
    terms = [x if c == 1.0 else x * c for x, c in zip(inputs, op.coeffs, strict=True)]
    return tf.add_n(terms) if len(terms) > 1 else terms[0]


def _build_concat(tf: Any, op: Any, inputs: list[Any], w: Weights) -> Any:
    return tf.concat(inputs, axis=-1) if len(inputs) > 1 else inputs[0]


def _build_constant(tf: Any, op: Any, inputs: list[Any], w: Weights) -> Any:
    return tf.convert_to_tensor(w["value"])


def _axis_bounds(tf: Any, n: Any, axis: ops.AxisSlice) -> tuple[Any, Any]:
    """(begin, length) of one axis of size ``n`` under ncnn Crop's rules."""
    begin = axis.start if axis.start >= 0 else n + axis.start
    if axis.stop is None:
        end = n
    elif axis.stop > 0:
        end = tf.minimum(n, axis.stop)
    else:
        end = n + axis.stop
    if axis.size is not None:
        end = tf.minimum(end, begin + axis.size)
    return begin, tf.maximum(end - begin, 0)


def _build_slice(tf: Any, op: Any, inputs: list[Any], w: Weights) -> Any:
    x = inputs[0]
    shape = tf.shape(x)
    bh, lh = _axis_bounds(tf, shape[1], op.h)
    bw, lw = _axis_bounds(tf, shape[2], op.w)
    bc, lc = _axis_bounds(tf, shape[3], op.c)
    return tf.slice(x, tf.stack([0, bh, bw, bc]), tf.stack([-1, lh, lw, lc]))


def _build_crop_to_reference(tf: Any, op: Any, inputs: list[Any], w: Weights) -> Any:
    x, ref = inputs
    ref_shape = tf.shape(ref)
    size_c = ref_shape[3] if op.channels else tf.shape(x)[3] - op.offset_c
    begin = tf.stack([0, op.offset_h, op.offset_w, op.offset_c])
    size = tf.stack([-1, ref_shape[1] * op.factor, ref_shape[2] * op.factor, size_c])
    return tf.slice(x, begin, size)


def _build_global_avg_pool(tf: Any, op: Any, inputs: list[Any], w: Weights) -> Any:
    return tf.reduce_mean(inputs[0], axis=[1, 2], keepdims=True)


def _build_dense(tf: Any, op: Any, inputs: list[Any], w: Weights) -> Any:
    x = inputs[0]
    n_in, n_out = (int(d) for d in op.kernel.shape)
    flat = tf.reshape(x, [-1, n_in])
    y = tf.linalg.matmul(flat, w["kernel"])
    if op.bias is not None:
        y = tf.nn.bias_add(y, w["bias"])
    y = activate(tf, op.act, y)
    return tf.reshape(y, [-1, 1, 1, n_out])


def _build_channel_scale(tf: Any, op: Any, inputs: list[Any], w: Weights) -> Any:
    return inputs[0] * inputs[1]


def _build_depth_to_space(tf: Any, op: Any, inputs: list[Any], w: Weights) -> Any:
    x, r = inputs[0], op.block
    if r == 1:
        return x
    if op.order == "tf":
        return tf.nn.depth_to_space(x, r, data_format="NHWC")
    # PyTorch order (c·r² + i·r + j), when it could not be folded into the producer.
    channels = int(x.shape[-1]) if x.shape[-1] is not None else None
    if channels is None or channels % (r * r):
        raise ValueError(f"{channels} channels do not split into {r}x{r} pixels")
    out = channels // (r * r)
    s = tf.shape(x)
    y = tf.reshape(x, [s[0], s[1], s[2], out, r, r])
    y = tf.transpose(y, [0, 1, 4, 2, 5, 3])
    return tf.reshape(y, [s[0], s[1] * r, s[2] * r, out])


def _nearest(tf: Any, x: Any, fh: int, fw: int) -> Any:
    """Each pixel repeated fh × fw times, as one broadcast (a single copy of the output)."""
    if fh == 1 and fw == 1:
        return x
    s = tf.shape(x)
    y = tf.reshape(x, [s[0], s[1], 1, s[2], 1, s[3]])
    y = tf.broadcast_to(y, [s[0], s[1], fh, s[2], fw, s[3]])
    return tf.reshape(y, [s[0], s[1] * fh, s[2] * fw, s[3]])


def _build_resize_nearest(tf: Any, op: Any, inputs: list[Any], w: Weights) -> Any:
    return _nearest(tf, inputs[0], op.factor_h, op.factor_w)


def _build_resize_bilinear(tf: Any, op: Any, inputs: list[Any], w: Weights) -> Any:
    x = inputs[0]
    s = tf.shape(x)
    size = tf.stack([s[1] * op.factor_h, s[2] * op.factor_w])
    return tf.cast(tf.image.resize(x, size, method="bilinear"), x.dtype)  # float32 out


def _cubic_axis(tf: Any, x: Any, axis: int, size: Any, out: Any, *, ratio: Any) -> Any:
    """Resample one axis with ncnn's bicubic taps (see :class:`ops.ResizeCubic`).

    ``ratio`` is the input step per output pixel (float64). The tap positions and
    weights depend only on it and the sizes, so they are a few small vectors computed
    in-graph (in ncnn's precision: the position in double, the weights in float), and
    the resampling is four gathers and a weighted sum: O(4) per pixel for any size,
    where a dense resampling matrix would cost O(size).
    """
    fx = tf.cast((tf.range(out, dtype=tf.float64) + 0.5) * ratio - 0.5, tf.float32)
    sx = tf.floor(fx)
    f = fx - sx
    a = -0.75
    f0, f1, f2 = f + 1.0, f, 1.0 - f
    c0 = a * f0 * f0 * f0 - 5.0 * a * f0 * f0 + 8.0 * a * f0 - 4.0 * a
    c1 = (a + 2.0) * f1 * f1 * f1 - (a + 3.0) * f1 * f1 + 1.0
    c2 = (a + 2.0) * f2 * f2 * f2 - (a + 3.0) * f2 * f2 + 1.0
    c3 = 1.0 - c0 - c1 - c2
    base = tf.cast(sx, tf.int32) - 1
    shape = [1, 1, 1, 1]
    shape[axis] = -1
    total: Any = None
    for tap, coeff in enumerate((c0, c1, c2, c3)):
        index = tf.clip_by_value(base + tap, 0, size - 1)
        term = tf.gather(x, index, axis=axis) * tf.cast(tf.reshape(coeff, shape), x.dtype)
        total = term if total is None else total + term
    return total


def _build_resize_cubic(tf: Any, op: Any, inputs: list[Any], w: Weights) -> Any:
    x = inputs[0]
    s = tf.shape(x)
    if op.out_h > 0 and op.out_w > 0:
        out_h, out_w = tf.constant(op.out_h), tf.constant(op.out_w)
        ratio_h = tf.cast(s[1], tf.float64) / op.out_h
        ratio_w = tf.cast(s[2], tf.float64) / op.out_w
    else:
        # ncnn: static_cast<int>(w * width_scale), an int times a float in float32; the
        # taps then step by 1 / scale (PyTorch's scale_factor rule), not by in / out.
        out_h = tf.cast(tf.cast(s[1], tf.float32) * op.scale_h, tf.int32)
        out_w = tf.cast(tf.cast(s[2], tf.float32) * op.scale_w, tf.int32)
        ratio_h = tf.constant(1.0 / op.scale_h, tf.float64)
        ratio_w = tf.constant(1.0 / op.scale_w, tf.float64)
    y = _cubic_axis(tf, x, 2, s[2], out_w, ratio=ratio_w)
    return _cubic_axis(tf, y, 1, s[1], out_h, ratio=ratio_h)


def _edge_index(tf: Any, n: Any, before: int, after: Any) -> Any:
    return tf.clip_by_value(tf.range(-before, n + after), 0, n - 1)


def _reflect_index(tf: Any, n: Any, before: int, after: Any) -> Any:
    """Indices of a mirror about the first and last pixel (numpy ``reflect``): a triangle
    wave of period 2(n-1), so pads wider than the image fold back as numpy's do, and a
    one-pixel axis repeats its pixel."""
    period = tf.maximum(2 * (n - 1), 1)
    index = tf.math.floormod(tf.range(-before, n + after), period)
    return tf.minimum(index, period - index)


def _build_edge_pad(tf: Any, op: Any, inputs: list[Any], w: Weights) -> Any:
    x = inputs[0]
    top, bottom, left, right = op.pads
    if op.multiple == 1 and not any(op.pads):
        return x
    s = tf.shape(x)
    m = op.multiple
    extra_h = (m - s[1] % m) % m
    extra_w = (m - s[2] % m) % m
    index = _reflect_index if op.mode == "reflect" else _edge_index
    y = tf.gather(x, index(tf, s[1], top, bottom + extra_h), axis=1)
    return tf.gather(y, index(tf, s[2], left, right + extra_w), axis=2)


_BUILDERS: dict[type[ops.Op], Builder] = {
    ops.Conv2D: _build_conv2d,
    ops.ConcatPointwise: _build_concat_pointwise,
    ops.Conv2DTranspose: _build_conv2d_transpose,
    ops.Activation: _build_activation,
    ops.PReLU: _build_prelu,
    ops.Binary: _build_binary,
    ops.WeightedSum: _build_weighted_sum,
    ops.Concat: _build_concat,
    ops.Constant: _build_constant,
    ops.Slice: _build_slice,
    ops.CropToReference: _build_crop_to_reference,
    ops.GlobalAvgPool: _build_global_avg_pool,
    ops.Dense: _build_dense,
    ops.ChannelScale: _build_channel_scale,
    ops.DepthToSpace: _build_depth_to_space,
    ops.ResizeNearest: _build_resize_nearest,
    ops.ResizeBilinear: _build_resize_bilinear,
    ops.ResizeCubic: _build_resize_cubic,
    ops.EdgePad: _build_edge_pad,
    ops.LayerNorm: attention.build_layer_norm,
    ops.WindowAttention: attention.build_window_attention,
    ops.OverlapAttention: attention.build_overlap_attention,
}


def _variable_name(node: ops.Node, param: str, taken: set[str]) -> str:
    base = re.sub(r"[^A-Za-z0-9_.\-]", "_", f"{node.name}_{param}").lstrip("_.-") or "w"
    name, index = base, 1
    while name in taken:
        index += 1
        name = f"{base}_{index}"
    taken.add(name)
    return name


def pool_nodes(graph: ops.Graph) -> list[ops.Node]:
    """The graph's global-average-pooling nodes, in graph order (the order of the pooled
    vectors in the global-pool signatures)."""
    return [node for node in graph.nodes if isinstance(node.op, ops.GlobalAvgPool)]


@dataclass
class PoolFunctions:
    """The global-pool tf.functions of a module (see :func:`build_module`), kept outside
    the module's tracked attributes so that saving traces only the ones exported.

    ``stats``: image → the pooled vector of every pooling node. ``pooled``: image and
    vectors → output. ``partials[k]``: image, the first ``k`` vectors and per-image
    ``rows`` / ``cols`` index ranges ``[begin, end)`` → the sum over those positions of
    the feature map pooling node ``k`` averages, and how many positions that was.
    """

    stats: Any
    pooled: Any
    partials: list[Any]


COMPUTE_DTYPES = ("float32", "bfloat16")
"""What a built network computes in: float32, or bfloat16 for the stored bfloat16
variants (weights stored and every op run in bfloat16; input and output stay float32)."""


def graph_variables(
    tf: Any, graph: ops.Graph, *, trainable: bool = False, dtype: str = "float32"
) -> list[dict[str, Any]]:
    """One dict of ``tf.Variable`` per node (parameter name -> variable), in node order.

    The converter makes them non-trainable (the SavedModel only serves); ``upscaler
    train`` makes them trainable and runs the very same :func:`graph_forward`, so the
    network it optimises is, op for op, the one it exports. ``dtype`` bfloat16 stores
    them rounded to bfloat16 (half the size, and no cast at run time).
    """
    variables: list[dict[str, Any]] = []
    taken: set[str] = set()
    for node in graph.nodes:
        params: dict[str, Any] = {}
        for param, array in node.op.arrays().items():
            params[param] = tf.Variable(
                tf.cast(tf.constant(array, tf.float32), dtype),
                trainable=trainable,
                name=_variable_name(node, param, taken),
                dtype=dtype,
            )
        variables.append(params)
    return variables


def graph_forward(tf: Any, graph: ops.Graph, variables: list[dict[str, Any]]) -> Callable[..., Any]:
    """``forward(x)`` → output of ``graph`` with its weights read from ``variables`` (as
    :func:`graph_variables` lays them out).

    For the global-pool signatures it also takes ``given`` (the first ``len(given)``
    pooling nodes return these vectors instead of averaging), ``stats=True`` (return the
    pooled vectors) and ``until=k`` (return the feature map pooling node ``k``
    averages); nothing past what is returned is built.
    """
    pool_index = {node.output: index for index, node in enumerate(pool_nodes(graph))}
    pool_count = len(pool_index)
    compute = variables_dtype(variables)

    def forward(
        x: Any, given: list[Any] | None = None, *, stats: bool = False, until: int | None = None
    ) -> Any:
        if compute == "float32":
            return run(x, given, stats=stats, until=until)
        # A network stored in bfloat16 computes in it from the input on: one cast in, one
        # out, and every op between runs on bfloat16 tensors (oneDNN's native kernels).
        cast_in = [tf.cast(v, compute) for v in given] if given is not None else None
        out = run(tf.cast(x, compute), cast_in, stats=stats, until=until)
        if isinstance(out, list):
            return [tf.cast(v, tf.float32) for v in out]
        return tf.cast(out, tf.float32)

    def run(
        x: Any, given: list[Any] | None = None, *, stats: bool = False, until: int | None = None
    ) -> Any:
        values: dict[str, Any] = {graph.input: x}
        pooled: list[Any] = []
        for node, params in zip(graph.nodes, variables, strict=True):
            build = _BUILDERS.get(type(node.op))
            if build is None:  # a programming error: every op has a builder
                raise ConversionError(
                    f"layer {node.name!r} ({node.kind}): op {type(node.op).__name__} "
                    "has no TensorFlow builder"
                )
            index = pool_index.get(node.output)
            if index is not None and index == until:
                return values[node.inputs[0]]
            if index is not None and given is not None and index < len(given):
                values[node.output] = given[index]
                continue
            inputs = [values[ref] for ref in node.inputs]
            try:
                values[node.output] = build(tf, node.op, inputs, params)
            except ConversionError:
                raise
            except (ValueError, TypeError, tf.errors.OpError) as exc:
                text = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
                raise ConversionError(
                    f"layer {node.name!r} ({node.kind}) cannot be rebuilt: {text}"
                ) from exc
            if index is not None and stats:
                pooled.append(values[node.output])
                if len(pooled) == pool_count:
                    return pooled
        return values[graph.output]

    return forward


def variables_dtype(variables: list[dict[str, Any]]) -> str:
    """The dtype a network's variables share (float32 for a network without any)."""
    names = {var.dtype.name for params in variables for var in params.values()}
    if len(names) > 1:
        raise ConversionError(f"a network's variables mix dtypes {sorted(names)}")
    return names.pop() if names else "float32"


def build_module(
    tf: Any, graph: ops.Graph, *, name: str = "upscaler_model", compute: str = "float32"
) -> Any:
    """A ``tf.Module`` with the weights as variables and ``serve``: a tf.function taking
    ``[None, None, None, C]`` float32 (C the graph's input channels; named
    :data:`INPUT_NAME`) and returning ``{OUTPUT_NAME: NHWC}``. Nothing is traced until
    the function is first used.

    A graph with global average pooling (squeeze-and-excitation blocks) also gets
    ``module.pool_functions`` (:class:`PoolFunctions`, else None). Why: a tile alone
    averages over itself; with these a runner computes the statistics of the whole image
    (in one call, or summed over its tiles one pooling layer at a time) and runs every
    tile with them (:mod:`upscaler.runtime.tiled`). The blocks are sequential (block k's
    input depends on the vectors of the blocks before it), which is why the partial sums
    of block k take the first k vectors.

    ``compute`` bfloat16 stores the weights in bfloat16 and runs the network in it (see
    :func:`graph_forward`); the signature stays float32 either way.
    """
    if compute not in COMPUTE_DTYPES:
        raise ConversionError(f"cannot build a network that computes in {compute!r}")
    module = tf.Module(name=name)
    variables = graph_variables(tf, graph, dtype=compute)
    module.weights_list = [var for params in variables for var in params.values()]
    forward = graph_forward(tf, graph, variables)
    pools = pool_nodes(graph)
    shape = [None, None, None, graph.input_channels]
    image = tf.TensorSpec(shape, tf.float32, name=INPUT_NAME)

    @tf.function(input_signature=[image], autograph=False)  # type: ignore[untyped-decorator]
    def serve(x: Any) -> dict[str, Any]:
        return {OUTPUT_NAME: tf.identity(forward(x), name=OUTPUT_NAME)}

    module.serve = serve
    module.pool_functions = None
    if pools:
        module.pool_functions = _pool_functions(tf, graph, pools, forward, image)
    return module


def _pool_functions(
    tf: Any, graph: ops.Graph, pools: list[ops.Node], forward: Any, image: Any
) -> PoolFunctions:
    vectors = [
        tf.TensorSpec([None, 1, 1, _pool_channels(node, graph)], tf.float32, name=pool_name(i))
        for i, node in enumerate(pools)
    ]
    ranges = [
        tf.TensorSpec([None, 2], tf.int32, name=POOL_ROWS),
        tf.TensorSpec([None, 2], tf.int32, name=POOL_COLS),
    ]

    def stats(x: Any) -> dict[str, Any]:
        found = forward(x, stats=True)
        return {pool_name(i): tf.identity(v, name=pool_name(i)) for i, v in enumerate(found)}

    def pooled(x: Any, *given: Any) -> dict[str, Any]:
        return {OUTPUT_NAME: tf.identity(forward(x, list(given)), name=OUTPUT_NAME)}

    def partial(k: int) -> Any:
        def run(x: Any, *args: Any) -> dict[str, Any]:
            rows, cols = args[k], args[k + 1]
            return _owned_sum(tf, forward(x, list(args[:k]), until=k), rows, cols)

        spec = [image, *vectors[:k], *ranges]
        return tf.function(run, input_signature=spec, autograph=False)

    return PoolFunctions(
        stats=tf.function(stats, input_signature=[image], autograph=False),
        pooled=tf.function(pooled, input_signature=[image, *vectors], autograph=False),
        partials=[partial(k) for k in range(len(pools))],
    )


def _owned_sum(tf: Any, features: Any, rows: Any, cols: Any) -> dict[str, Any]:
    """Per image of the batch, the sum of ``features`` over rows ``[rows[n, 0],
    rows[n, 1])`` and columns ``[cols[n, 0], cols[n, 1])`` (clipped to the map), and the
    number of positions summed: one tile's share of a global average."""
    shape = tf.shape(features)

    def mask(size: Any, bounds: Any) -> Any:
        index = tf.range(size)[tf.newaxis, :]
        inside = (index >= bounds[:, :1]) & (index < bounds[:, 1:])
        return tf.cast(inside, features.dtype)

    row_mask, col_mask = mask(shape[1], rows), mask(shape[2], cols)
    total = tf.einsum("nh,nhwc,nw->nc", row_mask, features, col_mask)
    count = tf.reduce_sum(row_mask, axis=1) * tf.reduce_sum(col_mask, axis=1)
    return {
        POOL_SUM: tf.identity(total, name=POOL_SUM),
        POOL_COUNT: tf.identity(count, name=POOL_COUNT),
    }


def _pool_channels(node: ops.Node, graph: ops.Graph) -> int | None:
    """Channels of a pooling node's vector, from the weights of the layer that reads it
    (a dense layer's input width; ncnn blobs carry no shapes); None when unknown."""
    for reader in graph.nodes:
        if node.output in reader.inputs and isinstance(reader.op, ops.Dense):
            return int(reader.op.kernel.shape[0])
    return None
