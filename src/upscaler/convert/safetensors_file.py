"""``.safetensors`` files read into numpy, their header checked first.

Why check the header ourselves when the ``safetensors`` package checks it too: its
errors are its own words (``HeaderTooLarge``, ``InvalidOffset``), and it cannot read
bfloat16 into numpy at all. So the header is parsed and bounded here (the layout is
Hugging Face's safetensors specification: an 8-byte little-endian header length, a JSON
header mapping each tensor's name to its ``dtype``, ``shape`` and ``data_offsets``
relative to the data that follows, and an optional ``__metadata__`` of text pairs),
refused with the tensor and the value named, and only then are the tensors read: through
the package's numpy API (``safe_open(framework="numpy")``), bfloat16 ones from their raw
bytes, widened to float32 exactly.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from upscaler.convert import limits
from upscaler.errors import ConversionError

DAMAGED = "the file is damaged or not a safetensors file; download it again"

_DTYPES: dict[str, tuple[str, int]] = {
    "F64": ("float", 8),
    "F32": ("float", 4),
    "F16": ("float", 2),
    "BF16": ("float", 2),
    "I64": ("int", 8),
    "I32": ("int", 4),
    "I16": ("int", 2),
    "I8": ("int", 1),
    "U64": ("int", 8),
    "U32": ("int", 4),
    "U16": ("int", 2),
    "U8": ("int", 1),
    "BOOL": ("bool", 1),
}
"""The safetensors dtypes read: their kind and bytes per element."""

_OUT: dict[str, Any] = {"float": np.float32, "int": np.int64, "bool": np.bool_}


@dataclass(frozen=True)
class Entry:
    """One tensor the header declares; ``start``/``end`` are absolute file offsets."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    start: int
    end: int

    @property
    def kind(self) -> str:
        return _DTYPES[self.dtype][0]


@dataclass(frozen=True)
class Header:
    """A checked header: its tensors and its ``__metadata__``."""

    entries: dict[str, Entry]
    metadata: dict[str, str]


def _bad(where: str, message: str) -> ConversionError:
    return ConversionError(f"{where}: {message}", hint=DAMAGED)


def read_header(path: Path, size: int, where: str) -> Header:
    """The header of the safetensors file ``path`` (``size`` bytes), every entry checked
    against the file's size and the limits before any tensor is read."""
    try:
        with path.open("rb") as stream:
            prefix = stream.read(8)
            if len(prefix) != 8:
                raise _bad(where, "too short for a safetensors header")
            length = int.from_bytes(prefix, "little")
            if length > limits.MAX_SAFETENSORS_HEADER_BYTES or 8 + length > size:
                raise _bad(
                    where,
                    f"the header declares {length} bytes; the file has {size - 8} after the "
                    f"length and the limit is {limits.MAX_SAFETENSORS_HEADER_BYTES}",
                )
            text = stream.read(length)
    except OSError as exc:
        raise ConversionError(f"{where}: cannot read {path}: {exc}") from exc
    try:
        header = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise _bad(where, f"the header is not valid JSON ({exc})") from None
    if not isinstance(header, dict):
        raise _bad(where, "the header is not a JSON object")
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
    ):
        raise _bad(where, "__metadata__ is not a map of text to text")
    if len(header) > limits.MAX_CHECKPOINT_TENSORS:
        raise _bad(where, f"{len(header)} tensors, above {limits.MAX_CHECKPOINT_TENSORS}")
    base = 8 + length
    entries = {name: _entry(name, info, base, size, where) for name, info in header.items()}
    _check_total(entries, where)
    return Header(entries, dict(metadata))


def _entry(name: str, info: object, base: int, size: int, where: str) -> Entry:
    if not isinstance(info, dict):
        raise _bad(where, f"tensor {name!r} is described by a {type(info).__name__}")
    dtype, shape, offsets = info.get("dtype"), info.get("shape"), info.get("data_offsets")
    if dtype not in _DTYPES:
        raise ConversionError(
            f"{where}: tensor {name!r} has dtype {dtype!r}, which is not read "
            f"(read: {', '.join(_DTYPES)})",
            hint="save the weights as float32, float16 or bfloat16",
        )
    if (
        not isinstance(shape, list)
        or len(shape) > limits.MAX_TENSOR_DIMS
        or not all(type(d) is int and d >= 0 for d in shape)
    ):
        raise _bad(where, f"tensor {name!r} has shape {shape!r}")
    if (
        not isinstance(offsets, list)
        or len(offsets) != 2
        or not all(type(o) is int and o >= 0 for o in offsets)
        or offsets[0] > offsets[1]
    ):
        raise _bad(where, f"tensor {name!r} has data_offsets {offsets!r}")
    start, end = base + offsets[0], base + offsets[1]
    if end > size:
        raise _bad(
            where,
            f"tensor {name!r} ends at byte {end}, past the end of the file ({size} bytes)",
        )
    need = math.prod(shape) * _DTYPES[dtype][1]
    if end - start != need:
        raise _bad(
            where,
            f"tensor {name!r} of shape {shape} and dtype {dtype} needs {need} bytes, its "
            f"offsets span {end - start}",
        )
    return Entry(name, dtype, tuple(shape), start, end)


def _check_total(entries: dict[str, Entry], where: str) -> None:
    out = sum(
        math.prod(e.shape) * {"float": 4, "int": 8, "bool": 1}[e.kind] for e in entries.values()
    )
    if limits.bigger_than(out, limits.MAX_CHECKPOINT_TENSOR_BYTES):
        raise ConversionError(
            f"{where}: the weights would take {out} bytes as float32 arrays, above the limit "
            f"of {limits.MAX_CHECKPOINT_TENSOR_BYTES}",
            hint="super-resolution checkpoints are far smaller; the file is not a sane one",
        )


def read_tensors(path: Path, header: Header, where: str) -> dict[str, npt.NDArray[Any]]:
    """Every tensor of a checked header: floats as float32, integers as int64."""
    from safetensors import SafetensorError, safe_open

    arrays: dict[str, npt.NDArray[Any]] = {}
    try:
        with safe_open(str(path), framework="numpy") as handle, path.open("rb") as raw:
            for name, entry in header.entries.items():
                out = _OUT[entry.kind]
                if entry.dtype == "BF16":
                    raw.seek(entry.start)
                    bits = np.frombuffer(raw.read(entry.end - entry.start), dtype="<u2")
                    if bits.size != math.prod(entry.shape):
                        raise _bad(where, f"tensor {name!r} is truncated")
                    wide = (bits.astype(np.uint32) << np.uint32(16)).view(np.float32)
                    arrays[name] = wide.reshape(entry.shape)
                else:
                    value = handle.get_tensor(name)
                    arrays[name] = np.ascontiguousarray(value, dtype=out)
    except SafetensorError as exc:
        raise _bad(where, f"the safetensors package refused it ({exc})") from exc
    except OSError as exc:
        raise ConversionError(f"{where}: cannot read {path}: {exc}") from exc
    return arrays
