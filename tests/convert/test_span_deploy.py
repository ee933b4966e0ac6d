"""SPAN in its deployment form: only the folded ``eval_conv`` of each Conv3XC.

The NTIRE 2025 efficient-SR entries built on SPAN were submitted re-parameterised: each
Conv3XC's 1×1 → 3×3 → 1×1 chain and 1×1 skip folded into one 3×3 ``eval_conv``, the chain
dropped. spandrel cannot load such a file, so the oracle here is spandrel's SPAN in its
trained form: built with seeded random weights, run in eval mode (where ``update_params``
writes the folded kernels into ``eval_conv``), then saved a second time with the chain
and skip removed. Our conversion of that deploy-only file must give spandrel's output.
torch runs in a subprocess, as in ``test_pytorch_architectures.py``.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from upscaler import Upscaler
from upscaler.convert.architectures import detect_architecture
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

CASES: dict[str, dict[str, Any]] = {
    # The NTIRE 2025 team 46/51 width, at x4 with the mean shift.
    "deploy-x4-ch28": {"feature_channels": 28, "upscale": 4, "norm": True},
    # The catalog's wider SPAN, at x2 without the mean shift.
    "deploy-x2-ch52-no-norm": {"feature_channels": 52, "upscale": 2, "norm": False},
    # The paper's width at x4.
    "deploy-x4-ch48": {"feature_channels": 48, "upscale": 4, "norm": True},
}
SIZE = (9, 10)
SLOW = {"deploy-x4-ch48"}

STRIP = """
import sys, torch
from safetensors.torch import save_file
folder, ids = sys.argv[1], sys.argv[2:]
for case in ids:
    state = torch.load(f"{folder}/{case}.pth", weights_only=True)
    deploy = {
        k: v for k, v in state.items()
        if ".sk." not in k and ".conv." not in k
    }
    torch.save({"params_ema": deploy}, f"{folder}/{case}-deploy.pth")
    save_file(deploy, f"{folder}/{case}-deploy.safetensors")
"""
"""Keeps what a deployed SPAN stores: every ``eval_conv`` and the plain convolutions,
under ``params_ema`` as the challenge's files have them."""


@pytest.fixture(scope="module")
def oracle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Each case in both forms (``ID.pth`` trained, ``ID-deploy.pth`` / ``.safetensors``
    deploy-only) and spandrel's eval-mode output (``ID.npz``)."""
    out = tmp_path_factory.mktemp("span-deploy")
    specs = [
        {
            "id": case,
            "arch": "SPAN",
            "kwargs": {"num_in_ch": 3, "num_out_ch": 3, **kwargs},
            "seed": 100 + n,
            "h": SIZE[0],
            "w": SIZE[1],
        }
        for n, (case, kwargs) in enumerate(CASES.items())
    ]
    (out / "specs.json").write_text(json.dumps(specs))
    for argv in (
        [str(ORACLE), str(out / "specs.json"), str(out)],
        ["-c", STRIP, str(out), *CASES],
    ):
        done = subprocess.run(
            [sys.executable, *argv], capture_output=True, text=True, timeout=500, check=False
        )
        assert done.returncode == 0, done.stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def upscaler_for(
    oracle: Path, tmp_path_factory: pytest.TempPathFactory
) -> Callable[[str], Upscaler]:
    cache = tmp_path_factory.mktemp("cache")
    made: dict[str, Upscaler] = {}

    def get(name: str) -> Upscaler:
        if name not in made:
            made[name] = Upscaler(model=oracle / name, cache_dir=cache).load()
        return made[name]

    return get


def _reference(oracle: Path, case: str) -> tuple[np.ndarray, np.ndarray]:
    """spandrel's input and output, NHWC."""
    data = np.load(oracle / f"{case}.npz")
    return data["input"].transpose(0, 2, 3, 1), data["output"].transpose(0, 2, 3, 1)


def _converted_output(up: Upscaler, x: np.ndarray) -> np.ndarray:
    folder = up.describe().runtime.savedmodel
    assert folder is not None
    return load_model(folder).predict(x)


def _marked(ids: list[str]) -> list[Any]:
    return [pytest.param(c, marks=pytest.mark.slow) if c in SLOW else c for c in ids]


# ------------------------------------------------------------------ detection


@pytest.mark.parametrize("case", list(CASES))
def test_a_deploy_only_file_is_detected_with_its_sizes(oracle: Path, case: str) -> None:
    state = read_state_dict(oracle / f"{case}-deploy.pth")
    assert state.container == "params_ema"
    # The file really is the deployment form: nothing of the trained chain is left.
    assert not [k for k in state.tensors if ".sk." in k or ".conv." in k]
    assert any(k.endswith("eval_conv.weight") for k in state.tensors)
    detected = detect_architecture(state.tensors)
    kwargs = CASES[case]
    assert detected.name == "SPAN"
    assert detected.scale == kwargs["upscale"]
    assert detected.hyper["feature_channels"] == kwargs["feature_channels"]
    assert detected.hyper["mix_channels"] == kwargs["feature_channels"]
    assert detected.hyper["norm"] is kwargs["norm"]
    assert detected.hyper["form"] == "deploy"


def test_the_trained_form_is_still_read_as_trained(oracle: Path) -> None:
    detected = detect_architecture(read_state_dict(oracle / "deploy-x4-ch28.pth").tensors)
    assert detected.hyper["form"] == "trained"


# ------------------------------------------------------------------ parity


@pytest.mark.parametrize("case", _marked(list(CASES)))
def test_the_deploy_file_matches_spandrel(
    oracle: Path, upscaler_for: Callable[[str], Upscaler], case: str
) -> None:
    x, expected = _reference(oracle, case)
    got = _converted_output(upscaler_for(f"{case}-deploy.pth"), x)
    assert got.shape == expected.shape
    assert float(np.abs(got - expected).max()) <= TOLERANCE


def test_the_deploy_safetensors_matches_spandrel(
    oracle: Path, upscaler_for: Callable[[str], Upscaler]
) -> None:
    x, expected = _reference(oracle, "deploy-x2-ch52-no-norm")
    got = _converted_output(upscaler_for("deploy-x2-ch52-no-norm-deploy.safetensors"), x)
    assert float(np.abs(got - expected).max()) <= TOLERANCE


def test_a_narrowed_conv_cat_follows_its_shapes(oracle: Path, tmp_path: Path) -> None:
    """Deployed files may mix the four concatenated features down to fewer (or more)
    channels than the blocks carry (team 46's: 28 → 20). Widening spandrel's ``conv_cat``
    by zero rows, and the upsampler by zero columns, keeps its output exactly, so
    spandrel still is the oracle for a width that differs from the features."""
    from safetensors.numpy import save_file

    tensors = dict(read_state_dict(oracle / "deploy-x4-ch28-deploy.safetensors").tensors)
    extra = 4
    cat_w, cat_b = tensors["conv_cat.weight"], tensors["conv_cat.bias"]
    tensors["conv_cat.weight"] = np.concatenate(
        [cat_w, np.zeros((extra, *cat_w.shape[1:]), np.float32)]
    )
    tensors["conv_cat.bias"] = np.concatenate([cat_b, np.ones(extra, np.float32)])
    up_w = tensors["upsampler.0.weight"]
    tensors["upsampler.0.weight"] = np.concatenate(
        [up_w, np.zeros((up_w.shape[0], extra, 3, 3), np.float32)], axis=1
    )
    path = tmp_path / "wide-cat.safetensors"
    save_file(tensors, str(path))
    assert detect_architecture(tensors).hyper["mix_channels"] == 28 + extra
    up = Upscaler(model=path, cache_dir=tmp_path / "cache").load()
    x, expected = _reference(oracle, "deploy-x4-ch28")
    got = _converted_output(up, x)
    assert float(np.abs(got - expected).max()) <= TOLERANCE


def test_deploy_tiled_matches_whole_within_one_grey_level(
    upscaler_for: Callable[[str], Upscaler],
) -> None:
    up = upscaler_for("deploy-x4-ch28-deploy.pth")
    rng = np.random.default_rng(11)
    base = rng.integers(0, 256, size=(10, 9, 3)).astype(np.float32)
    image = np.kron(base, np.ones((5, 5, 1)))[:47, :43].astype(np.uint8)
    whole = up.upscale(image, progress=False)
    tiled = up.upscale(image, patch_size=32, padding=32, progress=False)
    assert tiled.shape == whole.shape == (47 * 4, 43 * 4, 3)
    assert int(np.abs(tiled.astype(int) - whole.astype(int)).max()) <= 1
    assert len(np.unique(whole)) > 50  # a real image came out, not a clipped constant


# ------------------------------------------------------------------ refusals


def test_a_first_convolution_that_is_not_3x3_is_refused(oracle: Path) -> None:
    """ESPAN (NTIRE 2025 team 36) starts with a 9×9 convolution; a SPAN-keyed file with
    one is another network, and converting it as SPAN would be silently wrong."""
    tensors = dict(read_state_dict(oracle / "deploy-x4-ch28-deploy.safetensors").tensors)
    tensors["conv_1.eval_conv.weight"] = np.zeros((28, 3, 9, 9), np.float32)
    with pytest.raises(ConversionError, match=r"9×9 kernel; a SPAN's is 3×3"):
        detect_architecture(tensors)


def test_spanf_keys_on_span_blocks_are_refused_by_shape(oracle: Path) -> None:
    """SPANF's key set over a SPAN's blocks (which take 28 features, not the RGB input):
    the keys say SPANF, the shapes do not, and the message names the tensor."""
    tensors = {
        k: v
        for k, v in read_state_dict(oracle / "deploy-x4-ch28-deploy.safetensors").tensors.items()
        if not k.startswith(("block_6.", "conv_1.", "upsampler."))
    }
    tensors["conv_near.weight"] = np.zeros((48, 1, 3, 3), np.float32)
    with pytest.raises(ConversionError, match=r"conv_near\.weight has shape \[48, 1, 3, 3\]"):
        detect_architecture(tensors, "odd.pth")


# ------------------------------------------------------------------ SPANF and ESPAN

VARIANTS_ORACLE = Path(__file__).with_name("span_variants_oracle.py")
VARIANTS: dict[str, dict[str, Any]] = {
    # The NTIRE 2025 team 24 file's sizes.
    "spanf-x4-f32-b5": {"arch": "SPANF", "features": 32, "scale": 4, "blocks": 5},
    "spanf-x2-f16-b3": {"arch": "SPANF", "features": 16, "scale": 2, "blocks": 3},
    # The NTIRE 2025 team 36 file's sizes.
    "espan-x4-f32-k9-b5": {"arch": "ESPAN", "features": 32, "scale": 4, "blocks": 5},
    "espan-x3-f16-k5-b2": {
        "arch": "ESPAN",
        "features": 16,
        "scale": 3,
        "blocks": 2,
        "first_kernel": 5,
    },
}


@pytest.fixture(scope="module")
def variants(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Each SPANF / ESPAN case as ``ID.pth`` and its reference output ``ID.npz``, from
    the independent PyTorch oracle."""
    out = tmp_path_factory.mktemp("span-variants")
    specs = [
        {"id": case, "first_kernel": 9, **spec, "seed": 200 + n, "h": SIZE[0], "w": SIZE[1]}
        for n, (case, spec) in enumerate(VARIANTS.items())
    ]
    (out / "specs.json").write_text(json.dumps(specs))
    done = subprocess.run(
        [sys.executable, str(VARIANTS_ORACLE), str(out / "specs.json"), str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return out


@pytest.mark.parametrize("case", list(VARIANTS))
def test_a_span_derivative_is_detected_as_itself(variants: Path, case: str) -> None:
    spec = VARIANTS[case]
    detected = detect_architecture(read_state_dict(variants / f"{case}.pth").tensors)
    assert detected.name == spec["arch"]
    assert detected.scale == spec["scale"]
    assert (detected.in_channels, detected.out_channels) == (3, 3)
    assert detected.hyper["feature_channels"] == spec["features"]
    assert detected.hyper["num_blocks"] == spec["blocks"]
    if spec["arch"] == "ESPAN":
        assert detected.hyper["first_kernel"] == spec.get("first_kernel", 9)


@pytest.mark.parametrize("case", list(VARIANTS))
def test_a_span_derivative_matches_its_pytorch_forward(
    variants: Path, tmp_path_factory: pytest.TempPathFactory, case: str
) -> None:
    up = Upscaler(model=variants / f"{case}.pth", cache_dir=tmp_path_factory.mktemp("c")).load()
    x, expected = _reference(variants, case)
    got = _converted_output(up, x)
    assert got.shape == expected.shape
    assert float(np.abs(got - expected).max()) <= TOLERANCE


@pytest.mark.parametrize("case", ["spanf-x2-f16-b3", "espan-x3-f16-k5-b2"])
def test_a_span_derivative_tiles_within_one_grey_level(
    variants: Path, tmp_path_factory: pytest.TempPathFactory, case: str
) -> None:
    up = Upscaler(model=variants / f"{case}.pth", cache_dir=tmp_path_factory.mktemp("c"))
    rng = np.random.default_rng(5)
    base = rng.integers(0, 256, size=(10, 9, 3)).astype(np.float32)
    image = np.kron(base, np.ones((5, 5, 1)))[:47, :43].astype(np.uint8)
    whole = up.upscale(image, progress=False)
    tiled = up.upscale(image, patch_size=32, padding=32, progress=False)
    assert tiled.shape == whole.shape
    assert int(np.abs(tiled.astype(int) - whole.astype(int)).max()) <= 1
    assert len(np.unique(whole)) > 50
