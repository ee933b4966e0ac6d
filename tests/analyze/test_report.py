"""inspect_image / inspect_array: the evidence gathered, and the protocol it names."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from analyze_support import (
    drawing,
    jpeg_bytes,
    jpeg_round_trip,
    standard_photos,
    textured,
    with_noise,
    without_dqt,
)
from PIL import Image

from upscaler.analyze import InputCondition, choose_protocol, inspect_array, inspect_image
from upscaler.analyze.pixels import MAX_ANALYSED_PIXELS, analysis_view
from upscaler.analyze.report import (
    JPEG_Q30_MAX,
    JPEG_Q50_MAX,
    JPEG_Q75_MAX,
    NOISE_S15_MIN,
    NOISE_S25_MIN,
)
from upscaler.errors import ImageError

# slow as a whole: its fixtures build, train or serve for real (docs/contributing-a-model.md)
pytestmark = pytest.mark.slow


def _save(path: Path, pixels: np.ndarray, **params: object) -> Path:
    Image.fromarray(pixels).save(path, **params)
    return path


# --- the rules ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("quality", "protocol"),
    [
        (10, "jpeg-q30"),
        (JPEG_Q30_MAX, "jpeg-q30"),
        (JPEG_Q30_MAX + 1, "jpeg-q50"),
        (JPEG_Q50_MAX, "jpeg-q50"),
        (JPEG_Q50_MAX + 1, "jpeg-q75"),
        (JPEG_Q75_MAX, "jpeg-q75"),
        (JPEG_Q75_MAX + 1, "bicubic"),
        (100, "bicubic"),
    ],
)
def test_jpeg_quality_bands(quality: int, protocol: str) -> None:
    assert choose_protocol(quality, 1.0)[0] == protocol


@pytest.mark.parametrize(
    ("sigma", "protocol"),
    [
        (0.0, "bicubic"),
        (NOISE_S15_MIN - 0.01, "bicubic"),
        (NOISE_S15_MIN, "noise-s15"),
        (NOISE_S25_MIN - 0.01, "noise-s15"),
        (NOISE_S25_MIN, "noise-s25"),
        (60.0, "noise-s25"),
    ],
)
def test_noise_bands_without_jpeg(sigma: float, protocol: str) -> None:
    assert choose_protocol(None, sigma)[0] == protocol


def test_noise_overrides_a_high_quality_jpeg_and_mixes_with_a_low_one() -> None:
    assert choose_protocol(92, 12.0)[0] == "noise-s15"
    assert choose_protocol(92, 30.0)[0] == "noise-s25"
    protocol, reason = choose_protocol(45, 12.0)
    assert protocol == "real-world"
    assert "45" in reason and "12.0" in reason


def test_reasons_say_where_the_quality_was_found() -> None:
    assert choose_protocol(45, 1.0)[1] == (
        "JPEG quality ≈ 45 found in the file's quantization tables: ranked by the jpeg-q50 protocol"
    )
    assert "not the IJG standard" in choose_protocol(45, 1.0, tables="non-standard")[1]
    assert "a JPEG once" in choose_protocol(45, 1.0, jpeg_source="pixels")[1]
    resaved = choose_protocol(30, 1.0, jpeg_source="pixels", file_quality=95)[1]
    assert "the file says 95" in resaved
    assert "σ ≈ 23.0" in choose_protocol(None, 23.0)[1]


# --- files -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("quality", "protocol"),
    [(20, "jpeg-q30"), (45, "jpeg-q50"), (70, "jpeg-q75"), (92, "bicubic")],
)
def test_jpeg_files(tmp_path: Path, quality: int, protocol: str) -> None:
    path = tmp_path / "photo.jpg"
    path.write_bytes(jpeg_bytes(textured(240, 320), quality))
    condition = inspect_image(path)
    assert condition.format == "JPEG"
    assert condition.size == (320, 240)
    assert (condition.jpeg_quality, condition.jpeg_tables) == (quality, "ijg-standard")
    assert (condition.jpeg_source, condition.jpeg_confidence) == ("tables", 1.0)
    assert condition.protocol == protocol
    assert condition.domain == "photo"
    assert f"≈ {quality}" in condition.reason and protocol in condition.reason


def test_a_png_that_was_a_jpeg(tmp_path: Path) -> None:
    path = _save(tmp_path / "was.png", jpeg_round_trip(textured(240, 320), 35))
    condition = inspect_image(path)
    assert (condition.format, condition.jpeg_tables, condition.jpeg_source) == (
        "PNG",
        "not-jpeg",
        "pixels",
    )
    assert condition.jpeg_quality is not None and abs(condition.jpeg_quality - 35) <= 5
    assert condition.jpeg_confidence is None
    assert condition.protocol == "jpeg-q30"


def test_a_jpeg_resaved_at_95_is_judged_by_its_first_save(tmp_path: Path) -> None:
    first = jpeg_round_trip(textured(240, 320), 30)
    path = tmp_path / "resaved.jpg"
    path.write_bytes(jpeg_bytes(first, 95))
    condition = inspect_image(path)
    assert condition.jpeg_tables == "ijg-standard"
    assert (condition.jpeg_quality, condition.jpeg_source) == (30, "pixels")
    assert condition.protocol == "jpeg-q30"
    assert "the file says 95" in condition.reason


@pytest.mark.parametrize(
    ("sigma", "protocol"), [(0, "bicubic"), (15, "noise-s15"), (30, "noise-s25")]
)
def test_png_noise(tmp_path: Path, sigma: int, protocol: str) -> None:
    clean = drawing(seed=2)
    path = _save(tmp_path / "art.png", with_noise(clean, sigma) if sigma else clean)
    condition = inspect_image(path)
    assert condition.jpeg_quality is None and condition.jpeg_source is None
    assert condition.noise_sigma == pytest.approx(sigma, abs=max(0.3 * sigma, 1.0))
    assert condition.protocol == protocol
    if not sigma:
        assert condition.domain == "anime"


def test_a_noisy_photo_saved_at_jpeg_95_is_ranked_by_its_noise(tmp_path: Path) -> None:
    path = tmp_path / "noisy.jpg"
    path.write_bytes(jpeg_bytes(with_noise(textured(240, 320), 15), 95))
    condition = inspect_image(path)
    assert condition.jpeg_quality == 95
    assert condition.protocol == "noise-s15"


def test_set5_files_clean_and_as_web_jpegs(tmp_path: Path) -> None:
    """The Set5 PNGs are clean (woman.png excepted: a JPEG at about 75 once), and each
    saved as a JPEG is ranked by that JPEG's band."""
    photos = standard_photos("Set5")
    for name, pixels in photos.items():
        png = inspect_image(_save(tmp_path / f"{name}.png", pixels))
        assert png.protocol == ("jpeg-q75" if name == "woman" else "bicubic"), png
        assert png.domain == "photo"
        for quality, protocol in ((30, "jpeg-q30"), (50, "jpeg-q50"), (75, "jpeg-q75")):
            path = tmp_path / f"{name}-{quality}.jpg"
            path.write_bytes(jpeg_bytes(pixels, quality))
            assert inspect_image(path).protocol == protocol


def test_large_images_are_read_through_a_mosaic(tmp_path: Path) -> None:
    """Over 4 MP the analyses read tiles; the JPEG grid and the noise survive them."""
    big = np.tile(textured(256, 256), (9, 9, 1))[:2056, :2050]
    assert big.shape[0] * big.shape[1] > MAX_ANALYSED_PIXELS
    path = _save(tmp_path / "big.png", jpeg_round_trip(big, 40), compress_level=1)
    condition = inspect_image(path)
    assert condition.size == (2050, 2056)
    assert condition.jpeg_quality is not None and abs(condition.jpeg_quality - 40) <= 5
    noisy = inspect_image(
        _save(tmp_path / "noisy.png", with_noise(big, 20, seed=4), compress_level=1)
    )
    assert noisy.noise_sigma == pytest.approx(20, rel=0.3)


def test_the_mosaic_keeps_the_8x8_phase_and_the_budget() -> None:
    ramp = np.arange(3000 * 2500, dtype=np.float32).reshape(3000, 2500, 1)
    mosaic = analysis_view(ramp)
    assert mosaic.shape[0] * mosaic.shape[1] <= MAX_ANALYSED_PIXELS
    origins = mosaic[::512, ::512, 0].astype(np.int64)  # each tile's first pixel
    rows, cols = origins // 2500, origins % 2500
    assert (rows % 8 == 0).all() and (cols % 8 == 0).all()
    assert rows.max() > 2000 and cols.max() > 1500  # spread over the whole image
    small = np.zeros((100, 100, 3), np.float32)
    assert analysis_view(small) is small


def test_to_dict_is_plain_json(tmp_path: Path) -> None:
    path = tmp_path / "photo.jpg"
    path.write_bytes(jpeg_bytes(textured(64, 64), 50))
    data = inspect_image(path).to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["size"] == [64, 64]
    assert list(data) == [f.name for f in InputCondition.__dataclass_fields__.values()]


# --- arrays ------------------------------------------------------------------------------------


def test_arrays_are_read_from_their_pixels() -> None:
    condition = inspect_array(jpeg_round_trip(textured(128, 160), 50))
    assert (condition.source, condition.format, condition.size) == (None, "array", (160, 128))
    assert condition.jpeg_tables == "not-jpeg" and condition.jpeg_source == "pixels"
    assert condition.protocol == "jpeg-q50"
    art = drawing(seed=0)
    assert inspect_array(art).domain == "anime"
    assert inspect_array(art[:, :, 0]).protocol == "bicubic"  # HxW gray
    floats = (with_noise(art, 25) / 255.0).astype(np.float32)
    assert inspect_array(floats).protocol == "noise-s25"
    rgba = np.dstack([art, np.full(art.shape[:2], 255, np.uint8)])
    assert inspect_array(rgba).domain == "anime"


def test_a_bad_array_is_an_image_error() -> None:
    with pytest.raises(ImageError, match="empty"):
        inspect_array(np.zeros((0, 4, 3), np.uint8))
    with pytest.raises(ImageError, match="NaN"):
        inspect_array(np.full((8, 8, 3), np.nan, np.float32))


# --- hostile input -----------------------------------------------------------------------------


def test_bad_paths_are_image_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ImageError, match="no such image file"):
        inspect_image(tmp_path / "missing.png")
    with pytest.raises(ImageError, match="is a folder"):
        inspect_image(tmp_path)
    (tmp_path / "text.png").write_text("not an image")
    with pytest.raises(ImageError, match="cannot decode"):
        inspect_image(tmp_path / "text.png")
    big = _save(tmp_path / "big.png", textured(100, 100))
    monkeypatch.setenv("UPSCALER_MAX_PIXELS", "5000")
    with pytest.raises(ImageError, match="above the limit"):
        inspect_image(big)
    monkeypatch.delenv("UPSCALER_MAX_PIXELS")
    with pytest.raises(ImageError, match="above the limit"):
        inspect_image(big, max_pixels=5000)


def test_a_jpeg_without_tables_names_the_problem(tmp_path: Path) -> None:
    path = tmp_path / "abbreviated.jpg"
    path.write_bytes(without_dqt(jpeg_bytes(textured(32, 32), 50)))
    with pytest.raises(ImageError, match="without quantization tables"):
        inspect_image(path)


def test_animations_are_refused_like_everywhere_else(tmp_path: Path) -> None:
    frames = [Image.fromarray(textured(32, 32, seed=s)) for s in range(2)]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:])
    with pytest.raises(ImageError, match="2 frames"):
        inspect_image(path)


def test_importing_the_analysis_does_not_import_tensorflow() -> None:
    code = (
        "import sys, upscaler.analyze, io, numpy as np; from PIL import Image;"
        "upscaler.analyze.inspect_array(np.zeros((32, 32, 3), np.uint8));"
        "print('tensorflow' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    lazy = "import sys, upscaler; print('upscaler.analyze' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", lazy], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_a_webp_and_a_16_bit_png(tmp_path: Path) -> None:
    art = drawing(seed=1)
    webp = tmp_path / "art.webp"
    Image.fromarray(art).save(webp, lossless=True)
    assert inspect_image(webp).format == "WEBP"
    import png

    deep = (art.astype(np.uint16) * 257).reshape(art.shape[0], -1)
    path = tmp_path / "deep.png"
    with path.open("wb") as handle:
        png.from_array(deep, "RGB;16").write(handle)
    condition = inspect_image(path)
    assert (condition.format, condition.protocol, condition.domain) == ("PNG", "bicubic", "anime")
