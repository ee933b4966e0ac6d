"""Real-CUGAN (bilibili's UpCunet x2, x3, x4 and their "pro" retrains).

Architecture (bilibili AI Lab's Real-CUGAN, a retrain of nagadomi's waifu2x CUNet; the
layout of spandrel's ``RealCUGAN/__arch/upcunet_v3.py``): two cascaded U-Nets of valid
(unpadded) convolutions with LeakyReLU 0.1, stride-2 downsampling, stride-2 transposed
convolutions and squeeze-and-excitation blocks. The first U-Net upsamples (a transposed
convolution, ×2 or ×3), the second refines, and their outputs are added. The x4 model runs both
at ×2 with 64 output channels, then a convolution, a pixel shuffle, and adds the
nearest-neighbour ×4 input. The input is reflect-padded around the image (18, 14 or 19 pixels,
which the valid convolutions consume) and at the bottom and right up to a multiple of 2
(x3: 4); the output is cropped back to ``scale × H``. "pro" models (a ``pro`` entry in
the file) take their input as ``0.7 · x + 0.15`` and give the output back through the inverse.

The squeeze-and-excitation blocks average over the whole input, so the tiled runner gives
every tile the whole image's statistics (:mod:`upscaler.runtime.pooled_tiling`), as it
does for the ncnn Real-CUGAN models in the catalog.

Detection follows spandrel's ``RealCUGAN/__init__.py``: ``conv_final`` means x4, a 5×5
first-U-Net output kernel means x3, otherwise x2. The "fast" x2 variant (a pixel-unshuffled
input) has the same keys as an x4 model with 4× the input channels. It is refused.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from upscaler.convert import ops
from upscaler.convert.architectures.layers import GraphWriter, hwio, leaky
from upscaler.convert.architectures.registry import Architecture, Hyper, Tensors, shape_of, tensor
from upscaler.errors import ConversionError

SLOPE = 0.1
PRO = (0.7, 0.15)
"""A pro model's input map ``x · 0.7 + 0.15``."""
BORDER = {2: 18, 3: 14, 4: 19}
"""Reflect padding on every side, per scale (``UpCunet*x.forward``)."""
MULTIPLE = {2: 2, 3: 4, 4: 2}


def _crop(n: int) -> ops.Slice:
    side = ops.AxisSlice(start=n, stop=-n)
    return ops.Slice(h=side, w=side)


@dataclass(frozen=True)
class _Writer:
    w: GraphWriter
    tensors: Tensors

    def conv(self, prefix: str, x: str, *, act: bool = True, stride: int = 1) -> str:
        """``nn.Conv2d`` without padding (every Real-CUGAN convolution is valid)."""
        key = f"{prefix}.weight"
        kernel = hwio(tensor(self.tensors, key), key)
        bias = ops.as_array(tensor(self.tensors, f"{prefix}.bias"), f"{prefix}.bias")
        fused = leaky(SLOPE) if act else ops.LINEAR
        op = ops.Conv2D(kernel, bias, strides=(stride, stride), padding="valid", act=fused)
        return self.w.add(prefix, "Conv2d", op, x)

    def deconv(self, prefix: str, x: str, *, stride: int, crop: int, act: bool) -> str:
        """``nn.ConvTranspose2d``: PyTorch's ``[in, out, kh, kw]`` weight scatters like
        TensorFlow's ``conv2d_transpose`` with filter ``[kh, kw, out, in]``; its padding
        crops that many pixels off each side of the full output."""
        key = f"{prefix}.weight"
        weight = np.asarray(tensor(self.tensors, key))
        if weight.ndim != 4:
            raise ConversionError(f"{key} has shape {list(weight.shape)}, not a 2-D kernel")
        kernel = ops.as_array(weight.transpose(2, 3, 1, 0), key)
        bias = ops.as_array(tensor(self.tensors, f"{prefix}.bias"), f"{prefix}.bias")
        fused = leaky(SLOPE) if act else ops.LINEAR
        op = ops.Conv2DTranspose(
            kernel, bias, strides=(stride, stride), crop=(crop,) * 4, act=fused
        )
        return self.w.add(prefix, "ConvTranspose2d", op, x)

    def dense(self, prefix: str, x: str, act: ops.Act) -> str:
        """A 1×1 convolution of a pooled vector as a fully connected layer."""
        key = f"{prefix}.weight"
        weight = np.asarray(tensor(self.tensors, key))[:, :, 0, 0]
        bias = ops.as_array(tensor(self.tensors, f"{prefix}.bias"), f"{prefix}.bias")
        op = ops.Dense(ops.as_array(weight.T, key), bias, act=act)
        return self.w.add(prefix, "Conv2d", op, x)

    def unet_conv(self, prefix: str, x: str, *, se: bool) -> str:
        """``UNetConv``: two valid 3×3 convolutions, then squeeze-and-excitation."""
        y = self.conv(f"{prefix}.conv.0", x)
        y = self.conv(f"{prefix}.conv.2", y)
        if not se:
            return y
        pooled = self.w.add(f"{prefix}.seblock.mean", "mean", ops.GlobalAvgPool(), y)
        s = self.dense(f"{prefix}.seblock.conv1", pooled, ops.Act("relu"))
        s = self.dense(f"{prefix}.seblock.conv2", s, ops.Act("sigmoid"))
        return self.w.add(f"{prefix}.seblock", "mul", ops.ChannelScale(), y, s)

    def add(self, name: str, a: str, b: str) -> str:
        return self.w.add(name, "add", ops.Binary("add"), a, b)

    def act(self, name: str, x: str) -> str:
        return self.w.add(name, "leaky_relu", ops.Activation(leaky(SLOPE)), x)

    def unet1(self, x: str, scale: int) -> str:
        """``UNet1`` (``UNet1x3`` for x3) with its transposed-convolution output."""
        x1 = self.unet_conv("unet1.conv1", x, se=False)
        x2 = self.conv("unet1.conv1_down", x1, stride=2)
        x1 = self.w.add("unet1.crop1", "pad", _crop(4), x1)
        x2 = self.unet_conv("unet1.conv2", x2, se=True)
        x2 = self.deconv("unet1.conv2_up", x2, stride=2, crop=0, act=True)
        x3 = self.conv("unet1.conv3", self.add("unet1.add", x1, x2))
        stride, crop = (3, 2) if scale == 3 else (2, 3)
        return self.deconv("unet1.conv_bottom", x3, stride=stride, crop=crop, act=False)

    def unet2(self, x: str) -> str:
        """``UNet2``, whose output convolution is a plain valid one."""
        x1 = self.unet_conv("unet2.conv1", x, se=False)
        x2 = self.conv("unet2.conv1_down", x1, stride=2)
        x1 = self.w.add("unet2.crop1", "pad", _crop(16), x1)
        x2 = self.unet_conv("unet2.conv2", x2, se=True)
        x3 = self.conv("unet2.conv2_down", x2, stride=2)
        x2 = self.w.add("unet2.crop2", "pad", _crop(4), x2)
        x3 = self.unet_conv("unet2.conv3", x3, se=True)
        x3 = self.deconv("unet2.conv3_up", x3, stride=2, crop=0, act=True)
        x4 = self.unet_conv("unet2.conv4", self.add("unet2.add2", x2, x3), se=True)
        x4 = self.deconv("unet2.conv4_up", x4, stride=2, crop=0, act=True)
        x5 = self.conv("unet2.conv5", self.add("unet2.add1", x1, x4))
        return self.conv("unet2.conv_bottom", x5, act=False)


def hyperparameters(tensors: Tensors) -> Hyper:
    """Scale, channels and pro, as spandrel's ``RealCUGANArch.load`` reads them."""
    in_nc = shape_of(tensors, "unet1.conv1.conv.0.weight")[1]
    if "conv_final.weight" in tensors:
        out_nc = shape_of(tensors, "conv_final.weight")[0] // 4
        if out_nc * 4 == in_nc:
            raise ConversionError(
                "this Real-CUGAN is the 'fast' x2 variant (a pixel-unshuffled input), "
                "which is not supported yet",
                hint="use a standard Real-CUGAN x2, x3 or x4 model",
            )
        scale = 4
    else:
        scale = 3 if shape_of(tensors, "unet1.conv_bottom.weight")[2] == 5 else 2
        out_nc = shape_of(tensors, "unet2.conv_bottom.weight")[0]
    return {"scale": scale, "in_channels": in_nc, "out_channels": out_nc, "pro": "pro" in tensors}


def build(tensors: Tensors, hyper: Hyper) -> ops.Graph:
    """``UpCunet2x/3x/4x.forward`` in the shared ops (``alpha`` = 1)."""
    scale = int(hyper["scale"])
    w = GraphWriter(int(hyper["in_channels"]))
    net = _Writer(w, tensors)
    x = w.input
    if hyper["pro"]:
        x = w.add("pro.in", "mul", ops.Binary("mul", scalar=PRO[0]), x)
        x = w.add("pro.shift", "add", ops.Binary("add", scalar=PRO[1]), x)
    border = BORDER[scale]
    pad = ops.EdgePad(pads=(border,) * 4, multiple=MULTIPLE[scale], mode="reflect")
    padded = w.add("pad", "pad", pad, x)
    first = net.unet1(padded, scale)
    second = net.unet2(first)
    y = net.add("add", second, w.add("crop20", "pad", _crop(20), first))
    if scale == 4:
        y = net.conv("conv_final", y, act=False)
        y = w.add("crop1", "pad", _crop(1), y)
        y = w.add("ps", "PixelShuffle", ops.DepthToSpace(2, order="torch"), y)
    y = w.add("crop", "crop", ops.CropToReference(factor=scale), y, w.input)
    if scale == 4:
        base = w.add("base", "interpolate", ops.ResizeNearest(4, 4), x)
        y = net.add("residual", y, base)
    if hyper["pro"]:
        y = w.add("pro.unshift", "sub", ops.Binary("sub", scalar=PRO[1]), y)
        y = w.add("pro.out", "div", ops.Binary("div", scalar=PRO[0]), y)
    return w.graph(y)


ARCHITECTURE = Architecture(
    name="RealCUGAN",
    title="Real-CUGAN (UpCunet x2, x3, x4, pro)",
    vocabulary="cunet",
    paper="https://github.com/bilibili/ailab/tree/main/Real-CUGAN",
    required=(
        (
            "unet1.conv1.conv.0.weight",
            "unet1.conv1.conv.2.weight",
            "unet1.conv1_down.weight",
            "unet1.conv2.conv.0.weight",
            "unet1.conv2.conv.2.weight",
            "unet1.conv2.seblock.conv1.weight",
            "unet1.conv2_up.weight",
            "unet1.conv_bottom.weight",
            "unet2.conv1.conv.0.weight",
            "unet2.conv1_down.weight",
            "unet2.conv2.conv.0.weight",
            "unet2.conv2.seblock.conv1.weight",
            "unet2.conv3.conv.0.weight",
            "unet2.conv3.seblock.conv1.weight",
            "unet2.conv3_up.weight",
            "unet2.conv4.conv.0.weight",
            "unet2.conv4_up.weight",
            "unet2.conv5.weight",
            "unet2.conv_bottom.weight",
        ),
    ),
    hyperparameters=hyperparameters,
    build=build,
)
