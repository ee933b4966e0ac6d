"""Fixtures for the evaluation tests: where the standard sets are, tiny generated sets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image


@pytest.fixture
def tiny_set(tmp_path: Path) -> Path:
    """A 3-image set in the standard layout: two RGB images and one gray (like bridge)."""
    rng = np.random.default_rng(7)
    folder = tmp_path / "Tiny"
    (folder / "HR").mkdir(parents=True)
    y, x = np.mgrid[0:50, 0:46]
    smooth = np.stack([2 * x + y, 3 * y + 20, 200 - x - y], axis=-1).clip(0, 255)
    Image.fromarray(smooth.astype(np.uint8), "RGB").save(folder / "HR" / "a.png")
    noisy = rng.integers(0, 256, size=(40, 52, 3), dtype=np.uint8)
    Image.fromarray(noisy, "RGB").save(folder / "HR" / "b.png")
    gray = (4 * x[:40, :40] + 2 * y[:40, :40]).clip(0, 255).astype(np.uint8)
    Image.fromarray(gray, "L").save(folder / "HR" / "c.png")
    return folder
