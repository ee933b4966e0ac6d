"""SwinIR: residual Swin Transformer blocks for super-resolution, denoising and JPEG.

Architecture (Liang et al., "SwinIR: Image Restoration Using Swin Transformer", ICCVW
2021, arXiv:2108.10257): a 3×3 convolution, a LayerNorm, then residual Swin transformer
blocks (RSTB: ``depth`` Swin layers alternating plain and shifted window attention, each
``x + attn(norm1(x))`` then ``x + mlp(norm2(x))``, closed by a convolution and a
residual), a LayerNorm, a convolution added to the first features, and a reconstruction
tail chosen by ``upsampler``:

- ``pixelshuffle`` (classical SR): convolution + LeakyReLU(0.01), BasicSR's ``Upsample``
  (convolution and pixel shuffle per ×2, or one ×3), output convolution;
- ``pixelshuffledirect`` (lightweight SR): one convolution and one pixel shuffle;
- ``nearest+conv`` (real-world SR): convolution + LeakyReLU(0.01), then per ×2 a nearest
  upsampling and a convolution with LeakyReLU(0.2), a high-resolution convolution and the
  output convolution;
- none (denoising, JPEG, ×1): the output convolution's result is added to the input.

The input is reflect-padded to a multiple of the window, has the DIV2K mean subtracted
and is multiplied by ``img_range``; the output undoes both and is cropped back.

Detection follows spandrel's ``SwinIR/__init__.py`` (keys and shapes): the upsampler
from which tail modules exist, the window from the relative position index, heads from
the bias tables, depths from the block lists, and ``img_range`` 255 for window 7 (the
JPEG models, the only ones with that window, use it) and 1 otherwise.
"""

from __future__ import annotations

import math

from upscaler.convert import ops
from upscaler.convert.architectures import transformer as t
from upscaler.convert.architectures.layers import GraphWriter, leaky
from upscaler.convert.architectures.registry import (
    Architecture,
    Hyper,
    Tensors,
    sequence_length,
    shape_of,
)
from upscaler.errors import ConversionError

UPSAMPLERS = ("pixelshuffle", "pixelshuffledirect", "nearest+conv", "")
DEFAULT_IMG_SIZE = 64
"""The training patch size SwinIR assumes when a checkpoint does not store its masks."""

_BLOCK = "layers.{i}.residual_group.blocks.{j}"


def _upsampler(tensors: Tensors) -> str:
    if "conv_before_upsample.0.weight" in tensors:
        return "nearest+conv" if "conv_up1.weight" in tensors else "pixelshuffle"
    if "upsample.0.weight" in tensors:
        return "pixelshuffledirect"
    return ""


def hyperparameters(tensors: Tensors) -> Hyper:
    """Widths, depths, heads, window, tail and scale from keys and shapes."""
    if "absolute_pos_embed" in tensors:
        raise ConversionError(
            "this SwinIR has an absolute position embedding, which ties it to one input "
            "size; only the released configuration without it is supported"
        )
    first = shape_of(tensors, "conv_first.weight")
    embed_dim, in_nc = first[0], first[1]
    out_nc = shape_of(tensors, "conv_last.weight")[0] if "conv_last.weight" in tensors else in_nc
    upsampler = _upsampler(tensors)
    steps: list[int] = []
    if upsampler == "nearest+conv":
        ups = sum(1 for key in tensors if key.startswith("conv_up") and key.endswith(".weight"))
        scale = 2**ups
    elif upsampler == "pixelshuffle":
        steps, _ = t.pixelshuffle_steps(tensors, "upsample")
        scale = math.prod(steps)
    elif upsampler == "pixelshuffledirect":
        outputs = shape_of(tensors, "upsample.0.weight")[0]
        scale = math.isqrt(outputs // out_nc)
        if scale * scale * out_nc != outputs:
            raise ConversionError(f"upsample.0.weight has {outputs} outputs: no ×s shuffle")
    else:
        scale = 1
    window = t.window_of(tensors, "layers.0.residual_group.blocks.0.attn.relative_position_index")
    layers = sequence_length(tensors, "layers")
    depths = [sequence_length(tensors, f"layers.{i}.residual_group.blocks") for i in range(layers)]
    heads = [
        t.heads_of(tensors, _BLOCK.format(i=i, j=0) + ".attn.relative_position_bias_table")
        for i in range(layers)
    ]
    img_size = DEFAULT_IMG_SIZE
    mask_key = "layers.0.residual_group.blocks.1.attn_mask"
    if mask_key in tensors:
        img_size = math.isqrt(shape_of(tensors, mask_key)[0]) * window
    return {
        "scale": scale,
        "in_channels": in_nc,
        "out_channels": out_nc,
        "embed_dim": embed_dim,
        "depths": depths,
        "num_heads": heads,
        "window_size": window,
        # A training size no larger than the window made every layer unshifted.
        "shift_size": window // 2 if img_size > window else 0,
        "mlp_hidden": shape_of(tensors, _BLOCK.format(i=0, j=0) + ".mlp.fc1.bias")[0],
        "upsampler": upsampler,
        "upsample_steps": steps,
        "resi_connection": "1conv" if "conv_after_body.weight" in tensors else "3conv",
        "patch_norm": "patch_embed.norm.weight" in tensors,
        "img_range": 255.0 if window == 7 else 1.0,
    }


def _residual_conv(w: GraphWriter, tensors: Tensors, prefix: str, x: str, kind: str) -> str:
    """``1conv``: one 3×3 convolution; ``3conv``: 3×3 (C/4), 1×1, 3×3 with LeakyReLU 0.2."""
    if kind == "1conv":
        return w.conv(tensors, prefix, x)
    y = w.conv(tensors, f"{prefix}.0", x, act=leaky(0.2))
    y = w.conv(tensors, f"{prefix}.2", y, act=leaky(0.2))
    return w.conv(tensors, f"{prefix}.4", y)


def swin_layer(
    w: GraphWriter,
    tensors: Tensors,
    prefix: str,
    x: str,
    *,
    window: int,
    shift: int,
    heads: int,
) -> str:
    """One Swin transformer layer: ``x + attn(norm1(x))``, then ``x + mlp(norm2(x))``."""
    y = t.layer_norm(w, tensors, f"{prefix}.norm1", x)
    y = t.window_attention(w, tensors, f"{prefix}.attn", y, window=window, heads=heads, shift=shift)
    x = t.add(w, f"{prefix}.add1", x, y)
    return t.mlp_residual(w, tensors, prefix, x)


def _features(w: GraphWriter, tensors: Tensors, hyper: Hyper, x: str) -> str:
    """``forward_features`` then ``conv_after_body``: the body's output, before the
    residual with the first features."""
    window, shift = int(hyper["window_size"]), int(hyper["shift_size"])
    if hyper["patch_norm"]:
        x = t.layer_norm(w, tensors, "patch_embed.norm", x)
    for i, (depth, heads) in enumerate(zip(hyper["depths"], hyper["num_heads"], strict=True)):
        start = x
        for j in range(int(depth)):
            x = swin_layer(
                w,
                tensors,
                _BLOCK.format(i=i, j=j),
                x,
                window=window,
                shift=shift if j % 2 else 0,
                heads=int(heads),
            )
        x = _residual_conv(w, tensors, f"layers.{i}.conv", x, str(hyper["resi_connection"]))
        x = t.add(w, f"layers.{i}.add", x, start)
    x = t.layer_norm(w, tensors, "norm", x)
    return _residual_conv(w, tensors, "conv_after_body", x, str(hyper["resi_connection"]))


def build(tensors: Tensors, hyper: Hyper) -> ops.Graph:
    """SwinIR in the shared ops (spandrel's ``SwinIR.forward``)."""
    channels, scale = int(hyper["in_channels"]), int(hyper["scale"])
    img_range = float(hyper["img_range"])
    upsampler = str(hyper["upsampler"])
    if upsampler not in UPSAMPLERS:
        raise ConversionError(f"SwinIR upsampler {upsampler!r} is unknown")
    w = GraphWriter(channels)
    x = t.pad_to_window(w, w.input, int(hyper["window_size"]))
    x, mean = t.normalize_input(w, x, channels, img_range)
    first = w.conv(tensors, "conv_first", x)
    body = _features(w, tensors, hyper, first)
    res = t.add(w, "body_residual", body, first)
    if upsampler == "":
        out = t.add(w, "image_residual", x, w.conv(tensors, "conv_last", res))
    elif upsampler == "pixelshuffledirect":
        out = t.pixelshuffle_upsample(w, tensors, "upsample", res, [scale])
    else:
        y = w.conv(tensors, "conv_before_upsample.0", res, act=t.lrelu_slope_default())
        if upsampler == "pixelshuffle":
            y = t.pixelshuffle_upsample(w, tensors, "upsample", y, list(hyper["upsample_steps"]))
        else:
            for k in range(1, int(math.log2(scale)) + 1):
                y = w.add(f"conv_up{k}.upsample", "interpolate", ops.ResizeNearest(2, 2), y)
                y = w.conv(tensors, f"conv_up{k}", y, act=leaky(0.2))
            y = w.conv(tensors, "conv_hr", y, act=leaky(0.2))
        out = w.conv(tensors, "conv_last", y)
    out = t.denormalize_output(w, out, mean, img_range)
    return w.graph(t.crop_output(w, out, scale))


def receptive_field(hyper: Hyper) -> int:
    """An upper bound in input pixels: every attention layer reaches the rest of its
    window, every 3×3 convolution at low resolution one pixel (first, one or two per
    RSTB, after the body, before upsampling), the tail's convolutions one each."""
    per_group = 1 if hyper["resi_connection"] == "1conv" else 2
    depths = [int(d) for d in hyper["depths"]]
    convs = 1 + per_group * (len(depths) + 1) + 3
    return t.attention_reach(depths, int(hyper["window_size"])) + convs


ARCHITECTURE = Architecture(
    name="SwinIR",
    title="SwinIR (Swin Transformer for image restoration)",
    vocabulary="swinir",
    paper="https://arxiv.org/abs/2108.10257",
    required=(
        (
            "conv_first.weight",
            "layers.0.residual_group.blocks.0.norm1.weight",
            "layers.0.residual_group.blocks.0.mlp.fc1.bias",
            "layers.0.residual_group.blocks.0.attn.relative_position_index",
        ),
    ),
    hyperparameters=hyperparameters,
    build=build,
    receptive_field=receptive_field,
)
