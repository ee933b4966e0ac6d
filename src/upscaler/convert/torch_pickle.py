"""A restricted pickle machine for PyTorch checkpoints: tensors out, never code.

Why not ``pickle.load``: a pickle is a small program. Its ``GLOBAL`` opcode imports any
module and names any attribute, its ``REDUCE`` calls what it named, so a ``.pth`` file
from the internet can run ``os.system`` the moment it is unpickled. Overriding
``find_class`` on :class:`pickle.Unpickler` closes that door but leaves others: the C
unpickler allocates what a ``BINBYTES8`` length or a ``LONG_BINPUT`` memo index declares
before checking it against the data, so a few bytes can ask for gigabytes. So this module
interprets the opcodes itself (the opcode set of :mod:`pickletools`, protocols 0 to 5),
with every length checked against the bytes that remain and every count bounded
(:mod:`upscaler.convert.limits`).

What a checkpoint may name (:data:`ADMITTED`)
    The tensor rebuilders of ``torch._utils`` (``_rebuild_tensor``, ``_rebuild_tensor_v2``,
    ``_rebuild_tensor_v3``, ``_rebuild_parameter``, ``_rebuild_parameter_with_state``)
    and ``torch._tensor._rebuild_from_type_v2`` with the class ``torch.Tensor`` (a tensor
    that carried Python attributes),
    the storage classes (``torch.FloatStorage`` ... and ``torch.UntypedStorage``), the
    dtype objects (``torch.float32`` ...), ``collections.OrderedDict``, ``set``,
    ``frozenset`` and ``_codecs.encode`` (protocol 2 writes bytes through it). None of
    them is imported or called: each name maps to a function of this module that builds
    an inert record (:class:`TensorRef`, :class:`StorageRef`) or a plain container. Any
    other name, ``posix.system`` or ``torch.nn.modules.conv.Conv2d`` alike, is refused
    when its ``GLOBAL`` opcode is read, before anything else happens; nothing is imported.
    This is the same allow-list idea as PyTorch's own ``weights_only`` unpickler
    (``torch/_weights_only_unpickler.py``), without importing torch.

What comes out
    The unpickled object graph: dicts, lists, tuples, strings, numbers, and
    :class:`TensorRef` records that say which storage a tensor views, at which offset,
    with which shape and strides. A tensor's reach into its storage is checked here (a
    tensor that would read past its storage's declared size is refused); the storages'
    bytes are read later by :mod:`upscaler.convert.torch_checkpoint`, which knows where
    they are.

The machine never recurses into the objects it builds, so nesting depth cannot exhaust
Python's stack; the number of open MARKs, the objects pushed and the memo are bounded.
"""

from __future__ import annotations

import codecs
import math
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from upscaler.convert import limits
from upscaler.errors import ConversionError

SAVE_WEIGHTS_HINT = (
    "only weights are read from checkpoints; if you trust the file, load it in PyTorch "
    "and save the weights alone: torch.save(model.state_dict(), 'weights.pth') "
    "(or safetensors' save_file)"
)
"""The fix for a refused pickle, in every refusal."""

# --------------------------------------------------------------------------- dtypes


@dataclass(frozen=True)
class TensorDType:
    """A tensor element type as a checkpoint names it, and how numpy reads it.

    ``code`` is the numpy type code of one stored element without byte order (bfloat16,
    which numpy lacks, is read as its 16 raw bits, ``u2``, and widened to float32).
    """

    name: str
    code: str
    kind: Literal["float", "int", "bool"]

    @property
    def itemsize(self) -> int:
        return int(self.code[1:]) if self.code != "?" else 1


DTYPES: dict[str, TensorDType] = {
    d.name: d
    for d in (
        TensorDType("float64", "f8", "float"),
        TensorDType("float32", "f4", "float"),
        TensorDType("float16", "f2", "float"),
        TensorDType("bfloat16", "u2", "float"),
        TensorDType("int64", "i8", "int"),
        TensorDType("int32", "i4", "int"),
        TensorDType("int16", "i2", "int"),
        TensorDType("int8", "i1", "int"),
        TensorDType("uint8", "u1", "int"),
        TensorDType("uint16", "u2", "int"),
        TensorDType("uint32", "u4", "int"),
        TensorDType("uint64", "u8", "int"),
        TensorDType("bool", "?", "bool"),
    )
}
"""The element types read, by torch's name (``torch.float32`` is ``float32``)."""

_DTYPE_ALIASES = {"float": "float32", "double": "float64", "half": "float16", "long": "int64"}
_DTYPE_ALIASES |= {"int": "int32", "short": "int16"}

STORAGE_TYPES: dict[str, TensorDType | None] = {
    "DoubleStorage": DTYPES["float64"],
    "FloatStorage": DTYPES["float32"],
    "HalfStorage": DTYPES["float16"],
    "BFloat16Storage": DTYPES["bfloat16"],
    "LongStorage": DTYPES["int64"],
    "IntStorage": DTYPES["int32"],
    "ShortStorage": DTYPES["int16"],
    "CharStorage": DTYPES["int8"],
    "ByteStorage": DTYPES["uint8"],
    "BoolStorage": DTYPES["bool"],
    "UntypedStorage": None,
}
"""``torch.<name>`` storage classes and their element type (``None``: raw bytes, whose
tensors say their dtype, as ``_rebuild_tensor_v3`` does)."""


@dataclass(frozen=True)
class StorageType:
    """What a ``torch.FloatStorage`` global stands for inside a persistent id."""

    name: str
    dtype: TensorDType | None


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class StorageRef:
    """A storage a persistent id declares: its key, element type and size.

    ``numel`` counts elements of ``dtype`` (bytes when untyped). ``element_offset`` is
    where this storage starts inside the stored one of the same key (legacy checkpoints'
    storage views; 0 otherwise).
    """

    key: str
    dtype: TensorDType | None
    numel: int
    element_offset: int = 0

    @property
    def itemsize(self) -> int:
        return self.dtype.itemsize if self.dtype else 1

    @property
    def nbytes(self) -> int:
        return self.numel * self.itemsize


@dataclass(frozen=True)
class TensorRef:
    """A tensor as a view of a storage: ``shape`` and ``stride`` in elements, from
    ``offset`` elements in. Checked to stay inside the storage when it is made."""

    storage: StorageRef
    dtype: TensorDType
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]

    @property
    def numel(self) -> int:
        return math.prod(self.shape)


DAMAGED_HINT = "the file is damaged or not a PyTorch checkpoint; download it again"

TOO_BIG_HINT = (
    "super-resolution checkpoints are far smaller (the largest hold about 160 MB of "
    "weights); the file declares sizes it cannot hold"
)


class _Bad(Exception):
    """A malformed or refused pickle; the machine adds the file and the byte offset."""

    def __init__(self, message: str, hint: str = DAMAGED_HINT) -> None:
        super().__init__(message)
        self.hint = hint


class _Refused(Exception):
    """A global outside :data:`ADMITTED`; carries the whole message."""


# --------------------------------------------------------------------------- admitted


def _int(value: object, what: str) -> int:
    if type(value) is not int or value < 0:
        raise _Bad(f"{what} is {value!r}, not a non-negative integer")
    return value


def _ints(value: object, what: str) -> tuple[int, ...]:
    if not isinstance(value, tuple | list):
        raise _Bad(f"{what} is {type(value).__name__}, not a tuple of integers")
    if len(value) > limits.MAX_TENSOR_DIMS:
        raise _Bad(f"{what} has {len(value)} dimensions, above {limits.MAX_TENSOR_DIMS}")
    return tuple(_int(v, what) for v in value)


def _tensor(
    storage: object, offset: object, size: object, stride: object, dtype: TensorDType | None
) -> TensorRef:
    """A :class:`TensorRef`, refused when it would read past its storage."""
    if not isinstance(storage, StorageRef):
        raise _Bad(f"a tensor's storage is a {type(storage).__name__}, not a storage")
    tensor_dtype = dtype or storage.dtype
    if tensor_dtype is None:
        raise _Bad(f"storage {storage.key!r} has no element type and its tensor names none")
    if storage.dtype is not None and storage.dtype != tensor_dtype:
        raise _Bad(
            f"a {tensor_dtype.name} tensor views the {storage.dtype.name} storage {storage.key!r}"
        )
    start = _int(offset, "a tensor's storage offset")
    shape = _ints(size, "a tensor's size")
    strides = _ints(stride, "a tensor's stride")
    if len(shape) != len(strides):
        raise _Bad(f"a tensor has size {list(shape)} but stride {list(strides)}")
    available = storage.nbytes // tensor_dtype.itemsize
    if math.prod(shape) > 0:
        last = start + sum((n - 1) * s for n, s in zip(shape, strides, strict=True))
        if last >= available:
            raise _Bad(
                f"a tensor of shape {list(shape)} (stride {list(strides)}, offset {start}) "
                f"reaches element {last} of storage {storage.key!r}, which declares only "
                f"{available} {tensor_dtype.name} elements: the storage is shorter than "
                "its tensor",
                TOO_BIG_HINT,
            )
    elif start > available:
        raise _Bad(f"an empty tensor starts at {start}, past its storage's {available}")
    return TensorRef(storage, tensor_dtype, start, shape, strides)


def _check_metadata(metadata: object) -> None:
    """Tensor metadata carries the conjugate and negative bits; weights never set them."""
    if metadata is None:
        return
    if not isinstance(metadata, dict) or any(metadata.values()):
        raise _Bad(f"a tensor carries metadata {metadata!r} (conjugate/negative views)")


def _rebuild_tensor(*args: object) -> TensorRef:
    if len(args) != 4:
        raise _Bad(f"_rebuild_tensor takes 4 arguments, the pickle gives {len(args)}")
    return _tensor(args[0], args[1], args[2], args[3], None)


def _rebuild_tensor_v2(*args: object) -> TensorRef:
    if len(args) not in (6, 7):
        raise _Bad(f"_rebuild_tensor_v2 takes 6 or 7 arguments, the pickle gives {len(args)}")
    _check_metadata(args[6] if len(args) == 7 else None)
    return _tensor(args[0], args[1], args[2], args[3], None)


def _rebuild_tensor_v3(*args: object) -> TensorRef:
    if len(args) not in (7, 8):
        raise _Bad(f"_rebuild_tensor_v3 takes 7 or 8 arguments, the pickle gives {len(args)}")
    dtype = args[6]
    if not isinstance(dtype, TensorDType):
        raise _Bad(f"_rebuild_tensor_v3's dtype is {dtype!r}, not a torch dtype")
    _check_metadata(args[7] if len(args) == 8 else None)
    return _tensor(args[0], args[1], args[2], args[3], dtype)


def _rebuild_parameter(*args: object) -> TensorRef:
    """``nn.Parameter(data)``: the tensor itself (the grad flag and hooks do not matter,
    a state, for ``_rebuild_parameter_with_state``, is inert data already built)."""
    if len(args) not in (3, 4) or not isinstance(args[0], TensorRef):
        raise _Bad("a parameter is rebuilt from something other than one tensor")
    return args[0]


@dataclass(frozen=True)
class TensorClass:
    """What ``torch.Tensor`` stands for: only ever the class argument of
    ``_rebuild_from_type_v2``, which torch writes for a tensor with Python attributes."""


def _rebuild_from_type_v2(*args: object) -> TensorRef:
    """``torch._tensor._rebuild_from_type_v2(func, torch.Tensor, args, state)``: the
    tensor ``func(*args)`` builds (an admitted rebuilder); the attributes in ``state`` are
    inert data and are dropped. Any class but plain ``torch.Tensor`` was refused when the
    pickle named it."""
    if len(args) != 4 or not isinstance(args[1], TensorClass):
        raise _Bad("_rebuild_from_type_v2 is admitted only for plain torch.Tensor")
    func, _, call_args, _ = args
    if not isinstance(func, _Admitted) or not isinstance(call_args, tuple):
        raise _Bad("_rebuild_from_type_v2 is given something other than a tensor rebuilder")
    tensor = func.call(*call_args)
    if not isinstance(tensor, TensorRef):
        raise _Bad(f"_rebuild_from_type_v2 rebuilt a {type(tensor).__name__}, not a tensor")
    return tensor


class OrderedDictRecord(dict[object, object]):
    """What ``collections.OrderedDict`` rebuilds to: a dict (insertion ordered, as every
    dict is) that may take ``BUILD`` state, as ``state_dict()``'s ``_metadata`` attribute
    is pickled. The state is dropped: it holds module versions, not weights."""


def _ordered_dict(*args: object) -> OrderedDictRecord:
    if not args:
        return OrderedDictRecord()
    if len(args) == 1 and isinstance(args[0], list | tuple):
        try:
            return OrderedDictRecord(args[0])
        except (TypeError, ValueError) as exc:
            raise _Bad(f"OrderedDict from {type(args[0]).__name__}: {exc}") from exc
    raise _Bad("OrderedDict is rebuilt from arguments that are not a list of pairs")


def _set(*args: object) -> set[object]:
    return set(_items(args, "set"))


def _frozenset(*args: object) -> frozenset[object]:
    return frozenset(_items(args, "frozenset"))


def _items(args: tuple[object, ...], what: str) -> list[object]:
    if not args:
        return []
    if len(args) == 1 and isinstance(args[0], list | tuple):
        return list(args[0])
    raise _Bad(f"{what} is rebuilt from arguments that are not one list")


def _codecs_encode(*args: object) -> bytes:
    """Protocol 2's bytes: ``_codecs.encode(text, "latin1")``, and nothing else."""
    if len(args) == 2 and isinstance(args[0], str) and args[1] in ("latin1", "latin-1"):
        try:
            return args[0].encode("latin-1")
        except UnicodeEncodeError as exc:
            raise _Bad(f"_codecs.encode of text that is not latin-1: {exc}") from exc
    raise _Bad("_codecs.encode is admitted only as protocol 2 writes bytes (text, 'latin1')")


@dataclass(frozen=True)
class _Admitted:
    """An admitted callable global on the machine's stack: its name and stand-in."""

    name: str
    call: Callable[..., object]


_CALLABLES: dict[tuple[str, str], Callable[..., object]] = {
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_tensor_v3"): _rebuild_tensor_v3,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("torch._tensor", "_rebuild_from_type_v2"): _rebuild_from_type_v2,
    ("collections", "OrderedDict"): _ordered_dict,
    ("builtins", "set"): _set,
    ("builtins", "frozenset"): _frozenset,
    ("__builtin__", "set"): _set,
    ("__builtin__", "frozenset"): _frozenset,
    ("_codecs", "encode"): _codecs_encode,
}

ADMITTED: frozenset[str] = frozenset(
    [f"{m}.{n}" for m, n in _CALLABLES]
    + [f"torch.{n}" for n in STORAGE_TYPES]
    + ["torch.storage.UntypedStorage", "torch.Tensor"]
    + [f"torch.{n}" for n in (*DTYPES, *_DTYPE_ALIASES)]
)
"""Every ``module.name`` a checkpoint's pickle may name (docs/pytorch-checkpoints.md lists
them); everything else is refused."""


def _find_global(module: str, name: str) -> object:
    """The stand-in for an admitted global, or :class:`_Refused` naming it."""
    call = _CALLABLES.get((module, name))
    if call is not None:
        return _Admitted(f"{module}.{name}", call)
    if name in STORAGE_TYPES and (
        module == "torch" or (module, name) == ("torch.storage", "UntypedStorage")
    ):
        return StorageType(name, STORAGE_TYPES[name])
    if (module, name) == ("torch", "Tensor"):
        return TensorClass()
    if module == "torch" and name in {*DTYPES, *_DTYPE_ALIASES}:
        return DTYPES[_DTYPE_ALIASES.get(name, name)]
    raise _Refused(_refusal(module, name))


def _refusal(module: str, name: str) -> str:
    """Why ``module.name`` is refused, in the words that fit what it most likely is."""
    full = f"{module}.{name}"
    if module == "torch" and (name.endswith("Storage") or name.startswith(("float8", "q", "c"))):
        return (
            f"the checkpoint holds tensors of type {full}, which is not supported "
            "(only float, integer and bool tensors are)"
        )
    if module.startswith("torch.nn") or module == "__main__" or name[:1].isupper():
        return (
            f"the checkpoint's pickle names the class {full}: the file holds a pickled "
            "object (a whole model?) rather than weights alone, and unpickling it would "
            "run its code, so the file was refused before anything in it ran"
        )
    return (
        f"the checkpoint's pickle names {full}, which weights never need; unpickling it "
        "could run code, so the file was refused before anything in it ran"
    )


# --------------------------------------------------------------------------- machine

PersistentLoad = Callable[[object], object]
"""Maps a persistent id (torch's ``("storage", ...)`` tuple) to what stands for it."""

_MARK = object()


class _Machine:
    """One pickle interpreted from ``data[pos:]`` up to its STOP opcode."""

    def __init__(
        self, data: bytes, pos: int, where: str, persistent_load: PersistentLoad | None
    ) -> None:
        self.data = data
        self.pos = pos
        self.where = where
        self.persistent_load = persistent_load
        self.stack: list[object] = []
        self.metastack: list[list[object]] = []
        self.memo: dict[int, object] = {}
        self.pushed = 0
        self.ops: dict[int, Callable[[], None]] = self._table()

    # ----------------------------------------------------------- reading bytes

    def take(self, count: int) -> bytes:
        if count < 0 or self.pos + count > len(self.data):
            raise _Bad(
                f"the pickle declares {count} bytes where {len(self.data) - self.pos} remain "
                "(truncated or corrupt file)"
            )
        chunk = self.data[self.pos : self.pos + count]
        self.pos += count
        return chunk

    def line(self) -> bytes:
        end = self.data.find(b"\n", self.pos, self.pos + 65536)
        if end < 0:
            raise _Bad("a text opcode's line does not end (truncated or corrupt file)")
        chunk = self.data[self.pos : end]
        self.pos = end + 1
        return chunk

    def uint(self, size: int) -> int:
        if size == 1 and self.pos < len(self.data):  # the commonest case, kept fast
            self.pos += 1
            return self.data[self.pos - 1]
        return int.from_bytes(self.take(size), "little")

    # ----------------------------------------------------------- the stack

    def push(self, value: object) -> None:
        self.pushed += 1
        if self.pushed > limits.MAX_PICKLE_OBJECTS:
            raise _Bad(
                f"the pickle builds more than {limits.MAX_PICKLE_OBJECTS} objects", TOO_BIG_HINT
            )
        self.stack.append(value)

    def pop(self) -> object:
        if not self.stack:
            raise _Bad("an opcode pops from an empty stack (corrupt pickle)")
        return self.stack.pop()

    def top(self) -> object:
        if not self.stack:
            raise _Bad("an opcode reads an empty stack (corrupt pickle)")
        return self.stack[-1]

    def mark(self) -> None:
        if len(self.metastack) >= limits.MAX_PICKLE_DEPTH:
            raise _Bad(f"the pickle nests deeper than {limits.MAX_PICKLE_DEPTH} marks")
        self.metastack.append(self.stack)
        self.stack = []

    def pop_mark(self) -> list[object]:
        if not self.metastack:
            raise _Bad("an opcode closes a mark that was never opened (corrupt pickle)")
        items = self.stack
        self.stack = self.metastack.pop()
        return items

    def put(self, index: int) -> None:
        if index < 0 or (index not in self.memo and len(self.memo) >= limits.MAX_PICKLE_OBJECTS):
            raise _Bad(f"memo index {index} is out of bounds")
        self.memo[index] = self.top()

    def get(self, index: int) -> None:
        if index not in self.memo:
            raise _Bad(f"the pickle reads memo entry {index}, which was never written")
        self.push(self.memo[index])

    # ----------------------------------------------------------- calls

    def call(self, target: object, args: object) -> None:
        if not isinstance(target, _Admitted):
            raise _Bad(f"the pickle calls a {type(target).__name__}, which is not callable here")
        if not isinstance(args, tuple):
            raise _Bad(f"{target.name} is called with a {type(args).__name__}, not a tuple")
        self.push(target.call(*args))

    def global_(self, module: str, name: str) -> None:
        self.push(_find_global(module, name))

    def build(self) -> None:
        state = self.pop()
        target = self.top()
        if isinstance(target, OrderedDictRecord) and isinstance(state, dict | tuple):
            return
        raise _Bad(f"the pickle sets the state of a {type(target).__name__}, which is refused")

    def persid(self) -> None:
        pid = self.pop()
        if self.persistent_load is None:
            raise _Bad("the pickle refers to external data where none is expected")
        self.push(self.persistent_load(pid))

    # ----------------------------------------------------------- opcodes

    def _table(self) -> dict[int, Callable[[], None]]:
        def text_global() -> tuple[str, str]:
            module = self.line().decode("utf-8", "replace")
            return module, self.line().decode("utf-8", "replace")

        def stack_global() -> None:
            name, module = self.pop(), self.pop()
            if not isinstance(module, str) or not isinstance(name, str):
                raise _Bad("STACK_GLOBAL names a global with non-text parts")
            self.global_(module, name)

        def inst() -> None:
            target = _find_global(*text_global())
            self.call(target, tuple(self.pop_mark()))

        def obj() -> None:
            items = self.pop_mark()
            if not items:
                raise _Bad("OBJ without a class")
            self.call(items[0], tuple(items[1:]))

        def newobj_ex() -> None:
            kwargs, args, cls = self.pop(), self.pop(), self.pop()
            if kwargs:
                raise _Bad("NEWOBJ_EX with keyword arguments is refused")
            self.call(cls, args)

        def setitems() -> None:
            items = self.pop_mark()
            target = self.top()
            if not isinstance(target, dict) or len(items) % 2:
                raise _Bad("SETITEMS on something that is not a dict, or with an odd count")
            for i in range(0, len(items), 2):
                target[items[i]] = items[i + 1]

        def setitem() -> None:
            value, key = self.pop(), self.pop()
            target = self.top()
            if not isinstance(target, dict):
                raise _Bad(f"SETITEM on a {type(target).__name__}")
            target[key] = value

        def appends() -> None:
            items = self.pop_mark()
            target = self.top()
            if not isinstance(target, list):
                raise _Bad(f"APPENDS on a {type(target).__name__}")
            target.extend(items)

        def append() -> None:
            value = self.pop()
            target = self.top()
            if not isinstance(target, list):
                raise _Bad(f"APPEND on a {type(target).__name__}")
            target.append(value)

        def additems() -> None:
            items = self.pop_mark()
            target = self.top()
            if not isinstance(target, set):
                raise _Bad(f"ADDITEMS on a {type(target).__name__}")
            target.update(items)

        def dict_() -> None:
            items = self.pop_mark()
            if len(items) % 2:
                raise _Bad("DICT with an odd number of items")
            self.push({items[i]: items[i + 1] for i in range(0, len(items), 2)})

        def text_int() -> None:
            text = self.line()
            if text in (b"00", b"01"):
                self.push(text == b"01")
            else:
                self.push(_parse_int(text.rstrip(b"L")))

        def long_n(size: int) -> None:
            count = self.uint(size)
            if count > 1024:
                raise _Bad(f"an integer of {count} bytes is refused")
            self.push(int.from_bytes(self.take(count), "little", signed=True))

        def frame() -> None:
            size = self.uint(8)
            if size > len(self.data) - self.pos:
                raise _Bad("a FRAME declares more bytes than remain (truncated file)")

        def proto() -> None:
            version = self.uint(1)
            if version > 5:
                raise _Bad(f"pickle protocol {version} is not known")

        def refuse(what: str) -> Callable[[], None]:
            def op() -> None:
                raise _Bad(what)

            return op

        u = self.uint
        return {
            ord("("): self.mark,
            ord("."): refuse("STOP"),  # handled by run()
            ord("0"): lambda: (self.pop(), None)[1],
            ord("1"): lambda: (self.pop_mark(), None)[1],
            ord("2"): lambda: self.push(self.top()),
            ord("F"): lambda: self.push(_parse_float(self.line())),
            ord("I"): text_int,
            ord("J"): lambda: self.push(int.from_bytes(self.take(4), "little", signed=True)),
            ord("K"): lambda: self.push(u(1)),
            ord("L"): text_int,
            ord("M"): lambda: self.push(u(2)),
            ord("N"): lambda: self.push(None),
            ord("P"): refuse("text persistent ids (PERSID) are never written by PyTorch"),
            ord("Q"): self.persid,
            ord("R"): lambda: self.call(*reversed((self.pop(), self.pop()))),
            ord("S"): lambda: self.push(_parse_string(self.line())),
            ord("T"): lambda: self.push(self.take(u(4)).decode("latin-1")),
            ord("U"): lambda: self.push(self.take(u(1)).decode("latin-1")),
            ord("V"): lambda: self.push(self.line().decode("raw-unicode-escape")),
            ord("X"): lambda: self.push(self.take(u(4)).decode("utf-8", "surrogatepass")),
            ord("a"): append,
            ord("b"): self.build,
            ord("c"): lambda: self.global_(*text_global()),
            ord("d"): dict_,
            ord("}"): lambda: self.push({}),
            ord("e"): appends,
            ord("g"): lambda: self.get(_parse_int(self.line())),
            ord("h"): lambda: self.get(u(1)),
            ord("i"): inst,
            ord("j"): lambda: self.get(u(4)),
            ord("l"): lambda: self.push(self.pop_mark()),
            ord("]"): lambda: self.push([]),
            ord("o"): obj,
            ord("p"): lambda: self.put(_parse_int(self.line())),
            ord("q"): lambda: self.put(u(1)),
            ord("r"): lambda: self.put(u(4)),
            ord("s"): setitem,
            ord("t"): lambda: self.push(tuple(self.pop_mark())),
            ord(")"): lambda: self.push(()),
            ord("u"): setitems,
            ord("G"): lambda: self.push(struct.unpack(">d", self.take(8))[0]),
            0x80: proto,
            0x81: lambda: self.call(*reversed((self.pop(), self.pop()))),
            0x82: refuse("extension codes (EXT1) are never looked up"),
            0x83: refuse("extension codes (EXT2) are never looked up"),
            0x84: refuse("extension codes (EXT4) are never looked up"),
            0x85: lambda: self.push((self.pop(),)),
            0x86: lambda: self.push(tuple(reversed((self.pop(), self.pop())))),
            0x87: lambda: self.push(tuple(reversed((self.pop(), self.pop(), self.pop())))),
            0x88: lambda: self.push(True),
            0x89: lambda: self.push(False),
            0x8A: lambda: long_n(1),
            0x8B: lambda: long_n(4),
            ord("B"): lambda: self.push(self.take(u(4))),
            ord("C"): lambda: self.push(self.take(u(1))),
            0x8C: lambda: self.push(self.take(u(1)).decode("utf-8", "surrogatepass")),
            0x8D: lambda: self.push(self.take(u(8)).decode("utf-8", "surrogatepass")),
            0x8E: lambda: self.push(self.take(u(8))),
            0x8F: lambda: self.push(set()),
            0x90: additems,
            0x91: lambda: self.push(frozenset(self.pop_mark())),
            0x92: newobj_ex,
            0x93: stack_global,
            0x94: lambda: self.put(len(self.memo)),
            0x95: frame,
            0x96: lambda: self.push(bytearray(self.take(u(8)))),
            0x97: refuse("out-of-band buffers (NEXT_BUFFER) are refused"),
            0x98: refuse("out-of-band buffers (READONLY_BUFFER) are refused"),
        }

    def run(self) -> object:
        data, ops = self.data, self.ops
        while True:
            if self.pos >= len(data):
                raise _Bad("the pickle ends before its STOP opcode (truncated file)")
            code = data[self.pos]
            self.pos += 1
            if code == 0x2E:  # STOP
                if self.metastack or len(self.stack) != 1:
                    raise _Bad("the pickle stops with unbalanced marks or stack")
                return self.stack[0]
            op = ops.get(code)
            if op is None:
                raise _Bad(f"unknown pickle opcode 0x{code:02x}")
            op()


def _parse_int(text: bytes) -> int:
    if len(text) > 64:
        raise _Bad(f"a text integer of {len(text)} digits is refused")
    try:
        return int(text)
    except ValueError as exc:
        raise _Bad(f"{text[:20]!r} is not an integer") from exc


def _parse_float(text: bytes) -> float:
    try:
        return float(text[:64])
    except ValueError as exc:
        raise _Bad(f"{text[:20]!r} is not a number") from exc


def _parse_string(text: bytes) -> str:
    """Protocol 0's ``STRING``: a quoted, backslash-escaped byte string."""
    if len(text) < 2 or text[:1] not in b"'\"" or text[-1:] != text[:1]:
        raise _Bad("a STRING opcode's argument is not quoted")
    raw: bytes = codecs.escape_decode(text[1:-1])[0]
    return raw.decode("latin-1")


def unpickle(
    data: bytes, where: str, persistent_load: PersistentLoad | None = None, start: int = 0
) -> tuple[object, int]:
    """The object pickled in ``data`` from byte ``start``, and the offset just past its
    STOP (legacy checkpoints are several pickles in a row).

    ``persistent_load`` maps each persistent id; without one, a pickle that has any is
    refused. Every problem, a refused global first of all, is a
    :class:`~upscaler.errors.ConversionError` naming ``where`` and the byte offset.
    """
    machine = _Machine(data, start, where, persistent_load)
    try:
        return machine.run(), machine.pos
    except _Refused as exc:
        raise ConversionError(f"{where}: {exc}", hint=SAVE_WEIGHTS_HINT) from None
    except _Bad as exc:
        raise ConversionError(
            f"{where}: {exc} (at pickle byte {machine.pos})", hint=exc.hint
        ) from None
    except (TypeError, ValueError, UnicodeDecodeError, RecursionError, MemoryError) as exc:
        raise ConversionError(
            f"{where}: malformed pickle at byte {machine.pos} ({type(exc).__name__}: {exc})",
            hint=DAMAGED_HINT,
        ) from None


def bad(message: str, hint: str = DAMAGED_HINT) -> Exception:
    """An error a persistent-load callback raises: reported like the machine's own."""
    return _Bad(message, hint)
