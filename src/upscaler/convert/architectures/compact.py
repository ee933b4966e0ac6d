"""Real-ESRGAN's SRVGGNetCompact (``realesr-general-x4v3``, ``realesr-animevideov3``).

Architecture (Wang et al., "Real-ESRGAN", ICCVW 2021, arXiv:2107.10833; the compact
network of the Real-ESRGAN repository): ``body`` is one list of a 3×3 convolution and a
PReLU (one slope per channel), ``num_conv`` more such pairs, and a last convolution to
``out · scale²`` channels; a pixel shuffle follows, and the nearest-neighbour upsampled
input is added, so the network learns a residual. Detection follows spandrel's
``Compact/__init__.py``: the list's length gives ``num_conv``, the last convolution's
outputs give scale and output channels.

Only PReLU checkpoints are recognised: ReLU and LeakyReLU variants have no activation
weights, so their files cannot say which activation was used (spandrel assumes PReLU too).
"""

from __future__ import annotations

import math

from upscaler.convert import ops
from upscaler.convert.architectures.layers import GraphWriter, out_channels
from upscaler.convert.architectures.registry import (
    Architecture,
    Hyper,
    Tensors,
    scale_and_channels,
    sequence_length,
    shape_of,
    tensor,
)
from upscaler.errors import ConversionError


def hyperparameters(tensors: Tensors) -> Hyper:
    """Features, depth, scale and channels from the ``body`` list's shapes."""
    last = sequence_length(tensors, "body") - 1
    if last < 3 or last % 2:
        raise ConversionError(f"a 'body' list of {last + 1} entries is no SRVGGNetCompact")
    first = shape_of(tensors, "body.0.weight")
    in_nc, features = first[1], first[0]
    if "body.1.weight" in tensors and shape_of(tensors, "body.1.weight") != (features,):
        raise ConversionError(
            f"body.1.weight has shape {list(shape_of(tensors, 'body.1.weight'))}: "
            f"not a PReLU of {features} channels"
        )
    scale, out_nc = scale_and_channels(out_channels(tensors, f"body.{last}"), in_nc)
    return {
        "scale": scale,
        "in_channels": in_nc,
        "out_channels": out_nc,
        "num_feat": features,
        "num_conv": (last - 2) // 2,
    }


def build(tensors: Tensors, hyper: Hyper) -> ops.Graph:
    """The compact network in the shared ops (spandrel's ``SRVGGNetCompact.forward``)."""
    scale = int(hyper["scale"])
    w = GraphWriter(int(hyper["in_channels"]))
    h = w.input
    last = 2 * int(hyper["num_conv"]) + 2
    for i in range(0, last, 2):
        h = w.conv(tensors, f"body.{i}", h)
        slopes = ops.as_array(tensor(tensors, f"body.{i + 1}.weight"), f"body.{i + 1}.weight")
        h = w.add(f"body.{i + 1}", "PReLU", ops.PReLU(slopes), h)
    h = w.conv(tensors, f"body.{last}", h)
    h = w.add("upsampler", "PixelShuffle", ops.DepthToSpace(scale, order="torch"), h)
    base = w.add("base", "interpolate", ops.ResizeNearest(scale, scale), w.input)
    out = w.add("residual", "add", ops.Binary("add"), h, base)
    return w.graph(out)


def receptive_field(hyper: Hyper) -> int:
    """One input pixel per 3×3 convolution, all at low resolution."""
    return math.ceil(int(hyper["num_conv"]) + 2)


ARCHITECTURE = Architecture(
    name="Compact",
    title="Real-ESRGAN SRVGGNetCompact",
    vocabulary="srvgg",
    paper="https://arxiv.org/abs/2107.10833",
    required=(("body.0.weight", "body.1.weight"),),
    hyperparameters=hyperparameters,
    build=build,
    receptive_field=receptive_field,
)
