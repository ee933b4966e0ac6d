"""Tiny real training data and configurations, shared by the training tests.

Images are real PNG files written into tmp folders (smooth gradients plus seeded
noise, so there is detail to learn); runs use a 4-feature network and a few steps,
so a whole training with export takes a second or two on one core.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from upscaler.train import TrainConfig

TINY_PARAMS = {"features": 4, "convs": 1}


def write_images(
    folder: Path, count: int, *, size: tuple[int, int] = (40, 48), mode: str = "RGB", seed: int = 0
) -> Path:
    """``count`` PNGs of ``size`` (height, width) in ``folder``; returns the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    height, width = size
    yy, xx = np.mgrid[0:height, 0:width]
    for i in range(count):
        base = np.stack([(xx * 5 + i * 20) % 256, (yy * 7) % 256, ((xx + yy) * 3) % 256], -1)
        noisy = base + rng.integers(-12, 13, base.shape)
        rgb = np.clip(noisy, 0, 255).astype(np.uint8)
        if mode == "RGBA":
            alpha = np.clip(xx * 6, 0, 255).astype(np.uint8)[:, :, None]
            Image.fromarray(np.concatenate([rgb, alpha], 2), "RGBA").save(folder / f"im{i}.png")
        elif mode == "L":
            Image.fromarray(rgb[:, :, 0], "L").save(folder / f"im{i}.png")
        else:
            Image.fromarray(rgb, "RGB").save(folder / f"im{i}.png")
    return folder


def tiny_config(data: Path, **overrides: Any) -> TrainConfig:
    """A configuration that trains in about a second; overrides replace any field."""
    fields: dict[str, Any] = {
        "data": [str(data)],
        "params": TINY_PARAMS,
        "patch": 8,
        "batch": 2,
        "steps": 6,
        "val_holdout": 1,
        "val_every": 3,
        "checkpoint_every": 2,
        "xla": False,
        "threads": 1,
    }
    fields.update(overrides)
    return TrainConfig(**fields)


def checkpoint_arrays(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as data:
        return {name: data[name] for name in data.files}


def same_bits(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> bool:
    return a.keys() == b.keys() and all(
        a[k].dtype == b[k].dtype and a[k].tobytes() == b[k].tobytes() for k in a
    )
