"""Shared-op graphs made for full-integer (int8) quantization, and their fake-quant forward.

Why a graph of its own: TensorFlow Lite's XNNPACK delegate runs int8 convolutions fast,
but only if every op between them is one it takes; an op it does not take splits the
network into partitions with float round trips between them (a probe of esrgan-slim.x2
found 9 partitions and 1.5x over float). So before quantizing, the converter's float
shortcuts are undone and the rest is spelled in ops XNNPACK takes in int8: a sum of many
tensors (``ADD_N``, which XNNPACK lacks) becomes a chain of additions, nearest-neighbour
upsampling (a reshape and broadcast) becomes a channel concatenation followed by
``depth_to_space``, a 1×1 convolution of a concatenation becomes a sum of per-part
convolutions (a concatenation has one int8 scale for all its parts), an activation right
after a convolution is fused into it (int8 convolutions apply ReLU while requantizing),
and swish becomes sigmoid times input, so the sigmoid's output gets a range of its own.

The quantized network is expressed QAT-style: every tensor passes through
``tf.quantization.fake_quant_with_min_max_vars`` with the range recorded for it, and
every convolution kernel through a per-output-channel symmetric fake-quant computed from
the weights themselves. The TFLite converter turns such a graph into int8 kernels,
per-channel weights and int32 biases, with no calibration data at build time: the
ranges are data (measured once on the training sets and committed, see
:mod:`upscaler.train.quantize`). This module is pure numpy except :func:`int8_forward`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

import numpy as np

from upscaler.convert import ops
from upscaler.convert.builder import _BUILDERS, Weights
from upscaler.errors import ConversionError

Ranges = Mapping[str, tuple[float, float]]
"""Tensor name -> (min, max) of the values it carries."""

FUSABLE = ("relu", "relu6")
"""Activations an int8 convolution applies itself (TFLite's fused activations)."""


def _node(node: ops.Node, op: ops.Op, inputs: tuple[str, ...], output: str) -> ops.Node:
    return ops.Node(node.name, node.kind, op, inputs, output)


def _split_sum(node: ops.Node) -> list[ops.Node]:
    """``Σ c_i·x_i`` as scalar multiplications and a chain of two-input additions."""
    assert isinstance(node.op, ops.WeightedSum)
    coeffs = node.op.coeffs or (1.0,) * len(node.inputs)
    nodes: list[ops.Node] = []
    terms: list[str] = []
    for i, (ref, c) in enumerate(zip(node.inputs, coeffs, strict=True)):
        if c == 1.0:
            terms.append(ref)
            continue
        scaled = f"{node.output}#term{i}"
        nodes.append(_node(node, ops.Binary("mul", scalar=float(c)), (ref,), scaled))
        terms.append(scaled)
    total = terms[0]
    for i, term in enumerate(terms[1:], start=1):
        out = node.output if i == len(terms) - 1 else f"{node.output}#sum{i}"
        nodes.append(_node(node, ops.Binary("add"), (total, term), out))
        total = out
    if len(terms) == 1:  # one input: a copy (or a scaling) of it
        last = nodes[-1] if nodes else None
        if last is None:
            nodes.append(_node(node, ops.Binary("mul", scalar=1.0), (terms[0],), node.output))
        else:
            nodes[-1] = _node(node, last.op, last.inputs, node.output)
    return nodes


MAX_CONCAT = 4
"""Inputs one int8 concatenation takes here (XNNPACK's delegate takes few; a probe of a
16-way one, nearest x4, split the graph in two partitions)."""


def _prime_factors(n: int) -> list[int]:
    factors, p = [], 2
    while n > 1:
        while n % p == 0:
            factors.append(p)
            n //= p
        p += 1
    return factors


def _copies(node: ops.Node, source: str, count: int, name: str) -> list[ops.Node]:
    """``count`` copies of ``source`` along the channels, concatenations of at most
    :data:`MAX_CONCAT` inputs (a copy of copies where ``count`` is larger)."""
    if count <= MAX_CONCAT:
        return [_node(node, ops.Concat(), (source,) * count, name)]
    inner = next(k for k in range(MAX_CONCAT, 1, -1) if count % k == 0)
    partial = f"{name}/{inner}"
    return [
        _node(node, ops.Concat(), (source,) * inner, partial),
        *_copies(node, partial, count // inner, name),
    ]


def _nearest(node: ops.Node) -> list[ops.Node]:
    """Nearest-neighbour ×r as r² copies of the channels and ``depth_to_space``: the same
    pixels (every block of TensorFlow's depth-to-space order holds the input). A
    composite r goes in prime steps (×4 as ×2 twice), so no concatenation is wide."""
    assert isinstance(node.op, ops.ResizeNearest)
    r = node.op.factor_h
    if node.op.factor_w != r:
        raise ConversionError(
            f"layer {node.name!r}: nearest upsampling by {r}x{node.op.factor_w} cannot be "
            "quantized (only equal factors)"
        )
    factors = _prime_factors(r)
    if not factors:
        return [_node(node, ops.Binary("mul", scalar=1.0), node.inputs, node.output)]
    if any(p * p > MAX_CONCAT * MAX_CONCAT for p in factors):
        raise ConversionError(f"layer {node.name!r}: nearest x{r} is too wide to quantize here")
    nodes: list[ops.Node] = []
    source = node.inputs[0]
    for k, p in enumerate(factors):
        last = k == len(factors) - 1
        suffix = "" if len(factors) == 1 else str(k)
        copies = f"{node.output}#copies{suffix}"
        out = node.output if last else f"{node.output}#up{k}"
        nodes.extend(_copies(node, source, p * p, copies))
        nodes.append(_node(node, ops.DepthToSpace(p, "tf"), (copies,), out))
        source = out
    return nodes


def _swish(node: ops.Node, source: str) -> list[ops.Node]:
    """``x · sigmoid(x)`` as two ops, so the sigmoid's output is a tensor with a range."""
    gate = f"{node.output}#sigmoid"
    return [
        _node(node, ops.Activation(ops.Act("sigmoid")), (source,), gate),
        _node(node, ops.Binary("mul"), (source, gate), node.output),
    ]


def channels_of(graph: ops.Graph) -> dict[str, int | None]:
    """Channels of every tensor, where the weights or the structure say (None where
    not): what splitting a convolution's input filters needs."""
    known: dict[str, int | None] = {graph.input: graph.input_channels}
    for node in graph.nodes:
        op, first = node.op, known.get(node.inputs[0]) if node.inputs else None
        count: int | None = None
        if isinstance(op, ops.Conv2D):
            count = op.out_channels
        elif isinstance(op, ops.ConcatPointwise):
            count = op.conv.out_channels
        elif isinstance(op, ops.Concat):
            parts = [known.get(ref) for ref in node.inputs]
            count = None if None in parts else sum(p for p in parts if p is not None)
        elif isinstance(op, ops.DepthToSpace):
            count = None if first is None else first // (op.block * op.block)
        elif isinstance(op, ops.Constant):
            count = int(op.value.shape[3])
        elif isinstance(op, ops.Activation | ops.Binary | ops.WeightedSum | ops.ResizeNearest):
            count = first
        known[node.output] = count
    return known


def _split_pointwise(
    node: ops.Node, conv: ops.Conv2D, parts: tuple[str, ...], widths: list[int]
) -> list[ops.Node]:
    """A 1×1 convolution of a concatenation as the sum of 1×1 convolutions of its parts.

    Why: TFLite gives a concatenation's inputs and output one int8 scale, so a part with
    small values next to one with large ones keeps a few levels (SPAN concatenates its
    first features, about ±38, with its last block's, about ±1.5, and lost 7.8 dB).
    Summed, every part keeps its own scale; int8 additions rescale their inputs. The
    activation applies after the sum, the bias once, to the first term.
    """
    nodes: list[ops.Node] = []
    total, start = "", 0
    for i, (ref, width) in enumerate(zip(parts, widths, strict=True)):
        kernel = np.ascontiguousarray(conv.kernel[:, :, start : start + width, :])
        start += width
        bias = conv.bias if i == 0 else None
        term = f"{node.output}#part{i}"
        nodes.append(
            _node(node, replace(conv, kernel=kernel, bias=bias, act=ops.LINEAR), (ref,), term)
        )
        if i:
            last = i == len(parts) - 1
            out = f"{node.output}#sum{i}" if not last or conv.act.kind != "linear" else node.output
            nodes.append(_node(node, ops.Binary("add"), (total, term), out))
            term = out
        total = term
    if conv.act.kind != "linear":
        nodes.append(_node(node, ops.Activation(conv.act), (total,), node.output))
    return nodes


def split_concat_convs(graph: ops.Graph) -> ops.Graph:
    """Every channel concatenation read only by a pointwise convolution (and every
    :class:`~upscaler.convert.ops.ConcatPointwise`) as a sum of per-part convolutions
    (see :func:`_split_pointwise`), where every part's channels are known."""
    widths = channels_of(graph)
    readers = graph.readers()
    producer = graph.producers()
    dropped: set[str] = set()
    nodes: list[ops.Node] = []
    for node in graph.nodes:
        op = node.op
        parts: tuple[str, ...] = ()
        conv: ops.Conv2D | None = None
        if isinstance(op, ops.ConcatPointwise):
            parts, conv = node.inputs, op.conv
        elif isinstance(op, ops.Conv2D) and op.pointwise and len(node.inputs) == 1:
            source = producer.get(node.inputs[0])
            if (
                source is not None
                and isinstance(source.op, ops.Concat)
                and readers[source.output] == 1
                and len(source.inputs) > 1
            ):
                parts, conv = source.inputs, op
        counts = [widths.get(ref) for ref in parts]
        if conv is None or None in counts or sum(c or 0 for c in counts) != conv.kernel.shape[2]:
            if isinstance(op, ops.ConcatPointwise):  # parts unknown: concatenate after all
                joined = f"{node.output}#concat"
                nodes.append(_node(node, ops.Concat(), node.inputs, joined))
                nodes.append(_node(node, op.conv, (joined,), node.output))
            else:
                nodes.append(node)
            continue
        if not isinstance(op, ops.ConcatPointwise):
            dropped.add(node.inputs[0])
        nodes.extend(_split_pointwise(node, conv, parts, [int(c or 0) for c in counts]))
    kept = tuple(n for n in nodes if n.output not in dropped)
    return replace(graph, nodes=kept)


def int8_graph(graph: ops.Graph) -> ops.Graph:
    """The graph in ops an int8 XNNPACK graph is made of (see the module docstring).

    Deterministic: the same graph gives the same tensor names, which the committed
    ranges are keyed by. Raises ConversionError for an op that has no int8 form here.
    """
    nodes: list[ops.Node] = []
    for node in graph.nodes:
        op = node.op
        if isinstance(op, ops.WeightedSum):
            nodes.extend(_split_sum(node))
        elif isinstance(op, ops.ResizeNearest):
            nodes.extend(_nearest(node))
        elif isinstance(op, ops.Activation) and op.act.kind == "swish":
            nodes.extend(_swish(node, node.inputs[0]))
        elif isinstance(op, ops.Conv2D) and op.act.kind == "swish":
            linear = f"{node.output}#linear"
            nodes.append(_node(node, replace(op, act=ops.LINEAR), node.inputs, linear))
            nodes.extend(_swish(node, linear))
        else:
            nodes.append(node)
    rebuilt = replace(graph, nodes=tuple(nodes))
    rebuilt = split_concat_convs(rebuilt)
    rebuilt = fold_activations(rebuilt)
    check_int8_ops(rebuilt)
    return rebuilt


def fold_activations(graph: ops.Graph) -> ops.Graph:
    """A ReLU (or ReLU6) read from a linear convolution that nothing else reads becomes
    that convolution's fused activation: one int8 op and one range fewer."""
    readers = graph.readers()
    producer = graph.producers()
    replaced: dict[str, ops.Node] = {}
    dropped: set[str] = set()
    for node in graph.nodes:
        op = node.op
        if not (isinstance(op, ops.Activation) and op.act.kind in FUSABLE):
            continue
        source = producer.get(node.inputs[0])
        if (
            source is None
            or not isinstance(source.op, ops.Conv2D)
            or source.op.act.kind != "linear"
            or readers[source.output] != 1
            or source.output == graph.output
        ):
            continue
        fused = replace(source.op, act=op.act)
        replaced[source.output] = _node(source, fused, source.inputs, node.output)
        dropped.add(node.output)
    nodes = tuple(
        replaced.get(node.output, node) for node in graph.nodes if node.output not in dropped
    )
    return replace(graph, nodes=nodes)


_INT8_ACTS = ("linear", "relu", "relu6", "sigmoid")


def check_int8_ops(graph: ops.Graph) -> None:
    """Every op is one the int8 path builds and XNNPACK runs; else a ConversionError
    naming the layer."""
    for node in graph.nodes:
        op = node.op
        ok = False
        if isinstance(op, ops.Conv2D):
            ok = op.act.kind in _INT8_ACTS and op.act.kind != "sigmoid"
        elif isinstance(op, ops.Activation):
            ok = op.act.kind in _INT8_ACTS
        elif isinstance(op, ops.Binary):
            ok = op.kind in ("add", "sub", "mul")
        elif isinstance(op, ops.DepthToSpace):
            ok = op.order == "tf"
        elif isinstance(op, ops.Concat | ops.Constant):
            ok = True
        if not ok:
            detail = getattr(getattr(op, "act", None), "kind", None) or getattr(op, "kind", "")
            raise ConversionError(
                f"layer {node.name!r} ({node.kind}): {type(op).__name__} {detail} has no int8 "
                "form here",
                hint="int8 variants take convolutions, ReLU, sigmoid, swish, add, sub, mul, "
                "concatenation, depth-to-space and nearest upsampling",
            )


def tensors(graph: ops.Graph) -> list[str]:
    """Every tensor that carries a range: the input and each node's output, in order."""
    return [graph.input, *(node.output for node in graph.nodes)]


# Ops whose int8 form keeps its input's scale: TFLite requires one scale for a
# concatenation's inputs and output and for depth-to-space's, else it inserts requantize
# ops that XNNPACK does not take.
_SAME_SCALE = (ops.Concat, ops.DepthToSpace)


def shared_ranges(
    graph: ops.Graph, measured: Ranges, *, output: tuple[float, float] | None = None
) -> dict[str, tuple[float, float]]:
    """The ranges to quantize with: each measured range widened to hold 0 (int8 zero
    must be exact for zero padding), then every group of tensors that must share a scale
    (a concatenation's inputs and output, depth-to-space's) given the group's union.
    ``output`` (the model's value range) pins the input's and the output's groups: the
    input holds exactly that range, and the output's 256 int8 levels are then its grey
    levels, so quantizing it is the rounding to 8 bits every 8-bit result gets anyway,
    and values outside are clipped as the runner would.

    Raises ConversionError when a tensor has no range or a range is not finite.
    """
    parent: dict[str, str] = {}

    def find(name: str) -> str:
        while parent.get(name, name) != name:
            name = parent[name]
        return name

    for node in graph.nodes:
        if isinstance(node.op, _SAME_SCALE):
            for ref in node.inputs:
                parent[find(ref)] = find(node.output)
    groups: dict[str, tuple[float, float]] = {}
    for name in tensors(graph):
        if name not in measured:
            raise ConversionError(f"no activation range for tensor {name!r}")
        lo, hi = (float(v) for v in measured[name])
        if not (np.isfinite(lo) and np.isfinite(hi) and lo <= hi):
            raise ConversionError(f"activation range [{lo}, {hi}] of tensor {name!r} is invalid")
        root = find(name)
        glo, ghi = groups.get(root, (0.0, 0.0))
        groups[root] = (min(glo, lo), max(ghi, hi))
    if output is not None:
        groups[find(graph.input)] = groups[find(graph.output)] = (
            float(output[0]),
            float(output[1]),
        )
    return {name: _nonempty(groups[find(name)]) for name in tensors(graph)}


def _nonempty(bounds: tuple[float, float]) -> tuple[float, float]:
    lo, hi = bounds
    return (lo, hi) if hi > lo else (lo, lo + 1e-6)


def int8_forward(
    tf: Any,
    graph: ops.Graph,
    variables: list[Weights],
    ranges: Ranges | None,
    *,
    observe: Callable[[str, Any], None] | None = None,
) -> Callable[[Any], Any]:
    """``forward(x)`` of an :func:`int8_graph`: with ``ranges``, every tensor fake-quantized
    to its range and every convolution kernel per output channel (symmetric, narrow range,
    from the weights themselves); without, the float network, calling ``observe(name,
    tensor)`` for every tensor (how ranges are measured)."""

    def tensor(name: str, value: Any) -> Any:
        if observe is not None:
            observe(name, value)
        if ranges is None:
            return value
        lo, hi = ranges[name]
        return tf.quantization.fake_quant_with_min_max_vars(
            value, min=lo, max=hi, num_bits=8, narrow_range=False
        )

    def forward(x: Any) -> Any:
        values = {graph.input: tensor(graph.input, x)}
        for node, params in zip(graph.nodes, variables, strict=True):
            weights = dict(params)
            if ranges is not None and isinstance(node.op, ops.Conv2D):
                kernel = weights["kernel"]
                bound = tf.maximum(tf.reduce_max(tf.abs(kernel), axis=[0, 1, 2]), 1e-12)
                weights["kernel"] = tf.quantization.fake_quant_with_min_max_vars_per_channel(
                    kernel, min=-bound, max=bound, num_bits=8, narrow_range=True
                )
            inputs = [values[ref] for ref in node.inputs]
            values[node.output] = tensor(
                node.output, _BUILDERS[type(node.op)](tf, node.op, inputs, weights)
            )
        return values[graph.output]

    return forward
