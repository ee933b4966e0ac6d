"""The four sample crops of the gallery, made here rather than shipped as files.

Two are drawn procedurally (text and line art; a flat-colour illustration) and two are
cut from scikit-image's bundled CC0 photographs (a cat, and wood grain from a coffee
photo). None comes from an evaluation or training set: a model is never shown on a
picture it may have been tuned on. Every crop is 192x192 HR pixels, which divides by 2,
3, 4 and 8, so the LR input of every scale is whole and small (96 px at x2, 24 at x8).

scikit-image is optional; without it the photo crops are replaced by procedural
stand-ins (recorded in :attr:`Crop.source`), so the gallery still builds.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import numpy as np
import numpy.typing as npt

HR_SIZE = 192
SUPERSAMPLE = 4  # procedural drawings are drawn this much larger, then reduced

Array = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class Crop:
    """One sample: a name, the HR pixels (HxWx3 uint8) and where they came from."""

    name: str
    title: str
    kind: str
    source: str
    hr: Array

    @property
    def digest(self) -> str:
        """sha256 of the HR pixels and shape: the crop's part of a cache key."""
        h = hashlib.sha256(repr(self.hr.shape).encode())
        h.update(np.ascontiguousarray(self.hr).tobytes())
        return h.hexdigest()


def _reduce(image: object) -> Array:
    from PIL import Image

    assert isinstance(image, Image.Image)
    small = image.convert("RGB").resize((HR_SIZE, HR_SIZE), Image.Resampling.LANCZOS)
    return np.asarray(small, dtype=np.uint8).copy()


def line_art() -> Array:
    """Black text in three sizes, a fan of thin lines and circles on white."""
    from PIL import Image, ImageDraw, ImageFont

    big = HR_SIZE * SUPERSAMPLE
    image = Image.new("RGB", (big, big), "white")
    draw = ImageDraw.Draw(image)
    y = 10 * SUPERSAMPLE
    for size, text in ((34, "Upscale"), (24, "2x 3x 4x 8x"), (15, "The quick brown fox")):
        font = ImageFont.load_default(size * SUPERSAMPLE)
        draw.text((10 * SUPERSAMPLE, y), text, fill=(20, 20, 20), font=font)
        y += int(size * SUPERSAMPLE * 1.15)
    cx, cy = big * 3 // 4, big * 3 // 4
    for k in range(24):
        angle = np.pi * k / 24
        dx, dy = np.cos(angle) * big * 0.22, np.sin(angle) * big * 0.22
        draw.line((cx - dx, cy - dy, cx + dx, cy + dy), fill=(30, 30, 30), width=3)
    for r in range(10, int(big * 0.22), 22):
        draw.ellipse((big // 4 - r, cy - r, big // 4 + r, cy + r), outline=(200, 30, 30), width=4)
    return _reduce(image)


def illustration() -> Array:
    """A flat-colour cartoon with dark outlines: what anime models are trained for."""
    from PIL import Image, ImageDraw

    big = HR_SIZE * SUPERSAMPLE
    s = big / 192
    image = Image.new("RGB", (big, big), (142, 202, 230))
    draw = ImageDraw.Draw(image)
    outline = (40, 30, 50)
    w = int(3 * s)

    def box(x0: float, y0: float, x1: float, y1: float) -> tuple[float, ...]:
        return (x0 * s, y0 * s, x1 * s, y1 * s)

    draw.ellipse(box(130, 14, 176, 60), fill=(255, 214, 90), outline=outline, width=w)
    draw.polygon(
        [(0, 150 * s), (70 * s, 110 * s), (150 * s, 150 * s), (0, 192 * s)],
        fill=(120, 190, 90),
        outline=outline,
        width=w,
    )
    draw.rectangle(box(0, 150, 192, 192), fill=(96, 160, 72), outline=outline, width=w)
    draw.ellipse(box(40, 40, 130, 130), fill=(255, 224, 200), outline=outline, width=w)  # face
    draw.chord(box(34, 30, 136, 100), 180, 360, fill=(90, 60, 140), outline=outline, width=w)
    for ex in (62, 96):
        draw.ellipse(box(ex - 9, 76, ex + 9, 98), fill="white", outline=outline, width=w)
        draw.ellipse(box(ex - 5, 82, ex + 5, 96), fill=(60, 110, 200))
        draw.ellipse(box(ex - 2, 84, ex + 2, 88), fill="white")
    draw.arc(box(70, 100, 92, 116), 20, 160, fill=outline, width=w)
    draw.ellipse(box(48, 100, 60, 108), fill=(250, 170, 170))
    draw.ellipse(box(100, 100, 112, 108), fill=(250, 170, 170))
    return _reduce(image)


def _skimage(name: str, top: int, left: int) -> Array | None:
    try:
        from skimage import data
    except ImportError:
        return None
    photo = np.asarray(getattr(data, name)(), dtype=np.uint8)
    return photo[top : top + HR_SIZE, left : left + HR_SIZE, :3].copy()


def _noise_texture(seed: int) -> Array:
    """Stand-in texture when scikit-image is missing: smoothed noise in warm tones."""
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(HR_SIZE // 4, HR_SIZE // 4))
    from PIL import Image

    field = Image.fromarray(((base - base.min()) / np.ptp(base) * 255).astype(np.uint8))
    grain = np.asarray(field.resize((HR_SIZE, HR_SIZE), Image.Resampling.BICUBIC), np.float64)
    tone = np.stack([grain * 0.8 + 40, grain * 0.5 + 30, grain * 0.3 + 20], axis=-1)
    return np.clip(tone, 0, 255).astype(np.uint8)


Maker = Callable[[], tuple[Array, str]]

SKIMAGE_CAT = "scikit-image `data.chelsea()`: Chelsea the cat, CC0 (photo by Stefan van der Walt)"
SKIMAGE_WOOD = (
    "scikit-image `data.coffee()`: wooden table beside the cup, CC0 (photo by Rachel Michetti, "
    "courtesy of Pikolo Espresso Bar)"
)
PILLOW_FONT = "drawn by upscaler with Pillow's bundled Aileron Regular font (CC0)"


def _photo() -> tuple[Array, str]:
    found = _skimage("chelsea", 40, 110)
    return (found, SKIMAGE_CAT) if found is not None else (_noise_texture(1), "procedural")


def _texture() -> tuple[Array, str]:
    found = _skimage("coffee", 0, 408)
    return (found, SKIMAGE_WOOD) if found is not None else (_noise_texture(2), "procedural")


CROPS: tuple[tuple[str, str, str, Maker], ...] = (
    ("photo", "Photo", "photo", _photo),
    ("line-art", "Text and line art", "line art", lambda: (line_art(), PILLOW_FONT)),
    ("illustration", "Illustration", "illustration", lambda: (illustration(), "drawn by upscaler")),
    ("texture", "Texture", "texture", _texture),
)


@cache
def sample_crops() -> tuple[Crop, ...]:
    """The four crops, in gallery order (computed once per process)."""
    crops = []
    for name, title, kind, make in CROPS:
        hr, source = make()
        hr.setflags(write=False)
        crops.append(Crop(name=name, title=title, kind=kind, source=source, hr=hr))
    return tuple(crops)


def high_resolution(crop: Crop, scale: int) -> Array:
    """The HR crop trimmed to a multiple of ``scale`` (a no-op for 2, 3, 4 and 8)."""
    side = HR_SIZE - HR_SIZE % scale
    return crop.hr[:side, :side]


def low_resolution(crop: Crop, scale: int) -> Array:
    """The model input: the HR crop downscaled like the evaluation sets (MATLAB bicubic)."""
    from upscaler.evaluate.imresize import imresize

    lr: Array = imresize(high_resolution(crop, scale), 1 / scale)
    return lr


def bicubic(lr: Array, scale: int) -> Array:
    """The reference every model must beat: MATLAB-bicubic upscaling of the LR input."""
    from upscaler.evaluate.imresize import imresize

    up: Array = imresize(lr, float(scale))
    return up


def nearest(lr: Array, scale: int) -> Array:
    """The LR input enlarged pixel for pixel, so it can be shown at the output's size."""
    return np.repeat(np.repeat(lr, scale, axis=0), scale, axis=1)
