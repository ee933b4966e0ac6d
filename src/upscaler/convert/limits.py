"""Ceilings on what a weights file may declare, checked before anything is built.

Why: a weights file is untrusted input, and the numbers it declares (a layer count, a
resize factor, a kernel size, a channel count) turn into allocations later, long after
the parser has returned. The writer's probe pushes a 16×16 image through the graph: an
ncnn ``Interp`` that declares a ×1300 resize makes that a 20800×20800 image, gigabytes
before any check sees a shape. So every declared size is compared with a ceiling here,
from the declaration, and refused with the file, the layer, the value and the limit
named; nothing is ever tried to see whether it fits.

The ceilings sit far above every real model in the catalog, measured on the cached
files: the largest ncnn graph (Real-ESRGAN x4plus) has 999 layers, 1782 blobs and 1781
blob reads, a 117 KB ``.param`` whose longest line has 219 characters, layers with at
most 5 inputs and 8 outputs, and a 33 MB ``.bin``; the largest resize factor,
pixel-shuffle block and transposed-convolution stride are 4, the largest kernel 7 and
the largest padding 3; the largest tensor (64 channels at 4× the input) holds about
1040 values per input pixel. The file sizes and counts leave a factor of ten or more
over those numbers, the per-layer factors four or more (a ×16 resize against ×4, a
32-wide kernel against 7).

:func:`check_tensor_sizes` bounds what the probe and the runner will allocate: it walks
a parsed graph (:mod:`upscaler.convert.ops`, so every format shares it) with an upper
bound of each tensor's channels × height × width for a :data:`NOMINAL_SIDE` input.
Pure: ops only, no TensorFlow.
"""

from __future__ import annotations

import logging
import math
import stat
from dataclasses import dataclass
from pathlib import Path

from upscaler.convert import ops
from upscaler.errors import ConversionError

log = logging.getLogger("upscaler.convert.limits")

# --------------------------------------------------------------------------- files

MAX_PARAM_BYTES = 4 * 2**20
"""An ncnn ``.param`` file: 4 MiB, 35× the largest real one."""

MAX_BIN_BYTES = 2**30
"""An ncnn ``.bin`` file: 1 GiB, 30× the largest real one."""

MAX_LINE_CHARS = 8192
"""One ``.param`` line, 37× the longest real one."""

# --------------------------------------------------------------------------- graphs

MAX_LAYERS = 10_000
"""Layers of one ncnn graph (Real-ESRGAN x4plus has 999)."""

MAX_BLOBS = 20_000
"""Blobs of one ncnn graph (Real-ESRGAN x4plus has 1782)."""

MAX_LAYER_BLOBS = 256
"""Inputs, and outputs, of one layer (the real maximum is 8)."""

MAX_BLOB_READS = 40_000
"""Blob reads summed over all layers (the real maximum is 1781): an n-input product is
n − 1 ops, so this bounds the ops a graph expands to."""

# --------------------------------------------------------------------------- layers

MAX_SCALE = 16
"""One layer's upscale factor: resize, pixel-shuffle block, transposed-conv stride."""

MAX_RESIZE_SIDE = 4096
"""A fixed resize output size, in pixels per side."""

MAX_KERNEL = 32
"""A convolution kernel side."""

MAX_DILATION = 32
"""A convolution dilation."""

MAX_STRIDE = 16
"""A convolution stride."""

MAX_PAD = 128
"""A convolution's explicit padding on one side."""

# --------------------------------------------------------------------------- tensors

NOMINAL_SIDE = 64
"""The input side (pixels) tensor sizes are bounded for: the probes (16×16, 17×13)
plus the widest wrapper padding, rounded up."""

MAX_TENSOR_VALUES = 2**26
"""Values of one tensor for a NOMINAL_SIDE² input: 16384 per input pixel, 15× the
largest real tensor (256 MiB of float32 at 64×64, 16 MiB at the 16×16 probe)."""


def bigger_than(value: float, limit: float) -> bool:
    """True when a declared value exceeds its ceiling (NaN counts as exceeding)."""
    return not value <= limit


def read_capped(path: Path, limit: int, what: str) -> bytes:
    """The bytes of the regular file ``path``, refused when there are more than ``limit``.

    A device (``/dev/zero``), a FIFO (opening one would wait for a writer) or a folder is
    refused unopened, a file whose size is over the limit unread, and the read stops at
    ``limit + 1`` bytes in case the file grows meanwhile: refusing never costs more
    memory than the limit.
    """
    too_big = ConversionError(
        f"the {what} {path} is larger than {_bytes(limit)}, the limit for this file",
        hint="real model files are far smaller; check that the right file was given",
    )
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise ConversionError(
                f"the {what} {path} is not a regular file",
                hint="pass the model file itself, not a device, pipe or folder",
            )
        if info.st_size > limit:
            raise too_big
        with path.open("rb") as stream:
            data = stream.read(limit + 1)
    except FileNotFoundError:
        raise ConversionError(f"the {what} {path} does not exist") from None
    except OSError as exc:
        raise ConversionError(f"cannot read the {what} {path}: {exc}") from exc
    if len(data) > limit:
        raise too_big
    return data


def _bytes(count: int) -> str:
    return f"{count // 2**30} GiB" if count >= 2**30 else f"{count // 2**20} MiB"


# --------------------------------------------------------------------------- tensor sizes


@dataclass(frozen=True)
class _Size:
    """Upper bounds of one tensor's height, width and channels for the nominal input."""

    h: float
    w: float
    c: float

    @property
    def values(self) -> float:
        return self.h * self.w * self.c


def _conv_side(side: float, kernel: int, dilation: int, stride: int, pads: float) -> float:
    reach = dilation * (kernel - 1) + 1
    return max(math.floor((side + pads - reach) / stride) + 1, 1)


def _conv(op: ops.Conv2D, x: _Size) -> tuple[_Size, _Size]:
    """A convolution's output, and the padded input TensorFlow materialises for it."""
    kh, kw = int(op.kernel.shape[0]), int(op.kernel.shape[1])
    (sh, sw), (dh, dw) = op.strides, op.dilation
    if op.padding == "same":
        pad_h, pad_w = float(dh * (kh - 1)), float(dw * (kw - 1))
        out_h: float = math.ceil(x.h / sh)
        out_w: float = math.ceil(x.w / sw)
    else:
        top, bottom, left, right = (0, 0, 0, 0) if op.padding == "valid" else op.padding
        pad_h, pad_w = float(top + bottom), float(left + right)
        out_h = _conv_side(x.h, kh, dh, sh, pad_h)
        out_w = _conv_side(x.w, kw, dw, sw, pad_w)
    padded = _Size(x.h + pad_h, x.w + pad_w, x.c)
    return _Size(out_h, out_w, op.out_channels), padded


def _size(op: ops.Op, xs: list[_Size]) -> tuple[_Size, list[_Size]]:
    """The output size of ``op`` and any larger intermediate it makes on the way."""
    x = xs[0] if xs else _Size(1, 1, 1)
    if isinstance(op, ops.Conv2D):
        out, padded = _conv(op, x)
        return out, [padded]
    if isinstance(op, ops.ConcatPointwise):
        out, padded = _conv(op.conv, _Size(x.h, x.w, sum(i.c for i in xs)))
        return out, [padded]
    if isinstance(op, ops.Conv2DTranspose):
        kh, kw, out_c = (int(d) for d in op.kernel.shape[:3])
        (sh, sw), (top, bottom, left, right) = op.strides, op.crop
        full = _Size((x.h - 1) * sh + kh, (x.w - 1) * sw + kw, out_c)
        return _Size(max(full.h - top - bottom, 1), max(full.w - left - right, 1), out_c), [full]
    if isinstance(op, ops.DepthToSpace):
        b = op.block
        return _Size(x.h * b, x.w * b, max(x.c / (b * b), 1)), []
    if isinstance(op, (ops.ResizeNearest, ops.ResizeBilinear)):
        return _Size(x.h * op.factor_h, x.w * op.factor_w, x.c), []
    if isinstance(op, ops.ResizeCubic):
        if op.out_h > 0 and op.out_w > 0:
            return _Size(op.out_h, op.out_w, x.c), []
        return _Size(max(x.h * op.scale_h, 1), max(x.w * op.scale_w, 1), x.c), []
    if isinstance(op, ops.EdgePad):
        top, bottom, left, right = op.pads
        m = op.multiple
        h, w = x.h + top + bottom + m - 1, x.w + left + right + m - 1
        return _Size(h, w, x.c), []
    if isinstance(op, ops.Constant):
        _, h, w, c = (int(d) for d in op.value.shape)
        return _Size(h, w, c), []
    if isinstance(op, (ops.GlobalAvgPool,)):
        return _Size(1, 1, x.c), []
    if isinstance(op, ops.Dense):
        return _Size(1, 1, int(op.kernel.shape[1])), []
    if isinstance(op, ops.Concat):
        return _Size(max(i.h for i in xs), max(i.w for i in xs), sum(i.c for i in xs)), []
    if isinstance(op, ops.CropToReference):
        ref = xs[1]
        channels = ref.c if op.channels else x.c
        return _Size(min(x.h, ref.h * op.factor), min(x.w, ref.w * op.factor), channels), []
    # Elementwise ops, slices and activations: no bigger than their largest input.
    return _Size(max(i.h for i in xs), max(i.w for i in xs), max(i.c for i in xs)), []


def check_tensor_sizes(graph: ops.Graph, where: str) -> float:
    """Refuse a graph any of whose tensors would exceed :data:`MAX_TENSOR_VALUES` for a
    :data:`NOMINAL_SIDE` square input; returns the largest bound, in values.

    Bounds, not exact sizes: an explicit crop or a valid convolution may make a tensor
    smaller than its bound, never larger, so a refusal can be trusted and a pass is
    enough for the probe. The error names the layer that first crosses the limit.
    """
    side = float(NOMINAL_SIDE)
    sizes: dict[str, _Size] = {graph.input: _Size(side, side, graph.input_channels)}
    largest: float = sizes[graph.input].values
    for node in graph.nodes:
        out, intermediates = _size(node.op, [sizes[name] for name in node.inputs])
        for size in (*intermediates, out):
            if bigger_than(size.values, MAX_TENSOR_VALUES):
                raise ConversionError(
                    f"{where}: layer {node.name!r} ({node.kind}) would make a tensor of "
                    f"{_shape(size)} from a {NOMINAL_SIDE}x{NOMINAL_SIDE} input "
                    f"({size.values:.3g} values), above the limit of {MAX_TENSOR_VALUES} "
                    "values",
                    hint="real super-resolution networks stay far below it; the file's "
                    "layer sizes (channels, upscale factors, output sizes) are not sane",
                )
            largest = max(largest, size.values)
        sizes[node.output] = out
    log.debug("%s: largest tensor bound %.3g values", where, largest)
    return largest


def _shape(size: _Size) -> str:
    return f"{size.h:.0f}x{size.w:.0f}x{size.c:.0f} (HxWxC)"


# --------------------------------------------------------------------------- checkpoints

# PyTorch checkpoints and safetensors files (convert/torch_pickle.py, torch_checkpoint.py,
# safetensors_file.py). The largest super-resolution checkpoints published hold about
# 160 MB of weights (HAT-L; SwinIR-L and Real-ESRGAN x4plus 60 to 70 MB) in a few
# thousand tensors, described by a pickle of a few hundred KiB.

MAX_CHECKPOINT_FILE_BYTES = 8 * 2**30
"""A checkpoint file: 8 GiB. Files may carry more than the weights (an optimiser's state
beside them), so this sits above :data:`MAX_CHECKPOINT_TENSOR_BYTES`."""

MAX_CHECKPOINT_TENSOR_BYTES = 2 * 2**30
"""Tensor data one checkpoint may declare, and separately what its weights become as
float32 arrays: 2 GiB, 12× HAT-L. Checked from the declarations, before reading any."""

MAX_PICKLE_BYTES = 64 * 2**20
"""The pickle that describes a PyTorch checkpoint (``data.pkl``): 64 MiB; a tensor takes
about 150 bytes of it, so real ones stay below 1 MiB."""

MAX_PICKLE_DEPTH = 64
"""Open MARKs (nested tuples, lists and dicts being built) in a pickle at once; a state
dict needs about 4."""

MAX_PICKLE_OBJECTS = 4_000_000
"""Objects a checkpoint's pickle may push (memo entries likewise): a tensor takes about
15, so this is 40 pushes for each of :data:`MAX_CHECKPOINT_TENSORS`; it bounds the
memory the unpickled graph can take (a few hundred MiB at worst), whatever the bytes."""

MAX_CHECKPOINT_TENSORS = 100_000
"""Storages one checkpoint may declare, and tensors it may hold (HAT-L has about 1500)."""

MAX_TENSOR_DIMS = 16
"""Dimensions of one tensor (weights have at most 5)."""

MAX_ZIP_MEMBERS = 100_100
"""Members of a PyTorch zip checkpoint: one per storage plus a handful of records; counted
from the zip's end record before :mod:`zipfile` builds an object per member."""

MAX_ZIP_DIRECTORY_BYTES = 64 * 2**20
"""The zip's central directory, read whole by :mod:`zipfile`."""

MAX_SAFETENSORS_HEADER_BYTES = 64 * 2**20
"""A safetensors file's JSON header (the package's own limit is 100 MB)."""
