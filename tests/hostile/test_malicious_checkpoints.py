"""Hostile checkpoints: code-execution gadgets, lying sizes, damaged archives.

Each case hands :func:`upscaler.convert.state_dict.read_state_dict` a file built to
hurt, and asserts the same four things: a :class:`~upscaler.errors.ConversionError`
whose message names the culprit, nothing executed (the marker file a gadget would create
never appears, no module is imported), nothing written beside the file, and little
memory used (traced by :mod:`tracemalloc`, which numpy reports to). The pickles are
written opcode by opcode (:class:`P`), so no case needs torch; the few that need a real
``torch.save`` file skip without it.
"""

from __future__ import annotations

import contextlib
import io
import os
import pickle
import struct
import sys
import tarfile
import tracemalloc
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hostile_support import snapshot

from upscaler.convert import limits
from upscaler.convert.state_dict import read_state_dict
from upscaler.errors import ConversionError

pytestmark = pytest.mark.timeout(60)

MAGIC = 0x1950A86A20F9469CFC6C
MEMORY_LIMIT = 32 * 2**20
"""Peak traced allocation any hostile case may cause: far below what the files declare."""


# --------------------------------------------------------------------------- writing


class P:
    """Pickle opcodes, written by hand (protocol 2 unless the case says otherwise)."""

    @staticmethod
    def glob(module: str, name: str) -> bytes:
        return b"c" + f"{module}\n{name}\n".encode()

    @staticmethod
    def text(value: str) -> bytes:
        raw = value.encode()
        return b"X" + struct.pack("<I", len(raw)) + raw

    @staticmethod
    def int(value: int) -> bytes:
        if 0 <= value < 2**31:
            return b"J" + struct.pack("<i", value)
        raw = value.to_bytes((value.bit_length() + 8) // 8, "little", signed=True)
        return b"\x8a" + bytes([len(raw)]) + raw

    @staticmethod
    def tuple(*items: bytes) -> bytes:
        return b"(" + b"".join(items) + b"t"

    @staticmethod
    def storage(
        key: str, numel: int, kind: str = "FloatStorage", view: bytes | None = None
    ) -> bytes:
        """A persistent id; ``view`` (legacy files) makes it a 6-tuple."""
        items = [P.text("storage"), P.glob("torch", kind), P.text(key), P.text("cpu"), P.int(numel)]
        if view is not None:
            items.append(view)
        return P.tuple(*items) + b"Q"

    @staticmethod
    def tensor(
        storage: bytes, offset: int, size: tuple[int, ...], stride: tuple[int, ...]
    ) -> bytes:
        hooks = P.glob("collections", "OrderedDict") + b")R"
        args = P.tuple(
            storage,
            P.int(offset),
            P.tuple(*map(P.int, size)),
            P.tuple(*map(P.int, stride)),
            b"\x89",
            hooks,
        )
        return P.glob("torch._utils", "_rebuild_tensor_v2") + args + b"R"

    @staticmethod
    def state_dict(**tensors: bytes) -> bytes:
        items = b"".join(P.text(k) + v for k, v in tensors.items())
        return b"\x80\x02}(" + items + b"u."


def write_zip(path: Path, pkl: bytes, storages: dict[str, bytes], top: str = "archive") -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"{top}/data.pkl", pkl)
        archive.writestr(f"{top}/byteorder", "little")
        for key, blob in storages.items():
            archive.writestr(f"{top}/data/{key}", blob)
        archive.writestr(f"{top}/version", "3\n")
    return path


def write_legacy(
    path: Path, pkl: bytes, storages: dict[str, tuple[int, bytes]], little: bool = True
) -> Path:
    """``storages``: key → (element count written before the bytes, the bytes)."""
    info = {"protocol_version": 1001, "little_endian": little, "type_sizes": {"int": 4}}
    parts = [pickle.dumps(MAGIC, 2), pickle.dumps(1001, 2), pickle.dumps(info, 2), pkl]
    parts.append(pickle.dumps(sorted(storages), 2))
    for key in sorted(storages):
        count, blob = storages[key]
        parts += [struct.pack("<q", count), blob]
    path.write_bytes(b"".join(parts))
    return path


def floats(*values: float) -> bytes:
    return np.asarray(values, dtype="<f4").tobytes()


def crafted(path: Path, layout: str, pkl: bytes, storages: dict[str, bytes]) -> Path:
    """``pkl`` and float32 ``storages`` as a zip or a legacy checkpoint."""
    if layout == "zip":
        return write_zip(path, pkl, storages)
    return write_legacy(path, pkl, {k: (len(b) // 4, b) for k, b in storages.items()})


# --------------------------------------------------------------------------- checks


@pytest.fixture(scope="module", autouse=True)
def warm(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Read one good file of each kind first, so the modules the readers import lazily
    are loaded before the cases compare ``sys.modules``."""
    from safetensors.numpy import save_file

    base = tmp_path_factory.mktemp("warm")
    pkl = P.state_dict(w=P.tensor(P.storage("0", 2), 0, (2,), (1,)))
    read_state_dict(write_zip(base / "w.pth", pkl, {"0": floats(1, 2)}))
    pkl_legacy = P.state_dict(w=P.tensor(P.storage("0", 2, view=b"N"), 0, (2,), (1,)))
    read_state_dict(write_legacy(base / "l.pth", pkl_legacy, {"0": (2, floats(1, 2))}))
    save_file({"w": np.zeros(2, np.float32)}, str(base / "s.safetensors"))
    read_state_dict(base / "s.safetensors")


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    """The file a gadget would create if it ran."""
    return tmp_path / "PWNED"


def refused(path: Path, *words: str, marker: Path | None = None) -> ConversionError:
    """Read ``path`` and assert it is refused cleanly: the error names ``words``, nothing
    ran, no module was imported, nothing was written, memory stayed small."""
    folder = path.parent
    before_files = snapshot(folder)
    before_modules = set(sys.modules)
    tracemalloc.start()
    try:
        with pytest.raises(ConversionError) as caught:
            read_state_dict(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    message = str(caught.value)
    for word in words:
        assert word in message, message
    assert caught.value.hint, message
    assert set(sys.modules) == before_modules, set(sys.modules) - before_modules
    assert snapshot(folder) == before_files
    if marker is not None:
        assert not marker.exists()
    assert peak < MEMORY_LIMIT, f"{peak} bytes traced"
    return caught.value


def test_the_crafted_files_are_read_when_honest(tmp_path: Path) -> None:
    """The writers above make files the reader accepts: the refusals below are about
    what each case changes, not about the crafting."""
    for layout in ("zip", "legacy"):
        view = b"N" if layout == "legacy" else None
        pkl = P.state_dict(
            a=P.tensor(P.storage("0", 6, view=view), 0, (2, 3), (3, 1)),
            b=P.tensor(P.storage("0", 6, view=view), 1, (2,), (3,)),
        )
        path = crafted(tmp_path / f"ok-{layout}.pth", layout, pkl, {"0": floats(*range(6))})
        read = read_state_dict(path)
        np.testing.assert_array_equal(read.tensors["a"], [[0, 1, 2], [3, 4, 5]])
        np.testing.assert_array_equal(read.tensors["b"], [1, 4])


def test_a_legacy_storage_view_is_honoured(tmp_path: Path) -> None:
    """Old PyTorch pickled storage views: (view key, offset, size) into a root storage."""
    view = P.tuple(P.text("v"), P.int(2), P.int(3))
    pkl = P.state_dict(a=P.tensor(P.storage("0", 6, view=view), 1, (2,), (1,)))
    read = read_state_dict(write_legacy(tmp_path / "v.pth", pkl, {"0": (6, floats(*range(6)))}))
    np.testing.assert_array_equal(read.tensors["a"], [3, 4])


# --------------------------------------------------------------------------- gadgets


class _Reduce:
    """An object that pickles as ``callable(*args)``: the classic gadget."""

    def __init__(self, call: Callable[..., Any], *args: Any) -> None:
        self.call, self.args = call, args

    def __reduce__(self) -> tuple[Any, ...]:
        return self.call, self.args


def _gadgets(marker: Path) -> dict[str, bytes]:
    import builtins
    import subprocess

    touch = f"touch {marker}"
    write = f"open({str(marker)!r}, 'w').write('x')"
    return {
        "os.system": pickle.dumps(_Reduce(os.system, touch), 2),
        "builtins.eval": pickle.dumps(_Reduce(builtins.eval, write), 2),
        "builtins.exec": pickle.dumps(_Reduce(builtins.exec, write), 2),
        "subprocess.Popen": pickle.dumps(_Reduce(subprocess.Popen, ["touch", str(marker)]), 2),
        "protocol 4": pickle.dumps({"w": _Reduce(os.system, touch)}, 4),
        "inside a state dict": P.state_dict(w=pickle.dumps(_Reduce(os.system, touch), 2)[2:-1]),
    }


GADGETS = ["os.system", "builtins.eval", "builtins.exec", "subprocess.Popen", "protocol 4"]


@pytest.mark.parametrize("layout", ["zip", "legacy", "bare"])
@pytest.mark.parametrize("gadget", [*GADGETS, "inside a state dict"])
def test_reduce_gadgets_are_refused_by_name(
    tmp_path: Path, marker: Path, layout: str, gadget: str
) -> None:
    pkl = _gadgets(marker)[gadget]
    path = tmp_path / "evil.pth"
    if layout == "bare":
        path.write_bytes(pkl)  # a plain pickle file: sniffed as the legacy layout
    else:
        crafted(path, layout, pkl, {})
    err = refused(path, "refused before anything in it ran", marker=marker)
    name = {"os.system": "system", "protocol 4": "system", "inside a state dict": "system"}
    assert name.get(gadget, gadget.rsplit(".", maxsplit=1)[-1]) in str(err)
    assert "state_dict()" in (err.hint or "")


def test_the_global_is_named_with_its_module(tmp_path: Path, marker: Path) -> None:
    pkl = _gadgets(marker)["os.system"]
    err = refused(crafted(tmp_path / "e.pth", "zip", pkl, {}), marker=marker)
    assert f"{os.system.__module__}.system" in str(err)  # posix.system here


def test_a_getattr_chain_is_refused(tmp_path: Path, marker: Path) -> None:
    """``getattr(__import__('os'), 'system')('touch ...')``, written as protocol 0 does."""
    pkl = (
        b"c__builtin__\ngetattr\n(c__builtin__\n__import__\n(Vos\ntRVsystem\ntR"
        + f"(Vtouch {marker}\ntR.".encode()
    )
    refused(crafted(tmp_path / "g.pth", "zip", pkl, {}), "__builtin__.getattr", marker=marker)


def test_an_unknown_module_is_never_imported(
    tmp_path: Path, marker: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A module on the path that would create the marker when imported: naming it in a
    GLOBAL must not import it."""
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "h26_trap_module.py").write_text(f"open({str(marker)!r}, 'w').write('imported')\n")
    monkeypatch.syspath_prepend(str(lib))
    pkl = b"\x80\x02" + P.glob("h26_trap_module", "Bar") + b")R."
    path = crafted(tmp_path / "u.pth", "zip", pkl, {})
    refused(path, "h26_trap_module.Bar", marker=marker)
    assert "h26_trap_module" not in sys.modules


def test_stack_global_is_checked_like_global(tmp_path: Path, marker: Path) -> None:
    pkl = b"\x80\x04\x8c\x05posix\x8c\x06system\x93" + P.text(f"touch {marker}") + b"\x85R."
    refused(crafted(tmp_path / "s.pth", "zip", pkl, {}), "posix.system", marker=marker)


@pytest.mark.parametrize(
    ("opcodes", "words"),
    [
        # INST: the class named inline, called with the marked items
        (b"(S'touch PWNED'\nios\nsystem\n.", ["os.system"]),
        # OBJ: the class first on the marked stack
        (b"\x80\x02(cos\nsystem\nX\x05\x00\x00\x00touch" + b"o.", ["os.system"]),
        # NEWOBJ of a disallowed class
        (b"\x80\x02csubprocess\nPopen\n)\x81.", ["subprocess.Popen"]),
        # NEWOBJ_EX
        (b"\x80\x04cos\nsystem\n)}\x92.", ["os.system"]),
        # BUILD on a plain dict (only OrderedDict's version metadata may be set)
        (b"\x80\x02}}b.", ["sets the state of a dict"]),
        # calling something that is not an admitted callable
        (b"\x80\x02X\x04\x00\x00\x00evil)R.", ["not callable here"]),
        # an admitted callable used beyond its purpose
        (b"\x80\x02c_codecs\nencode\nX\x01\x00\x00\x00xX\x04\x00\x00\x00zlib\x86R.", ["_codecs"]),
        # the tensor-with-attributes rebuilder, given another class or another function
        (
            b"\x80\x02ctorch._tensor\n_rebuild_from_type_v2\n(ccollections\nOrderedDict\n"
            b"X\x01\x00\x00\x00x)Nt" + b"R.",
            ["only for plain torch.Tensor"],
        ),
        (
            b"\x80\x02ctorch._tensor\n_rebuild_from_type_v2\n(ccollections\nOrderedDict\n"
            b"ctorch\nTensor\n)Nt" + b"R.",
            ["rebuilt a OrderedDictRecord, not a tensor"],
        ),
        (b"\x80\x02c__main__\nSub\n.", ["__main__.Sub", "whole model"]),
        # numpy's array reconstructor (a pickled ndarray)
        (pickle.dumps({"w": np.zeros(3)}, 2), ["multiarray._reconstruct"]),
        # copyreg extension codes would look globals up by number
        (b"\x80\x02\x82\x01.", ["EXT1"]),
        # out-of-band buffers
        (b"\x80\x05\x97.", ["NEXT_BUFFER"]),
        # text persistent ids
        (b"Pevil\n.", ["PERSID"]),
    ],
    ids=[
        "INST",
        "OBJ",
        "NEWOBJ",
        "NEWOBJ_EX",
        "BUILD",
        "REDUCE-non-callable",
        "codecs-zlib",
        "from-type-class",
        "from-type-function",
        "tensor-subclass",
        "numpy",
        "EXT1",
        "NEXT_BUFFER",
        "PERSID",
    ],
)
def test_object_building_opcodes_go_through_the_allow_list(
    tmp_path: Path, marker: Path, opcodes: bytes, words: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the INST case's 'touch PWNED' would land here
    refused(crafted(tmp_path / "o.pth", "zip", opcodes, {}), *words, marker=marker)


def test_a_whole_pickled_model_is_refused(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3))
    for layout in ("zip", "legacy"):
        path = tmp_path / f"model-{layout}.pth"
        torch.save(net, path, _use_new_zipfile_serialization=layout == "zip")
        err = refused(path, "torch.nn.modules.container.Sequential", "whole model")
        assert "torch.save(model.state_dict()" in (err.hint or "")


def test_a_torchscript_archive_is_refused(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    path = tmp_path / "scripted.pt"
    torch.jit.save(torch.jit.script(torch.nn.Conv2d(1, 1, 1)), path)
    refused(path, "TorchScript")


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda t: t.randn(2, dtype=t.complex64), ["ComplexFloatStorage", "not supported"]),
        (lambda t: t.zeros(2).to(t.float8_e4m3fn), ["float8_e4m3fn", "not supported"]),
    ],
    ids=["complex", "float8"],
)
def test_unsupported_tensor_types_are_named(
    tmp_path: Path, make: Callable[[Any], Any], words: list[str]
) -> None:
    torch = pytest.importorskip("torch")
    path = tmp_path / "odd.pth"
    torch.save({"w": make(torch)}, path)
    refused(path, *words)


# --------------------------------------------------------------------------- sizes


@pytest.mark.parametrize("layout", ["zip", "legacy"])
def test_a_100_gb_storage_is_refused_unread(tmp_path: Path, layout: str) -> None:
    numel = 25 * 10**9  # float32: 100 GB
    view = b"N" if layout == "legacy" else None
    pkl = P.state_dict(w=P.tensor(P.storage("0", numel, view=view), 0, (numel,), (1,)))
    path = crafted(tmp_path / "huge.pth", layout, pkl, {"0": floats(1, 2)})
    refused(path, "100000000000 bytes", "limit")


@pytest.mark.parametrize("layout", ["zip", "legacy"])
def test_a_100_gb_tensor_on_a_small_storage_is_refused(tmp_path: Path, layout: str) -> None:
    view = b"N" if layout == "legacy" else None
    pkl = P.state_dict(w=P.tensor(P.storage("0", 4, view=view), 0, (25 * 10**9,), (1,)))
    path = crafted(tmp_path / "huge.pth", layout, pkl, {"0": floats(1, 2, 3, 4)})
    refused(path, "storage is shorter than its tensor", "'0'")


def test_a_broadcast_view_that_would_fill_memory_is_refused(tmp_path: Path) -> None:
    """Stride 0 repeats one element: legal in torch, but 2**31 float32 copies are 8 GiB."""
    pkl = P.state_dict(w=P.tensor(P.storage("0", 1), 0, (2**31,), (0,)))
    refused(write_zip(tmp_path / "b.pth", pkl, {"0": floats(1)}), "float32 arrays", "limit")


def test_the_storage_member_is_shorter_than_declared(tmp_path: Path) -> None:
    pkl = P.state_dict(w=P.tensor(P.storage("0", 8), 0, (8,), (1,)))
    path = write_zip(tmp_path / "short.pth", pkl, {"0": floats(1, 2, 3)})
    refused(path, "data/0 holds 12 bytes", "shorter than its tensors")


def test_a_storage_member_is_missing(tmp_path: Path) -> None:
    pkl = P.state_dict(w=P.tensor(P.storage("0", 2), 0, (2,), (1,)))
    refused(write_zip(tmp_path / "missing.pth", pkl, {}), "archive/data/0 is missing")


def test_a_legacy_file_cut_inside_its_storages(tmp_path: Path) -> None:
    pkl = P.state_dict(w=P.tensor(P.storage("0", 1000, view=b"N"), 0, (1000,), (1,)))
    path = write_legacy(tmp_path / "cut.pth", pkl, {"0": (1000, floats(*range(10)))})
    refused(path, "ends inside storage '0'")


def test_a_legacy_count_that_disagrees_with_the_pickle(tmp_path: Path) -> None:
    pkl = P.state_dict(w=P.tensor(P.storage("0", 4, view=b"N"), 0, (4,), (1,)))
    path = write_legacy(tmp_path / "count.pth", pkl, {"0": (2**40, floats(1, 2, 3, 4))})
    refused(path, "holds 1099511627776 elements but the pickle declares 4")


def test_a_big_endian_legacy_file_is_refused(tmp_path: Path) -> None:
    pkl = P.state_dict(w=P.tensor(P.storage("0", 1, view=b"N"), 0, (1,), (1,)))
    path = write_legacy(tmp_path / "be.pth", pkl, {"0": (1, floats(1))}, little=False)
    refused(path, "big-endian")


@pytest.mark.parametrize("cut", [0.5, 0.9, 0.99])
def test_truncated_zips(tmp_path: Path, cut: float) -> None:
    pkl = P.state_dict(w=P.tensor(P.storage("0", 4096), 0, (4096,), (1,)))
    whole = write_zip(tmp_path / "whole.pth", pkl, {"0": floats(*range(4096))}).read_bytes()
    path = tmp_path / "cut.pth"
    path.write_bytes(whole[: int(len(whole) * cut)])
    (tmp_path / "whole.pth").unlink()
    refused(path, "zip")


@pytest.mark.parametrize("cut", [3, 30, 0.5, -10, -1])
def test_truncated_legacy_files(tmp_path: Path, cut: float) -> None:
    """Cut in each pickle of the row, then inside the storage's count and bytes."""
    pkl = P.state_dict(w=P.tensor(P.storage("0", 2, view=b"N"), 0, (2,), (1,)))
    whole = write_legacy(tmp_path / "whole.pth", pkl, {"0": (2, floats(1, 2))}).read_bytes()
    path = tmp_path / "cut.pth"
    path.write_bytes(whole[: int(len(whole) * cut) if isinstance(cut, float) else cut])
    (tmp_path / "whole.pth").unlink()
    refused(path, "truncated")


def test_a_corrupted_storage_fails_its_checksum(tmp_path: Path) -> None:
    pkl = P.state_dict(w=P.tensor(P.storage("0", 4), 0, (4,), (1,)))
    path = write_zip(tmp_path / "crc.pth", pkl, {"0": floats(1, 2, 3, 4)})
    data = bytearray(path.read_bytes())
    at = data.find(floats(1, 2, 3, 4))
    data[at] ^= 0xFF
    path.write_bytes(bytes(data))
    refused(path, "CRC")


def test_a_zip_bomb_pickle_member_is_refused_undecompressed(tmp_path: Path) -> None:
    """A deflated ``data.pkl`` that expands past the pickle limit: refused from the size
    its header declares, without inflating it."""
    path = tmp_path / "bomb.pth"
    zeros = bytes(2**20)
    with (
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive,
        archive.open("archive/data.pkl", "w", force_zip64=True) as member,
    ):
        for _ in range(limits.MAX_PICKLE_BYTES // len(zeros) + 1):
            member.write(zeros)
    assert path.stat().st_size < 2**20
    refused(path, "data.pkl declares", "above the limit")


def test_a_zip_that_lies_about_a_member_size(tmp_path: Path) -> None:
    """The central directory claims 10 GB for data.pkl (a stored 20-byte member)."""
    path = write_zip(tmp_path / "lie.pth", P.state_dict(), {})
    data = bytearray(path.read_bytes())
    entry = data.find(b"PK\x01\x02")  # data.pkl is the first central directory entry
    struct.pack_into("<I", data, entry + 24, 0xFFFFFFFE)  # its uncompressed size
    path.write_bytes(bytes(data))
    refused(path, "data.pkl declares 4294967294 bytes")


def test_a_zip_declaring_millions_of_members(tmp_path: Path) -> None:
    """A zip64 end record claiming ten million members: refused from the end record,
    before zipfile builds an object for each."""
    path = write_zip(tmp_path / "many.pth", P.state_dict(), {})
    data = path.read_bytes()
    eocd = data.rfind(b"PK\x05\x06")
    directory_size, directory_offset = struct.unpack("<II", data[eocd + 12 : eocd + 20])
    body = data[:eocd]
    zip64 = struct.pack(
        "<4sQHHIIQQQQ",
        b"PK\x06\x06",
        44,
        45,
        45,
        0,
        0,
        10**7,
        10**7,
        directory_size,
        directory_offset,
    )
    locator = struct.pack("<4sIQI", b"PK\x06\x07", 0, len(body), 1)
    end = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    path.write_bytes(body + zip64 + locator + end)
    refused(path, "10000000 members")


# --------------------------------------------------------------------------- the machine


@pytest.mark.parametrize(
    ("pkl", "words"),
    [
        (
            b"\x80\x02\x8e" + struct.pack("<Q", 2**62) + b"x.",
            ["declares 4611686018427387904 bytes"],
        ),
        (b"\x80\x02X" + struct.pack("<I", 2**32 - 1) + b"x.", ["declares 4294967295 bytes"]),
        (b"\x80\x02\x8b" + struct.pack("<I", 2**31) + b".", ["integer of 2147483648 bytes"]),
        (b"\x80\x02" + b"(" * 1000 + b".", ["deeper than 64 marks"]),
        (b"\x80\x02h\x05.", ["memo entry 5"]),
        (b"\x80\x02a.", ["empty stack"]),
        (b"\x80\x02\xff.", ["unknown pickle opcode 0xff"]),
        (b"\x80\x09}.", ["protocol 9"]),
        (b"\x80\x02}(N.", ["unbalanced"]),
        (b"I" + b"9" * 5000 + b"\n.", ["5000 digits"]),
    ],
    ids=[
        "BINBYTES8-2^62",
        "BINUNICODE-4GiB",
        "LONG4-2GiB",
        "deep-marks",
        "unset-memo",
        "stack-underflow",
        "unknown-opcode",
        "protocol",
        "unbalanced",
        "huge-text-int",
    ],
)
def test_lying_opcodes(tmp_path: Path, pkl: bytes, words: list[str]) -> None:
    refused(crafted(tmp_path / "m.pth", "zip", pkl, {}), *words)


def test_a_4_gib_memo_index_allocates_nothing(tmp_path: Path) -> None:
    """LONG_BINPUT at index 2**32 - 1: the C unpickler would size its memo for it."""
    pkl = b"\x80\x02}r\xff\xff\xff\xff."
    refused(crafted(tmp_path / "memo.pth", "zip", pkl, {}), "no weights found")


def test_deep_nesting_through_the_memo_does_not_recurse(tmp_path: Path) -> None:
    """100 000 lists each inside the next, built with a flat stack through the memo."""
    parts = [b"\x80\x02]r\x00\x00\x00\x00"]
    for i in range(1, 100_000):
        parts.append(b"0]j" + struct.pack("<I", i - 1) + b"ar" + struct.pack("<I", i))
    pkl = b"".join(parts) + b"."
    refused(crafted(tmp_path / "deep.pth", "zip", pkl, {}), "holds a list")


def test_too_many_objects(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "MAX_PICKLE_OBJECTS", 1000)
    pkl = b"\x80\x02](" + b"N" * 2000 + b"e."
    refused(crafted(tmp_path / "objects.pth", "zip", pkl, {}), "more than 1000 objects")


def test_persistent_ids_of_the_wrong_shape(tmp_path: Path) -> None:
    pid = P.tuple(P.text("module"), P.text("x"), P.text("0"), P.text("cpu"), P.int(1)) + b"Q"
    refused(crafted(tmp_path / "pid.pth", "zip", b"\x80\x02" + pid + b".", {}), "'module'")
    pid = P.tuple(P.text("storage"), P.text("FloatStorage"), P.text("0"), P.text("cpu"), P.int(1))
    pkl = b"\x80\x02" + pid + b"Q."
    refused(crafted(tmp_path / "pid2.pth", "zip", pkl, {}), "not a torch storage class")


def test_a_storage_declared_twice_differently(tmp_path: Path) -> None:
    pkl = P.state_dict(
        a=P.tensor(P.storage("0", 2), 0, (2,), (1,)),
        b=P.tensor(P.storage("0", 2, "HalfStorage"), 0, (2,), (1,)),
    )
    refused(write_zip(tmp_path / "twice.pth", pkl, {"0": floats(1, 2)}), "declared twice")


def test_tensor_arguments_are_checked(tmp_path: Path) -> None:
    bad_stride = P.state_dict(w=P.tensor(P.storage("0", 4), 0, (2, 2), (1,)))
    refused(write_zip(tmp_path / "a.pth", bad_stride, {"0": floats(1, 2, 3, 4)}), "stride")
    negative = P.state_dict(w=P.tensor(P.storage("0", 4), 0, (-2,), (1,)))
    refused(write_zip(tmp_path / "b.pth", negative, {"0": floats(1, 2, 3, 4)}), "-2")
    dims = P.state_dict(w=P.tensor(P.storage("0", 4), 0, (1,) * 17, (1,) * 17))
    refused(write_zip(tmp_path / "c.pth", dims, {"0": floats(1, 2, 3, 4)}), "17 dimensions")


# --------------------------------------------------------------------------- safetensors


def safetensors_file(path: Path, header: Any, data: bytes = b"", length: int | None = None) -> Path:
    raw = header if isinstance(header, bytes) else json_bytes(header)
    path.write_bytes(struct.pack("<Q", len(raw) if length is None else length) + raw + data)
    return path


def json_bytes(value: Any) -> bytes:
    import json

    return json.dumps(value).encode()


@pytest.mark.parametrize(
    ("header", "data", "length", "words"),
    [
        (
            {"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}},
            b"",
            None,
            ["past the end"],
        ),
        (
            {"w": {"dtype": "F32", "shape": [25 * 10**9], "data_offsets": [0, 10**11]}},
            b"",
            None,
            ["past the end"],
        ),
        (
            {"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}},
            bytes(4),
            None,
            ["needs 8"],
        ),
        ({"w": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}, bytes(4), None, ["shape"]),
        (
            {"w": {"dtype": "F8_E4M3", "shape": [1], "data_offsets": [0, 1]}},
            bytes(1),
            None,
            ["F8_E4M3"],
        ),
        (
            {"w": {"dtype": "F32", "shape": [1], "data_offsets": [4, 0]}},
            bytes(4),
            None,
            ["offsets"],
        ),
        ({"__metadata__": {"a": 1}}, b"", None, ["__metadata__"]),
        (b"{not json", b"", None, ["not valid JSON"]),
        (b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", b"", None, ["not valid JSON"]),
        ({}, b"", 2**40, ["declares 1099511627776 bytes"]),
        ({}, b"", 2**63, ["declares"]),
        (
            {
                "a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
                "b": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
            },
            bytes(4),
            None,
            # which of the two it names follows the package's own (hash-map) order
            ["safetensors package refused it", "invalid offset for tensor `"],
        ),
        (
            {"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}},
            bytes(8),
            None,
            ["safetensors package refused it"],
        ),
    ],
    ids=[
        "beyond-the-file",
        "100GB-tensor",
        "short-span",
        "negative-shape",
        "float8",
        "reversed-offsets",
        "metadata",
        "not-json",
        "deep-json",
        "huge-header",
        "huge-header-2^63",
        "overlapping-tensors",
        "a-gap-before-the-data",
    ],
)
def test_hostile_safetensors(
    tmp_path: Path, header: Any, data: bytes, length: int | None, words: list[str]
) -> None:
    refused(safetensors_file(tmp_path / "w.safetensors", header, data, length), *words)


def test_huge_safetensors_totals_are_refused_unread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Many tensors, each fine, together past the limit (lowered here to keep the file
    small): refused from the header."""
    monkeypatch.setattr(limits, "MAX_CHECKPOINT_TENSOR_BYTES", 1000)
    header = {
        f"w{i}": {"dtype": "F32", "shape": [100], "data_offsets": [400 * i, 400 * (i + 1)]}
        for i in range(4)
    }
    refused(safetensors_file(tmp_path / "t.safetensors", header, bytes(1600)), "limit of 1000")


# --------------------------------------------------------------------------- files


def test_not_a_checkpoint_at_all(tmp_path: Path) -> None:
    (tmp_path / "empty.pth").write_bytes(b"")
    refused(tmp_path / "empty.pth", "not a PyTorch checkpoint")
    (tmp_path / "text.pth").write_text("hello world, this is not a model")
    refused(tmp_path / "text.pth", "not a PyTorch checkpoint", "b'hello wo'")


def test_a_plain_pickle_is_not_a_checkpoint(tmp_path: Path) -> None:
    (tmp_path / "plain.pth").write_bytes(pickle.dumps({"w": [1.0, 2.0]}, 2))
    refused(tmp_path / "plain.pth", "no torch magic number")


def test_an_npz_named_pth(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    np.savez(buffer, w=np.zeros(3))
    (tmp_path / "arrays.pth").write_bytes(buffer.getvalue())
    refused(tmp_path / "arrays.pth", "numpy .npz archive")


def test_the_oldest_tar_layout(tmp_path: Path) -> None:
    path = tmp_path / "old.pth"
    with tarfile.open(path, "w") as archive:
        info = tarfile.TarInfo("storages")
        archive.addfile(info, io.BytesIO(b""))
    refused(path, "tar archive")


def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    path = tmp_path / "pipe.pth"
    os.mkfifo(path)
    refused(path, "not a regular file")


def test_a_folder_and_a_missing_file(tmp_path: Path) -> None:
    (tmp_path / "folder.pth").mkdir()
    refused(tmp_path / "folder.pth", "not a regular file")
    with pytest.raises(ConversionError, match="does not exist"):
        read_state_dict(tmp_path / "missing.pth")


def test_every_refusal_is_a_value_error_too(tmp_path: Path, marker: Path) -> None:
    """Callers may catch the builtin: ConversionError is a ValueError."""
    path = crafted(tmp_path / "e.pth", "zip", _gadgets(marker)["os.system"], {})
    with pytest.raises(ValueError):
        read_state_dict(path)


# --------------------------------------------------------------------------- fuzzing


def _honest_pickle() -> bytes:
    return P.state_dict(
        a=P.tensor(P.storage("0", 6), 0, (2, 3), (3, 1)),
        b=P.tensor(P.storage("1", 2, "HalfStorage"), 1, (1,), (1,)),
    )


@pytest.mark.parametrize("layout", ["zip", "legacy"])
def test_mutated_pickles_fail_only_as_conversion_errors(tmp_path: Path, layout: str) -> None:
    """Random byte flips, insertions and cuts of an honest pickle: the reader either
    reads something or raises ConversionError, never another exception."""
    hypothesis = pytest.importorskip("hypothesis")
    st = hypothesis.strategies
    honest = _honest_pickle()
    if layout == "legacy":
        honest = honest.replace(P.int(6) + b"t", P.int(6) + b"Nt").replace(
            P.int(2) + b"t", P.int(2) + b"Nt", 1
        )
    storages = {"0": (6, floats(*range(6))), "1": (2, np.ones(2, "<f2").tobytes())}

    def write(path: Path, pkl: bytes) -> Path:
        if layout == "zip":
            return write_zip(path, pkl, {k: b for k, (_, b) in storages.items()})
        return write_legacy(path, pkl, storages)

    read = read_state_dict(write(tmp_path / "honest.pth", honest))  # the unmutated file reads
    assert read.tensors["a"].tolist() == [[0, 1, 2], [3, 4, 5]] and read.tensors["b"].tolist() == [
        1
    ]

    @hypothesis.settings(max_examples=150, deadline=None, database=None)
    @hypothesis.given(
        edits=st.lists(
            st.tuples(st.integers(0, len(honest) - 1), st.integers(0, 255), st.booleans()),
            min_size=1,
            max_size=4,
        )
    )
    def check(edits: list[tuple[int, int, bool]]) -> None:
        data = bytearray(honest)
        for position, value, insert in edits:
            at = min(position, len(data) - 1)
            if insert:
                data.insert(at, value)
            else:
                data[at] = value
        path = write(tmp_path / f"fuzz-{layout}.pth", bytes(data))
        with contextlib.suppress(ConversionError):
            read_state_dict(path)

    check()


def test_mutated_safetensors_headers_fail_only_as_conversion_errors(tmp_path: Path) -> None:
    hypothesis = pytest.importorskip("hypothesis")
    st = hypothesis.strategies
    from safetensors.numpy import save_file

    honest = tmp_path / "honest.safetensors"
    save_file({"w": np.arange(6, dtype=np.float32), "i": np.arange(2)}, str(honest))
    data = honest.read_bytes()
    header_end = 8 + int.from_bytes(data[:8], "little")

    @hypothesis.settings(max_examples=150, deadline=None, database=None)
    @hypothesis.given(
        edits=st.lists(
            st.tuples(st.integers(0, header_end - 1), st.integers(0, 255)), min_size=1, max_size=4
        )
    )
    def check(edits: list[tuple[int, int]]) -> None:
        mutated = bytearray(data)
        for at, value in edits:
            mutated[at] = value
        path = tmp_path / "fuzz.safetensors"
        path.write_bytes(bytes(mutated))
        with contextlib.suppress(ConversionError):
            read_state_dict(path)

    check()
