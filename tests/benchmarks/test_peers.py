"""The benchmark's peers and ceiling sections: what they do without a peer, and the CPU
arithmetic they print. Benchmarks never assert on time; these tests never time.

CI machines have no UpscalerJS harness, so the section must say why it skipped and let
the run go on; with one (``UPSCALERJS_PEER``), the real Node process must agree with our
whole-image run.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import _common as common  # noqa: E402
import peers  # noqa: E402
from ceiling import fp32_flop_per_cycle  # noqa: E402


def test_upscalerjs_is_skipped_with_the_reason_without_a_harness(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(peers.UPSCALERJS_ENV, raising=False)
    text, measured = peers.section_upscalerjs(["esrgan-slim.x2"], 64, 1, None, ["wasm"])
    assert measured == []
    assert "Skipped: no UpscalerJS harness given" in text
    assert "--upscalerjs DIR" in text and peers.UPSCALERJS_ENV in text


def test_a_harness_without_npm_ci_is_skipped_with_the_fix(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(peers.UPSCALERJS_ENV, str(tmp_path))
    text, measured = peers.section_upscalerjs(["esrgan-slim.x2"], 64, 1, None, ["wasm"])
    assert measured == []
    assert "has no node_modules/upscaler: run `npm ci`" in text


def test_tfjs_node_needs_its_addon_built(tmp_path: Path) -> None:
    usable, notes = peers.usable_backends(tmp_path, ["tensorflow", "wasm"])
    assert usable == ["wasm"]
    assert "build_tfjs_node.sh" in notes[0]


@pytest.mark.parametrize(
    ("vendor", "family", "flags", "expected"),
    [
        ("AuthenticAMD", 26, {"avx2", "fma", "avx512f"}, 64),  # Zen 5: full-width AVX-512
        ("AuthenticAMD", 25, {"avx2", "fma", "avx512f"}, 32),  # Zen 4: 256-bit halves
        ("AuthenticAMD", 25, {"avx2", "fma"}, 32),
        ("GenuineIntel", 6, {"avx2", "fma", "avx512f"}, 64),
        ("GenuineIntel", 6, {"sse4_2"}, 16),
    ],
)
def test_flop_per_cycle_follows_the_flags_and_family(
    vendor: str, family: int, flags: set[str], expected: int
) -> None:
    facts = {"vendor": vendor, "family": family, "flags": frozenset(flags)}
    assert fp32_flop_per_cycle(facts)[0] == expected


def test_cpu_line_names_the_vector_flags() -> None:
    line = common.cpu_line()
    assert "family" in line and "vector flags" in line


@pytest.mark.real_model
@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get(peers.UPSCALERJS_ENV), reason="no UpscalerJS harness")
def test_upscalerjs_agrees_with_our_whole_image_run(tmp_path: Path) -> None:
    from upscaler.runtime.whole_image import upscale_rgb

    harness, why = peers.find_harness(None)
    assert harness is not None, why
    entry, model = common.load_model("esrgan-slim.x2")
    assert peers.same_weights(entry, harness) == "yes"
    pixels = common.sample_image(48, 40)
    peer = peers.UpscalerJSPeer(harness, "wasm", peers.UPSCALERJS_MODELS[entry.id], tmp_path)
    try:
        peer.set_input(pixels)
        theirs = peer.output()
    finally:
        peer.close()
    ours = upscale_rgb(model, pixels, entry.value_range)
    assert theirs.shape == ours.shape == (96, 80, 3)
    assert int(np.abs(theirs.astype(int) - ours.astype(int)).max()) <= 1
