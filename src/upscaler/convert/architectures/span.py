"""SPAN, the Swift Parameter-free Attention Network.

Architecture (Wan et al., "Swift Parameter-free Attention Network for Efficient
Super-Resolution", CVPRW 2024 / NTIRE 2024 efficient-SR winner, arXiv:2311.12770; the
layout of spandrel's ``SPAN/__arch/span.py``): every 3×3 convolution is a ``Conv3XC``,
trained as a 1×1 → 3×3 → 1×1 chain plus a 1×1 skip and run as the single 3×3
convolution they compose to. Six SPAB blocks each run three of them (SiLU between),
then the parameter-free attention ``(out3 + x) · (sigmoid(out3) − 0.5)``; the first
features, the last block's output after one more convolution, the first block's output
and the last block's first activated convolution are concatenated, mixed by a 1×1 convolution and
pixel-shuffled.

A file comes in one of two forms. The *trained* form (what spandrel loads) holds the
chain (``conv.0/1/2`` and ``sk``) beside ``eval_conv``; the composed kernel is computed
here from the chain, not read from the stored ``eval_conv``, because spandrel's (and the
authors') eval-mode forward recomputes it from the chain on every call, so that is what
the model computes even when a file's ``eval_conv`` is stale. The *deployment* form
holds only ``eval_conv`` per Conv3XC: the re-parameterised network as it was submitted
to the NTIRE 2025 efficient-SR challenge (for example ``model_zoo/team46_span.pth`` of
its repository, whose ``Conv3XC`` keeps nothing else). There the stored kernel is the
network, and it is used as it is. spandrel cannot load that form (its detection needs
``sk``); reading it here is the same graph with the kernels taken rather than composed.
Deployed files also narrow ``conv_cat`` (28 features mixed down to 20 in team 46's),
which the graph follows from the shapes.

With ``norm`` (no ``no_norm`` key) the input is shifted by the DIV2K RGB mean and
multiplied by 255 first, as the authors trained it; the output is not shifted back.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from upscaler.convert import ops
from upscaler.convert.architectures.layers import GraphWriter, conv_op, hwio
from upscaler.convert.architectures.registry import (
    Architecture,
    Hyper,
    Tensors,
    scale_and_channels,
    shape_of,
    tensor,
)
from upscaler.errors import ConversionError

RGB_MEAN = (0.4488, 0.4371, 0.4040)
"""The DIV2K mean the authors subtract (not stored in the file; spandrel's default)."""
IMG_RANGE = 255.0
BLOCKS = 6


def _f64(tensors: Tensors, key: str) -> npt.NDArray[np.float64]:
    return np.asarray(tensor(tensors, key), dtype=np.float64)


def composed_kernel(tensors: Tensors, prefix: str) -> tuple[ops.Array, ops.Array]:
    """A Conv3XC's chain and skip as one 3×3 kernel (HWIO) and bias, in float64 before
    rounding: ``W = w3 · w2 · w1`` per tap, ``b = w3 · (Σ_taps w2 · b1 + b2) + b3``, plus
    the 1×1 skip at the centre tap (``Conv3XC.update_params``)."""
    w1 = _f64(tensors, f"{prefix}.conv.0.weight")[:, :, 0, 0]  # [mid, in]
    b1 = _f64(tensors, f"{prefix}.conv.0.bias")
    w2 = _f64(tensors, f"{prefix}.conv.1.weight")  # [mid2, mid, 3, 3]
    b2 = _f64(tensors, f"{prefix}.conv.1.bias")
    w3 = _f64(tensors, f"{prefix}.conv.2.weight")[:, :, 0, 0]  # [out, mid2]
    b3 = _f64(tensors, f"{prefix}.conv.2.bias")
    sk = _f64(tensors, f"{prefix}.sk.weight")[:, :, 0, 0]  # [out, in]
    skb = _f64(tensors, f"{prefix}.sk.bias")
    kernel = np.einsum("on,nmyx,mi->oiyx", w3, w2, w1)
    kh, kw = kernel.shape[2:]
    kernel[:, :, kh // 2, kw // 2] += sk
    bias = w3 @ (np.einsum("nmyx,m->n", w2, b1) + b2) + b3 + skb
    key = f"{prefix}.conv"
    return hwio(kernel, key), ops.as_array(bias, f"{prefix}.bias")


def conv3xc(w: GraphWriter, tensors: Tensors, prefix: str, x: str, act: ops.Act) -> str:
    """The Conv3XC at ``prefix`` applied to ``x``: composed from its chain when the file
    has one (trained form), its stored ``eval_conv`` otherwise (deployment form, where
    the kernel may be of any odd size, as in ESPAN's 9×9 first convolution)."""
    if f"{prefix}.sk.weight" in tensors:
        kernel, bias = composed_kernel(tensors, prefix)
        op = ops.Conv2D(kernel, bias, padding="same", act=act)
    else:
        op = conv_op(tensors, f"{prefix}.eval_conv", act=act)
    return w.add(prefix, "Conv3XC", op, x)


def _first_conv(tensors: Tensors) -> str:
    """The key of ``conv_1``'s kernel: the 1×1 skip in the trained form (its shape is the
    conv's), the folded 3×3 in the deployment form."""
    trained = "conv_1.sk.weight"
    return trained if trained in tensors else "conv_1.eval_conv.weight"


def hyperparameters(tensors: Tensors) -> Hyper:
    """Features, scale and channels (spandrel's ``SPANArch.load``), the form, and the
    width ``conv_cat`` mixes down to (the features, except in narrowed deployed files)."""
    first = _first_conv(tensors)
    features, in_nc = shape_of(tensors, first)[:2]
    kernel = shape_of(tensors, first)[2:]
    if first.endswith("eval_conv.weight") and kernel != (3, 3):
        raise ConversionError(
            f"conv_1.eval_conv.weight is a {kernel[0]}×{kernel[1]} kernel; a SPAN's is 3×3",
            hint="a SPAN-named file with a larger first kernel is a variant not supported "
            "(ESPAN, which has a 9×9 one, is recognised by its own tea_* key names)",
        )
    mix = shape_of(tensors, "conv_cat.weight")[0]
    scale, out_nc = scale_and_channels(shape_of(tensors, "upsampler.0.weight")[0], in_nc)
    norm = "no_norm" not in tensors
    if norm and in_nc != len(RGB_MEAN):
        raise ConversionError(
            f"a SPAN with {in_nc} input channels subtracts an RGB mean; only 3 channels fit"
        )
    return {
        "scale": scale,
        "in_channels": in_nc,
        "out_channels": out_nc,
        "feature_channels": features,
        "mix_channels": mix,
        "norm": norm,
        "form": "trained" if first == "conv_1.sk.weight" else "deploy",
    }


def _mean_shift(w: GraphWriter, x: str) -> str:
    """``(x − mean) · 255`` as one 1×1 convolution (a diagonal kernel and a bias)."""
    channels = len(RGB_MEAN)
    kernel = np.eye(channels, dtype=np.float64)[None, None] * IMG_RANGE
    bias = -np.asarray(RGB_MEAN, dtype=np.float64) * IMG_RANGE
    op = ops.Conv2D(ops.as_array(kernel, "norm"), ops.as_array(bias, "norm"), padding="valid")
    return w.add("norm", "sub_mean", op, x)


def _spab(w: GraphWriter, tensors: Tensors, n: int, x: str) -> tuple[str, str]:
    p = f"block_{n}"
    silu = ops.Act("swish")
    out1 = conv3xc(w, tensors, f"{p}.c1_r", x, ops.LINEAR)
    out1_act = w.add(f"{p}.act1", "SiLU", ops.Activation(silu), out1)
    out2 = conv3xc(w, tensors, f"{p}.c2_r", out1_act, silu)
    out3 = conv3xc(w, tensors, f"{p}.c3_r", out2, ops.LINEAR)
    # SPAB returns ``out1`` after ``act1`` ran on it in place (``SiLU(inplace=True)``), so
    # the tensor SPAN concatenates is the activated one.
    return parameter_free_attention(w, p, out3, x), out1_act


def parameter_free_attention(w: GraphWriter, prefix: str, out: str, x: str) -> str:
    """SPAB's ending, ``(out + x) · (sigmoid(out) − 0.5)``: the attention SPAN is named
    for, a symmetric activation of the block's own features with no weights of its own."""
    gate = w.add(f"{prefix}.sigmoid", "sigmoid", ops.Activation(ops.Act("sigmoid")), out)
    att = w.add(f"{prefix}.att", "sub", ops.Binary("sub", scalar=0.5), gate)
    total = w.add(f"{prefix}.res", "add", ops.Binary("add"), out, x)
    return w.add(f"{prefix}.mul", "mul", ops.Binary("mul"), total, att)


def build(tensors: Tensors, hyper: Hyper) -> ops.Graph:
    """SPAN in the shared ops (spandrel's ``SPAN.forward`` in eval mode)."""
    w = GraphWriter(int(hyper["in_channels"]))
    x = _mean_shift(w, w.input) if hyper["norm"] else w.input
    feature = conv3xc(w, tensors, "conv_1", x, ops.LINEAR)
    h = feature
    outs: list[str] = []
    firsts: list[str] = []
    for n in range(1, BLOCKS + 1):
        h, first = _spab(w, tensors, n, h)
        outs.append(h)
        firsts.append(first)
    b6 = conv3xc(w, tensors, "conv_2", outs[-1], ops.LINEAR)
    joined = w.add("cat", "cat", ops.Concat(), feature, b6, outs[0], firsts[-1])
    mixed = w.conv(tensors, "conv_cat", joined)
    up = w.conv(tensors, "upsampler.0", mixed)
    scale = int(hyper["scale"])
    out = w.add("upsampler.1", "PixelShuffle", ops.DepthToSpace(scale, order="torch"), up)
    return w.graph(out)


def receptive_field(hyper: Hyper) -> int:
    """One input pixel per 3×3 convolution on the deepest path: the first, three per
    block, the one after the blocks and the upsampler's."""
    del hyper
    return 1 + 3 * BLOCKS + 1 + 1


TRAINED_KEYS = (
    "conv_1.sk.weight",
    "block_1.c1_r.sk.weight",
    "block_1.c1_r.eval_conv.weight",
    "block_1.c3_r.eval_conv.weight",
    "conv_cat.weight",
    "conv_2.sk.weight",
    "conv_2.eval_conv.weight",
    "upsampler.0.weight",
)
"""spandrel's detection keys: the trained form."""

DEPLOY_KEYS = (
    "conv_1.eval_conv.weight",
    "block_1.c1_r.eval_conv.weight",
    "block_1.c3_r.eval_conv.weight",
    f"block_{BLOCKS}.c3_r.eval_conv.weight",
    "conv_cat.weight",
    "conv_2.eval_conv.weight",
    "upsampler.0.weight",
)
"""The deployment form: ``eval_conv`` alone, every block present (the SPAN variants that
drop blocks or the ``conv_1`` / ``upsampler`` names are other networks)."""

ARCHITECTURE = Architecture(
    name="SPAN",
    title="SPAN (Swift Parameter-free Attention Network)",
    vocabulary="span",
    paper="https://arxiv.org/abs/2311.12770",
    required=(TRAINED_KEYS, DEPLOY_KEYS),
    hyperparameters=hyperparameters,
    build=build,
    receptive_field=receptive_field,
)
