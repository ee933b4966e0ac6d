"""Every catalog model carries metrics measured by `upscaler eval --all --write` and a
speed measured by `python benchmarks/run.py --write-speed`.

Numbers in the catalog are data produced by a command, never typed: each must name the
protocol, the command, the version and date, and the fingerprint of every set measured;
when the sets are present, the fingerprints must be those of the files here.
"""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from eval_helpers import AWAITING_MEASUREMENT, datasets_root, skip_if_awaiting

from upscaler.catalog import default_catalog
from upscaler.catalog.schema import ModelEntry
from upscaler.evaluate.protocol import PROTOCOL_ID

ENTRIES = default_catalog().entries
STANDARD_SETS = {"set5": "Set5", "set14": "Set14", "bsd100": "BSD100"}


@pytest.mark.parametrize("entry", ENTRIES, ids=[e.id for e in ENTRIES])
def test_every_model_carries_metrics_on_the_standard_sets(entry: ModelEntry) -> None:
    skip_if_awaiting(entry, entry.metrics is not None)
    assert entry.metrics is not None, (
        f"{entry.id} has no metrics; run `upscaler eval --all --data .../Set5 --data "
        ".../Set14 --data .../BSD100 --write`"
    )
    provenance = entry.metrics.provenance
    assert provenance.protocol == PROTOCOL_ID
    assert provenance.command.startswith("upscaler eval ") and "--write" in provenance.command
    assert dt.date.fromisoformat(provenance.date)
    assert set(entry.metrics.sets) >= set(STANDARD_SETS)
    assert set(provenance.data) == set(entry.metrics.sets)
    # Scale 1 (restoration) scores a model on clean input, which it should barely change.
    ceiling = 50.0 if entry.scale > 1 else 100.0
    for metric in entry.metrics.sets.values():
        assert 15.0 < metric.psnr_y < ceiling
        assert 0.3 < metric.ssim_y <= 1.0
        assert round(metric.psnr_y, 2) == metric.psnr_y
        assert round(metric.ssim_y, 4) == metric.ssim_y


@pytest.mark.parametrize("key", sorted(STANDARD_SETS))
def test_fingerprints_are_those_of_the_sets_here(key: str) -> None:
    manifest = datasets_root() / STANDARD_SETS[key] / "MANIFEST.sha256"
    if not manifest.is_file():
        pytest.skip(f"{manifest} not found; set UPSCALER_DATASETS to check fingerprints")
    digest = hashlib.sha256(manifest.read_bytes()).hexdigest()
    for entry in ENTRIES:
        if entry.metrics is not None and key in entry.metrics.provenance.data:
            assert entry.metrics.provenance.data[key] == digest, entry.id


def test_trained_models_beat_nearest_neighbour_at_their_scale() -> None:
    # A sanity check on the numbers as a whole: every trained fidelity model beats the
    # nearest-neighbour baseline of its scale on SSIM, on every set. Perceptual (GAN)
    # models are not trained for it (Real-CUGAN x2 invents texture that SSIM scores below
    # nearest neighbour on Set14), nor are denoisers, which smooth the clean evaluation
    # input as if it were noisy (waifu2x-chainer upconv7 noise 3).
    baselines = {e.scale: e for e in ENTRIES if e.family == "pixel-upsampler"}
    for entry in ENTRIES:
        base = baselines.get(entry.scale)
        if entry.family == "pixel-upsampler" or base is None:
            continue
        if entry.objective != "fidelity" or entry.denoise != "none":
            continue
        if entry.metrics is None and entry.family in AWAITING_MEASUREMENT:
            continue
        assert entry.metrics is not None and base.metrics is not None
        for key, metric in base.metrics.sets.items():
            assert entry.metrics.sets[key].ssim_y > metric.ssim_y, (entry.id, key)


@pytest.mark.parametrize("entry", ENTRIES, ids=[e.id for e in ENTRIES])
def test_every_model_carries_a_measured_speed(entry: ModelEntry) -> None:
    skip_if_awaiting(entry, entry.speed is not None)
    assert entry.speed is not None, (
        f"{entry.id} has no speed; run `python benchmarks/run.py --sections none --write-speed`"
    )
    provenance = entry.speed.provenance
    assert provenance.command.startswith("python benchmarks/run.py")
    assert "--write-speed" in provenance.command
    assert dt.date.fromisoformat(provenance.date)
    assert provenance.machine and "CPU" in provenance.machine
    assert provenance.protocol and "tiled runner" in provenance.protocol
    assert 0 < entry.speed.ms_per_output_megapixel < 1e6
