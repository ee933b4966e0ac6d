"""What SwinIR and HAT share, as shared ops: token layers, mean shift, window padding.

Both networks (SwinIR: Liang et al., "SwinIR: Image Restoration Using Swin Transformer",
ICCVW 2021, arXiv:2108.10257; HAT: Chen et al., "Activating More Pixels in Image
Super-Resolution Transformer", CVPR 2023, arXiv:2205.04437) flatten the feature map into
``(B, H·W, C)`` tokens for their transformer layers and back into an image for their
convolutions. Our graph keeps NHWC throughout: a ``nn.Linear`` on tokens is a 1×1
convolution, ``nn.LayerNorm`` on tokens is :class:`ops.LayerNorm` over channels, and
PatchEmbed / PatchUnEmbed (patch size 1) are the identity, so no node is emitted for them.

The two networks pad the image with reflection to a multiple of the window size and crop
the output back (spandrel's ``check_image_size``); written here as an
:class:`ops.EdgePad` at the start and an :class:`ops.CropToReference` at the end, so a
graph is complete on its own and the tile planner sees the window in the attention ops
(:func:`upscaler.convert.geometry.shift_period` aligns tiles on it).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from upscaler.convert import ops
from upscaler.convert.architectures.layers import GraphWriter
from upscaler.convert.architectures.registry import Tensors, shape_of, tensor
from upscaler.errors import ConversionError

RGB_MEAN = (0.4488, 0.4371, 0.4040)
"""The DIV2K mean both networks subtract from an RGB input (and add back)."""

GELU = ops.Act("gelu")
"""PyTorch's ``nn.GELU()`` is the exact (erf) form, which ``gelu`` is."""


def optional(tensors: Tensors, key: str) -> ops.Array | None:
    """``tensors[key]`` as float32, or None when the checkpoint has no such tensor."""
    return ops.as_array(tensors[key], key) if key in tensors else None


def matrix(tensors: Tensors, key: str) -> ops.Array:
    """A ``nn.Linear`` weight ``[out, in]`` as a ``[in, out]`` kernel."""
    weight = tensor(tensors, key)
    if np.ndim(weight) != 2:
        raise ConversionError(f"{key} has shape {list(np.shape(weight))}, not a linear layer")
    return ops.as_array(np.transpose(weight), key)


def linear(
    w: GraphWriter, tensors: Tensors, prefix: str, x: str, *, act: ops.Act = ops.LINEAR
) -> str:
    """``nn.Linear`` at ``prefix`` on every token: a 1×1 convolution."""
    kernel = matrix(tensors, f"{prefix}.weight")[np.newaxis, np.newaxis]
    op = ops.Conv2D(kernel, optional(tensors, f"{prefix}.bias"), padding="valid", act=act)
    return w.add(prefix, "Linear", op, x)


def layer_norm(w: GraphWriter, tensors: Tensors, prefix: str, x: str) -> str:
    """``nn.LayerNorm`` (eps 1e-5, PyTorch's default) at ``prefix`` over channels."""
    weight = ops.as_array(tensor(tensors, f"{prefix}.weight"), f"{prefix}.weight")
    bias = ops.as_array(tensor(tensors, f"{prefix}.bias"), f"{prefix}.bias")
    return w.add(prefix, "LayerNorm", ops.LayerNorm(weight, bias), x)


def mlp(w: GraphWriter, tensors: Tensors, prefix: str, x: str) -> str:
    """The transformer MLP: fc1, GELU, fc2."""
    hidden = linear(w, tensors, f"{prefix}.fc1", x, act=GELU)
    return linear(w, tensors, f"{prefix}.fc2", hidden)


def add(w: GraphWriter, name: str, a: str, b: str) -> str:
    return w.add(name, "add", ops.Binary("add"), a, b)


def attention_weights(tensors: Tensors, prefix: str) -> dict[str, Any]:
    """The qkv and projection weights and the relative position bias table of an
    attention module at ``prefix`` (SwinIR's and HAT's window attention, HAT's
    overlapping cross-attention all store them under the same names)."""
    table = f"{prefix}.relative_position_bias_table"
    return {
        "qkv_kernel": matrix(tensors, f"{prefix}.qkv.weight"),
        "qkv_bias": optional(tensors, f"{prefix}.qkv.bias"),
        "proj_kernel": matrix(tensors, f"{prefix}.proj.weight"),
        "proj_bias": optional(tensors, f"{prefix}.proj.bias"),
        "bias_table": ops.as_array(tensor(tensors, table), table),
    }


def window_attention(
    w: GraphWriter, tensors: Tensors, prefix: str, x: str, *, window: int, heads: int, shift: int
) -> str:
    """The (shifted) window attention at ``prefix`` applied to ``x``."""
    op = ops.WindowAttention(
        **attention_weights(tensors, prefix), window=window, heads=heads, shift=shift
    )
    return w.add(prefix, "WindowAttention", op, x)


def mlp_residual(w: GraphWriter, tensors: Tensors, prefix: str, x: str) -> str:
    """``x + mlp(norm2(x))``: the second half of every Swin and HAT block."""
    y = layer_norm(w, tensors, f"{prefix}.norm2", x)
    y = mlp(w, tensors, f"{prefix}.mlp", y)
    return add(w, f"{prefix}.add2", x, y)


def heads_of(tensors: Tensors, table_key: str) -> int:
    """Attention heads: the columns of a relative position bias table."""
    shape = shape_of(tensors, table_key)
    if len(shape) != 2:
        raise ConversionError(f"{table_key} has shape {list(shape)}, not [offsets, heads]")
    return shape[1]


def window_of(tensors: Tensors, index_key: str) -> int:
    """The window size from a ``[window², ...]`` relative position index."""
    rows = shape_of(tensors, index_key)[0]
    window = math.isqrt(rows)
    if window * window != rows:
        raise ConversionError(f"{index_key} has {rows} rows, not a square window's pixels")
    return window


def normalize_input(
    w: GraphWriter, x: str, channels: int, img_range: float
) -> tuple[str, str | None]:
    """``(x - mean) · img_range``, the mean being the DIV2K one for RGB and zero
    otherwise; returns the result and the mean's tensor (None without one)."""
    mean: str | None = None
    if channels == 3:
        value = np.asarray(RGB_MEAN, np.float32).reshape(1, 1, 1, 3)
        mean = w.add("mean", "mean", ops.Constant(ops.as_array(value, "mean")))
        x = w.add("sub_mean", "sub", ops.Binary("sub"), x, mean)
    if img_range != 1.0:
        x = w.add("img_range", "mul", ops.Binary("mul", scalar=img_range), x)
    return x, mean


def denormalize_output(w: GraphWriter, x: str, mean: str | None, img_range: float) -> str:
    """``x / img_range + mean``: the inverse of :func:`normalize_input`."""
    if img_range != 1.0:
        x = w.add("img_range_out", "div", ops.Binary("div", scalar=img_range), x)
    if mean is not None:
        x = w.add("add_mean", "add", ops.Binary("add"), x, mean)
    return x


def pad_to_window(w: GraphWriter, x: str, window: int) -> str:
    """Reflect-pad bottom and right to a multiple of the window (``check_image_size``)."""
    return w.add("check_image_size", "pad", ops.EdgePad(multiple=window, mode="reflect"), x)


def crop_output(w: GraphWriter, out: str, scale: int) -> str:
    """Cut the padded output back to ``scale·H × scale·W`` of the unpadded input."""
    return w.add("crop", "crop", ops.CropToReference(factor=scale), out, w.input)


def pixelshuffle_upsample(
    w: GraphWriter, tensors: Tensors, prefix: str, x: str, steps: list[int]
) -> str:
    """BasicSR's ``Upsample``: per step a 3×3 convolution and a pixel shuffle by it
    (``{prefix}.0``, ``{prefix}.2``, ...)."""
    for i, factor in enumerate(steps):
        x = w.conv(tensors, f"{prefix}.{2 * i}", x)
        x = w.add(f"{prefix}.{2 * i + 1}", "PixelShuffle", ops.DepthToSpace(factor, "torch"), x)
    return x


def pixelshuffle_steps(tensors: Tensors, prefix: str) -> tuple[list[int], int]:
    """The pixel-shuffle factors of an ``Upsample`` sequence and its feature width
    (spandrel's ``get_pixelshuffle_params``: each convolution multiplies the width by the
    square of its shuffle)."""
    steps: list[int] = []
    features = 0
    for i in range(0, 10, 2):
        key = f"{prefix}.{i}.weight"
        if key not in tensors:
            break
        out, features = shape_of(tensors, key)[:2]
        factor = math.isqrt(out // features) if features else 0
        if factor < 2 or factor * factor * features != out:
            raise ConversionError(
                f"{key} has {out} outputs for {features} features: no pixel shuffle"
            )
        steps.append(factor)
    if not steps:
        raise ConversionError(f"the checkpoint has no tensor '{prefix}.0.weight'")
    return steps, features


def lrelu_slope_default() -> ops.Act:
    """``nn.LeakyReLU()`` with PyTorch's default slope 0.01 (``conv_before_upsample``)."""
    return ops.Act("leaky_relu", (0.01,))


def attention_reach(depths: list[int], window: int) -> int:
    """An upper bound on how far (pixels) the attention layers let information travel:
    each window attention reaches the rest of its window, ``window - 1`` pixels."""
    return sum(depths) * (window - 1)
