"""Helpers for the folder-job tests (a plain module, imported by name).

The model and its catalog come from the shared ``tiny_models`` module (a nearest x2
upsampler, so every expected output is known exactly: ``tiny_models.nearest_x2``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class TinyEnv:
    """The tiny catalog and the session's model cache."""

    catalog: Path
    home: Path

    def environ(self) -> dict[str, str]:
        return {"UPSCALER_CATALOG": str(self.catalog), "UPSCALER_HOME": str(self.home)}


def noise(height: int, width: int, seed: int, channels: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(height, width, channels), dtype=np.uint8)


def write_image(path: Path, pixels: np.ndarray, **params: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, **params)
    return path


def read_pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        image.load()
        return np.asarray(image)


def mixed_tree(root: Path) -> dict[str, np.ndarray]:
    """PNG, JPEG (upper-case suffix), lossless WebP and BMP in nested folders, one corrupt
    PNG, a text file and a hidden folder. Returns the good sources' pixels by path."""
    sources = {
        "top.png": noise(12, 10, 1),
        "a/photo.JPG": noise(16, 16, 2),
        "a/b/deep.webp": noise(9, 14, 3),
        "c/old.bmp": noise(8, 8, 4),
    }
    for rel, pixels in sources.items():
        params: dict[str, object] = {"lossless": True} if rel.endswith(".webp") else {}
        write_image(root / rel, pixels, **params)
    (root / "a" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really a png")
    (root / "a" / "notes.txt").write_text("not an image", encoding="utf-8")
    (root / ".hidden").mkdir()
    write_image(root / ".hidden" / "skip.png", noise(4, 4, 6))
    return sources
