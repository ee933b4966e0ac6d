"""The library starts TensorFlow with an allocator that keeps statistics.

TensorFlow 2.21's default CPU allocator reports no memory statistics, so the runner's
memory probe measured nothing and windows fell back to fixed cores. require_tensorflow()
selects the BFC allocator unless the user chose one; checked in fresh interpreters,
because the allocator is fixed when TensorFlow starts.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from fresh_process import run_fresh

# slow as a whole: each case starts a fresh interpreter with TensorFlow
pytestmark = pytest.mark.slow

PROBE = """
import json, os, sys
from upscaler.runtime.savedmodel import load_savedmodel, require_tensorflow
from upscaler.runtime.tiled import TiledRunner
require_tensorflow()
model = load_savedmodel(sys.argv[1])
runner = TiledRunner(model, scale=2, value_range=(0.0, 255.0), tile=None, device="cpu")
print(json.dumps({"env": os.environ.get("TF_CPU_ALLOCATOR_USE_BFC"),
                  "bytes_per_pixel": runner.bytes_per_pixel}))
"""


def test_library_selects_an_allocator_with_statistics(conv_sr: Callable[..., Path]) -> None:
    report = run_fresh(PROBE, str(conv_sr()), env={"TF_CPU_ALLOCATOR_USE_BFC": None})
    assert report["env"] == "true"
    assert report["bytes_per_pixel"] and report["bytes_per_pixel"] > 0


def test_a_users_allocator_choice_wins(conv_sr: Callable[..., Path]) -> None:
    report = run_fresh(PROBE, str(conv_sr()), env={"TF_CPU_ALLOCATOR_USE_BFC": "false"})
    # The library left the user's setting as it was when TensorFlow started. (Whether the
    # allocator then keeps statistics depends on the machine: on an AVX-512 machine on
    # 2026-12-02 TensorFlow's default one did, on earlier ones it did not; the runner
    # handles both, falling back to fixed tiles without statistics.)
    assert report["env"] == "false"
