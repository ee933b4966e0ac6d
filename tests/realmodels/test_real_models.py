"""Every catalog model, end to end, with its real weights from the package registries.

Marked ``real_model``: these download (once; the cache is the user's, which CI may keep
between runs), verify, convert and run every shipped entry through the public facade,
and check the packages' own reference outputs. Reference images are read from the
package tarball after it has been verified against the catalog's npm integrity.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from upscaler import Upscaler
from upscaler.catalog import default_catalog
from upscaler.prepare.materialize import MANIFEST, savedmodel_intact

pytestmark = pytest.mark.real_model

ENTRIES = default_catalog().entries
MAX_ABS_DIFF = 1
MIN_IDENTICAL = 0.999

# catalog id -> sample folder under assets/samples/ in the same package
REFERENCE_SAMPLES: dict[str, str] = {
    "esrgan-slim.x2": "2x",
    "esrgan-slim.x3": "3x",
    "esrgan-slim.x4": "4x",
    "esrgan-medium.x2": "2x",
    "esrgan-medium.x3": "3x",
    "esrgan-medium.x4": "4x",
    "esrgan-thick.x2": "2x",
    "esrgan-thick.x3": "3x",
    "esrgan-thick.x4": "4x",
    "esrgan-thick.x8": "8x",
    "esrgan-legacy.div2k-x2": "div2k/2x",
    "esrgan-legacy.div2k-x3": "div2k/3x",
    "esrgan-legacy.div2k-x4": "div2k/4x",
    "esrgan-legacy.psnr-small-x2": "psnr-small",
    "esrgan-legacy.gans-x4": "gans",
}


def _package_member(model_id: str, member: str) -> bytes:
    from upscaler.catalog.schema import NpmSource
    from upscaler.fetch import download_npm_tarball, read_tarball_member

    entry = default_catalog().get(model_id)
    assert entry.weights is not None
    source = entry.weights.source
    assert isinstance(source, NpmSource)
    tgz = download_npm_tarball(
        source.npm, source.version, integrity=source.integrity, progress=False
    )
    return read_tarball_member(Path(tgz), member)


def _rgb(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"))


@pytest.mark.parametrize("entry", ENTRIES, ids=[e.id for e in ENTRIES])
def test_downloads_verifies_converts_and_runs(entry) -> None:
    up = Upscaler(model=entry.id)
    (folder,) = up.prepare(progress=False)
    # An int8 variant is built into a TFLite model (docs/quantization.md), not a SavedModel.
    model_file = "model.tflite" if entry.quantization == "int8" else "saved_model.pb"
    assert (folder / model_file).is_file()
    assert (folder / MANIFEST).is_file() and savedmodel_intact(folder)
    rgb = np.random.default_rng(0).integers(0, 256, (9, 7, 3), dtype=np.uint8)
    out = up.upscale(rgb, progress=False)
    assert out.shape == (9 * entry.scale, 7 * entry.scale, 3)
    assert out.dtype == np.uint8
    description = up.describe()
    assert description.runtime.savedmodel == str(folder)
    assert description.runtime.signature is not None
    assert description.runtime.signature["input"]["shape"] == [None, None, None, entry.channels]


@pytest.mark.parametrize("model_id", sorted(REFERENCE_SAMPLES))
def test_reproduces_upscalerjs_reference_output(model_id: str) -> None:
    fixture = _rgb(_package_member(model_id, "assets/fixture.png"))
    expected = _rgb(
        _package_member(model_id, f"assets/samples/{REFERENCE_SAMPLES[model_id]}/result.png")
    )
    # border="zero": the reference is UpscalerJS, whose models see zeros beyond the edge
    got = Upscaler(model=model_id, border="zero").upscale(fixture, progress=False)
    assert got.shape == expected.shape
    diff = np.abs(got.astype(np.int16) - expected.astype(np.int16))
    identical = float(np.mean(diff == 0))
    print(f"{model_id}: max diff {diff.max()}, {identical:.4%} identical")
    assert int(diff.max()) <= MAX_ABS_DIFF, f"{model_id}: max abs diff {diff.max()}"
    assert identical >= MIN_IDENTICAL, f"{model_id}: only {identical:.4%} identical"


def test_every_model_with_reference_outputs_is_checked() -> None:
    """A new catalog entry whose package ships samples must join the parity table."""
    from upscaler.catalog.schema import NpmSource

    ids = {e.id for e in ENTRIES}
    assert set(REFERENCE_SAMPLES) <= ids
    upscalerjs = [e for e in ENTRIES if e.weights and isinstance(e.weights.source, NpmSource)]
    trained = {e.id for e in upscalerjs if e.architecture != "nearest" and e.scale != 8}
    trained.add("esrgan-thick.x8")
    assert trained == set(REFERENCE_SAMPLES)
