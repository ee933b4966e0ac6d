"""Hostile weights files (issue 29, items 2 and 3, and their siblings): ncnn ``.param``
graphs that declare absurd scales, sizes or counts, and ``.npz`` archives that declare
absurd shapes or member counts. Every case is refused from the declaration, before a
probe tensor, a graph or a weights buffer of that size exists, with a ConversionError
(exit code 8) that names the file, the layer or array, the value and the limit."""

from __future__ import annotations

import io
import json
import os
import resource
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from upscaler.convert import limits
from upscaler.convert.ncnn import convert_ncnn, read_ncnn
from upscaler.convert.npz import MAX_ARRAYS, MAX_FILE_BYTES, convert_npz, parse_npz, read_npz
from upscaler.errors import ConversionError

FP16_TAG = 0x01306B47
BINARY_MAGIC = (7767517).to_bytes(4, "little")  # how ncnn's binary .param begins


def fp16_zeros(count: int) -> bytes:
    """``count`` tagged float16 weights (all zero), padded to 4 bytes as ncnn pads them."""
    size = 2 * count
    return FP16_TAG.to_bytes(4, "little") + bytes(size + (-size) % 4)


def write_param(folder: Path, lines: list[str], weights: bytes = b"", header: str = "") -> Path:
    """``bad.param`` and ``bad.bin``; the header counts the lines unless one is given."""
    folder.mkdir(parents=True, exist_ok=True)
    blobs = sum(int(line.split()[3]) for line in lines)
    head = header or f"{len(lines)} {blobs}"
    param = folder / "bad.param"
    param.write_text(f"7767517\n{head}\n" + "\n".join(lines) + "\n", encoding="utf-8")
    param.with_suffix(".bin").write_bytes(weights)
    return param


INPUT = "Input in 0 1 in0"


def interp(name: str, src: str, dst: str, params: str) -> str:
    return f"Interp {name} 1 1 {src} {dst} {params}"


def conv(name: str, src: str, dst: str, params: str) -> str:
    return f"Convolution {name} 1 1 {src} {dst} {params}"


Case = tuple[list[str], bytes, str]

# Each: the layer lines after the header, the .bin, and the message (a regex) that must
# name the file (and line), the layer, the declared value and the limit.
NCNN_CASES: dict[str, Case] = {
    # item 2: a x1300 resize made the scale probe allocate gigabytes
    "interp-nearest-x1300": (
        [INPUT, interp("up", "in0", "out0", "0=1 1=1300.0 2=1300.0")],
        b"",
        r"bad\.param:4: layer 'up' \(Interp\) declares scale \(parameters 1/2\) 1300, "
        r"above the limit of 16",
    ),
    "interp-bicubic-x1300": (
        [INPUT, interp("up", "in0", "out0", "0=3 1=1300.0 2=1300.0")],
        b"",
        r"bad\.param:4: layer 'up' \(Interp\) declares scale .* 1300, above the limit of 16",
    ),
    "interp-fixed-output-size": (
        [INPUT, interp("up", "in0", "out0", "0=3 3=100000 4=100000")],
        b"",
        r"bad\.param:4: layer 'up' \(Interp\) declares output size .* 100000, "
        r"above the limit of 4096",
    ),
    "interp-infinite-scale": (
        [INPUT, interp("up", "in0", "out0", "0=3 1=1e999 2=1e999")],
        b"",
        r"bad\.param:4: layer 'up' \(Interp\).*the value 1e999 is not a finite float32",
    ),
    "interp-x8-three-times": (
        [
            INPUT,
            interp("a", "in0", "x1", "0=1 1=8.0 2=8.0"),
            interp("b", "x1", "x2", "0=1 1=8.0 2=8.0"),
            interp("c", "x2", "out0", "0=1 1=8.0 2=8.0"),
        ],
        b"",
        r"bad\.param: layer 'c' \(Interp\) would make a tensor of 32768x32768x3 .* "
        r"above the limit of 67108864 values",
    ),
    "pixel-shuffle-x1300": (
        [INPUT, "PixelShuffle ps 1 1 in0 out0 0=1300"],
        b"",
        r"bad\.param:4: layer 'ps' \(PixelShuffle\) declares upscale_factor .* 1300, "
        r"above the limit of 16",
    ),
    "deconvolution-stride-1000": (
        [INPUT, "Deconvolution d 1 1 in0 out0 0=3 1=1 3=1000 5=0 6=9"],
        fp16_zeros(9),
        r"bad\.param:4: layer 'd' \(Deconvolution\) declares stride 1000, above the limit of 16",
    ),
    # siblings: convolution geometry
    "conv-kernel-100000": (
        [INPUT, conv("c", "in0", "out0", "0=3 1=100000 11=1 5=0 6=900000")],
        b"",
        r"bad\.param:4: layer 'c' \(Convolution\) declares kernel size 100000, "
        r"above the limit of 32",
    ),
    "conv-dilation-100000": (
        [INPUT, conv("c", "in0", "out0", "0=3 1=3 2=100000 4=-233 5=0 6=81")],
        fp16_zeros(81),
        r"bad\.param:4: layer 'c' \(Convolution\) declares dilation 100000, above the limit of 32",
    ),
    "conv-stride-1000": (
        [INPUT, conv("c", "in0", "out0", "0=3 1=1 3=1000 5=0 6=9")],
        fp16_zeros(9),
        r"bad\.param:4: layer 'c' \(Convolution\) declares stride 1000, above the limit of 16",
    ),
    "conv-padding-1000000": (
        [INPUT, conv("c", "in0", "out0", "0=3 1=1 4=1000000 5=0 6=9")],
        fp16_zeros(9),
        r"bad\.param:4: layer 'c' \(Convolution\) declares padding 1000000, "
        r"above the limit of 128",
    ),
    "conv-200000-channels": (
        [
            INPUT,
            conv("wide", "in0", "w", "0=200000 1=1 5=0 6=600000"),
            conv("narrow", "w", "out0", "0=3 1=1 5=0 6=600000"),
        ],
        fp16_zeros(600_000) * 2,
        r"bad\.param: layer 'wide' \(Convolution\) would make a tensor of 64x64x200000 .* "
        r"above the limit of 67108864 values",
    ),
    # siblings: counts in the header and on each line
    "header-declares-a-million-layers": (
        [INPUT, "ReLU r 1 1 in0 out0"],
        b"",
        r"bad\.param:2: the header declares 1000000 layers; expected 1\.\.10000",
    ),
    "header-declares-100000-blobs": (
        [INPUT, "ReLU r 1 1 in0 out0"],
        b"",
        r"bad\.param:2: the header declares 100000 blobs; expected 1\.\.20000",
    ),
    "more-layers-than-declared": (
        [INPUT, *(f"ReLU r{i} 1 1 {'in0' if i == 0 else f'b{i}'} b{i + 1}" for i in range(50))],
        b"",
        r"bad\.param:5: the file lists more layers than the 2 its header declares",
    ),
    "split-into-300-blobs": (
        [INPUT, "Split s 1 300 in0 " + " ".join(f"o{i}" for i in range(300))],
        b"",
        r"bad\.param:4: layer 's' \(Split\) declares 300 outputs, above the limit of 256",
    ),
    "40200-blob-reads": (
        [
            INPUT,
            *(f"Eltwise e{i} 200 1 {' '.join(['in0'] * 200)} t{i} 0=1" for i in range(201)),
        ],
        b"",
        r"bad\.param:204: layer 'e200' \(Eltwise\) takes the graph past 40000 blob reads",
    ),
    "a-line-of-12000-characters": (
        [INPUT, "Concat c 3000 1 " + "in0 " * 3000 + "out0"],
        b"",
        r"bad\.param:4: the line is 12020 characters long, above the limit of 8192",
    ),
    # siblings that were refused already, pinned: weights the .bin does not have are
    # refused by their declared size against the file's, never allocated
    "weights-declared-past-the-bin": (
        [INPUT, conv("c", "in0", "out0", "0=30000000 1=3 5=0 6=810000000")],
        fp16_zeros(9),
        r"truncated: layer 'c' \(Convolution\) needs bytes 4\.\.1620000004 for its weights "
        r"but the file has 24 bytes",
    ),
    "negative-num-output": (
        [INPUT, conv("c", "in0", "out0", "0=-3 1=1 5=0 6=9")],
        fp16_zeros(9),
        r"layer 'c' \(Convolution\): weight_data_size 9 is not a multiple of num_output -3",
    ),
    "zero-kernel": (
        [INPUT, conv("c", "in0", "out0", "0=3 1=0 5=0 6=9")],
        fp16_zeros(9),
        r"layer 'c' \(Convolution\): kernel 0x0, .* must be positive",
    ),
    "negative-constant-size": (
        [INPUT, "MemoryData m 0 1 k 0=-5 1=-5 2=3"],
        b"",
        r"layer 'm' \(MemoryData\): a 3-D constant needs w, h and c",
    ),
    "unknown-layer-type": (
        [INPUT, "PythonEval p 1 1 in0 out0 0=1"],
        b"",
        r"layer 'p' \(PythonEval\) has an unsupported layer type 'PythonEval'",
    ),
}

HEADERS = {
    "header-declares-a-million-layers": "1000000 1000000",
    "header-declares-100000-blobs": "2 100000",
    "more-layers-than-declared": "2 2",
}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", sorted(NCNN_CASES))
def test_hostile_param_is_refused_before_anything_is_built(tmp_path: Path, name: str) -> None:
    """Parsing (which builds no TensorFlow graph and no probe) already refuses."""
    lines, weights, message = NCNN_CASES[name]
    param = write_param(tmp_path, lines, weights, HEADERS.get(name, ""))
    with pytest.raises(ConversionError, match=message) as info:
        read_ncnn(param)
    assert info.value.exit_code == 8


def test_a_header_past_the_limits_is_refused_before_the_layers_are_read(tmp_path: Path) -> None:
    """10,001 honest layers: the header alone refuses them (the limit is not a guess at
    the lines; a graph one layer past it is refused as such)."""
    chain = [f"ReLU r{i} 1 1 {'in0' if i == 0 else f'b{i}'} b{i + 1}" for i in range(10_000)]
    param = write_param(tmp_path, [INPUT, *chain])
    with pytest.raises(ConversionError, match=r"declares 10001 layers; expected 1\.\.10000"):
        read_ncnn(param)
    # One layer fewer is within the limits: the chain parses.
    assert len(read_ncnn(write_param(tmp_path / "ok", [INPUT, *chain[:-1]])).graph.nodes) > 0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (BINARY_MAGIC + bytes(range(256)), r"ncnn's binary \.param format"),
        (b"\x89PNG\r\n\x1a\n" + bytes(range(256)), r"not a text ncnn \.param file \(byte 0"),
        (b"7767518\n1 1\nInput in 0 1 in0\n", r"the first line must be 7767517"),
        (b"7767517\n\x00\x01\x02\n", r"line 2 must be 'layer_count blob_count'"),
    ],
    ids=["ncnn-binary-param", "png-bytes", "wrong-magic", "garbage-header"],
)
def test_a_param_that_is_not_a_text_graph(tmp_path: Path, content: bytes, message: str) -> None:
    param = tmp_path / "bad.param"
    param.write_bytes(content)
    param.with_suffix(".bin").write_bytes(b"")
    with pytest.raises(ConversionError, match=message):
        read_ncnn(param)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("which", [".param", ".bin"])
def test_a_device_or_an_oversized_file_is_refused_unread(tmp_path: Path, which: str) -> None:
    """``/dev/zero`` as a weights file would be read forever; a sparse file past the
    limit would be read whole. Neither is read."""
    param = write_param(tmp_path / "dev", [INPUT, "ReLU r 1 1 in0 out0"])
    target = param.with_suffix(which)
    target.unlink()
    if not Path("/dev/zero").exists():
        pytest.skip("no /dev/zero here")
    target.symlink_to("/dev/zero")
    with pytest.raises(ConversionError, match=rf"ncnn \{which} .* is not a regular file"):
        read_ncnn(param)
    param = write_param(tmp_path / "big", [INPUT, "ReLU r 1 1 in0 out0"])
    limit = limits.MAX_PARAM_BYTES if which == ".param" else limits.MAX_BIN_BYTES
    os.truncate(param.with_suffix(which), limit + 1)  # sparse: no disk space used
    size = "4 MiB" if which == ".param" else "1 GiB"
    with pytest.raises(ConversionError, match=rf"ncnn \{which} .* is larger than {size}"):
        read_ncnn(param)


@pytest.mark.timeout(120)
def test_convert_refuses_the_x1300_resize_without_tensorflow_work(tmp_path: Path) -> None:
    """The whole conversion stops in the parser: no output folder, nothing built."""
    lines, weights, message = NCNN_CASES["interp-nearest-x1300"]
    param = write_param(tmp_path, lines, weights)
    with pytest.raises(ConversionError, match=message):
        convert_ncnn(param, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]


# --------------------------------------------------------------------------- the CLI

FAMILY = """schema_version: 1
family: hostile
title: Hostile
architecture: span
implementation: span-official
license: MIT
global_default: x2
defaults:
  {{dataset: div2k, channels: 3, objective: fidelity, degradation: bicubic, pruning: none,
   quantization: none, value_range: [0, 1]}}
variants:
  x2:
    default: true
    scale: 2
    weights:
      format: ncnn
      source: {{path: {weights}}}
      files:
{files}
"""

MEASURE = """
import sys
from upscaler.cli.main import main
code = main(sys.argv[1:])
# VmHWM, the kernel's peak of this process: ru_maxrss would carry the forking parent's
# peak across execve (a test process holding TensorFlow and torch reports 1.6 GB).
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")][0].split()[1]
print("maxrss_kib", hwm, file=sys.stderr)
sys.exit(code)
"""


def _limit_memory() -> None:
    """The child may not take the machine down if the refusal ever regresses."""
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = 6 * 2**30 if hard == resource.RLIM_INFINITY else min(6 * 2**30, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))


@pytest.mark.timeout(300)
def test_cli_fetch_of_the_x1300_model_stays_small(tmp_path: Path) -> None:
    """`upscaler fetch` of a catalog model whose graph resizes x1300: exit code 8, one
    error line naming the file, layer, value and limit, and the process's peak memory
    stays that of an idle CLI (the probe would have taken gigabytes)."""
    import hashlib
    import shutil

    weights = tmp_path / "weights"
    lines, data, _ = NCNN_CASES["interp-nearest-x1300"]
    param = write_param(weights / "models", lines, data)
    listed = []
    for path in (param, param.with_suffix(".bin")):
        rel = path.relative_to(weights).as_posix()
        body = path.read_bytes()
        sha = hashlib.sha256(body).hexdigest()
        listed.append(f"        - {{path: {rel}, sha256: {sha}, size: {len(body)}}}")
    catalog = tmp_path / "catalog"
    (catalog / "models").mkdir(parents=True)
    repo = Path(__file__).resolve().parents[2]
    shutil.copy(repo / "catalog" / "vocab.yaml", catalog / "vocab.yaml")
    text = FAMILY.format(weights=weights, files="\n".join(listed))
    (catalog / "models" / "hostile.yaml").write_text(text, encoding="utf-8")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(sys.path),
        "UPSCALER_CATALOG": str(catalog),
        "UPSCALER_HOME": str(tmp_path / "home"),
    }
    env.pop("UPSCALER_OFFLINE", None)
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, "fetch", "hostile.x2"],
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
        check=False,
        preexec_fn=_limit_memory,
    )
    assert done.returncode == 8, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, done.stderr
    assert "models/bad.param:4: layer 'up' (Interp)" in errors[0], errors[0]
    assert "scale (parameters 1/2) 1300, above the limit of 16" in errors[0], errors[0]
    peak_kib = int(done.stderr.split("maxrss_kib")[1].split()[0])
    assert peak_kib < 1024 * 1024, f"peak {peak_kib} KiB"
    assert not list((tmp_path / "home").rglob("saved_model.pb"))


# --------------------------------------------------------------------------- npz


def _npy(shape: tuple[int, ...], data: bytes = b"", descr: str = "<f4") -> bytes:
    """A ``.npy`` member: a header declaring ``shape``, then ``data``."""
    buffer = io.BytesIO()
    header = {"descr": descr, "fortran_order": False, "shape": shape}
    np.lib.format.write_array_header_1_0(buffer, header)
    return buffer.getvalue() + data


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def _vgg7(width: int) -> dict[str, np.ndarray]:
    """A vgg7 parameter set whose first layer is ``width`` channels wide."""
    arrays = {
        "conv1/W": np.zeros((width, 3, 3, 3), np.float32),
        "conv1/b": np.zeros(width, np.float32),
        "conv2/W": np.zeros((1, width, 3, 3), np.float32),
        "conv2/b": np.zeros(1, np.float32),
    }
    for i in range(3, 7):
        arrays[f"conv{i}/W"] = np.zeros((1, 1, 3, 3), np.float32)
        arrays[f"conv{i}/b"] = np.zeros(1, np.float32)
    arrays["conv7/W"] = np.zeros((3, 1, 3, 3), np.float32)
    arrays["conv7/b"] = np.zeros(3, np.float32)
    return arrays


def _savez(path: Path, arrays: dict[str, np.ndarray]) -> Path:
    with path.open("wb") as stream:
        np.savez(stream, **arrays)  # type: ignore[arg-type]
    return path


class _Boom:
    def __reduce__(self) -> tuple[Callable[[str], None], tuple[str]]:
        return (pytest.fail, ("the file was unpickled",))


NPZ_CASES: dict[str, tuple[Callable[[Path], Path], str]] = {
    "negative-dimension": (
        lambda p: _zip(p, {"conv1/W.npy": _npy((-1, 4)), "conv1/b.npy": _npy((4,), bytes(16))}),
        r"bad\.npz: array 'conv1/W' declares shape \[-1, 4\]; each dimension must be "
        r"0\.\.67108864",
    ),
    "absurd-dimension-times-zero": (
        lambda p: _zip(p, {"conv1/W.npy": _npy((2**62, 2**62, 0))}),
        r"bad\.npz: array 'conv1/W' declares shape \[4611686018427387904, "
        r"4611686018427387904, 0\]",
    ),
    "a-billion-values": (
        lambda p: _zip(p, {"conv1/W.npy": _npy((2**15, 2**15))}),
        r"bad\.npz: array 'conv1/W' takes the archive past 67108864 values",
    ),
    "object-array": (
        lambda p: _zip(
            p,
            {"conv1/W.npy": _npy((1,), descr="|O")},
        ),
        r"bad\.npz: array 'conv1/W' holds Python objects .* never done",
    ),
    "5000-members": (
        lambda p: _zip(p, {f"a{i}.npy": b"" for i in range(5000)}),
        rf"bad\.npz: the archive holds up to 5000 members, above the limit of {MAX_ARRAYS}",
    ),
}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", sorted(NPZ_CASES))
def test_hostile_npz_is_refused_from_its_headers(tmp_path: Path, name: str) -> None:
    make, message = NPZ_CASES[name]
    path = make(tmp_path / "bad.npz")
    with pytest.raises(ConversionError, match=message) as info:
        read_npz(path, "bad.npz")
    assert info.value.exit_code == 8


def test_pickled_objects_in_a_real_savez_are_never_loaded(tmp_path: Path) -> None:
    path = tmp_path / "bad.npz"
    with path.open("wb") as stream:
        np.savez(stream, **{"conv1/W": np.array([_Boom()], dtype=object)})
    with pytest.raises(ConversionError, match=r"'conv1/W' holds Python objects"):
        read_npz(path, "bad.npz")


@pytest.mark.timeout(60)
def test_a_hidden_width_the_probe_could_not_hold_is_refused(tmp_path: Path) -> None:
    """The architecture is fixed, but its widths are read from the file: 20,000 channels
    after the first convolution is within the values budget (720,000 weights) and
    would still make a tensor of 77 million values for a 64×64 input."""
    arrays = read_npz(_savez(tmp_path / "wide.npz", _vgg7(20_000)), "wide.npz")
    message = (
        r"wide\.npz: layer 'conv1' \(Convolution2D\) would make a tensor of 62x62x20000 .* "
        r"above the limit of 67108864 values"
    )
    with pytest.raises(ConversionError, match=message):
        parse_npz(arrays, "wide.npz")
    # A sane width of the same network is accepted.
    graph, arch, _ = parse_npz(read_npz(_savez(tmp_path / "ok.npz", _vgg7(32)), "ok.npz"), "ok")
    assert arch.name == "vgg7" and graph.nodes


@pytest.mark.timeout(60)
def test_npz_device_or_oversized_file_is_refused_unread(tmp_path: Path) -> None:
    if not Path("/dev/zero").exists():
        pytest.skip("no /dev/zero here")
    device = tmp_path / "zero.npz"
    device.symlink_to("/dev/zero")
    with pytest.raises(ConversionError, match=r"zero\.npz: the weights file .* regular file"):
        convert_npz(device, tmp_path / "out")
    big = tmp_path / "big.npz"
    big.write_bytes(b"")
    os.truncate(big, MAX_FILE_BYTES + 1)
    with pytest.raises(ConversionError, match=r"big\.npz: the weights file .* is larger than"):
        read_npz(big, "big.npz")
    assert not (tmp_path / "out").exists()


def test_the_limits_are_far_above_the_real_models() -> None:
    """The numbers the limits module cites stay true: each limit is at least ten times
    what the catalog's largest real model needs (measured on the cached files)."""
    real = {
        "MAX_LAYERS": 999,
        "MAX_BLOBS": 1782,
        "MAX_BLOB_READS": 1781,
        "MAX_LAYER_BLOBS": 8,
        "MAX_PARAM_BYTES": 117_030,
        "MAX_LINE_CHARS": 219,
        "MAX_BIN_BYTES": 33_424_520,
        "MAX_TENSOR_VALUES": 1041 * limits.NOMINAL_SIDE**2,
    }
    for name, value in real.items():
        assert getattr(limits, name) >= 10 * value, json.dumps({name: value})


# -- TF.js: the same tensor bound as ncnn and npz ---------------------------------------


def _tfjs_upsampler(folder: Path, size: int, repeats: int = 1) -> Path:
    """The tiny TF.js upsampler with its UpSampling2D factor set to ``size``, ``repeats``
    times in a row."""
    from tiny_models import write_tfjs_upsampler

    model_json = write_tfjs_upsampler(folder)
    doc = json.loads(model_json.read_text(encoding="utf-8"))
    layers = doc["modelTopology"]["config"]["layers"]
    first = layers[0]
    first["config"]["size"] = [size, size]
    for index in range(1, repeats):
        again = json.loads(json.dumps(first))
        again["config"]["name"] = f"up{index}"
        again["config"].pop("batch_input_shape")
        layers.append(again)
    model_json.write_text(json.dumps(doc), encoding="utf-8")
    return model_json


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("size", "repeats"), [(1300, 1), (8, 3)], ids=["x1300", "x8-x8-x8"])
def test_tfjs_upsampling_past_the_tensor_bound_is_refused(
    tmp_path: Path, size: int, repeats: int
) -> None:
    from upscaler.convert.tfjs import read_tfjs_layers

    model_json = _tfjs_upsampler(tmp_path / "tfjs", size, repeats)
    with pytest.raises(ConversionError) as caught:
        read_tfjs_layers(model_json)
    assert "above the limit of" in str(caught.value)
    assert "model.json" in str(caught.value)


def test_tfjs_upsampling_within_the_bound_still_reads(tmp_path: Path) -> None:
    from upscaler.convert.tfjs import read_tfjs_layers

    parsed = read_tfjs_layers(_tfjs_upsampler(tmp_path / "tfjs", 4))
    assert parsed.graph.nodes
