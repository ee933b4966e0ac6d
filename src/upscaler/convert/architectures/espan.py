"""ESPAN, Expanded SPAN (Wang et al., "Expanded SPAN for Efficient Super-Resolution",
CVPRW 2025; NTIRE 2025 efficient-SR challenge, team 36).

Why a network of its own: it is trained with a teacher that shares SPAN's blocks
(:mod:`upscaler.convert.architectures.span`) and is deployed as that teacher's path, so
its file names the tail layers ``tea_*`` and adds a ``teacher_block_seq``, as the team's
``models/team36_espan.py`` in the challenge repository (Amazingren/NTIRE2025_ESR, MIT)
defines it:

- ``conv_1`` is a 9×9 convolution (the paper's "general re-parameterization" folds a
  larger expansion into it);
- five SPAN blocks, then ``teacher_block_seq``: two Conv3XC (SiLU after the first
  only) and the parameter-free attention on the second's output;
- ``tea_conv_2`` on that block's output, the 1×1 ``tea_conv_cat`` over the first
  features, that, the first block's output and the teacher block's output, and
  ``tea_upsampler.0`` (a Conv3XC) before the pixel shuffle;
- no mean shift: it works on [0, 1] values as they come.

Only the deployment form (``eval_conv`` per Conv3XC) is read, the form the file has.
"""

from __future__ import annotations

from upscaler.convert import ops
from upscaler.convert.architectures.layers import GraphWriter
from upscaler.convert.architectures.registry import (
    Architecture,
    Hyper,
    Tensors,
    scale_and_channels,
    shape_of,
)
from upscaler.convert.architectures.span import conv3xc, parameter_free_attention
from upscaler.errors import ConversionError

TEACHER = "teacher_block_seq"


def _blocks(tensors: Tensors) -> int:
    n = 0
    while f"block_{n + 1}.c3_r.eval_conv.weight" in tensors:
        n += 1
    return n


def hyperparameters(tensors: Tensors) -> Hyper:
    """Widths and the first kernel's size from ``conv_1``, scale from the upsampler."""
    features, in_nc, kh, kw = shape_of(tensors, "conv_1.eval_conv.weight")
    if kh != kw or kh % 2 == 0:
        raise ConversionError(
            f"conv_1.eval_conv.weight is a {kh}×{kw} kernel; ESPAN's is square and odd"
        )
    upsampler = shape_of(tensors, "tea_upsampler.0.eval_conv.weight")[0]
    scale, out_nc = scale_and_channels(upsampler, in_nc)
    blocks = _blocks(tensors)
    if blocks < 1:
        raise ConversionError("an ESPAN needs at least one block; the file has none")
    return {
        "scale": scale,
        "in_channels": in_nc,
        "out_channels": out_nc,
        "feature_channels": features,
        "first_kernel": kh,
        "num_blocks": blocks,
        "form": "deploy",
    }


def _spab(w: GraphWriter, tensors: Tensors, prefix: str, x: str, convs: int) -> str:
    """A SPAN block of ``convs`` Conv3XC (SiLU between them) ending in the attention."""
    silu = ops.Act("swish")
    h = x
    for i in range(1, convs + 1):
        act = silu if i < convs else ops.LINEAR
        h = conv3xc(w, tensors, f"{prefix}.c{i}_r", h, act)
    return parameter_free_attention(w, prefix, h, x)


def build(tensors: Tensors, hyper: Hyper) -> ops.Graph:
    """ESPAN's ``forward`` in the shared ops."""
    w = GraphWriter(int(hyper["in_channels"]))
    feature = conv3xc(w, tensors, "conv_1", w.input, ops.LINEAR)
    h = feature
    first = ""
    for n in range(1, int(hyper["num_blocks"]) + 1):
        h = _spab(w, tensors, f"block_{n}", h, convs=3)
        first = first or h
    teacher = _spab(w, tensors, TEACHER, h, convs=2)
    final = conv3xc(w, tensors, "tea_conv_2", teacher, ops.LINEAR)
    joined = w.add("cat", "cat", ops.Concat(), feature, final, first, teacher)
    mixed = w.conv(tensors, "tea_conv_cat", joined)
    up = conv3xc(w, tensors, "tea_upsampler.0", mixed, ops.LINEAR)
    scale = int(hyper["scale"])
    out = w.add("tea_upsampler.1", "PixelShuffle", ops.DepthToSpace(scale, order="torch"), up)
    return w.graph(out)


def receptive_field(hyper: Hyper) -> int:
    """Input pixels on the deepest path: half the first kernel, one per 3×3 (three per
    block, two in the teacher block, ``tea_conv_2`` and the upsampler's)."""
    return int(hyper["first_kernel"]) // 2 + 3 * int(hyper["num_blocks"]) + 2 + 1 + 1


ARCHITECTURE = Architecture(
    name="ESPAN",
    title="ESPAN (Expanded SPAN, NTIRE 2025 efficient SR)",
    vocabulary="span",
    paper="https://openaccess.thecvf.com/content/CVPR2025W/NTIRE/html/Wang_Expanded_SPAN_for_Efficient_Super-Resolution_CVPRW_2025_paper.html",
    required=(
        (
            "conv_1.eval_conv.weight",
            "block_1.c1_r.eval_conv.weight",
            f"{TEACHER}.c1_r.eval_conv.weight",
            f"{TEACHER}.c2_r.eval_conv.weight",
            "tea_conv_cat.weight",
            "tea_conv_2.eval_conv.weight",
            "tea_upsampler.0.eval_conv.weight",
        ),
    ),
    hyperparameters=hyperparameters,
    build=build,
    receptive_field=receptive_field,
)
