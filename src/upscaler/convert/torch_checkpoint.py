"""PyTorch checkpoint files, both layouts ``torch.save`` writes, read without torch.

Why here and not ``torch.load``: torch is a 3 GB dependency the library does not have,
and ``torch.load`` unpickles (see :mod:`upscaler.convert.torch_pickle` for why that is
refused). This module finds the pickle and the storages' bytes in the file, runs the
restricted pickle machine on the pickle, and turns the tensors it describes into numpy.

Layouts (PyTorch's ``torch/serialization.py``)
    *zip* (the default since PyTorch 1.6): a zip archive whose members sit under one top
    folder of any name: ``<top>/data.pkl`` (the pickled object, its tensors pointing at
    storages by persistent ids ``("storage", StorageType, key, location, numel)``),
    ``<top>/data/<key>`` (each storage's raw bytes, usually stored uncompressed),
    ``<top>/byteorder`` (``little`` or ``big``; absent means little) and small records
    (``version``, ``.format_version``, ...). A TorchScript archive (``torch.jit.save``)
    has the same shape plus code and is refused.
    *legacy* (``_use_new_zipfile_serialization=False``): pickles in a row, the magic
    number ``0x1950a86a20f9469cfc6c``, the protocol version 1001, a dict of system facts,
    the object itself (persistent ids with a sixth item, an optional storage view), the
    sorted list of storage keys; then for each key in that order an 8-byte little-endian
    element count and the storage's bytes.

Every size is checked before anything is allocated for it: the file and the pickle's
sizes, the zip's member count (read from its end record before :mod:`zipfile` lists the
members), each storage's declared size and their sum, each tensor's reach into its
storage (in the pickle machine) and the float32 arrays the tensors will become. A
storage's bytes are read only when a tensor of the chosen state dict needs them.
"""

from __future__ import annotations

import logging
import stat
import struct
import zipfile
import zlib
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from upscaler.convert import limits
from upscaler.convert.torch_pickle import (
    TOO_BIG_HINT,
    StorageRef,
    StorageType,
    TensorRef,
    bad,
    unpickle,
)
from upscaler.errors import ConversionError

log = logging.getLogger("upscaler.convert.torch_checkpoint")

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
"""The first pickle of a legacy-layout checkpoint (``torch/serialization.py``)."""

LEGACY_PROTOCOL = 1001
"""The second pickle of a legacy-layout checkpoint."""

DAMAGED = "the file is damaged or incomplete; download it again"

Layout = Literal["pytorch-zip", "pytorch-legacy"]


@dataclass
class Checkpoint:
    """A checkpoint's unpickled object and a way to read each storage's bytes.

    ``storages`` holds what the pickle declared for each storage key: its element size
    and count (the root storage, for legacy views). ``read`` returns a key's bytes, at
    least the declared count of them; ``close`` releases what reading kept open.
    """

    layout: Layout
    root: object
    byteorder: Literal["<", ">"]
    storages: dict[str, StorageRef] = field(default_factory=dict)
    read: Callable[[str], bytes] = field(default=lambda key: b"")
    close: Callable[[], None] = field(default=lambda: None)


# --------------------------------------------------------------------------- files


def check_regular(path: Path, limit: int, what: str) -> int:
    """The size of the regular file ``path``, refused past ``limit`` or when it is a
    device, a pipe or a folder (reading those could block or never end)."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise ConversionError(f"the {what} {path} does not exist") from None
    except OSError as exc:
        raise ConversionError(f"cannot read the {what} {path}: {exc}") from exc
    if not stat.S_ISREG(info.st_mode):
        raise ConversionError(
            f"the {what} {path} is not a regular file",
            hint="pass the model file itself, not a device, pipe or folder",
        )
    if info.st_size > limit:
        raise ConversionError(
            f"the {what} {path} has {info.st_size} bytes, above the limit of {limit}",
            hint="super-resolution checkpoints are far smaller; check that the right "
            "file was given",
        )
    return info.st_size


def _read_at(path: Path, offset: int, count: int, where: str) -> bytes:
    try:
        with path.open("rb") as stream:
            stream.seek(offset)
            data = stream.read(count)
    except OSError as exc:
        raise ConversionError(f"{where}: cannot read {path}: {exc}") from exc
    if len(data) != count:
        raise ConversionError(
            f"{where}: the file ends {count - len(data)} bytes early", hint=DAMAGED
        )
    return data


# --------------------------------------------------------------------------- storages


class _Declarations:
    """The storages a pickle declares, with their count and total size bounded."""

    def __init__(self, legacy: bool) -> None:
        self.legacy = legacy
        self.storages: dict[str, StorageRef] = {}
        self.total = 0

    def __call__(self, pid: object) -> object:
        arity = 6 if self.legacy else 5
        if not isinstance(pid, tuple) or len(pid) != arity:
            raise bad(f"a persistent id is {type(pid).__name__} of the wrong shape")
        kind, storage_type, key, location, numel = pid[:5]
        if kind not in ("storage", b"storage"):
            raise bad(f"a persistent id of kind {kind!r} (only 'storage' is read)")
        if not isinstance(storage_type, StorageType):
            raise bad(f"a storage's type is {storage_type!r}, not a torch storage class")
        if not isinstance(key, str) or not isinstance(location, str | bytes):
            raise bad("a storage's key or location is not text")
        if type(numel) is not int or numel < 0:
            raise bad(f"storage {key!r} declares {numel!r} elements")
        root = StorageRef(key, storage_type.dtype, numel)
        self._declare(root)
        view = pid[5] if self.legacy else None
        if view is None:
            return root
        if not (isinstance(view, tuple) and len(view) == 3):
            raise bad(f"storage {key!r} has a malformed view {view!r}")
        _view_key, offset, size = view
        if type(offset) is not int or type(size) is not int or offset < 0 or size < 0:
            raise bad(f"storage {key!r} has a view with offset {offset!r}, size {size!r}")
        if offset + size > numel:
            raise bad(f"a view of storage {key!r} ends at {offset + size}, past its {numel}")
        return StorageRef(key, storage_type.dtype, size, offset)

    def _declare(self, storage: StorageRef) -> None:
        known = self.storages.get(storage.key)
        if known is not None:
            if known != storage:
                raise bad(f"storage {storage.key!r} is declared twice, differently")
            return
        if len(self.storages) >= limits.MAX_CHECKPOINT_TENSORS:
            raise bad(
                f"the checkpoint declares more than {limits.MAX_CHECKPOINT_TENSORS} storages",
                TOO_BIG_HINT,
            )
        self.total += storage.nbytes
        if limits.bigger_than(self.total, limits.MAX_CHECKPOINT_TENSOR_BYTES):
            raise bad(
                f"storage {storage.key!r} declares {storage.nbytes} bytes, bringing the "
                f"checkpoint to {self.total}, above the limit of "
                f"{limits.MAX_CHECKPOINT_TENSOR_BYTES} bytes of tensor data",
                TOO_BIG_HINT,
            )
        self.storages[storage.key] = storage


# --------------------------------------------------------------------------- zip layout

_EOCD = b"PK\x05\x06"
_ZIP64_LOCATOR = b"PK\x06\x07"
_ZIP64_EOCD = b"PK\x06\x06"


def check_zip_directory(path: Path, size: int, where: str) -> None:
    """Refuse a zip whose end record declares more members, or a larger directory, than
    the limits, before :mod:`zipfile` builds an object for each member.

    A file with no end record is left to :mod:`zipfile`, which refuses it too.
    """
    tail_size = min(size, 22 + 65535 + 20)
    tail = _read_at(path, size - tail_size, tail_size, where)
    at = tail.rfind(_EOCD)
    if at < 0 or at + 22 > len(tail):
        return
    entries, directory = struct.unpack("<HI", tail[at + 10 : at + 16])
    if entries == 0xFFFF or directory == 0xFFFFFFFF:
        locator = at - 20
        if locator >= 0 and tail[locator : locator + 4] == _ZIP64_LOCATOR:
            (record,) = struct.unpack("<Q", tail[locator + 8 : locator + 16])
            if record + 56 <= size:
                head = _read_at(path, record, 56, where)
                if head[:4] == _ZIP64_EOCD:
                    entries, directory = struct.unpack("<QQ", head[32:48])
    if entries > limits.MAX_ZIP_MEMBERS or directory > limits.MAX_ZIP_DIRECTORY_BYTES:
        raise ConversionError(
            f"{where}: the zip declares {entries} members in a {directory}-byte directory, "
            f"above the limits of {limits.MAX_ZIP_MEMBERS} members and "
            f"{limits.MAX_ZIP_DIRECTORY_BYTES} bytes",
            hint="a PyTorch checkpoint has one member per storage; this is not one",
        )


_ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, RuntimeError)
"""What :mod:`zipfile` raises on damaged, encrypted or unsupported members (its
``NotImplementedError`` for unknown compression is a ``RuntimeError``)."""


@contextmanager
def _zip_errors(where: str) -> Iterator[None]:
    try:
        yield
    except ConversionError:
        raise
    except _ZIP_ERRORS as exc:
        raise ConversionError(f"{where}: unreadable zip ({exc})", hint=DAMAGED) from exc


def _member(archive: zipfile.ZipFile, name: str, limit: int, where: str) -> bytes:
    """A small member's bytes, refused when its declared size is over ``limit``."""
    info = archive.getinfo(name)
    if info.file_size > limit:
        raise ConversionError(
            f"{where}: member {name} declares {info.file_size} bytes, above the limit of {limit}",
            hint="a real checkpoint's pickle is far smaller; the file is not a sane one",
        )
    with archive.open(info) as stream:
        data = stream.read(limit + 1)
    if len(data) != info.file_size:
        raise ConversionError(f"{where}: member {name} is truncated", hint=DAMAGED)
    return data


def _pickle_member(names: list[str], where: str) -> str:
    """The ``<top>/data.pkl`` member (``data.pkl`` at the root is accepted too)."""
    pickles = [n for n in names if n.count("/") <= 1 and n.rsplit("/", 1)[-1] == "data.pkl"]
    if not pickles:
        if any(n.endswith(".npy") for n in names):
            what = "a numpy .npz archive"
        else:
            what = f"a zip archive without data.pkl ({len(names)} members)"
        raise ConversionError(
            f"{where}: {what}, not a PyTorch checkpoint",
            hint="pass a file written by torch.save, or a .safetensors file",
        )
    return sorted(pickles, key=len)[0]


def open_zip(path: Path, size: int, where: str) -> Checkpoint:
    """The unpickled object of a zip-layout checkpoint; storages read on demand."""
    check_zip_directory(path, size, where)
    with _zip_errors(where), zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        pkl = _pickle_member(names, where)
        prefix = pkl[: -len("data.pkl")]
        if f"{prefix}constants.pkl" in names or any(n.startswith(f"{prefix}code/") for n in names):
            raise ConversionError(
                f"{where}: a TorchScript archive (torch.jit.save): it holds code, which is "
                "never run here, besides the weights",
                hint="load it in PyTorch and save the weights: "
                "torch.save(torch.jit.load(path).state_dict(), 'weights.pth')",
            )
        order: Literal["<", ">"] = "<"
        if f"{prefix}byteorder" in names:
            mark = _member(archive, f"{prefix}byteorder", 16, where)
            if mark not in (b"little", b"big"):
                raise ConversionError(f"{where}: unknown byte order {mark[:16]!r}", hint=DAMAGED)
            order = "<" if mark == b"little" else ">"
        data = _member(archive, pkl, limits.MAX_PICKLE_BYTES, where)
    declarations = _Declarations(legacy=False)
    root, _ = unpickle(data, f"{where} ({pkl})", declarations)

    opened: list[zipfile.ZipFile] = []

    def read(key: str) -> bytes:
        storage = declarations.storages[key]
        name = f"{prefix}data/{key}"
        with _zip_errors(where):
            if not opened:
                opened.append(zipfile.ZipFile(path))
            archive = opened[0]
            try:
                info = archive.getinfo(name)
            except KeyError:
                raise ConversionError(
                    f"{where}: storage member {name} is missing", hint=DAMAGED
                ) from None
            if info.file_size < storage.nbytes:
                raise ConversionError(
                    f"{where}: storage {name} holds {info.file_size} bytes but its "
                    f"declaration needs {storage.nbytes}: the storage is shorter than its "
                    "tensors",
                    hint=DAMAGED,
                )
            with archive.open(info) as stream:
                # Reading the whole member (the usual case) also checks its CRC.
                whole = info.file_size == storage.nbytes
                blob = stream.read() if whole else stream.read(storage.nbytes)
        if len(blob) != storage.nbytes:
            raise ConversionError(f"{where}: storage {name} is truncated", hint=DAMAGED)
        return blob

    def close() -> None:
        while opened:
            opened.pop().close()

    return Checkpoint("pytorch-zip", root, order, declarations.storages, read, close)


# --------------------------------------------------------------------------- legacy


def open_legacy(path: Path, size: int, where: str) -> Checkpoint:
    """The unpickled object of a legacy-layout checkpoint; storages read on demand."""
    head = _read_at(path, 0, min(size, limits.MAX_PICKLE_BYTES), where)
    magic, pos = unpickle(head, where)
    if magic != LEGACY_MAGIC:
        raise ConversionError(
            f"{where}: a pickle file, but not a PyTorch checkpoint (no torch magic number)",
            hint="pass a file written by torch.save, or a .safetensors file",
        )
    protocol, pos = unpickle(head, where, start=pos)
    if protocol != LEGACY_PROTOCOL:
        raise ConversionError(
            f"{where}: legacy checkpoint protocol {protocol!r}, expected {LEGACY_PROTOCOL}",
            hint=DAMAGED,
        )
    info, pos = unpickle(head, where, start=pos)
    if not isinstance(info, dict) or info.get("little_endian") is not True:
        raise ConversionError(
            f"{where}: a legacy checkpoint written on a big-endian machine, or without "
            "system facts; it is not supported",
            hint="re-save it with a recent PyTorch (torch.save writes the zip layout)",
        )
    declarations = _Declarations(legacy=True)
    root, pos = unpickle(head, where, declarations, start=pos)
    keys, pos = unpickle(head, where, start=pos)
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise ConversionError(f"{where}: the storage key list is malformed", hint=DAMAGED)
    if sorted(keys) != sorted(declarations.storages) or len(set(keys)) != len(keys):
        raise ConversionError(
            f"{where}: the storage key list does not match the storages the pickle declares",
            hint=DAMAGED,
        )
    offsets: dict[str, int] = {}
    for key in keys:
        storage = declarations.storages[key]
        count_bytes = head[pos : pos + 8] if pos + 8 <= len(head) else b""
        if len(count_bytes) != 8:
            count_bytes = _read_at(path, pos, 8, where) if pos + 8 <= size else b""
        if len(count_bytes) != 8:
            raise ConversionError(
                f"{where}: the file ends before storage {key!r} (truncated file)", hint=DAMAGED
            )
        (count,) = struct.unpack("<q", count_bytes)
        if count != storage.numel:
            raise ConversionError(
                f"{where}: storage {key!r} holds {count} elements but the pickle declares "
                f"{storage.numel}",
                hint=DAMAGED,
            )
        offsets[key] = pos + 8
        pos += 8 + storage.nbytes
        if pos > size:
            raise ConversionError(
                f"{where}: the file ends inside storage {key!r}: the storage is shorter than "
                "its tensors (truncated file)",
                hint=DAMAGED,
            )

    def read(key: str) -> bytes:
        return _read_at(path, offsets[key], declarations.storages[key].nbytes, where)

    return Checkpoint("pytorch-legacy", root, "<", declarations.storages, read)


# --------------------------------------------------------------------------- arrays

OUTPUT_ITEMSIZE = {"float": 4, "int": 8, "bool": 1}
"""Bytes per element of what each kind of tensor becomes: float32, int64, bool."""


def output_bytes(tensors: Mapping[str, TensorRef]) -> int:
    """What ``tensors`` will take as numpy arrays, for the limit check."""
    return sum(t.numel * OUTPUT_ITEMSIZE[t.dtype.kind] for t in tensors.values())


def _array(tensor: TensorRef, blob: bytes, order: str, where: str) -> npt.NDArray[Any]:
    """One tensor as a contiguous numpy array: float32, int64 or bool."""
    kind, code = tensor.dtype.kind, tensor.dtype.code
    out: Any = {"float": np.float32, "int": np.int64, "bool": np.bool_}[kind]
    if tensor.numel == 0:
        return np.zeros(tensor.shape, dtype=out)
    dtype = np.dtype(code if code in ("?", "u1", "i1") else order + code)
    start = tensor.storage.element_offset * tensor.storage.itemsize
    start += tensor.offset * dtype.itemsize
    last = sum((n - 1) * s for n, s in zip(tensor.shape, tensor.stride, strict=True))
    if start + (last + 1) * dtype.itemsize > len(blob):
        raise ConversionError(f"{where}: a tensor reaches past its storage", hint=DAMAGED)
    flat = np.frombuffer(blob, dtype=dtype, count=last + 1, offset=start)
    view = np.lib.stride_tricks.as_strided(
        flat,
        shape=tensor.shape,
        strides=tuple(s * dtype.itemsize for s in tensor.stride),
        writeable=False,
    )
    if tensor.dtype.name == "bfloat16":
        # bfloat16 is the upper half of a float32 (Google Brain's format): widen exactly.
        wide = (view.astype(np.uint32) << np.uint32(16)).view(np.float32)
        return np.ascontiguousarray(wide)
    return np.array(view, dtype=out, order="C")


def materialize(
    checkpoint: Checkpoint, tensors: Mapping[str, TensorRef], where: str
) -> dict[str, npt.NDArray[Any]]:
    """``tensors`` as numpy arrays, reading each storage they need once.

    Refused before any read when the arrays would exceed
    :data:`~upscaler.convert.limits.MAX_CHECKPOINT_TENSOR_BYTES`.
    """
    if len(tensors) > limits.MAX_CHECKPOINT_TENSORS:
        raise ConversionError(
            f"{where}: {len(tensors)} tensors, above the limit of {limits.MAX_CHECKPOINT_TENSORS}",
            hint="super-resolution checkpoints hold a few thousand at most",
        )
    total = output_bytes(tensors)
    if limits.bigger_than(total, limits.MAX_CHECKPOINT_TENSOR_BYTES):
        raise ConversionError(
            f"{where}: the weights would take {total} bytes as float32 arrays, above the "
            f"limit of {limits.MAX_CHECKPOINT_TENSOR_BYTES}",
            hint=TOO_BIG_HINT,
        )
    by_storage: dict[str, list[str]] = defaultdict(list)
    for name, tensor in tensors.items():
        by_storage[tensor.storage.key].append(name)
    arrays: dict[str, npt.NDArray[Any]] = {}
    for key, names in by_storage.items():
        blob = checkpoint.read(key)
        for name in names:
            arrays[name] = _array(tensors[name], blob, checkpoint.byteorder, where)
        del blob
    log.debug("%s: %d tensors from %d storages", where, len(arrays), len(by_storage))
    return {name: arrays[name] for name in tensors}
