"""Images for the analysis tests: the standard photo sets, drawings made with Pillow,
and the degradations the protocols apply (imported by name: a unique module name, as
`tests/` folders share one sys.path)."""

from __future__ import annotations

import io
import os
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

DATASETS_ENV = "UPSCALER_DATASETS"
DEFAULT_DATASETS = Path(__file__).resolve().parents[2] / ".." / "shared" / "datasets"

NOT_PHOTOS = {"comic", "ppt3"}
"""Set14 members that are not photographs: a drawn comic page and a slide."""


def standard_photos(*sets: str) -> dict[str, np.ndarray]:
    """RGB pixels of every image in the named sets (Set5, Set14), by file stem; the
    test is skipped, saying where they were looked for, when a set is absent."""
    root = Path(os.environ.get(DATASETS_ENV) or DEFAULT_DATASETS).resolve()
    images: dict[str, np.ndarray] = {}
    for name in sets:
        folder = root / name / "HR"
        if not folder.is_dir():
            pytest.skip(
                f"evaluation set {name} not found at {folder}; set {DATASETS_ENV} to the "
                "folder that holds Set5/ and Set14/"
            )
        for path in sorted(folder.glob("*.png")):
            with Image.open(path) as image:
                images[path.stem] = np.asarray(image.convert("RGB"))
    return images


def jpeg_bytes(pixels: np.ndarray, quality: int, subsampling: int = 2) -> bytes:
    """Pixels encoded by Pillow (libjpeg's tables) at ``quality``."""
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=quality, subsampling=subsampling)
    return buffer.getvalue()


def jpeg_round_trip(pixels: np.ndarray, quality: int, subsampling: int = 2) -> np.ndarray:
    """What a JPEG at ``quality`` decodes to: the pixels of a PNG that was once a JPEG."""
    with Image.open(io.BytesIO(jpeg_bytes(pixels, quality, subsampling))) as image:
        return np.asarray(image)


def with_noise(pixels: np.ndarray, sigma: float, seed: int = 0) -> np.ndarray:
    """Gaussian noise of ``sigma`` (0..255) added to each channel, rounded and clipped to
    uint8 as a saved file holds it (the noise protocols' recipe)."""
    rng = np.random.default_rng(seed)
    noisy = pixels.astype(np.float64) + rng.normal(0.0, sigma, pixels.shape)
    return np.clip(np.rint(noisy), 0, 255).astype(np.uint8)


def textured(height: int = 256, width: int = 256, seed: int = 0) -> np.ndarray:
    """A photo-like RGB image made in code: smooth shading, soft blobs and fine texture."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width] / max(height, width)
    base = 120 + 60 * np.sin(6 * x + 3 * y)[..., np.newaxis] * np.array([1.0, 0.8, 0.6])
    texture = rng.normal(0, 1, (height // 4 + 1, width // 4 + 1, 3))
    texture = np.kron(texture, np.ones((4, 4, 1)))[:height, :width] * 18
    fine = rng.normal(0, 6, (height, width, 3))
    return np.clip(base + texture + fine, 0, 255).astype(np.uint8)


def drawing(
    seed: int = 0,
    size: tuple[int, int] = (320, 240),
    *,
    antialias: bool = True,
    gradient: bool = False,
) -> np.ndarray:
    """An illustration: flat-filled shapes with dark outlines, a line and text, on a
    flat or gradient background; drawn at 4x and downscaled when ``antialias``."""
    rng = np.random.default_rng(seed)
    k = 4 if antialias else 1
    width, height = size[0] * k, size[1] * k
    background = tuple(int(v) for v in rng.integers(150, 256, 3))
    if gradient:
        t = np.linspace(0.0, 1.0, height)[:, np.newaxis, np.newaxis]
        bottom = rng.integers(60, 200, 3)
        fill = np.asarray(background) * (1 - t) + bottom * t
        image = Image.fromarray((fill * np.ones((1, width, 1))).astype(np.uint8))
    else:
        image = Image.new("RGB", (width, height), background)
    draw = ImageDraw.Draw(image)
    for _ in range(8):
        x0, y0 = int(rng.integers(0, width - 40 * k)), int(rng.integers(0, height - 40 * k))
        w, h = (int(v) for v in rng.integers(30 * k, 140 * k, 2))
        box = (x0, y0, min(width - 1, x0 + w), min(height - 1, y0 + h))
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        shape = int(rng.integers(0, 3))
        if shape == 0:
            draw.ellipse(box, fill=colour, outline=(0, 0, 0), width=3 * k)
        elif shape == 1:
            draw.rectangle(box, fill=colour, outline=(20, 20, 20), width=2 * k)
        else:
            apex = ((box[0] + box[2]) // 2, box[1])
            corners = [(box[0], box[3]), (box[2], box[3]), apex]
            draw.polygon(corners, fill=colour, outline=(0, 0, 0), width=2 * k)
    font = ImageFont.load_default(size=18 * k)
    draw.text((10 * k, 10 * k), "Hello, upscaler!", fill=(0, 0, 0), font=font)
    draw.line([(0, height - 20 * k), (width, height - 60 * k)], fill=(10, 10, 10), width=3 * k)
    if antialias:
        image = image.resize(size, Image.Resampling.LANCZOS)
    return np.asarray(image)


def without_dqt(data: bytes) -> bytes:
    """A JPEG's bytes with every DQT segment cut out (header segments only)."""
    out, index = bytearray(data[:2]), 2
    while index < len(data):
        marker = data[index + 1]
        if marker == 0xDA:  # start of scan: the rest is entropy-coded data
            out += data[index:]
            break
        (length,) = struct.unpack(">H", data[index + 2 : index + 4])
        if marker != 0xDB:
            out += data[index : index + 2 + length]
        index += 2 + length
    return bytes(out)
