"""PyTorch checkpoints by architecture: detection, conversion and spandrel parity.

spandrel (with CPU torch) is the oracle: ``spandrel_oracle.py`` builds each network with
seeded random weights, saves its state dict as ``.pth`` and ``.safetensors`` and records
its output on a fixed input. It runs in a separate interpreter because importing
spandrel (through triton) into a process that has loaded TensorFlow crashes it; for the
same reason the oracle's presence is checked with ``find_spec`` rather than imported.
Every conversion here goes through the public path, ``Upscaler(model=path)``.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from upscaler import Upscaler
from upscaler.convert.architectures import architectures, detect_architecture
from upscaler.convert.state_dict import read_state_dict
from upscaler.errors import ConversionError
from upscaler.runtime.tflite import load_model

ORACLE = Path(__file__).with_name("spandrel_oracle.py")
TOLERANCE = 1e-4
"""Max abs difference on [0, 1] floats between spandrel and the converted model."""

needs_oracle = pytest.mark.skipif(
    importlib.util.find_spec("spandrel") is None or importlib.util.find_spec("torch") is None,
    reason="spandrel and torch (the test-only oracle) are not installed",
)
pytestmark = [needs_oracle, pytest.mark.timeout(600)]


@dataclass(frozen=True)
class Case:
    """One network: spandrel's constructor arguments, how its file is written, and the
    hyper-parameters detection must read back."""

    id: str
    arch: str
    kwargs: dict[str, Any]
    expect: dict[str, Any]
    keys: str = "esrgan"
    container: str | None = None
    size: tuple[int, int] = (13, 11)
    extra: dict[str, Any] = field(default_factory=dict)

    def spec(self, seed: int) -> dict[str, Any]:
        h, w = self.size
        return {
            "id": self.id,
            "arch": self.arch,
            "kwargs": self.kwargs,
            "keys": self.keys,
            "container": self.container,
            "seed": seed,
            "h": h,
            "w": w,
        }


def _esrgan(nf: int, nb: int, scale: int, **more: Any) -> dict[str, Any]:
    return {"in_nc": 3, "out_nc": 3, "num_filters": nf, "num_blocks": nb, "scale": scale, **more}


CASES = [
    Case(
        "esrgan-x4-original-keys",
        "ESRGAN",
        _esrgan(16, 2, 4),
        {"scale": 4, "num_filters": 16, "num_blocks": 2, "shuffle_factor": 1, "keys": "esrgan"},
    ),
    Case(
        "esrgan-x2-basicsr-keys",
        "ESRGAN",
        _esrgan(16, 1, 2),
        {"scale": 2, "num_filters": 16, "num_blocks": 1, "keys": "basicsr"},
        keys="basicsr",
        container="params_ema",
    ),
    Case(
        "esrgan-x1-original-keys",
        "ESRGAN",
        _esrgan(8, 1, 1),
        {"scale": 1, "num_filters": 8, "num_blocks": 1},
    ),
    Case(
        "esrgan-x8-bsrgan-keys",
        "ESRGAN",
        _esrgan(8, 1, 8),
        {"scale": 8, "num_filters": 8, "keys": "bsrgan"},
        keys="bsrgan",
        size=(7, 6),
    ),
    Case(
        "realesrgan-x2plus-unshuffle",
        "ESRGAN",
        {**_esrgan(16, 1, 4, shuffle_factor=2), "in_nc": 12},
        {"scale": 2, "in_channels": 3, "shuffle_factor": 2, "keys": "basicsr"},
        keys="basicsr",
        container="params_ema",
    ),
    Case(
        "realesrgan-x1-unshuffle",
        "ESRGAN",
        {**_esrgan(8, 1, 4, shuffle_factor=4), "in_nc": 48},
        {"scale": 1, "in_channels": 3, "shuffle_factor": 4},
        size=(14, 13),
    ),
    Case(
        "esrgan-plus-x2",
        "ESRGAN",
        _esrgan(16, 1, 2, plus=True),
        {"scale": 2, "plus": True},
    ),
    Case(
        "compact-x4",
        "Compact",
        {"num_in_ch": 3, "num_out_ch": 3, "num_feat": 16, "num_conv": 4, "upscale": 4},
        {"scale": 4, "num_feat": 16, "num_conv": 4},
    ),
    Case(
        "compact-x2",
        "Compact",
        {"num_in_ch": 3, "num_out_ch": 3, "num_feat": 8, "num_conv": 2, "upscale": 2},
        {"scale": 2, "num_feat": 8, "num_conv": 2},
        container="params",
    ),
    Case(
        "compact-x1",
        "Compact",
        {"num_in_ch": 3, "num_out_ch": 3, "num_feat": 8, "num_conv": 3, "upscale": 1},
        {"scale": 1, "num_feat": 8, "num_conv": 3},
    ),
    Case(
        "compact-general-x4v3-shape",
        "Compact",
        {"num_in_ch": 3, "num_out_ch": 3, "num_feat": 64, "num_conv": 32, "upscale": 4},
        {"scale": 4, "num_feat": 64, "num_conv": 32},
        size=(9, 8),
    ),
    Case(
        "span-x2",
        "SPAN",
        {"num_in_ch": 3, "num_out_ch": 3, "feature_channels": 16, "upscale": 2},
        {"scale": 2, "feature_channels": 16, "norm": True},
    ),
    Case(
        "span-x3-no-norm",
        "SPAN",
        {"num_in_ch": 3, "num_out_ch": 3, "feature_channels": 12, "upscale": 3, "norm": False},
        {"scale": 3, "feature_channels": 12, "norm": False},
    ),
    Case(
        "span-x4-ch48",
        "SPAN",
        {"num_in_ch": 3, "num_out_ch": 3, "feature_channels": 48, "upscale": 4},
        {"scale": 4, "feature_channels": 48, "norm": True},
        size=(9, 10),
    ),
    Case(
        "realcugan-x2",
        "RealCUGAN:UpCunet2x",
        {"in_channels": 3, "out_channels": 3},
        {"scale": 2, "pro": False},
        size=(23, 21),
    ),
    Case(
        "realcugan-x3-pro",
        "RealCUGAN:UpCunet3x",
        {"in_channels": 3, "out_channels": 3, "pro": True},
        {"scale": 3, "pro": True},
        size=(22, 25),
    ),
    Case(
        "realcugan-x4",
        "RealCUGAN:UpCunet4x",
        {"in_channels": 3, "out_channels": 3},
        {"scale": 4, "pro": False},
        size=(21, 20),
    ),
]
BY_ID = {case.id: case for case in CASES}
IDS = list(BY_ID)
SLOW = {"span-x4-ch48", "realcugan-x2", "realcugan-x4"}
"""Cases whose conversion takes over ten seconds here (full-width SPAN, Real-CUGAN's
fixed 64-256 channels); one Real-CUGAN stays in the quick run."""


def _marked(ids: list[str], slow: set[str]) -> list[Any]:
    return [pytest.param(c, marks=pytest.mark.slow) if c in slow else c for c in ids]


ONE_PER_ARCHITECTURE = ["realesrgan-x2plus-unshuffle", "compact-x2", "span-x2", "realcugan-x3-pro"]
BY_CONTEXT = {"esrgan-x4-original-keys": 40, "realesrgan-x1-unshuffle": 40}
"""Tile contexts past these cases' receptive fields (the rest fit the default 32)."""


@pytest.fixture(scope="module")
def oracle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every case's ``.pth``, ``.safetensors`` and reference ``.npz``, made once."""
    out = tmp_path_factory.mktemp("spandrel")
    specs = out / "specs.json"
    specs.write_text(json.dumps([case.spec(seed) for seed, case in enumerate(CASES)]))
    done = subprocess.run(
        [sys.executable, str(ORACLE), str(specs), str(out)],
        capture_output=True,
        text=True,
        timeout=500,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache for the module: a file converted once serves every test of it."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def upscaler_for(oracle: Path, cache: Path) -> Callable[[str, str], Upscaler]:
    made: dict[tuple[str, str], Upscaler] = {}

    def get(case_id: str, suffix: str) -> Upscaler:
        key = (case_id, suffix)
        if key not in made:
            made[key] = Upscaler(model=oracle / f"{case_id}{suffix}", cache_dir=cache).load()
        return made[key]

    return get


def _reference(oracle: Path, case_id: str) -> tuple[np.ndarray, np.ndarray]:
    """The oracle's input and output, NHWC."""
    data = np.load(oracle / f"{case_id}.npz")
    return data["input"].transpose(0, 2, 3, 1), data["output"].transpose(0, 2, 3, 1)


def _converted_output(up: Upscaler, x: np.ndarray) -> np.ndarray:
    folder = up.describe().runtime.savedmodel
    assert folder is not None
    return load_model(folder).predict(x)


# ------------------------------------------------------------------ detection


@pytest.mark.parametrize("case_id", IDS)
def test_detection_reads_back_the_constructor_arguments(oracle: Path, case_id: str) -> None:
    case = BY_ID[case_id]
    state = read_state_dict(oracle / f"{case_id}.safetensors")
    detected = detect_architecture(state.tensors)
    assert detected.name == case.arch.split(":")[0]
    assert {k: detected.hyper[k] for k in case.expect} == case.expect
    assert (detected.in_channels, detected.out_channels) == (3, 3)
    assert detected.scale == case.expect["scale"]


@pytest.mark.parametrize("case_id", IDS)
def test_pth_and_safetensors_hold_the_same_weights(oracle: Path, case_id: str) -> None:
    pth = read_state_dict(oracle / f"{case_id}.pth")
    safe = read_state_dict(oracle / f"{case_id}.safetensors")
    assert pth.container == BY_ID[case_id].container
    assert pth.tensors.keys() == safe.tensors.keys()
    for key, value in pth.tensors.items():
        np.testing.assert_array_equal(value, safe.tensors[key], err_msg=key)


# ------------------------------------------------------------------ parity


@pytest.mark.parametrize("case_id", _marked(IDS, SLOW))
def test_pth_matches_spandrel(
    oracle: Path, upscaler_for: Callable[[str, str], Upscaler], case_id: str
) -> None:
    x, expected = _reference(oracle, case_id)
    got = _converted_output(upscaler_for(case_id, ".pth"), x)
    assert got.shape == expected.shape
    assert float(np.abs(got - expected).max()) <= TOLERANCE


@pytest.mark.parametrize("case_id", _marked(ONE_PER_ARCHITECTURE, {"realcugan-x3-pro"}))
def test_safetensors_matches_spandrel(
    oracle: Path, upscaler_for: Callable[[str, str], Upscaler], case_id: str
) -> None:
    x, expected = _reference(oracle, case_id)
    got = _converted_output(upscaler_for(case_id, ".safetensors"), x)
    assert float(np.abs(got - expected).max()) <= TOLERANCE


@pytest.mark.parametrize(
    "case_id",
    [*ONE_PER_ARCHITECTURE, "realesrgan-x1-unshuffle", "esrgan-x4-original-keys"],
)
def test_tiled_matches_whole_within_one_grey_level(
    upscaler_for: Callable[[str, str], Upscaler], case_id: str
) -> None:
    up = upscaler_for(case_id, ".pth")
    rng = np.random.default_rng(7)
    base = rng.integers(0, 256, size=(10, 9, 3)).astype(np.float32)
    image = np.kron(base, np.ones((5, 5, 1)))[:47, :43]  # blocks, so edges and flats
    image = image.astype(np.uint8)
    whole = up.upscale(image, progress=False)
    context = BY_CONTEXT.get(case_id, 32)
    tiled = up.upscale(image, patch_size=32, padding=context, progress=False)
    assert tiled.shape == whole.shape == (47 * up.scale, 43 * up.scale, 3)
    assert int(np.abs(tiled.astype(int) - whole.astype(int)).max()) <= 1
    assert len(np.unique(whole)) > 50  # a real image came out, not a clipped constant


# ------------------------------------------------------------------ describe


def test_describe_says_what_was_detected(upscaler_for: Callable[[str, str], Upscaler]) -> None:
    up = upscaler_for("realesrgan-x2plus-unshuffle", ".pth")
    model = up.describe().model
    assert model.architecture == "rrdn"
    assert model.scale == 2
    assert model.value_range == (0.0, 1.0)
    assert model.params["shuffle_factor"] == 2 and model.params["num_blocks"] == 1
    assert "ESRGAN from params_ema of a pytorch-zip file" in model.title
    text = str(up.describe())
    assert "architecture=rrdn" in text and "shuffle_factor=2" in text


def test_the_cli_describes_a_checkpoint(oracle: Path, cli: Callable[..., Any]) -> None:
    result = cli("describe", "--model", str(oracle / "span-x2.safetensors"), "--json")
    assert result.code == 0, result.err
    model = json.loads(result.out)["model"]
    assert model["architecture"] == "span"
    assert model["params"]["feature_channels"] == 16
    assert "SPAN from a safetensors file" in model["title"]


# ------------------------------------------------------------------ refusals


def test_an_unknown_checkpoint_names_the_nearest_architecture(oracle: Path) -> None:
    tensors = dict(read_state_dict(oracle / "span-x2.safetensors").tensors)
    del tensors["conv_cat.weight"]
    with pytest.raises(ConversionError) as err:
        detect_architecture(tensors, "broken.pth")
    message = str(err.value)
    assert "nearest is SPAN with 88% of its required keys" in message
    assert "missing conv_cat.weight" in message
    assert "broken.pth" in message


def test_a_foreign_checkpoint_lists_a_few_keys_and_a_count() -> None:
    tensors = {f"encoder.layer{i}.weight": np.zeros((2, 2), np.float32) for i in range(9)}
    with pytest.raises(ConversionError) as err:
        detect_architecture(tensors)
    message = str(err.value)
    assert "no supported architecture matches its 9 tensors" in message
    assert "and 4 more" in message
    names = [a.name for a in architectures()]
    assert err.value.hint is not None and all(n in err.value.hint for n in names)


def test_matching_keys_with_wrong_shapes_are_refused(oracle: Path) -> None:
    tensors = dict(read_state_dict(oracle / "compact-x2.safetensors").tensors)
    tensors["body.1.weight"] = np.zeros(5, np.float32)
    with pytest.raises(ConversionError, match=r"body\.1\.weight has shape \[5\]"):
        detect_architecture(tensors)


def test_an_unknown_checkpoint_by_path_is_a_clear_error(tmp_path: Path) -> None:
    from safetensors.numpy import save_file

    path = tmp_path / "other.safetensors"
    save_file({"encoder.weight": np.zeros((4, 3, 3, 3), np.float32)}, str(path))
    with pytest.raises(ConversionError, match="no supported architecture"):
        Upscaler(model=path, cache_dir=tmp_path / "cache")
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").rglob("*.pb"))
