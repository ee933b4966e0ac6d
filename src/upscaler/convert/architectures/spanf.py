"""SPANF, a SPAN derivative from the NTIRE 2025 efficient-SR challenge (team 24).

Why a network of its own and not a SPAN option: it keeps SPAN's blocks (the Conv3XC
triple and the parameter-free attention, :mod:`upscaler.convert.architectures.span`) but
rewires everything around them, as the team's ``models/team24_SPANF.py`` in the
challenge repository (Amazingren/NTIRE2025_ESR, MIT) defines it:

- no first convolution: ``block_1`` takes the RGB input and widens it, and because its
  input and output widths differ it ends without the attention (its output is the third
  convolution's);
- five blocks, not six;
- ``conv_near``, a 3×3 convolution grouped per input channel (``groups=3``) that makes
  ``scale²`` copies of each colour, is concatenated with the last and the first block's
  outputs, mixed by the 1×1 ``conv_cat``, and ``conv_2`` (a Conv3XC) produces the
  ``3·scale²`` pixel-shuffle channels directly: there is no ``upsampler``;
- no mean shift: it works on [0, 1] values as they come.

The files are saved in the deployment form (``eval_conv`` per Conv3XC), which is the only
form this module reads. The grouped convolution is written here as a dense one with zero
blocks, which the shared ops already have.
"""

from __future__ import annotations

import math

import numpy as np

from upscaler.convert import ops
from upscaler.convert.architectures.layers import GraphWriter, hwio
from upscaler.convert.architectures.registry import (
    Architecture,
    Hyper,
    Tensors,
    shape_of,
    tensor,
)
from upscaler.convert.architectures.span import conv3xc, parameter_free_attention
from upscaler.errors import ConversionError


def _blocks(tensors: Tensors) -> int:
    n = 0
    while f"block_{n + 1}.c3_r.eval_conv.weight" in tensors:
        n += 1
    return n


def hyperparameters(tensors: Tensors) -> Hyper:
    """Scale from ``conv_near`` (``scale²`` outputs per input channel), widths from the
    first block, the block count from the keys."""
    near_out, near_in = shape_of(tensors, "conv_near.weight")[:2]
    features, in_nc = shape_of(tensors, "block_1.c1_r.eval_conv.weight")[:2]
    per_channel = near_out // in_nc if near_in == 1 else 0
    scale = math.isqrt(per_channel)
    if per_channel < 1 or near_out % in_nc or scale * scale != per_channel:
        raise ConversionError(
            f"conv_near.weight has shape {list(shape_of(tensors, 'conv_near.weight'))}: not "
            f"scale² copies of each of {in_nc} input channels"
        )
    out_nc = shape_of(tensors, "conv_2.eval_conv.weight")[0] // (scale * scale)
    if out_nc != in_nc:
        raise ConversionError(
            f"conv_2.eval_conv.weight gives {out_nc} output channels for {in_nc} input "
            "channels; SPANF adds conv_near's copies of the input, so they must agree"
        )
    blocks = _blocks(tensors)
    if blocks < 2:
        raise ConversionError(f"a SPANF needs at least two blocks; the file has {blocks}")
    return {
        "scale": scale,
        "in_channels": in_nc,
        "out_channels": out_nc,
        "feature_channels": features,
        "num_blocks": blocks,
        "form": "deploy",
    }


def _near(tensors: Tensors, in_nc: int) -> ops.Conv2D:
    """``conv_near`` (grouped per input channel, no bias) as a dense kernel: output ``o``
    reads input channel ``o // (outputs / in_nc)`` only."""
    grouped = np.asarray(tensor(tensors, "conv_near.weight"), dtype=np.float64)
    out_nc = grouped.shape[0]
    per_group = out_nc // in_nc
    dense = np.zeros((out_nc, in_nc, *grouped.shape[2:]), dtype=np.float64)
    for o in range(out_nc):
        dense[o, o // per_group] = grouped[o, 0]
    return ops.Conv2D(hwio(dense, "conv_near.weight"), None, padding="same")


def _block(w: GraphWriter, tensors: Tensors, n: int, x: str, attend: bool) -> str:
    p = f"block_{n}"
    silu = ops.Act("swish")
    out1 = conv3xc(w, tensors, f"{p}.c1_r", x, silu)
    out2 = conv3xc(w, tensors, f"{p}.c2_r", out1, silu)
    out3 = conv3xc(w, tensors, f"{p}.c3_r", out2, ops.LINEAR)
    return parameter_free_attention(w, p, out3, x) if attend else out3


def build(tensors: Tensors, hyper: Hyper) -> ops.Graph:
    """SPANF's ``forward`` in the shared ops."""
    in_nc = int(hyper["in_channels"])
    w = GraphWriter(in_nc)
    near = w.add("conv_near", "Conv2d", _near(tensors, in_nc), w.input)
    # The first block changes the width (in_nc → features), so it has no residual and no
    # attention (``SPAB1.forward``'s ``in_channels != out_channels`` branch).
    widens = int(hyper["feature_channels"]) != in_nc
    first = _block(w, tensors, 1, w.input, attend=not widens)
    h = first
    for n in range(2, int(hyper["num_blocks"]) + 1):
        h = _block(w, tensors, n, h, attend=True)
    joined = w.add("cat", "cat", ops.Concat(), near, h, first)
    mixed = w.conv(tensors, "conv_cat", joined)
    up = conv3xc(w, tensors, "conv_2", mixed, ops.LINEAR)
    scale = int(hyper["scale"])
    out = w.add("depth_to_space", "PixelShuffle", ops.DepthToSpace(scale, order="torch"), up)
    return w.graph(out)


def receptive_field(hyper: Hyper) -> int:
    """One input pixel per 3×3 convolution on the deepest path: three per block and
    ``conv_2``."""
    return 3 * int(hyper["num_blocks"]) + 1


ARCHITECTURE = Architecture(
    name="SPANF",
    title="SPANF (SPAN derivative, NTIRE 2025 efficient SR)",
    vocabulary="span",
    paper="https://arxiv.org/abs/2504.10686",
    required=(
        (
            "conv_near.weight",
            "block_1.c1_r.eval_conv.weight",
            "block_1.c3_r.eval_conv.weight",
            "block_2.c3_r.eval_conv.weight",
            "conv_cat.weight",
            "conv_2.eval_conv.weight",
        ),
    ),
    hyperparameters=hyperparameters,
    build=build,
    receptive_field=receptive_field,
)
