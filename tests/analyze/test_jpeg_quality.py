"""The JPEG quality read back from a file's quantization tables."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from analyze_support import jpeg_bytes, textured, without_dqt
from PIL import Image

from upscaler.analyze.jpeg_quality import (
    CHROMINANCE,
    LUMINANCE,
    ijg_table,
    quality_from_tables,
    read_jpeg_quality,
)
from upscaler.errors import ImageError

QUALITIES = range(10, 96)


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("mode", "subsampling"),
    [("RGB", 0), ("RGB", 2), ("L", 0)],
    ids=["colour-444", "colour-420", "gray"],
)
def test_every_pillow_quality_is_read_back_exactly(
    tmp_path: Path, mode: str, subsampling: int
) -> None:
    pixels = textured(64, 80)
    if mode == "L":
        pixels = np.asarray(Image.fromarray(pixels).convert("L"))
    misses = {}
    for quality in QUALITIES:
        path = _write(tmp_path / f"q{quality}.jpg", jpeg_bytes(pixels, quality, subsampling))
        found = read_jpeg_quality(path)
        assert found.format == "JPEG"
        assert found.tables == "ijg-standard", (quality, found)
        if found.quality != quality or found.confidence != 1.0:
            misses[quality] = found
    assert not misses, misses  # the brief allows +-5; IJG tables name the quality exactly


def test_tables_are_the_annex_k_tables_scaled_as_libjpeg_does(tmp_path: Path) -> None:
    """Pillow's own tables at 50 are Annex K itself (scale 100%), in natural order."""
    path = _write(tmp_path / "q50.jpg", jpeg_bytes(textured(32, 32), 50))
    with Image.open(path) as image:
        tables = image.quantization
    assert list(tables[0]) == list(LUMINANCE) == ijg_table(LUMINANCE, 50).tolist()
    assert list(tables[1]) == list(CHROMINANCE)
    assert ijg_table(LUMINANCE, 100).tolist() == [1] * 64
    assert ijg_table(LUMINANCE, 1).max() == 255  # baseline clamp
    assert ijg_table(LUMINANCE, 1, baseline=False).max() == 121 * 50  # 16-bit tables


def test_extended_16_bit_tables_match_their_quality() -> None:
    tables = {
        0: ijg_table(LUMINANCE, 3, baseline=False).tolist(),
        1: ijg_table(CHROMINANCE, 3, baseline=False).tolist(),
    }
    found = quality_from_tables(tables)
    assert (found.tables, found.quality, found.confidence) == ("ijg-standard", 3, 1.0)


def test_camera_like_tables_get_the_nearest_quality_flagged(tmp_path: Path) -> None:
    """An encoder's own tables near IJG 70 (each entry nudged by one step) → 70 +- 5,
    flagged non-standard, with a confidence below an exact match's."""
    rng = np.random.default_rng(3)
    luma = np.clip(ijg_table(LUMINANCE, 70) + rng.integers(-1, 2, 64), 1, 255)
    chroma = np.clip(ijg_table(CHROMINANCE, 70) + rng.integers(-1, 2, 64), 1, 255)
    path = tmp_path / "camera.jpg"
    Image.fromarray(textured(48, 48)).save(path, qtables=[luma.tolist(), chroma.tolist()])
    found = read_jpeg_quality(path)
    assert found.tables == "non-standard"
    assert found.quality is not None and abs(found.quality - 70) <= 5
    assert 0.0 < found.confidence < 1.0
    assert found.mismatch is not None and found.mismatch > 0


def test_flat_tables_are_a_poor_fit_with_low_confidence(tmp_path: Path) -> None:
    path = tmp_path / "flat.jpg"
    Image.fromarray(textured(48, 48)).save(path, qtables=[[8] * 64, [8] * 64])
    found = read_jpeg_quality(path)
    assert found.tables == "non-standard"
    assert found.quality is not None
    assert found.confidence < 0.5


@pytest.mark.parametrize(
    ("suffix", "fmt"), [(".png", "PNG"), (".webp", "WEBP"), (".bmp", "BMP"), (".tif", "TIFF")]
)
def test_other_formats_are_not_jpeg_not_an_error(tmp_path: Path, suffix: str, fmt: str) -> None:
    path = tmp_path / f"image{suffix}"
    Image.fromarray(textured(32, 32)).save(path)
    found = read_jpeg_quality(path)
    assert (found.format, found.tables, found.quality) == (fmt, "not-jpeg", None)


def test_a_jpeg_without_tables_says_so(tmp_path: Path) -> None:
    path = _write(tmp_path / "abbreviated.jpg", without_dqt(jpeg_bytes(textured(32, 32), 50)))
    found = read_jpeg_quality(path)
    assert (found.format, found.tables, found.quality) == ("JPEG", "none", None)


def test_a_damaged_jpeg_header_is_an_image_error(tmp_path: Path) -> None:
    path = _write(tmp_path / "broken.jpg", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 5)
    with pytest.raises(ImageError, match=r"broken\.jpg"):
        read_jpeg_quality(path)


def test_a_missing_file_is_an_image_error(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="no such image file"):
        read_jpeg_quality(tmp_path / "missing.jpg")
