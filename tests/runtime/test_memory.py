"""Host memory around a run: what a large image costs beyond the output itself.

Issue 14, item 13: a 6000x4000 image through pixel-upsampler.x2 peaked above the target
(2 x output + 1.2 GB). Measured in a fresh interpreter (VmHWM, the kernel's own peak of
resident memory), so nothing the test process holds counts.
"""

from __future__ import annotations

import sys

import pytest
from fresh_process import run_fresh

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="reads /proc/self/status")

ENCODE = """
import json
import numpy as np
from pathlib import Path
from upscaler.runtime.image_io import decode, encode

def peak():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024

from PIL import Image
like = decode(Image.new("RGB", (4, 4)))
pixels = np.full((3000, 3000, 3), 7, np.uint8)
before = peak()
image = encode(pixels, like)
print(json.dumps({"grew": peak() - before, "pil": image.width * image.height * 4}))
"""


def test_encoding_to_pil_makes_one_copy_not_two() -> None:
    """An RGB result handed back as a PIL image is copied once (PIL stores RGB in four
    bytes a pixel); a second, same-mode ``convert`` copy was a whole output more."""
    report = run_fresh(ENCODE)
    assert report["grew"] <= report["pil"] * 1.25, report
