"""Graph rewrites on the shared ops: same numbers, cheaper graph.

Each rewrite takes a :class:`~upscaler.convert.ops.Graph` and returns a new one plus how
many places it changed (recorded in ``upscaler.json``, so a report shows what the
converter did). They are pure numpy: a rewrite that permutes weights does it once at
conversion time instead of costing a transpose on every tile.
"""

from __future__ import annotations

import logging
from dataclasses import replace

import numpy as np

from upscaler.convert import ops
from upscaler.convert.ops import (
    Concat,
    ConcatPointwise,
    Conv2D,
    Conv2DTranspose,
    DepthToSpace,
    Graph,
    Node,
    Op,
)

log = logging.getLogger("upscaler.convert.rewrites")


def prune(graph: Graph) -> tuple[Graph, int]:
    """Drop nodes the output does not depend on; returns the graph and how many went.

    Why: formats list every layer of a file (ncnn keeps dead branches, TF.js may keep
    unused layers); tracing them would cost time and keep their weights alive.
    """
    needed = {graph.output}
    kept: list[Node] = []
    for node in reversed(graph.nodes):
        if node.output in needed:
            kept.append(node)
            needed.update(node.inputs)
    dropped = len(graph.nodes) - len(kept)
    if dropped:
        names = sorted({n.name for n in graph.nodes} - {n.name for n in kept})
        log.info("layers not on the path to the output are ignored: %s", names)
    return replace(graph, nodes=tuple(reversed(kept))), dropped


def fuse_pointwise_concats(graph: Graph) -> tuple[Graph, int]:
    """Rewrite every channel Concat read only by a pointwise Conv2D into one
    :class:`~upscaler.convert.ops.ConcatPointwise` node; returns the graph and how many
    were fused.

    Why: see :class:`~upscaler.convert.ops.ConcatPointwise`; it lowers RDN's activation
    peak and so the number of tiles an image needs. A concatenation anything else reads
    is kept.
    """
    readers = graph.readers()
    producer = graph.producers()
    fused: set[str] = set()
    nodes: list[Node] = []
    for node in graph.nodes:
        source = producer.get(node.inputs[0]) if len(node.inputs) == 1 else None
        if (
            isinstance(node.op, Conv2D)
            and node.op.pointwise
            and source is not None
            and isinstance(source.op, Concat)
            and readers[source.output] == 1
        ):
            op = ConcatPointwise(conv=node.op)
            nodes.append(Node(node.name, node.kind, op, source.inputs, node.output))
            fused.add(source.output)
        else:
            nodes.append(node)
    kept = tuple(node for node in nodes if node.output not in fused)
    return replace(graph, nodes=kept), len(fused)


def torch_to_tf_channels(channels: int, block: int) -> np.ndarray:
    """Index array ``p`` with ``tf_order = torch_order[..., p]`` for a pixel shuffle.

    TensorFlow's depth_to_space reads channel ``(i·r + j)·C + c`` for output pixel offset
    (i, j) and channel c; PyTorch's PixelShuffle reads ``c·r² + i·r + j``.
    """
    groups = block * block
    if channels % groups:
        raise ValueError(f"{channels} channels do not split into {groups} pixel groups")
    out = channels // groups
    q = np.arange(channels)
    return (q % out) * groups + q // out


def _permute_outputs(op: Op, block: int) -> Op | None:
    """The producer with its output channels reordered from torch to tf order."""
    if isinstance(op, ConcatPointwise):
        inner = _permute_outputs(op.conv, block)
        return ConcatPointwise(conv=inner) if isinstance(inner, Conv2D) else None
    if isinstance(op, Conv2D):
        if op.out_channels % (block * block):
            return None
        perm = torch_to_tf_channels(op.out_channels, block)
        return Conv2D(
            kernel=np.ascontiguousarray(op.kernel[..., perm]),
            bias=None if op.bias is None else np.ascontiguousarray(op.bias[perm]),
            strides=op.strides,
            dilation=op.dilation,
            padding=op.padding,
            act=op.act,
        )
    if isinstance(op, Conv2DTranspose):
        channels = int(op.kernel.shape[2])
        if channels % (block * block):
            return None
        perm = torch_to_tf_channels(channels, block)
        return Conv2DTranspose(
            kernel=np.ascontiguousarray(op.kernel[:, :, perm, :]),
            bias=None if op.bias is None else np.ascontiguousarray(op.bias[perm]),
            strides=op.strides,
            crop=op.crop,
            act=op.act,
        )
    return None


def fold_torch_depth_to_space(graph: Graph) -> tuple[Graph, int]:
    """Fold a torch-order DepthToSpace into the permutation of the convolution feeding
    it, so the graph uses TensorFlow's native ``depth_to_space``; returns the graph and
    how many were folded.

    Why: ncnn's PixelShuffle (PyTorch order) otherwise costs a reshape, a 6-D transpose
    and another reshape of the largest tensor in the network, every tile. Permuting the
    producer's output filters (and bias; the fused activation is elementwise, so it
    commutes) makes the producer emit TensorFlow's order directly, at no run-time cost.
    Only a convolution whose output nothing else reads can be permuted; anything else
    keeps the torch order and the builder falls back to reshape/transpose.
    """
    readers = graph.readers()
    producer = graph.producers()
    replaced: dict[str, Node] = {}
    folded = 0
    for node in graph.nodes:
        op = node.op
        if not (isinstance(op, DepthToSpace) and op.order == "torch"):
            continue
        if op.block == 1:
            replaced[node.output] = Node(
                node.name, node.kind, DepthToSpace(1, "tf"), node.inputs, node.output
            )
            continue
        source = producer.get(node.inputs[0])
        if source is None or readers[source.output] != 1 or source.output in replaced:
            continue
        permuted = _permute_outputs(source.op, op.block)
        if permuted is None:
            continue
        replaced[source.output] = Node(
            source.name, source.kind, permuted, source.inputs, source.output
        )
        replaced[node.output] = Node(
            node.name, node.kind, DepthToSpace(op.block, "tf"), node.inputs, node.output
        )
        folded += 1
    nodes = tuple(replaced.get(node.output, node) for node in graph.nodes)
    return replace(graph, nodes=nodes), folded


def _same_odd_padding(op: Conv2D) -> int | None:
    """The symmetric pad of a stride-1, undilated, odd, square 'same' convolution (None
    for any other convolution)."""
    kh, kw = int(op.kernel.shape[0]), int(op.kernel.shape[1])
    if op.strides != (1, 1) or op.dilation != (1, 1) or kh != kw or kh % 2 == 0:
        return None
    pad = (kh - 1) // 2
    if op.padding in ("same", (pad, pad, pad, pad)):
        return pad
    return None


def subpixel_kernel(kernel: np.ndarray, factor: int) -> np.ndarray:
    """The low-resolution kernel of ``conv(nearest_upsample(x, factor))``: one output group
    per sub-pixel phase, in ``depth_to_space``'s channel order.

    High-resolution pixel ``(factor·y + i, factor·x + j)`` reads tap ``(dy, dx)`` at
    input row ``factor·y + i + dy``, which the upsampling copied from low-resolution row
    ``y + floor((i + dy) / factor)``; so each tap adds into the low-resolution kernel at
    that offset, in the output group of phase ``(i, j)``. Zero padding maps onto zero
    padding (a row outside the upsampled image comes from one outside the original).
    """
    k, _, cin, cout = kernel.shape
    pad = (k - 1) // 2
    reach = -(-pad // factor)  # ceil(pad / factor): the low-resolution kernel's half-width
    size = 2 * reach + 1
    out = np.zeros((size, size, cin, factor * factor * cout), np.float64)
    for i in range(factor):
        for j in range(factor):
            group = slice((i * factor + j) * cout, (i * factor + j + 1) * cout)
            for dy in range(-pad, pad + 1):
                for dx in range(-pad, pad + 1):
                    ly, lx = (i + dy) // factor + reach, (j + dx) // factor + reach
                    out[ly, lx, :, group] += kernel[dy + pad, dx + pad]
    return np.ascontiguousarray(out.astype(np.float32))


def fold_nearest_upsampling(graph: Graph) -> tuple[Graph, int]:
    """Run a convolution that reads a nearest-neighbour upsampling at the low resolution
    instead: one convolution to ``factor²`` times the channels, then ``depth_to_space``.
    Returns the graph and how many were folded.

    Why: idealo's RDN upsampler (every UpscalerJS model) repeats each pixel of a
    48-channel map 4× 4 and then convolves the copy down to 3 channels; at 512² that is an
    805 MB tensor written and read once more, and a convolution with 3 outputs, which no
    CPU kernel runs efficiently. The same sums at low resolution read the small map and
    write 48 outputs per pixel (:func:`subpixel_kernel`). Only a stride-1 odd 'same'
    convolution whose upsampling nothing else reads, and that narrows the map (fewer
    outputs than inputs, so the upsampled copy is the large tensor), is folded: for
    Real-ESRGAN's 64 -> 64 upsampling convolutions the fold measured no gain (0.96x).
    The result is the same up to float rounding (taps that land on the same
    low-resolution pixel are summed first).
    """
    readers = graph.readers()
    producer = graph.producers()
    folded_inputs: dict[str, str] = {}  # upsampling output -> the tensor it upsampled
    rewritten: dict[str, tuple[Node, ...]] = {}
    for node in graph.nodes:
        if not isinstance(node.op, Conv2D) or _same_odd_padding(node.op) is None:
            continue
        if node.op.out_channels >= int(node.op.kernel.shape[2]):
            continue  # not a narrowing convolution: nothing to gain
        up = producer.get(node.inputs[0])
        if up is None or not isinstance(up.op, ops.ResizeNearest) or readers[up.output] != 1:
            continue
        factor = up.op.factor_h
        if factor < 2 or up.op.factor_w != factor:
            continue
        op = node.op
        bias = None if op.bias is None else np.ascontiguousarray(np.tile(op.bias, factor**2))
        low = Conv2D(
            kernel=subpixel_kernel(op.kernel, factor), bias=bias, padding="same", act=op.act
        )
        inner = f"{node.output}#subpixel"
        rewritten[node.output] = (
            Node(node.name, node.kind, low, up.inputs, inner),
            Node(
                f"{node.name}#shuffle",
                "DepthToSpace",
                DepthToSpace(factor, "tf"),
                (inner,),
                node.output,
            ),
        )
        folded_inputs[up.output] = up.inputs[0]
    nodes: list[Node] = []
    for node in graph.nodes:
        if node.output in folded_inputs:
            continue  # the upsampling its convolution no longer reads
        nodes.extend(rewritten.get(node.output, (node,)))
    return replace(graph, nodes=tuple(nodes)), len(rewritten)


def _scale_inputs(op: ops.Conv2D, factors: np.ndarray) -> ops.Conv2D:
    kernel = (op.kernel.astype(np.float64) * factors[None, None, :, None]).astype(np.float32)
    return replace(op, kernel=np.ascontiguousarray(kernel))


def _negate_outputs(op: ops.Conv2D, signs: np.ndarray) -> ops.Conv2D:
    bias = None if op.bias is None else np.ascontiguousarray(op.bias * signs)
    return replace(op, kernel=np.ascontiguousarray(op.kernel * signs), bias=bias)


def normalize_prelu_slopes(graph: ops.Graph) -> tuple[ops.Graph, int]:
    """Make every PReLU slope at most 1 by rescaling channels between two convolutions;
    returns the graph and how many PReLUs changed.

    Why: for slopes a <= 1 (negative ones included) PReLU is ``max(z, a·z)``: two
    elementwise passes instead of four, and PReLU is ~15% of SRVGGNetCompact's time.
    For a channel with a > 1, ``prelu_a(z) = -a · prelu_{1/a}(-z)``: the convolution
    producing the channel negates it (kernel and bias), the PReLU uses slope 1/a, and
    the convolutions reading it multiply their input filters by -a. Only done where the
    producer is a convolution read by nothing else and every reader of the PReLU is a
    convolution; the numbers change by float rounding only.
    """
    readers = graph.readers()
    consumers: dict[str, list[ops.Node]] = {}
    for node in graph.nodes:
        for ref in node.inputs:
            consumers.setdefault(ref, []).append(node)
    # Latest version of each node: a convolution between two PReLUs is rewritten twice
    # (its inputs for the first, its outputs for the second), which commutes.
    current = {node.output: node for node in graph.nodes}
    changed = 0
    for node in graph.nodes:
        op = node.op
        if not isinstance(op, ops.PReLU) or float(op.slopes.max()) <= 1.0 or op.slopes.size < 2:
            continue
        source = current.get(node.inputs[0])
        users = [current[u.output] for u in consumers.get(node.output, [])]
        if (
            source is None
            or not isinstance(source.op, ops.Conv2D)
            or readers[source.output] != 1
            or source.op.out_channels != op.slopes.size
            or node.output == graph.output
            or not users
            or not all(isinstance(u.op, ops.Conv2D) and u.inputs == (node.output,) for u in users)
        ):
            continue
        steep = op.slopes > 1.0
        signs = np.where(steep, -1.0, 1.0).astype(np.float32)
        slopes = np.where(steep, 1.0 / op.slopes.astype(np.float64), op.slopes)
        factors = np.where(steep, -op.slopes.astype(np.float64), 1.0)
        current[source.output] = _renode(source, _negate_outputs(source.op, signs))
        prelu = ops.PReLU(np.ascontiguousarray(slopes, dtype=np.float32))
        current[node.output] = _renode(node, prelu)
        for user in users:
            assert isinstance(user.op, ops.Conv2D)
            current[user.output] = _renode(user, _scale_inputs(user.op, factors))
        changed += 1
    nodes = tuple(current[node.output] for node in graph.nodes)
    return replace(graph, nodes=nodes), changed


def _renode(node: ops.Node, op: ops.Op) -> ops.Node:
    return ops.Node(node.name, node.kind, op, node.inputs, node.output)
