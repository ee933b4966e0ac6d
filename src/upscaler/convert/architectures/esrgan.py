"""ESRGAN's RRDBNet generator, from any of its three key layouts.

Architecture (Wang et al., "ESRGAN: Enhanced Super-Resolution Generative Adversarial
Networks", ECCV 2018 workshops, arXiv:1809.00219): a 3×3 convolution, ``num_blocks``
residual-in-residual dense blocks (three 5-convolution dense blocks each, growth
``gc``, LeakyReLU 0.2, residuals scaled by 0.2), a trunk convolution added to the first
features, then per ×2 a nearest-neighbour upsampling and a convolution, a high-resolution
convolution and the output convolution. ESRGAN+ (Rakotonirina and Rasoanaivo, ICASSP
2020) adds a bias-free 1×1 path into each dense block.

Checkpoints come with three spellings of the same weights, which spandrel's
``ESRGAN/__init__.py`` maps onto one another (and so do we):

- the original ``model.N`` sequence (``model.1.sub.B.RDB1.conv1.0.weight``), whose length
  says the scale: 5 entries, then 3 more per ×2;
- BasicSR / Real-ESRGAN (``conv_first``, ``body.B.rdb1.conv1``, ``conv_body``,
  ``conv_upI``, ``conv_hr``, ``conv_last``);
- BSRGAN / RealSR (``RRDB_trunk.B.RDB1.conv1``, ``trunk_conv``, ``upconvI``, ``HRconv``).

Real-ESRGAN's x2 and x1 models run the x4 network on a pixel-unshuffled input (Wang et
al., "Real-ESRGAN", ICCVW 2021, arXiv:2107.10833): 12 or 48 input channels for 3 output
channels. The input is reflect-padded to a multiple of the unshuffle factor and the output
cropped back, as spandrel's ``RRDBNet.forward`` does. A pixel unshuffle followed by a 3×3
convolution is exactly a stride-``s`` convolution with a ``3s × 3s`` kernel and ``s``
pixels of zero padding (each unshuffled channel is one phase of the kernel), with the
same multiplications, so no space-to-depth op is needed and the tile planner sees the
stride (tiles aligned to ``s``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from upscaler.convert import ops
from upscaler.convert.architectures.layers import GraphWriter, hwio, leaky
from upscaler.convert.architectures.registry import (
    Architecture,
    Hyper,
    Tensors,
    sequence_length,
    shape_of,
    tensor,
)
from upscaler.errors import ConversionError

SLOPE = 0.2
"""LeakyReLU slope of every activation in the generator."""
RESIDUAL = 0.2
"""Scale of each dense block's and each RRDB's residual branch."""


@dataclass(frozen=True)
class _Names:
    """Where each convolution of one key layout lives (prefixes, without ``.weight``)."""

    style: str
    first: str
    body: str
    trunk: str
    ups: tuple[str, ...]
    hr: str
    last: str

    def dense(self, block: int, rdb: int, conv: int) -> str:
        if self.style == "esrgan":
            return f"{self.body}.{block}.RDB{rdb}.conv{conv}.0"
        if self.style == "basicsr":
            return f"{self.body}.{block}.rdb{rdb}.conv{conv}"
        return f"{self.body}.{block}.RDB{rdb}.conv{conv}"

    def plus(self, block: int, rdb: int) -> str:
        return self.dense(block, rdb, 1).removesuffix(".0").replace(".conv1", ".conv1x1")


def _numbered(tensors: Tensors, pattern: str) -> tuple[str, ...]:
    found = sorted(
        int(m.group(1))
        for key in tensors
        for m in [re.fullmatch(pattern + r"(\d+)\.weight", key)]
        if m is not None
    )
    return tuple(pattern.replace("\\", "") + str(i) for i in found)


def _names(tensors: Tensors) -> _Names:
    if "model.0.weight" in tensors:
        length = sequence_length(tensors, "model")
        ups = (length - 5) // 3
        if length < 5 or (length - 5) % 3:
            raise ConversionError(f"an ESRGAN 'model' sequence of {length} entries is not one")
        return _Names(
            style="esrgan",
            first="model.0",
            body="model.1.sub",
            trunk=f"model.1.sub.{sequence_length(tensors, 'model.1.sub') - 1}",
            ups=tuple(f"model.{3 * (i + 1)}" for i in range(ups)),
            hr=f"model.{3 * ups + 2}",
            last=f"model.{3 * ups + 4}",
        )
    if "body.0.rdb1.conv1.weight" in tensors:
        return _Names(
            style="basicsr",
            first="conv_first",
            body="body",
            trunk="conv_body",
            ups=_numbered(tensors, r"conv_up"),
            hr="conv_hr",
            last="conv_last",
        )
    return _Names(
        style="bsrgan",
        first="conv_first",
        body="RRDB_trunk",
        trunk="trunk_conv",
        ups=_numbered(tensors, r"upconv"),
        hr="HRconv",
        last="conv_last",
    )


def _blocks(tensors: Tensors, names: _Names) -> int:
    if names.style == "esrgan":
        return sequence_length(tensors, names.body) - 1
    return sequence_length(tensors, names.body)


def hyperparameters(tensors: Tensors) -> Hyper:
    """Widths, depth, scale and channels from the shapes (spandrel's ``ESRGANArch.load``)."""
    names = _names(tensors)
    first = shape_of(tensors, f"{names.first}.weight")
    in_nc, filters = first[1], first[0]
    out_nc = shape_of(tensors, f"{names.last}.weight")[0]
    blocks = _blocks(tensors, names)
    growth = shape_of(tensors, f"{names.dense(0, 1, 1)}.weight")[0]
    shuffle = 1
    if in_nc in (out_nc * 4, out_nc * 16):
        shuffle = math.isqrt(in_nc // out_nc)
    network_scale = 2 ** len(names.ups)
    if network_scale % shuffle:
        raise ConversionError(
            f"an ESRGAN with {in_nc} input channels unshuffles by {shuffle}, more than its "
            f"×{network_scale} upsampling"
        )
    return {
        "scale": network_scale // shuffle,
        "in_channels": in_nc // (shuffle * shuffle),
        "out_channels": out_nc,
        "num_filters": filters,
        "num_blocks": blocks,
        "growth_channels": growth,
        "shuffle_factor": shuffle,
        "plus": f"{names.plus(0, 1)}.weight" in tensors,
        "keys": names.style,
    }


def unshuffled_conv(tensors: Tensors, prefix: str, factor: int) -> ops.Conv2D:
    """The first convolution of a pixel-unshuffled network as one stride-``factor`` conv
    on the image: unshuffled channel ``c·s² + i·s + j`` at position (p, q) is pixel
    ``(p·s + i, q·s + j)`` of channel ``c`` (PyTorch's ``pixel_unshuffle``), so kernel tap
    (dy, dx) of that channel becomes tap ``(dy·s + i, dx·s + j)`` of channel ``c``."""
    key = f"{prefix}.weight"
    weight = np.asarray(tensor(tensors, key))
    out, channels, kh, kw = weight.shape
    s = factor
    phased = weight.reshape(out, channels // (s * s), s, s, kh, kw)
    kernel = phased.transpose(0, 1, 4, 2, 5, 3).reshape(out, channels // (s * s), kh * s, kw * s)
    bias = ops.as_array(tensor(tensors, f"{prefix}.bias"), f"{prefix}.bias")
    pad = (kh // 2) * s
    return ops.Conv2D(hwio(kernel, key), bias, strides=(s, s), padding=(pad, pad, pad, pad))


@dataclass(frozen=True)
class _Writer:
    """The graph being written and what every dense block reads."""

    w: GraphWriter
    tensors: Tensors
    names: _Names
    plus: bool

    def dense_block(self, block: int, rdb: int, x: str) -> str:
        """``ResidualDenseBlock_5C.forward``: four growth convolutions on the running
        concatenation, a fifth back to the width, residual scaled by 0.2."""
        w, names = self.w, self.names
        features = [x]
        outputs: list[str] = []
        for k in range(1, 5):
            prefix = names.dense(block, rdb, k)
            joined = w.add(f"{prefix}.cat", "cat", ops.Concat(), *features)
            y = w.conv(self.tensors, prefix, joined, act=leaky(SLOPE))
            if self.plus and k == 2:
                side = w.conv(self.tensors, names.plus(block, rdb), x, bias=False)
                y = w.add(f"{names.plus(block, rdb)}.add", "add", ops.Binary("add"), y, side)
            if self.plus and k == 4:
                y = w.add(f"{prefix}.add", "add", ops.Binary("add"), y, outputs[1])
            outputs.append(y)
            features.append(y)
        last = names.dense(block, rdb, 5)
        joined = w.add(f"{last}.cat", "cat", ops.Concat(), *features)
        y5 = w.conv(self.tensors, last, joined)
        return w.add(f"{last}.res", "add", ops.WeightedSum((RESIDUAL, 1.0)), y5, x)


def build(tensors: Tensors, hyper: Hyper) -> ops.Graph:
    """RRDBNet in the shared ops (spandrel's ``RRDBNet`` / ``B.RRDB`` forward)."""
    names = _names(tensors)
    shuffle = int(hyper["shuffle_factor"])
    w = GraphWriter(int(hyper["in_channels"]))
    net = _Writer(w, tensors, names, bool(hyper["plus"]))
    x = w.input
    if shuffle > 1:
        padded = w.add("pad_to_multiple", "pad", ops.EdgePad(multiple=shuffle, mode="reflect"), x)
        first = unshuffled_conv(tensors, names.first, shuffle)
        fea = w.add(names.first, "Conv2d", first, padded)
    else:
        fea = w.conv(tensors, names.first, x)
    h = fea
    for block in range(int(hyper["num_blocks"])):
        start = h
        for rdb in (1, 2, 3):
            h = net.dense_block(block, rdb, h)
        h = w.add(f"{names.body}.{block}.res", "add", ops.WeightedSum((RESIDUAL, 1.0)), h, start)
    lr = w.conv(tensors, names.trunk, h)
    h = w.add("shortcut", "add", ops.Binary("add"), fea, lr)
    for up in names.ups:
        h = w.add(f"{up}.upsample", "Upsample", ops.ResizeNearest(2, 2), h)
        h = w.conv(tensors, up, h, act=leaky(SLOPE))
    h = w.conv(tensors, names.hr, h, act=leaky(SLOPE))
    out = w.conv(tensors, names.last, h)
    if shuffle > 1:
        crop = ops.CropToReference(factor=int(hyper["scale"]))
        out = w.add("crop", "crop", crop, out, x)
    return w.graph(out)


def receptive_field(hyper: Hyper) -> int:
    """Input pixels an output pixel sees on each side: one per 3×3 convolution at low
    resolution (first, 15 per RRDB, trunk), and the high-resolution ones divided by the
    upsampling before them (rounded up), scaled up by the unshuffle."""
    shuffle = int(hyper["shuffle_factor"])
    network_scale = int(hyper["scale"]) * shuffle
    ups = int(math.log2(network_scale)) if network_scale > 1 else 0
    low = 2 + 15 * int(hyper["num_blocks"])
    high: float = sum(0.5 ** (i + 1) for i in range(ups)) + 2 / max(network_scale, 1)
    reach: float = (low + high) * shuffle
    return math.ceil(reach) + shuffle


ARCHITECTURE = Architecture(
    name="ESRGAN",
    title="ESRGAN RRDBNet (ESRGAN, Real-ESRGAN, BSRGAN, ESRGAN+)",
    vocabulary="rrdn",
    paper="https://arxiv.org/abs/1809.00219",
    required=(
        ("model.0.weight", "model.1.sub.0.RDB1.conv1.0.weight"),
        ("conv_first.weight", "body.0.rdb1.conv1.weight", "conv_body.weight", "conv_last.weight"),
        (
            "conv_first.weight",
            "RRDB_trunk.0.RDB1.conv1.weight",
            "trunk_conv.weight",
            "conv_last.weight",
        ),
    ),
    hyperparameters=hyperparameters,
    build=build,
    receptive_field=receptive_field,
)
