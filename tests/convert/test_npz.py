"""The waifu2x-chainer ``.npz`` converter against a plain-numpy reference, and hostile files.

Each architecture is generated small (hidden widths of a few channels, the real key names
and layouts), converted through the real parser, builder and writer, and run as a
SavedModel; :mod:`waifu2x_reference` computes the same network in Chainer's layouts with
numpy. Then every way a file can be wrong is tried, each asserting the error names the
key and what to do.
"""

from __future__ import annotations

import io
import pickle
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import waifu2x_reference as ref

from upscaler.catalog.schema import Weights
from upscaler.convert import Wrapper, convert_npz
from upscaler.convert.npz import ARCHITECTURES, parse_npz, read_npz
from upscaler.errors import ConversionError

ATOL = 1e-4


def write_npz(path: Path, arrays: dict[str, Any]) -> Path:
    with path.open("wb") as f:  # a file object: np.savez would add .npz to a bare path
        np.savez(f, **arrays)
    return path


def serve(tf: Any, folder: Path, x: np.ndarray) -> np.ndarray:
    """The SavedModel's serving signature on an HWC image (called directly: the runtime's
    loader is not what is under test)."""
    model = tf.saved_model.load(str(folder))
    out = model.signatures["serving_default"](input=tf.constant(x[None], tf.float32))
    return np.asarray(out["output"].numpy()[0])


def image(h: int, w: int, channels: int, seed: int = 3) -> np.ndarray:
    return np.random.default_rng(seed).random((h, w, channels)).astype(np.float32)


CASES = [
    # (architecture, channels, preupscale, scale)
    ("vgg7", 1, 1, 1),  # noise model (denoise only)
    ("vgg7", 1, 2, 2),  # "scale" model: nearest 2x first
    ("vgg7", 3, 2, 2),
    ("resnet10", 1, 1, 1),
    ("resnet10", 1, 2, 2),
    ("upconv7", 3, 1, 2),
    ("upconv7", 1, 1, 2),
    ("upresnet10", 3, 1, 2),
]


@pytest.mark.parametrize(("arch", "channels", "preupscale", "scale"), CASES)
@pytest.mark.slow
def test_converted_network_matches_the_numpy_reference(
    tf: Any, tmp_path: Path, arch: str, channels: int, preupscale: int, scale: int
) -> None:
    params = ref.tiny_params(arch, channels, seed=len(arch) + channels)
    path = write_npz(tmp_path / f"{arch}.npz", params)
    wrapper = Wrapper(prepad=ref.OFFSET[arch], preupscale=preupscale)
    out = tmp_path / "saved"
    report = convert_npz(path, out, wrapper=wrapper, value_range=(0, 1), architecture=arch)
    assert report.scale == scale
    assert report.channels == channels
    assert report.metadata["input_channels"] == channels
    assert report.metadata["source"]["architecture"] == arch
    assert report.parameters == sum(a.size for a in params.values())
    x = image(13, 9, channels)
    got = serve(tf, out, x)
    assert got.shape == (13 * scale, 9 * scale, channels)
    want = ref.upscale(arch, params, x, preupscale=preupscale)
    np.testing.assert_allclose(got, want, rtol=0, atol=ATOL)


@pytest.mark.slow
def test_files_mapping_and_layer_counts(tf: Any, tmp_path: Path) -> None:
    params = ref.tiny_params("upresnet10", 3)
    real = write_npz(tmp_path / "blob", params)
    files = {"waifu2x/models/upresnet10/a.npz": real}
    report = convert_npz(
        "waifu2x/models/upresnet10/a.npz", tmp_path / "o", files=files, wrapper=Wrapper(prepad=13)
    )
    assert report.layer_counts == {"Convolution2D": 12, "Deconvolution2D": 1, "Linear": 10}
    assert report.metadata["source"]["npz"] == "waifu2x/models/upresnet10/a.npz"
    assert report.metadata["source_format"] == "npz"


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_architecture_is_recognised_from_the_keys(arch: str) -> None:
    params = ref.tiny_params(arch, 1)
    graph, found, _ = parse_npz(params, "t.npz")
    assert found.name == arch
    assert graph.input_channels == 1
    with pytest.raises(ConversionError, match=f"catalog says architecture 'other'.*{arch}"):
        parse_npz(params, "t.npz", architecture="other")


def test_the_real_key_sets_are_the_architectures() -> None:
    # The wheel's files, as the survey lists them: keys only, so no download is needed.
    vgg = {f"conv{i}/{p}" for i in range(1, 8) for p in "Wb"}
    assert ARCHITECTURES["vgg7"].keys == vgg
    assert ARCHITECTURES["upconv7"].keys == vgg - {"conv7/b"}
    res = {f"res{i}/conv{j}/{p}" for i in range(1, 6) for j in (1, 2) for p in "Wb"}
    ends = {f"{n}/{p}" for n in ("conv_pre", "conv_bridge", "conv_post") for p in "Wb"}
    assert ARCHITECTURES["resnet10"].keys == res | ends
    se = {f"res{i}/fc{j}/{p}" for i in range(1, 6) for j in (1, 2) for p in "Wb"}
    assert ARCHITECTURES["upresnet10"].keys == (res | ends | se) - {"conv_post/b"}


# ------------------------------------------------------------------ wrapper


def test_prepad_must_be_what_the_network_consumes(tmp_path: Path) -> None:
    path = write_npz(tmp_path / "v.npz", ref.tiny_params("vgg7", 1))
    with pytest.raises(ConversionError, match=r"vgg7 consumes 7 .* prepad 7 \(got 0\)") as err:
        convert_npz(path, tmp_path / "o")
    assert "preupscale: 2" in (err.value.hint or "")
    with pytest.raises(ConversionError, match=r"prepad 7 \(got 13\)"):
        convert_npz(path, tmp_path / "o", wrapper=Wrapper(prepad=13))


def test_wrapper_preupscale_is_validated_and_recorded() -> None:
    for bad in (0, -1, True, 1.5):
        with pytest.raises(ConversionError, match="wrapper preupscale"):
            Wrapper(preupscale=bad)  # type: ignore[arg-type]
    assert Wrapper(preupscale=2).to_dict()["preupscale"] == 2
    assert not Wrapper(preupscale=2).identity


def test_preupscale_scale_mismatch_is_caught(tmp_path: Path, tf: Any) -> None:
    path = write_npz(tmp_path / "v.npz", ref.tiny_params("vgg7", 1))
    with pytest.raises(ConversionError, match="upscales by 2, but scale=1"):
        convert_npz(path, tmp_path / "o", scale=1, wrapper=Wrapper(prepad=7, preupscale=2))


# ------------------------------------------------------------------ catalog schema


def test_catalog_weights_format_npz() -> None:
    file = {"path": "waifu2x/models/vgg7/anime_style_scale_y.npz", "sha256": "a" * 64, "size": 1}
    source = {"path": "/models"}
    weights = Weights(format="npz", source=source, files=[file])
    assert weights.entry_point == file["path"]
    with pytest.raises(ValueError, match=r"exactly one file, the \.npz archive"):
        Weights(format="npz", source=source, files=[file, {**file, "path": "x.npz"}])
    with pytest.raises(ValueError, match=r"exactly one file, the \.npz archive"):
        Weights(format="npz", source=source, files=[{**file, "path": "a.bin"}])


# ------------------------------------------------------------------ hostile files


@pytest.fixture
def good() -> dict[str, np.ndarray]:
    return ref.tiny_params("vgg7", 1)


def refused(tmp_path: Path, arrays: dict[str, Any], pattern: str) -> ConversionError:
    path = write_npz(tmp_path / "bad.npz", arrays)
    with pytest.raises(ConversionError, match=pattern) as err:
        parse_npz(read_npz(path, "bad.npz"), "bad.npz")
    assert "bad.npz" in str(err.value)
    assert err.value.hint, "every refusal says what to do"
    return err.value


def test_missing_key_names_it_and_the_nearest_architecture(
    tmp_path: Path, good: dict[str, np.ndarray]
) -> None:
    del good["conv5/W"]
    err = refused(tmp_path, good, r"nearest is vgg7 \(missing \['conv5/W'\]\)")
    assert "known architectures: vgg7, upconv7, resnet10, upresnet10" in (err.hint or "")


def test_extra_and_unknown_keys(tmp_path: Path, good: dict[str, np.ndarray]) -> None:
    refused(tmp_path, {**good, "conv8/W": good["conv7/W"]}, r"unexpected \['conv8/W'\]")
    refused(tmp_path, {"weights": np.zeros(3, np.float32)}, "match no waifu2x-chainer")


@pytest.mark.parametrize(
    ("key", "shape", "pattern"),
    [
        ("conv3/W", (8, 5, 3, 3), r"'conv3/W' has shape \[8, 5, 3, 3\], expected \[n, 6, 3, 3\]"),
        ("conv2/W", (6, 6, 5, 5), r"'conv2/W' has shape \[6, 6, 5, 5\], expected \[n, 6, 3, 3\]"),
        ("conv4/b", (7,), r"'conv4/b' has shape \[7\], expected \[8\]"),
        ("conv7/W", (3, 10, 3, 3), r"'conv7/W' has shape \[3, 10, 3, 3\], expected \[1, 10"),
        ("conv1/W", (6, 2, 3, 3), r"'conv1/W' has shape \[6, 2, 3, 3\]; the input must have 1"),
        ("conv1/b", (), r"'conv1/b' has shape \[\], expected \[6\]"),
        ("conv2/W", (0, 6, 3, 3), r"'conv2/W' has shape \[0, 6, 3, 3\], expected \[n, 6"),
    ],
)
def test_wrong_shapes(
    tmp_path: Path, good: dict[str, np.ndarray], key: str, shape: tuple[int, ...], pattern: str
) -> None:
    good[key] = np.zeros(shape, np.float32)
    refused(tmp_path, good, pattern)


@pytest.mark.parametrize("dtype", [np.float64, np.float16, np.int32, np.uint8, np.complex64])
def test_wrong_dtypes(tmp_path: Path, good: dict[str, np.ndarray], dtype: Any) -> None:
    good["conv2/b"] = good["conv2/b"].astype(dtype)
    refused(tmp_path, good, r"'conv2/b' has dtype .*, expected float32")


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_values(tmp_path: Path, good: dict[str, np.ndarray], value: float) -> None:
    good["conv6/W"][1, 2, 0, 0] = value
    refused(tmp_path, good, r"'conv6/W' holds NaN or infinite values")


def test_pickled_object_array_is_never_unpickled(
    tmp_path: Path, good: dict[str, np.ndarray]
) -> None:
    class Boom:
        def __reduce__(self) -> Any:
            return (pytest.fail, ("the file was unpickled",))

    good["conv1/b"] = np.array([Boom()], dtype=object)
    refused(tmp_path, good, r"'conv1/b' holds Python objects .* never done")


def test_files_that_are_not_npz_archives(tmp_path: Path) -> None:
    cases = {
        "pickle.npz": pickle.dumps({"conv1/W": [1.0]}),
        "text.npz": b"conv1/W = 1\n",
        "empty.npz": b"",
        "truncated.npz": (Path(write_npz(tmp_path / "t", {"a": np.zeros(9)}))).read_bytes()[:40],
    }
    for name, data in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(ConversionError, match=rf"{name}: not a numpy \.npz archive"):
            read_npz(path, name)
    single = tmp_path / "single.npz"
    with single.open("wb") as f:
        np.save(f, np.zeros(3, np.float32))
    with pytest.raises(ConversionError, match=r"single \.npy array, not an \.npz archive"):
        read_npz(single, "single.npz")
    with pytest.raises(ConversionError, match="does not exist"):
        read_npz(tmp_path / "absent.npz", "absent.npz")


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def _npy_header(shape: tuple[int, ...], descr: str = "<f4", fortran: bool = False) -> bytes:
    buffer = io.BytesIO()
    header = {"descr": descr, "fortran_order": fortran, "shape": shape}
    np.lib.format.write_array_header_1_0(buffer, header)
    return buffer.getvalue()


def test_header_declaring_a_huge_array_is_refused_before_allocating(tmp_path: Path) -> None:
    path = _zip(tmp_path / "huge.npz", {"conv1/W.npy": _npy_header((2**20, 2**20))})
    with pytest.raises(ConversionError, match="'conv1/W' takes the archive past"):
        read_npz(path, "huge.npz")


def test_odd_members_are_refused(tmp_path: Path) -> None:
    ok = _npy_header((1,)) + np.zeros(1, np.float32).tobytes()
    cases = {
        "notnpy.npz": ({"conv1/W": ok}, r"'conv1/W' is not a \.npy member"),
        "fortran.npz": (
            {"a.npy": _npy_header((2, 2), fortran=True) + bytes(16)},
            "Fortran order",
        ),
        "noheader.npz": ({"a.npy": b"garbage"}, r"'a' has no readable \.npy header"),
        "short.npz": ({"a.npy": _npy_header((4,))}, "'a' cannot be read"),
        "nothing.npz": ({}, "holds 0 members"),
    }
    for name, (members, pattern) in cases.items():
        with pytest.raises(ConversionError, match=pattern):
            read_npz(_zip(tmp_path / name, members), name)
