"""PyTorch and safetensors checkpoints read without torch, checked against torch itself.

Every file here is written by the real writers (``torch.save`` in both layouts,
``safetensors.torch.save_file``, ``safetensors.numpy.save_file``) and read back by
:func:`upscaler.convert.state_dict.read_state_dict`; each array must equal the torch
tensor's own ``.numpy()`` (floats widened to float32, integers to int64). torch is a
test-only oracle, imported once per module; the hostile files are in
tests/hostile/test_malicious_checkpoints.py.
"""

from __future__ import annotations

import struct
import subprocess
import sys
import zipfile
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from upscaler.convert.state_dict import CONTAINERS, StateDict, read_state_dict, unwrap
from upscaler.errors import ConversionError

LAYOUTS = ["zip", "legacy"]


@pytest.fixture(scope="module")
def torch() -> ModuleType:
    return pytest.importorskip("torch")


def save(torch: Any, obj: object, path: Path, layout: str = "zip", **kw: Any) -> Path:
    torch.save(obj, path, _use_new_zipfile_serialization=layout == "zip", **kw)
    return path


def expected(tensor: Any) -> np.ndarray:
    """What the reader must return for ``tensor``: torch's own values, widened."""
    if tensor.is_floating_point():
        return tensor.detach().float().numpy()
    return tensor.numpy() if str(tensor.dtype) == "torch.bool" else tensor.long().numpy()


def assert_same(read: StateDict, tensors: dict[str, Any]) -> None:
    assert sorted(read.tensors) == sorted(tensors)
    for name, tensor in tensors.items():
        got, want = read.tensors[name], expected(tensor)
        assert got.shape == want.shape, name
        assert got.dtype == want.dtype, (name, got.dtype, want.dtype)
        assert got.flags.c_contiguous, name
        np.testing.assert_array_equal(got, want, err_msg=name)


def small_net(torch: Any) -> Any:
    torch.manual_seed(0)
    nn = torch.nn
    return nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.PReLU(8), nn.Conv2d(8, 3, 1))


# --------------------------------------------------------------------------- dtypes


@pytest.mark.parametrize("layout", LAYOUTS)
def test_a_real_state_dict_round_trips(torch: Any, tmp_path: Path, layout: str) -> None:
    sd = small_net(torch).state_dict()
    read = read_state_dict(save(torch, sd, tmp_path / "net.pth", layout))
    assert_same(read, dict(sd))
    assert read.source_format == f"pytorch-{layout}"
    assert read.container is None
    assert read.metadata == {}
    assert read.tensors["1.num_batches_tracked"].dtype == np.int64


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16", "float64"])
def test_float_tensors_become_float32(torch: Any, tmp_path: Path, layout: str, dtype: str) -> None:
    torch.manual_seed(1)
    tensors = {"w": torch.randn(4, 3, 3, 3).to(getattr(torch, dtype)), "b": torch.randn(4)}
    tensors["b"] = tensors["b"].to(getattr(torch, dtype))
    read = read_state_dict(save(torch, tensors, tmp_path / "f.pth", layout))
    assert_same(read, tensors)
    assert all(a.dtype == np.float32 for a in read.tensors.values())


@pytest.mark.parametrize("layout", LAYOUTS)
def test_integer_and_bool_tensors(torch: Any, tmp_path: Path, layout: str) -> None:
    tensors = {
        "index": torch.arange(12, dtype=torch.int64).reshape(3, 4),
        "i32": torch.tensor([-5, 7], dtype=torch.int32),
        "u8": torch.tensor([0, 255], dtype=torch.uint8),
        "i8": torch.tensor([-128, 5], dtype=torch.int8),
        "mask": torch.tensor([True, False, True]),
        "count": torch.tensor(17),
    }
    read = read_state_dict(save(torch, tensors, tmp_path / "i.pth", layout))
    assert_same(read, tensors)
    assert read.tensors["mask"].dtype == np.bool_
    assert read.tensors["i32"].dtype == np.int64
    assert read.tensors["count"].shape == ()


@pytest.mark.parametrize("layout", LAYOUTS)
def test_dtypes_without_a_storage_class(torch: Any, tmp_path: Path, layout: str) -> None:
    """uint16 and uint32 have no legacy storage class: torch writes them through
    ``_rebuild_tensor_v3``, an ``UntypedStorage`` (bytes) and a dtype global."""
    tensors = {
        "u16": torch.tensor([[1, 65535], [3, 4]], dtype=torch.uint16).t(),
        "u32": torch.tensor([7, 2**32 - 1], dtype=torch.uint32),
    }
    path = save(torch, tensors, tmp_path / "u.pth", layout)
    if layout == "zip":
        with zipfile.ZipFile(path) as archive:
            pkl = archive.read(next(n for n in archive.namelist() if n.endswith("data.pkl")))
        assert b"_rebuild_tensor_v3" in pkl and b"UntypedStorage" in pkl
    read = read_state_dict(path)
    assert read.tensors["u16"].tolist() == [[1, 3], [65535, 4]]
    assert read.tensors["u32"].tolist() == [7, 2**32 - 1]
    assert read.tensors["u32"].dtype == np.int64


@pytest.mark.parametrize("layout", LAYOUTS)
def test_views_that_share_one_storage(torch: Any, tmp_path: Path, layout: str) -> None:
    torch.manual_seed(2)
    base = torch.randn(10, 12)
    tensors = {
        "base": base,
        "transposed": base.t(),
        "strided": base[1:8:3, ::5],
        "offset": base[4],
        "column": base[:, 7],
        "expanded": base[2, :3].unsqueeze(0).expand(4, 3),
        "empty": base[3:3],
    }
    path = save(torch, tensors, tmp_path / "views.pth", layout)
    if layout == "zip":
        storages = [n for n in zipfile.ZipFile(path).namelist() if "/data/" in n]
        assert len(storages) == 1  # they really share one storage
    read = read_state_dict(path)
    assert_same(read, tensors)
    read.tensors["transposed"][0, 0] = 42.0  # copies of their own, not views
    assert read.tensors["base"][0, 0] != 42.0


@pytest.mark.parametrize("layout", LAYOUTS)
def test_parameters_and_other_entries(torch: Any, tmp_path: Path, layout: str) -> None:
    net = small_net(torch)
    params = dict(net.named_parameters())  # nn.Parameter objects, not plain tensors
    checkpoint = {"params": params, "epoch": 3, "optimizer": {"lr": 1e-4, "betas": (0.9, 0.99)}}
    read = read_state_dict(save(torch, checkpoint, tmp_path / "p.pth", layout))
    assert read.container == "params"
    assert_same(read, params)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_tensors_and_parameters_with_python_attributes(
    torch: Any, tmp_path: Path, layout: str
) -> None:
    """torch writes these through ``_rebuild_from_type_v2(..., torch.Tensor, ...)`` and
    ``_rebuild_parameter_with_state``; the attributes are dropped, the values kept."""
    plain = torch.randn(3)
    plain.note = "ema"
    param = torch.nn.Parameter(torch.randn(2, 2))
    param.tag = 7
    read = read_state_dict(
        save(torch, {"plain": plain, "param": param}, tmp_path / "a.pth", layout)
    )
    assert_same(read, {"plain": plain, "param": param})


def test_pickle_protocols(torch: Any, tmp_path: Path) -> None:
    sd = dict(small_net(torch).state_dict())
    for protocol in (1, 2, 3, 4, 5):
        path = save(torch, sd, tmp_path / f"p{protocol}.pth", pickle_protocol=protocol)
        assert_same(read_state_dict(path), sd)


def test_big_endian_zip(torch: Any, tmp_path: Path) -> None:
    """A zip written on a big-endian machine: ``byteorder`` says ``big``, the storages
    hold big-endian values (made here by swapping a little-endian file's bytes)."""
    tensors = {"w": torch.randn(3, 4), "h": torch.randn(5).half(), "i": torch.arange(4)}
    little = save(torch, tensors, tmp_path / "little.pth")
    big = tmp_path / "big.pth"
    sizes = {"0": 4, "1": 2, "2": 8}
    with zipfile.ZipFile(little) as src, zipfile.ZipFile(big, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            rest = info.filename.partition("/")[2]
            if rest == "byteorder":
                data = b"big"
            elif rest.startswith("data/"):
                size = sizes[rest[5:]]
                data = np.frombuffer(data, f"<u{size}").astype(f">u{size}").tobytes()
            dst.writestr(info.filename, data)
    assert torch.load(big)["w"].equal(tensors["w"])  # torch agrees it is the same
    assert_same(read_state_dict(big), tensors)


# --------------------------------------------------------------------------- containers


@pytest.mark.parametrize("key", ["state_dict", "model", "net_g", "netG", "generator", "params"])
def test_known_containers(torch: Any, tmp_path: Path, key: str) -> None:
    sd = dict(small_net(torch).state_dict())
    read = read_state_dict(save(torch, {key: sd, "iteration": 100}, tmp_path / "c.pth"))
    assert read.container == key
    assert_same(read, sd)


def test_params_ema_is_preferred_over_params(torch: Any, tmp_path: Path) -> None:
    net = small_net(torch)
    ema = {k: v + 1 for k, v in net.state_dict().items() if v.is_floating_point()}
    plain = {k: v for k, v in net.state_dict().items() if v.is_floating_point()}
    for order in ({"params": plain, "params_ema": ema}, {"params_ema": ema, "params": plain}):
        read = read_state_dict(save(torch, order, tmp_path / "ema.pth"))
        assert read.container == "params_ema"
        assert_same(read, ema)


def test_nested_and_single_key_containers(torch: Any, tmp_path: Path) -> None:
    sd = dict(small_net(torch).state_dict())
    read = read_state_dict(save(torch, {"model": {"state_dict": sd}}, tmp_path / "n.pth"))
    assert read.container == "model/state_dict"
    assert_same(read, sd)
    read = read_state_dict(save(torch, {"whatever": sd}, tmp_path / "s.pth"))
    assert read.container == "whatever"
    assert_same(read, sd)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_dataparallel_prefix_is_removed(torch: Any, tmp_path: Path, layout: str) -> None:
    net = torch.nn.DataParallel(small_net(torch))
    sd = net.state_dict()
    assert all(k.startswith("module.") for k in sd)
    read = read_state_dict(save(torch, {"params_ema": sd}, tmp_path / "dp.pth", layout))
    assert read.container == "params_ema (prefix 'module.' removed)"
    assert_same(read, {k.removeprefix("module."): v for k, v in sd.items()})


def test_a_prefix_only_some_keys_have_stays(torch: Any, tmp_path: Path) -> None:
    tensors = {"module.a": torch.ones(2), "b": torch.zeros(2)}
    read = read_state_dict(save(torch, tensors, tmp_path / "mixed.pth"))
    assert sorted(read.tensors) == ["b", "module.a"]
    assert read.container is None


def test_unwrap_prefers_in_the_documented_order() -> None:
    leaf = np.zeros(1)
    root = {name: {f"w_{name}": leaf} for name in reversed(CONTAINERS)}
    for name in CONTAINERS:
        tensors, container = unwrap(root, "test", np.ndarray)
        assert container == name and list(tensors) == [f"w_{name}"]
        del root[name]


def test_a_checkpoint_without_weights_is_refused(torch: Any, tmp_path: Path) -> None:
    path = save(torch, {"epoch": 3, "optimizer": {"lr": 0.1}}, tmp_path / "none.pth")
    with pytest.raises(ConversionError, match=r"no weights found.*'epoch': int"):
        read_state_dict(path)
    path = save(torch, [torch.ones(2)], tmp_path / "list.pth")
    with pytest.raises(ConversionError, match="holds a list, not a dict of weights"):
        read_state_dict(path)


# --------------------------------------------------------------------------- safetensors


def test_safetensors_from_torch(torch: Any, tmp_path: Path) -> None:
    from safetensors.torch import save_file

    torch.manual_seed(3)
    tensors = {
        "f32": torch.randn(4, 3),
        "f16": torch.randn(2, 2).half(),
        "bf16": torch.randn(3, 5).to(torch.bfloat16),
        "f64": torch.randn(2).double(),
        "index": torch.arange(6).reshape(2, 3),
        "mask": torch.tensor([True, False]),
        "empty": torch.zeros(0, 4),
    }
    path = tmp_path / "weights.safetensors"
    save_file(tensors, str(path), metadata={"format": "pt", "scale": "4"})
    read = read_state_dict(path)
    assert read.source_format == "safetensors"
    assert read.metadata == {"format": "pt", "scale": "4"}
    assert_same(read, tensors)


def test_safetensors_from_numpy_with_a_prefix(tmp_path: Path) -> None:
    from safetensors.numpy import save_file

    rng = np.random.default_rng(4)
    arrays = {
        "module.conv.weight": rng.standard_normal((8, 3, 3, 3)).astype(np.float32),
        "module.conv.bias": rng.standard_normal(8).astype(np.float16),
        "module.index": np.arange(5, dtype=np.int32),
    }
    path = tmp_path / "np.safetensors"
    save_file(arrays, str(path))
    read = read_state_dict(path)
    assert read.container == "state dict (prefix 'module.' removed)"
    assert read.metadata == {}
    np.testing.assert_array_equal(read.tensors["conv.weight"], arrays["module.conv.weight"])
    np.testing.assert_array_equal(
        read.tensors["conv.bias"], arrays["module.conv.bias"].astype(np.float32)
    )
    assert read.tensors["conv.bias"].dtype == np.float32
    assert read.tensors["index"].dtype == np.int64


# --------------------------------------------------------------------------- detection


@pytest.mark.parametrize("suffix", [".pth", ".pt", ".ckpt", ".safetensors", ".weights", ""])
def test_the_reader_is_chosen_by_content(torch: Any, tmp_path: Path, suffix: str) -> None:
    from safetensors.torch import save_file

    sd = dict(small_net(torch).state_dict())
    floats = {k: v for k, v in sd.items() if v.is_floating_point()}
    zip_file = save(torch, sd, tmp_path / f"zip{suffix}")
    legacy = save(torch, sd, tmp_path / f"legacy{suffix}", "legacy")
    safe = tmp_path / f"safe{suffix}"
    save_file(floats, str(safe))
    assert read_state_dict(zip_file).source_format == "pytorch-zip"
    assert read_state_dict(legacy).source_format == "pytorch-legacy"
    assert read_state_dict(safe).source_format == "safetensors"
    assert_same(read_state_dict(safe), floats)


def test_any_top_folder_name(torch: Any, tmp_path: Path) -> None:
    sd = {"w": torch.randn(3)}
    path = save(torch, sd, tmp_path / "a name with spaces.pth")
    renamed = tmp_path / "renamed.pth"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(renamed, "w") as dst:
        for info in src.infolist():
            dst.writestr("other_top/" + info.filename.partition("/")[2], src.read(info))
    assert_same(read_state_dict(renamed), sd)


def test_the_storage_count_header_of_legacy_files(torch: Any, tmp_path: Path) -> None:
    """Guards the layout this reader assumes: an 8-byte little-endian element count before
    each storage, storages in sorted key order after the pickles."""
    path = save(torch, {"a": torch.arange(3, dtype=torch.int64)}, tmp_path / "l.pth", "legacy")
    data = path.read_bytes()
    assert data[-(8 + 24) : -24] == struct.pack("<q", 3)
    assert read_state_dict(path).tensors["a"].tolist() == [0, 1, 2]


def test_a_spandrel_network_round_trips(torch: Any, tmp_path: Path) -> None:
    """A real architecture's state dict (Real-ESRGAN's RRDBNet, small), saved as its
    release does ({"params_ema": ...}), in both layouts and as safetensors."""
    spandrel = pytest.importorskip("spandrel")
    from safetensors.torch import save_file
    from spandrel.architectures.ESRGAN import ESRGAN

    torch.manual_seed(5)
    net = ESRGAN(in_nc=3, out_nc=3, num_filters=16, num_blocks=2, scale=4)
    sd = dict(net.state_dict())
    for layout in LAYOUTS:
        path = save(torch, {"params_ema": sd}, tmp_path / f"rrdb-{layout}.pth", layout)
        assert_same(read_state_dict(path), sd)
    safe = tmp_path / "rrdb.safetensors"
    save_file(sd, str(safe))
    read = read_state_dict(safe)
    assert_same(read, sd)
    # spandrel recognises the arrays we read as the same network
    loaded = spandrel.ModelLoader().load_from_state_dict(
        {k: torch.from_numpy(v) for k, v in read.tensors.items()}
    )
    assert loaded.scale == 4


def test_importing_upscaler_reads_no_checkpoint_module() -> None:
    code = (
        "import sys, upscaler, upscaler.convert.state_dict\n"
        "bad = [m for m in ('safetensors', 'torch', 'upscaler.convert.torch_pickle') "
        "if m in sys.modules]\n"
        "print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out
