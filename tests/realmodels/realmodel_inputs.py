"""Inputs the real-model parity tests share."""

from __future__ import annotations

import numpy as np


def photo_like(height: int, width: int, seed: int = 0) -> np.ndarray:
    """Smooth structure plus texture: exercises every activation range, unlike flat noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    planes = [
        128 + 90 * np.sin(x / 5.0) * np.cos(y / 7.0),
        128 + 80 * np.cos((x + y) / 9.0),
        128 + 70 * np.sin(np.hypot(x - width / 2, y - height / 2) / 4.0),
    ]
    image = np.stack(planes, axis=-1) + rng.normal(0, 12, (height, width, 3))
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)
