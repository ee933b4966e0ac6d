"""HAT: the Hybrid Attention Transformer (HAT, HAT-S, HAT-L are sizes of one network).

Architecture (Chen et al., "Activating More Pixels in Image Super-Resolution
Transformer", CVPR 2023, arXiv:2205.04437), SwinIR's frame with two additions:

- each hybrid attention block (HAB) runs, beside the (shifted) window attention, a
  channel-attention block on the same normalised input (CAB: 3×3 convolution to
  ``C / compress_ratio``, GELU, 3×3 convolution back, then RCAN's squeeze-excitation:
  global average pool, 1×1 to ``C / squeeze_factor``, ReLU, 1×1 back, sigmoid, scale)
  and adds it weighted by ``conv_scale`` (0.01, which no checkpoint stores; spandrel and
  the released configurations use 0.01);
- each residual group (RHAG) ends with an overlapping cross-attention block (OCAB):
  queries from the windows, keys and values from larger overlapping windows
  (:class:`ops.OverlapAttention`), then an MLP.

The tail is always BasicSR's pixel-shuffle ``Upsample``. The input has the DIV2K mean
subtracted, is multiplied by ``img_range`` (1, what spandrel assumes) and reflect-padded
to a multiple of the window; the output undoes it and is cropped back.

Detection follows spandrel's ``HAT/__init__.py``: window from ``relative_position_index_SA``,
overlapping window from ``relative_position_index_OCA``, heads from the OCAB tables,
compress and squeeze factors from the CAB's widths.

The channel attention averages over the whole (padded) image, so a tiled run shares
the pooled statistics between tiles (:mod:`upscaler.runtime.pooled_tiling`).
"""

from __future__ import annotations

import math

from upscaler.convert import ops
from upscaler.convert.architectures import transformer as t
from upscaler.convert.architectures.layers import GraphWriter
from upscaler.convert.architectures.registry import (
    Architecture,
    Hyper,
    Tensors,
    sequence_length,
    shape_of,
    tensor,
)
from upscaler.errors import ConversionError

CONV_SCALE = 0.01
"""Weight of the channel-attention branch in every HAB (not stored in checkpoints)."""

_GROUP = "layers.{i}.residual_group"


def hyperparameters(tensors: Tensors) -> Hyper:
    """Widths, depths, heads, windows, CAB factors and scale from keys and shapes."""
    if "absolute_pos_embed" in tensors:
        raise ConversionError(
            "this HAT has an absolute position embedding, which ties it to one input "
            "size; only the released configurations without it are supported"
        )
    first = shape_of(tensors, "conv_first.weight")
    embed_dim, in_nc = first[0], first[1]
    window = t.window_of(tensors, "relative_position_index_SA")
    oca = shape_of(tensors, "relative_position_index_OCA")
    overlap = math.isqrt(oca[1])
    if overlap * overlap != oca[1]:
        raise ConversionError(
            f"relative_position_index_OCA has {oca[1]} columns, not a square window"
        )
    steps, num_feat = t.pixelshuffle_steps(tensors, "upsample")
    scale = 1
    for factor in steps:
        scale *= factor
    layers = sequence_length(tensors, "layers")
    depths = [sequence_length(tensors, _GROUP.format(i=i) + ".blocks") for i in range(layers)]
    heads = [
        t.heads_of(tensors, _GROUP.format(i=i) + ".overlap_attn.relative_position_bias_table")
        for i in range(layers)
    ]
    block = _GROUP.format(i=0) + ".blocks.0"
    return {
        "scale": scale,
        "in_channels": in_nc,
        "out_channels": shape_of(tensors, "conv_last.weight")[0],
        "embed_dim": embed_dim,
        "depths": depths,
        "num_heads": heads,
        "window_size": window,
        "overlap_window": overlap,
        "compress_width": shape_of(tensors, f"{block}.conv_block.cab.0.weight")[0],
        "squeeze_width": shape_of(tensors, f"{block}.conv_block.cab.3.attention.1.weight")[0],
        "mlp_hidden": shape_of(tensors, f"{block}.mlp.fc1.weight")[0],
        "num_feat": num_feat,
        "upsample_steps": steps,
        "resi_connection": "1conv" if "conv_after_body.weight" in tensors else "identity",
        "patch_norm": "patch_embed.norm.weight" in tensors,
        "conv_scale": CONV_SCALE,
        "img_range": 1.0,
    }


def _vector_conv(tensors: Tensors, prefix: str, act: ops.Act) -> ops.Dense:
    """A 1×1 ``nn.Conv2d`` applied to a pooled ``[N, 1, 1, C]`` vector: a dense layer."""
    key = f"{prefix}.weight"
    weight = tensor(tensors, key)
    if len(weight.shape) != 4 or weight.shape[2:] != (1, 1):
        raise ConversionError(f"{key} has shape {list(weight.shape)}, not a 1×1 convolution")
    kernel = ops.as_array(weight[:, :, 0, 0].T, key)
    return ops.Dense(kernel, t.optional(tensors, f"{prefix}.bias"), act=act)


def channel_attention_block(w: GraphWriter, tensors: Tensors, prefix: str, x: str) -> str:
    """CAB: conv, GELU, conv, then squeeze-and-excitation (RCAN's channel attention)."""
    y = w.conv(tensors, f"{prefix}.cab.0", x, act=t.GELU)
    y = w.conv(tensors, f"{prefix}.cab.2", y)
    se = f"{prefix}.cab.3.attention"
    pooled = w.add(f"{se}.0", "AdaptiveAvgPool2d", ops.GlobalAvgPool(), y)
    v = w.add(f"{se}.1", "Conv2d", _vector_conv(tensors, f"{se}.1", ops.Act("relu")), pooled)
    v = w.add(f"{se}.3", "Conv2d", _vector_conv(tensors, f"{se}.3", ops.Act("sigmoid")), v)
    return w.add(f"{prefix}.cab.3", "ChannelAttention", ops.ChannelScale(), y, v)


def hybrid_attention_block(
    w: GraphWriter, tensors: Tensors, prefix: str, x: str, *, window: int, shift: int, heads: int
) -> str:
    """HAB: ``x + attn(n) + conv_scale · CAB(n)`` with ``n = norm1(x)``, then the MLP."""
    n = t.layer_norm(w, tensors, f"{prefix}.norm1", x)
    cab = channel_attention_block(w, tensors, f"{prefix}.conv_block", n)
    a = t.window_attention(w, tensors, f"{prefix}.attn", n, window=window, heads=heads, shift=shift)
    mix = ops.WeightedSum((1.0, 1.0, CONV_SCALE))
    x = w.add(f"{prefix}.add1", "add", mix, x, a, cab)
    return t.mlp_residual(w, tensors, prefix, x)


def overlap_block(
    w: GraphWriter, tensors: Tensors, prefix: str, x: str, *, window: int, overlap: int, heads: int
) -> str:
    """OCAB: ``x + proj(OCA(norm1(x)))``, then ``x + mlp(norm2(x))``."""
    n = t.layer_norm(w, tensors, f"{prefix}.norm1", x)
    attn = ops.OverlapAttention(
        **t.attention_weights(tensors, prefix), window=window, overlap=overlap, heads=heads
    )
    a = w.add(f"{prefix}.attn", "OverlapAttention", attn, n)
    x = t.add(w, f"{prefix}.add1", x, a)
    return t.mlp_residual(w, tensors, prefix, x)


def _features(w: GraphWriter, tensors: Tensors, hyper: Hyper, x: str) -> str:
    window, overlap = int(hyper["window_size"]), int(hyper["overlap_window"])
    one_conv = hyper["resi_connection"] == "1conv"
    if hyper["patch_norm"]:
        x = t.layer_norm(w, tensors, "patch_embed.norm", x)
    for i, (depth, heads) in enumerate(zip(hyper["depths"], hyper["num_heads"], strict=True)):
        group = _GROUP.format(i=i)
        start = x
        for j in range(int(depth)):
            x = hybrid_attention_block(
                w,
                tensors,
                f"{group}.blocks.{j}",
                x,
                window=window,
                shift=window // 2 if j % 2 else 0,
                heads=int(heads),
            )
        x = overlap_block(
            w, tensors, f"{group}.overlap_attn", x, window=window, overlap=overlap, heads=int(heads)
        )
        if one_conv:
            x = w.conv(tensors, f"layers.{i}.conv", x)
        x = t.add(w, f"layers.{i}.add", x, start)
    x = t.layer_norm(w, tensors, "norm", x)
    return w.conv(tensors, "conv_after_body", x) if one_conv else x


def build(tensors: Tensors, hyper: Hyper) -> ops.Graph:
    """HAT in the shared ops (spandrel's ``HAT.forward``)."""
    channels, scale = int(hyper["in_channels"]), int(hyper["scale"])
    img_range = float(hyper["img_range"])
    w = GraphWriter(channels)
    x, mean = t.normalize_input(w, w.input, channels, img_range)
    x = t.pad_to_window(w, x, int(hyper["window_size"]))
    first = w.conv(tensors, "conv_first", x)
    res = t.add(w, "body_residual", _features(w, tensors, hyper, first), first)
    y = w.conv(tensors, "conv_before_upsample.0", res, act=t.lrelu_slope_default())
    y = t.pixelshuffle_upsample(w, tensors, "upsample", y, list(hyper["upsample_steps"]))
    out = w.conv(tensors, "conv_last", y)
    out = t.denormalize_output(w, out, mean, img_range)
    return w.graph(t.crop_output(w, out, scale))


def receptive_field(hyper: Hyper) -> int:
    """An upper bound in input pixels, ignoring the global channel attention (shared
    between tiles): every window attention reaches the rest of its window, every OCAB
    half the overlap further, every CAB two 3×3 convolutions, plus the convolutions."""
    depths = [int(d) for d in hyper["depths"]]
    window, overlap = int(hyper["window_size"]), int(hyper["overlap_window"])
    per_oca = window - 1 + (overlap - window) // 2
    convs = 2 * sum(depths) + len(depths) + 4
    return t.attention_reach(depths, window) + per_oca * len(depths) + convs


ARCHITECTURE = Architecture(
    name="HAT",
    title="HAT (Hybrid Attention Transformer)",
    vocabulary="hat",
    paper="https://arxiv.org/abs/2205.04437",
    required=(
        (
            "relative_position_index_SA",
            "relative_position_index_OCA",
            "conv_first.weight",
            "layers.0.residual_group.blocks.0.norm1.weight",
            "layers.0.residual_group.blocks.0.conv_block.cab.0.weight",
            "layers.0.residual_group.blocks.0.conv_block.cab.3.attention.1.weight",
            "layers.0.residual_group.blocks.0.mlp.fc1.bias",
            "layers.0.residual_group.overlap_attn.relative_position_bias_table",
            "layers.0.residual_group.overlap_attn.qkv.weight",
            "conv_last.weight",
        ),
    ),
    hyperparameters=hyperparameters,
    build=build,
    receptive_field=receptive_field,
)
